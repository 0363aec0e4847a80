"""What the report says about the machine and the software: enough to compare two runs' timings."""
import os
import platform
import sys


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return "not installed"
    return getattr(module, "__version__", "?")


def _blas():
    """The BLAS NumPy was built against, from ``numpy.show_config``'s dict (NumPy >= 1.26)."""
    import numpy

    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build that does not say: the report just shows "?"
        return "?"


def load_average():
    """The 1-minute load average, or None where the OS does not report it."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def machine_rows():
    """``[(what, value)]`` for the report's machine table."""
    from .. import __version__, jit_enabled

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    memory = _memory_gb()
    threads = [f"{name}={os.environ[name]}" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                         "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
               if os.environ.get(name)]
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores ({usable} usable)"),
        ("memory", f"{memory:.1f} GB" if memory else "?"),
        ("system", platform.platform()),
        ("Python", f"{platform.python_version()} ({sys.implementation.name})"),
        ("npae", f"{__version__}, Numba kernels {'on' if jit_enabled() else 'off (NPAE_JIT=0: NumPy references)'}"),
        ("NumPy", f"{_version('numpy')} (BLAS: {_blas()})"),
        ("Numba", _version("numba")),
        ("matplotlib", _version("matplotlib")),
        ("thread settings", ", ".join(threads) or "library defaults"),
    ]


# ------------------------------------------------------------------------------------------------
# Was this run slowed by other programs?

LOAD_SAMPLE_SECONDS = 5.0


def usable_cores():
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class LoadWatch:
    """Samples the 1-minute load average every few seconds while a run goes on, and the run's CPU time.

    ``with LoadWatch() as watch: ...`` (or ``watch = LoadWatch().start()``), then :meth:`summary`.  A daemon thread that only reads
    ``os.getloadavg()``: it costs nothing measurable and never keeps the interpreter alive.
    """

    def __init__(self, interval=LOAD_SAMPLE_SECONDS):
        import threading

        self.interval, self.samples = interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="npae-load-watch", daemon=True)

    def _sample(self):
        while True:
            value = load_average()
            if value is not None:
                self.samples.append(value)
            if self._stop.wait(self.interval):
                return

    def start(self):
        """Start sampling; returns self (``with LoadWatch() as watch`` does this)."""
        import time

        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._thread.start()
        return self

    __enter__ = start

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        """Stop sampling (once), and fix the run's wall and CPU time."""
        import time

        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.wall_seconds = time.perf_counter() - self._wall
            self.cpu_seconds = time.process_time() - self._cpu
            value = load_average()
            if value is not None:
                self.samples.append(value)

    def summary(self):
        """What :func:`slowed_by_load` reads: load samples, cores, and this process's CPU and wall seconds."""
        self.stop()
        return {"samples": list(self.samples), "cores": usable_cores(), "cpu_seconds": self.cpu_seconds,
                "wall_seconds": self.wall_seconds}


def slowed_by_load(summary, threads_setting=None):
    """None when the run had the machine to itself, else the lines that say how busy it was and what to do.

    The rule: the load average counts the programs running or waiting for a core; this run accounts for at
    most one per usable core, so a mean load above ``cores + 1`` (or a peak above twice the cores) means
    other programs took cores from it, and every time in the report is longer than on a quiet machine.
    ``threads_setting``: the value of OPENBLAS_NUM_THREADS (the advice to set it is left out when it is 1).
    """
    samples, cores = summary["samples"], summary["cores"]
    if not samples:
        return None
    mean, peak = sum(samples) / len(samples), max(samples)
    if mean <= cores + 1 and peak <= 2 * cores:
        return None
    share = summary["cpu_seconds"] / summary["wall_seconds"] if summary["wall_seconds"] > 0 else float("nan")
    lines = [f"Other programs shared this machine during the run: load average {mean:.1f} on average, up to "
             f"{peak:.1f}, on {cores} usable core{'s' if cores != 1 else ''} (a run alone brings it to about "
             f"{cores}).  This run got {share:.2f} CPU-seconds per second (alone: up to {cores}).",
             "Every time in this report is longer than on a quiet machine, possibly many times (we saw one "
             "model take 24x longer); the numbers other than times are not affected.",
             "What to do: run it again when the machine is quieter (the README's times are for a quiet machine)"]
    if threads_setting != "1":
        lines[-1] += ("; if other programs must run, `OPENBLAS_NUM_THREADS=1 npae reproduce` keeps NumPy's matrix "
                      "products from waiting for a busy second core (we saw it run up to 10x faster under load)")
    lines[-1] += "."
    return lines
