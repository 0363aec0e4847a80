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
