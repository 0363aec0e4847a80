"""How much memory this machine can still give: the guard that runs before every large allocation.

A model of absurd size (``Dense(784, 10**8)``, or a file whose architecture says so) must fail with a
clear message, not push the machine into swapping or the kernel's out-of-memory killer.  NumPy cannot
tell: with Linux's overcommit, ``np.empty`` of 300 GB can succeed and the process dies later, when the
pages are touched.  So npae compares the bytes it is about to allocate with what the kernel reports as
available (``MemAvailable`` in ``/proc/meminfo``: free memory plus caches it can drop).
"""
import os


def available_bytes():
    """Bytes the kernel could hand out now (``MemAvailable``), or None where that is unknown (not Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts in KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count):
    """``"3.1 GB"``, ``"627 MB"``, ``"12 KB"``: powers of 1024, the unit a reader expects."""
    for unit, size in (("GB", 2 ** 30), ("MB", 2 ** 20), ("KB", 2 ** 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


def check_allocation(nbytes, what):
    """ValueError when ``nbytes`` exceeds the memory available now; ``what`` names the thing allocated.

    Only the obviously impossible is refused: a request larger than what the machine has left.  Anything
    smaller is left to NumPy, whose own MemoryError is clear enough.
    """
    available = available_bytes()
    if available is not None and nbytes > available:
        raise ValueError(f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(available)} this "
                         f"machine has available")
