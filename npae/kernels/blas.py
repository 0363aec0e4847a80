"""How many threads NumPy's BLAS (OpenBLAS) uses for one matrix product, chosen per product.

Why.  OpenBLAS splits a product into one fixed share per thread and waits for the last share.  On a
machine whose cores also run other programs, one of its threads is regularly descheduled and the other
waits for it at the end of every product: a scheduler time slice, milliseconds, per call.  A training
step makes dozens of products: npae ran the paper's convolutional step in 19.6 s with two BLAS threads
and 3.4 s with one while other programs kept the 2 cores busy (load ~18), and a 784-8-784 model trained
24x slower than on a quiet machine.  A small product gains little from a second thread even on a quiet
machine, and loses most on a busy one.  So, by default:

    threads = 1     for a product of fewer than SMALL_PRODUCT_FLOPS (2 M K N) floating-point operations
    threads = n     otherwise, n being the count in force (OPENBLAS_NUM_THREADS, threadpoolctl, the cores)

A rule on shapes alone, because OpenBLAS' float32 results depend on its thread count (last bits: 4.8e-5
on a (2000 x 300) @ (300 x 200) product here): a seeded run stays bitwise reproducible.
``NPAE_BLAS_THREADS=auto`` adds "and 1 whenever other programs are running right now" (/proc/loadavg's
runnable threads less this process' own, sampled every SAMPLE_SECONDS): faster on a busy machine, at the
price of that reproducibility.  ``NPAE_BLAS_THREADS=n`` fixes the count at n (at most the count in force).

Why not threadpoolctl (what scikit-learn uses): it is a general tool (OpenMP, MKL, BLIS, every library
loaded) and would be npae's first dependency beyond NumPy, Numba and Matplotlib; npae needs two calls into
the one BLAS NumPy ships, found here in a few lines of ctypes.  Outside Linux, or with another BLAS,
nothing is changed.
"""
import contextlib
import ctypes
import os
import time

import numpy as np

SMALL_PRODUCT_FLOPS = 2e8     # ~5 ms on one core of this class: below it, one thread
SAMPLE_SECONDS = 0.1          # how often the load is read again
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


class _OpenBLAS:
    """The thread-count functions of the OpenBLAS that NumPy loaded, or none (then everything is a no-op)."""

    def __init__(self):
        self.set = self.get = None
        self._busy, self._sampled = False, -1.0
        setting = os.environ.get("NPAE_BLAS_THREADS", "").strip().lower()
        self.fixed = int(setting) if setting.isdigit() and int(setting) > 0 else None
        self.watch_load = setting == "auto"
        library = _loaded_openblas()
        if library is None:
            return
        setter = next((getattr(library, name) for name in _SETTERS if hasattr(library, name)), None)
        getter = next((getattr(library, name) for name in _GETTERS if hasattr(library, name)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            self.set, self.get = setter, getter

    def busy(self):
        """True if another thread than this one is runnable on the machine (sampled every SAMPLE_SECONDS)."""
        now = time.monotonic()
        if now - self._sampled > SAMPLE_SECONDS:
            self._sampled = now
            self._busy = _other_runnable_threads() > 0
        return self._busy


def _loaded_openblas():
    """The OpenBLAS shared library already mapped into this process (NumPy's), as a ctypes handle."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _other_runnable_threads():
    """Runnable threads of other processes on the machine now: /proc/loadavg's 4th field ("R/T": runnable
    and total threads) less this process' runnable threads (this one, and OpenBLAS' helpers, which spin
    for a while after each product: counting them would make a quiet machine look busy)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as stream:
            runnable = int(stream.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", encoding="ascii", errors="replace") as stream:
                    own += stream.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
        return runnable - max(own, 1)
    except (OSError, ValueError, IndexError):
        return 0


_blas = None


def _state():
    global _blas
    if _blas is None:
        _blas = _OpenBLAS()
    return _blas


def threads_for(flops, busy, maximum):
    """The rule of the module docstring: 1 thread for a small product (or, with NPAE_BLAS_THREADS=auto, on
    a busy machine), else ``maximum``."""
    if flops < SMALL_PRODUCT_FLOPS or busy:
        return 1
    return maximum


def matmul(a, b, out):
    """out <- a @ b (2-D), with the BLAS thread count chosen for this product (module docstring); the
    count in force before (OPENBLAS_NUM_THREADS, threadpoolctl's limits...) is the maximum, and is put back."""
    blas = _state()
    if blas.get is None:
        return np.matmul(a, b, out=out)
    maximum = blas.get()
    flops = 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
    busy = blas.watch_load and blas.busy()
    wanted = blas.fixed if blas.fixed is not None else threads_for(flops, busy, maximum)
    if wanted >= maximum:
        return np.matmul(a, b, out=out)
    blas.set(wanted)
    try:
        return np.matmul(a, b, out=out)
    finally:
        blas.set(maximum)


@contextlib.contextmanager
def single_threaded():
    """Inside this block every product runs on one BLAS thread (the count in force is put back after)."""
    blas = _state()
    if blas.get is None:
        yield
        return
    previous = blas.get()
    blas.set(1)
    try:
        yield
    finally:
        blas.set(previous)


@contextlib.contextmanager
def all_threads():
    """Inside this block :func:`matmul` gives every product the count in force (the rule above is off): the
    comparison that benchmarks/bench_train.py prints."""
    blas = _state()
    previous = blas.fixed
    blas.fixed = 1 << 30  # above any count in force: matmul leaves it as it is
    try:
        yield
    finally:
        blas.fixed = previous
