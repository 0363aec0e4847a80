"""How much memory this process may still take, and a byte count a reader can read.

Used to refuse, with a clear message and before any work, a job that cannot fit: a model whose layer
sizes were mistyped (``--hidden 100000000`` asks for about 1.3 TB), or a file whose header declares
more data than the machine holds.  An estimate, not a promise: other processes keep allocating.
"""
import os

CGROUP_LIMIT = "/sys/fs/cgroup/memory.max"      # cgroup v2: a container's limit ("max" when none)
CGROUP_USAGE = "/sys/fs/cgroup/memory.current"


def _meminfo_available():
    """MemAvailable of /proc/meminfo in bytes (Linux 3.14+): free memory plus what the kernel can reclaim."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _cgroup_room():
    """Bytes left under this container's cgroup v2 limit, or None when there is no limit."""
    with open(CGROUP_LIMIT, encoding="ascii") as limit_file:
        limit = limit_file.read().strip()
    if limit == "max":
        return None
    with open(CGROUP_USAGE, encoding="ascii") as usage_file:
        return max(0, int(limit) - int(usage_file.read().strip()))


def available_bytes():
    """The memory this process can still allocate without swapping, in bytes, or None where unknown.

    Linux: the smaller of /proc/meminfo's MemAvailable and the room under a cgroup v2 limit.
    Elsewhere: the free physical pages that ``os.sysconf`` reports, when it reports them; else None,
    and callers skip their check rather than refuse work they cannot judge.
    """
    candidates = []
    for reader in (_meminfo_available, _cgroup_room):
        try:
            value = reader()
        except (OSError, ValueError, IndexError):
            continue
        if value is not None:
            candidates.append(value)
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, OSError, ValueError):
            return None
    return min(candidates)


def format_bytes(count):
    """``"1.3 TB"``, ``"512 MB"``, ``"900 bytes"``: decimal units, three significant digits at most."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} bytes"


def check_allocation(nbytes, what):
    """ValueError when ``nbytes`` exceeds the memory available now; ``what`` names the thing allocated.

    The guard every large allocation of the library goes through (a layer's parameters, a loaded model):
    with Linux's overcommit, ``np.empty`` of 300 GB can succeed and the process dies later, when the
    pages are touched, so only NumPy's own MemoryError would come too late.  Only the obviously
    impossible is refused: a request larger than what the machine has left.
    """
    available = available_bytes()
    if available is not None and nbytes > available:
        raise ValueError(f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(available)} this "
                         f"machine has available")
