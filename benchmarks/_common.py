"""Shared helpers of the benchmark scripts: timing with medians, the header, the table."""
import os
import platform
import re
import statistics
import time


def limit_threads(threads):
    """Cap BLAS and OpenMP (NumPy's OpenBLAS, PyTorch) at ``threads`` threads; None leaves the defaults.
    Must run before NumPy is imported: OpenBLAS reads the variables when it loads (this module imports
    no NumPy at the top for that reason)."""
    if threads:
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(threads)


def median_time(function, repeats):
    """Run ``function`` ``repeats`` times; return (median seconds, spread = max - min)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times) - min(times)


def cpu_description():
    """``"AMD EPYC, AVX-512"``: the CPU's model name and its widest SIMD extension, from /proc/cpuinfo
    (``platform.processor()`` is empty on Linux).  The SIMD width decides how fast the kernels can be."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            text = stream.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    flags = set(flags.group(1).split()) if flags else set()
    simd = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                                          ("sse4_2", "SSE4.2")) if flag in flags), "no AVX")
    return f"{name.group(1).strip() if name else platform.processor() or 'unknown CPU'}, {simd}"


def header(title, extra_versions=()):
    import numpy

    lines = [f"# {title}", f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_description()}",
             f"python {platform.python_version()}, numpy {numpy.__version__}"]
    try:
        import numba

        lines[-1] += f", numba {numba.__version__}"
    except ImportError:
        pass
    for name in extra_versions:
        try:
            module = __import__(name)
            lines[-1] += f", {name} {module.__version__}"
        except ImportError:
            lines[-1] += f", {name} not installed"
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{info['internal_api']} {info.get('num_threads')} threads" for info in threadpool_info()
                if info.get("user_api") == "blas"]
        lines.append("BLAS: " + ", ".join(blas))
    except ImportError:
        pass
    return "\n".join(lines)


def table(rows, columns):
    """Format rows (list of dicts) as a fixed-width text table with the given column names."""
    widths = [max(len(column), *(len(str(row.get(column, ""))) for row in rows)) for column in columns]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths)),
             "  ".join("-" * width for width in widths)]
    for row in rows:
        lines.append("  ".join(str(row.get(column, "")).ljust(width) for column, width in zip(columns, widths)))
    return "\n".join(lines)


def subnormal_count(arrays):
    """How many nonzero entries of these float arrays are subnormal (below the dtype's smallest normal):
    Intel CPUs take a microcode assist on each, ~100x a normal operation (issue 19's drifting epochs)."""
    import numpy as np
    return sum(int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny))) for a in arrays)
