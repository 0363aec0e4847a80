"""How many threads NumPy's BLAS (OpenBLAS) uses for one matrix product, chosen per product.

Why it matters.  OpenBLAS splits a product into one fixed share per thread and waits for the last share.
On a quiet 2-core machine the second thread pays from a few MFLOP up: Dense's products at the paper's
and the VAE's shapes (4 to 80 MFLOP) took 0.59x to 0.91x the one-thread time on two threads (measured
below).  On a machine whose cores also run other programs, one of its threads is regularly descheduled
and the other waits for it at the end of every product: a scheduler time slice, milliseconds, per call.
The same products then took 1.5x to 2.4x the one-thread time on two (load 6 on 2 cores), and a whole
784-64-784 epoch 23x its quiet time with one competing process (one thread per product: 1.9x).

No rule on shapes alone wins on both machines, and a rule that looks at the load costs bitwise
reproducibility: OpenBLAS' float32 results depend on its thread count (last bits: up to 5.7e-5 on
Dense's (128 x 784) @ (784 x 400), identical in float64 at these sizes).  So, by default (shapes only,
a seeded run stays bitwise reproducible):

    threads = 1     for a product (M x K) @ (K x N) of fewer than SMALL_PRODUCT_FLOPS = 2 M K N
                    floating-point operations, or with a narrow inner dimension K <= NARROW_INNER
                    (little arithmetic per output number: two threads only fight over writing it)
    threads = n     otherwise, n being the count in force (OPENBLAS_NUM_THREADS, threadpoolctl, the cores)

and ``NPAE_BLAS_THREADS=auto`` adds "and 1 whenever other programs are running right now" (/proc/loadavg's
runnable threads less this process' own, sampled every SAMPLE_SECONDS): the choice for a shared machine,
at the price of that reproducibility.  ``NPAE_BLAS_THREADS=n`` fixes the count at n (at most the count
in force).  npae's convolutions need neither: they split a batch into blocks of images, one BLAS thread
each (:func:`npae.kernels.workers.in_blocks`), so a held-up thread just takes fewer blocks.

Measured (2-core AMD EPYC, Zen 3, OpenBLAS; medians of 7 interleaved runs): quiet = this process at
the highest priority while other work ran, busy = load ~6.

    product (M x K x N)      MFLOP   quiet: 2 threads / 1    busy: 2 threads / 1
    256 x 784 x 64             25.7    0.59                    1.97
    128 x 784 x 400            80.3    0.73                    2.30
    128 x 400 x 784            80.3    0.61                    1.64
    128 x 400 x 40              4.1    0.62                    1.46
    256 x 784 x 8               3.2    0.65
    128 x 400 x 20              2.0    0.77
    256 x 64 x 32               1.0    0.74
    128 x 40 x 400              4.1    1.51                    K <= NARROW_INNER: one thread
    128 x 20 x 400              2.0    1.71
    256 x 8 x 784               3.2    2.27

Accumulating products.  A gradient adds into its array (dW += x^T dL/dz), and BLAS' GEMM is defined as
exactly that: C <- alpha A B + beta C.  :func:`matmul_accumulate` calls it with beta = 1, so the sum happens
inside the product: NumPy's ``matmul`` knows only beta = 0, which costs a pass that zeroes C (OpenBLAS'
sgemm_beta), a temporary, and then a second pass that adds it (1.8 % and 3.8 % of a VAE epoch, profiled).
It calls NumPy's own OpenBLAS through its C interface (cblas_sgemm / cblas_dgemm, found by ctypes like the
thread functions; only its 64-bit-integer interface); anything it cannot hand over as is (another BLAS,
strides BLAS cannot describe, overlapping or misaligned arrays) takes ``out += a @ b``.

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

SMALL_PRODUCT_FLOPS = 1e6     # ~20 us on one core of this class: below it a second thread pays nothing
NARROW_INNER = 40             # inner dimensions up to this: one thread (the table above)
SAMPLE_SECONDS = 0.1          # how often the load is read again
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
# The 64-bit-integer interface only (NumPy's wheels ship it, its names end in 64_): a library whose integer
# width is not in its names could read a leading dimension from half a register, so it gets NumPy's path.
_GEMMS = {np.float32: ("scipy_cblas_sgemm64_", "cblas_sgemm64_"),
          np.float64: ("scipy_cblas_dgemm64_", "cblas_dgemm64_")}
_ROW_MAJOR, _NO_TRANSPOSE, _TRANSPOSE = 101, 111, 112  # the C interface's enums (cblas.h)


class _OpenBLAS:
    """The thread-count functions of the OpenBLAS that NumPy loaded, or none (then everything is a no-op)."""

    def __init__(self):
        self.set = self.get = None
        self._busy, self._sampled = False, -1.0
        setting = os.environ.get("NPAE_BLAS_THREADS", "").strip().lower()
        self.fixed = int(setting) if setting.isdigit() and int(setting) > 0 else None
        self.watch_load = setting == "auto"
        self.gemm = {}  # dtype -> the C interface's GEMM, set up for :func:`matmul_accumulate`
        library = _loaded_openblas()
        if library is None:
            return
        setter = next((getattr(library, name) for name in _SETTERS if hasattr(library, name)), None)
        getter = next((getattr(library, name) for name in _GETTERS if hasattr(library, name)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            self.set, self.get = setter, getter
        for dtype, names in _GEMMS.items():
            name = next((name for name in names if hasattr(library, name)), None)
            if name is not None:
                integer = ctypes.c_int64
                scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
                function = getattr(library, name)
                function.restype = None
                function.argtypes = ([ctypes.c_int] * 3 + [integer] * 3 + [scalar, ctypes.c_void_p, integer,
                                                                            ctypes.c_void_p, integer, scalar,
                                                                            ctypes.c_void_p, integer])
                self.gemm[np.dtype(dtype)] = function

    def busy(self):
        """True if another thread than this one is runnable on the machine (sampled every SAMPLE_SECONDS)."""
        now = time.monotonic()
        if now - self._sampled > SAMPLE_SECONDS:
            self._sampled = now
            self._busy = _other_runnable_threads() > 0
        return self._busy


def _loaded_openblas():
    """NumPy's OpenBLAS, already mapped into this process, as a ctypes handle (None if there is none).

    Other packages bring their own OpenBLAS (faiss-cpu does), and setting *their* thread count does nothing
    to NumPy's products.  So NumPy's own copy comes first: the one in the ``numpy.libs`` folder that NumPy's
    wheels ship beside the package, else one whose name says numpy or scipy_openblas (NumPy's build of it),
    and only then any other."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    numpy_libs = os.path.dirname(os.path.abspath(np.__file__)) + ".libs"

    def preference(path):
        name = path.lower()
        return (os.path.dirname(path) != numpy_libs, "numpy" not in name and "scipy_openblas" not in name, path)

    for path in sorted(paths, key=preference):
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


def threads_for(rows, inner, columns, busy, maximum):
    """The rule of the module docstring for a (rows x inner) @ (inner x columns) product: 1 thread for a small
    or narrow product (or, with NPAE_BLAS_THREADS=auto, on a busy machine), else ``maximum``."""
    if 2.0 * rows * inner * columns < SMALL_PRODUCT_FLOPS or inner <= NARROW_INNER or busy:
        return 1
    return maximum


def matmul(a, b, out):
    """out <- a @ b (2-D), with the BLAS thread count chosen for this product (module docstring); the
    count in force before (OPENBLAS_NUM_THREADS, threadpoolctl's limits...) is the maximum, and is put back."""
    with _threads_for_product(a.shape[0], a.shape[1], b.shape[1]):
        return np.matmul(a, b, out=out)


def _threads_for_product(rows, inner, columns):
    """A context in which BLAS runs the thread count that :func:`threads_for` gives a (rows x inner) @
    (inner x columns) product; the count in force before is the maximum, and is put back after."""
    blas = _state()
    if blas.get is None:
        return contextlib.nullcontext()
    maximum = blas.get()
    busy = blas.watch_load and blas.busy()
    return _at_most(blas.fixed if blas.fixed is not None else threads_for(rows, inner, columns, busy, maximum),
                    maximum)


def matmul_accumulate(a, b, out):
    """out += a @ b (2-D; out C-contiguous), as one GEMM with beta = 1 (module docstring), the thread count
    chosen as in :func:`matmul`.  Returns out.

    The GEMM reads each of a and b either as stored (row-major) or as the transpose of a row-major matrix
    (x.T of a C-contiguous x, as in dW += x^T dL/dz); anything else, and any dtype but float32 and float64,
    takes NumPy (``out += a @ b``), as do empty products, shapes that do not match, misaligned or overlapping
    arrays and a read-only out (NumPy then raises its own error).
    """
    blas = _state()
    shapes_fit = (a.ndim == b.ndim == out.ndim == 2 and a.shape[1] == b.shape[0]
                  and out.shape == (a.shape[0], b.shape[1]))
    gemm = blas.gemm.get(out.dtype) if shapes_fit and a.dtype == b.dtype == out.dtype else None
    layouts = (_row_major(a), _row_major(b)) if gemm is not None else (None, None)
    if (None in layouts or min(a.shape + b.shape) == 0 or not out.flags.c_contiguous or not out.flags.writeable
            or not (a.flags.aligned and b.flags.aligned and out.flags.aligned)
            or np.may_share_memory(out, a) or np.may_share_memory(out, b)):
        out += a @ b  # NumPy checks the shapes and raises its own error
        return out
    (rows, inner), columns = a.shape, b.shape[1]
    # Row-major GEMM: A[i, j] is at a + (i lda + j) as stored (lda >= K), at a + (j lda + i) when read
    # transposed (lda >= M); likewise B; out is C-contiguous, so ldc = N.
    (transpose_a, lda), (transpose_b, ldb) = layouts
    with _threads_for_product(rows, inner, columns):   # C <- 1 A B + 1 C
        gemm(_ROW_MAJOR, transpose_a, transpose_b, rows, columns, inner, 1.0, a.ctypes.data, lda,
             b.ctypes.data, ldb, 1.0, out.ctypes.data, columns)
    return out


def _row_major(matrix):
    """(transpose flag, leading dimension) describing a 2-D array to a row-major GEMM, or None if BLAS cannot:
    rows of contiguous elements (as stored), or columns of contiguous elements (the transpose of a row-major
    array), the other stride a whole number of elements no smaller than that side."""
    itemsize = matrix.itemsize
    (rows, columns), (row_stride, column_stride) = matrix.shape, matrix.strides
    if column_stride == itemsize and row_stride % itemsize == 0 and row_stride >= max(columns, 1) * itemsize:
        return _NO_TRANSPOSE, row_stride // itemsize
    if row_stride == itemsize and column_stride % itemsize == 0 and column_stride >= max(rows, 1) * itemsize:
        return _TRANSPOSE, column_stride // itemsize
    return None


def single_threaded():
    """Inside this block every product runs on one BLAS thread (the count in force is put back after)."""
    blas = _state()
    return _at_most(1, blas.get()) if blas.get is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _at_most(threads, current):
    """Inside this block BLAS runs at most ``threads`` threads; ``current``, the count in force, is put back
    after (nothing is set when it is already no more)."""
    lower = threads < current
    if lower:
        _state().set(threads)
    try:
        yield
    finally:
        if lower:
            _state().set(current)


@contextlib.contextmanager
def load_aware():
    """Inside this block :func:`matmul` follows ``NPAE_BLAS_THREADS=auto`` (one thread while other programs
    run): the comparison that benchmarks/bench_train.py prints."""
    blas = _state()
    previous = blas.watch_load
    blas.watch_load = True
    try:
        yield
    finally:
        blas.watch_load = previous
