"""How much memory this process may still take, and a byte count a reader can read.

Used to refuse, with a clear message and before any work, a job that cannot fit: a model whose layer
sizes were mistyped (``--hidden 100000000`` asks for about 1.3 TB), or a file whose header declares
more data than the machine holds.  An estimate, not a promise: other processes keep allocating.
"""
import os

CGROUP_ROOT = "/sys/fs/cgroup"
NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a page-rounded 2^63 - 1


def _meminfo_available():
    """MemAvailable of /proc/meminfo in bytes (Linux 3.14+): free memory plus what the kernel can reclaim."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _cgroup_folders():
    """``(folder, limit file, usage file)`` of every cgroup whose memory limit applies to this process:
    its own and its ancestors', for cgroup v2 (``memory.max``) and cgroup v1's memory controller
    (``memory.limit_in_bytes``, the kind of many CI machines and older Docker hosts).  From
    /proc/self/cgroup; folders that this mount namespace does not show are skipped."""
    with open("/proc/self/cgroup", encoding="ascii") as membership:
        lines = membership.read().splitlines()
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":          # v2: one unified tree
            unified = os.path.join(CGROUP_ROOT, "unified")
            base = CGROUP_ROOT if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")) else unified
            files = ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):            # v1: the memory controller's own tree
            base, files = os.path.join(CGROUP_ROOT, "memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = [part for part in path.split("/") if part]
        for depth in range(len(parts), -1, -1):             # the process's cgroup, then each parent
            folder = os.path.join(base, *parts[:depth])
            if os.path.exists(os.path.join(folder, files[0])):
                yield folder, *files


def _reclaimable(folder):
    """Bytes of the cgroup's page cache that the kernel drops before it kills (inactive file pages), as
    ``docker stats`` subtracts them; 0 when the cgroup does not say."""
    values = {}
    with open(os.path.join(folder, "memory.stat"), encoding="ascii") as stat:
        for line in stat:
            key, _, value = line.partition(" ")
            values[key] = value
    return int(values.get("total_inactive_file", values.get("inactive_file", 0)))


def _cgroup_room():
    """Bytes left under the tightest cgroup memory limit (v1 or v2, this process's cgroup or a parent's),
    or None when no limit applies: limit - (usage - reclaimable page cache)."""
    rooms = []
    for folder, limit_name, usage_name in _cgroup_folders():
        with open(os.path.join(folder, limit_name), encoding="ascii") as limit_file:
            limit = limit_file.read().strip()
        if limit == "max" or int(limit) >= NO_LIMIT:
            continue
        with open(os.path.join(folder, usage_name), encoding="ascii") as usage_file:
            usage = int(usage_file.read().strip())
        try:
            usage -= _reclaimable(folder)
        except (OSError, ValueError):
            pass
        rooms.append(max(0, int(limit) - usage))
    return min(rooms) if rooms else None


def available_bytes():
    """The memory this process can still allocate without swapping, in bytes, or None where unknown.

    Linux: the smaller of /proc/meminfo's MemAvailable and the room under the tightest cgroup limit (v1
    or v2, this process's cgroup or any parent).
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
