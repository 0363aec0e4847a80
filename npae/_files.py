"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

:func:`atomic_open` writes to a temporary file ``.<name>.<8 random characters>.part`` in the target's
folder, then renames it over the target.  A process killed in the middle (SIGKILL, power loss) cannot
delete its temporary file; the next write of the same target removes such leftovers once they are stale
(:func:`remove_stale_partials`), and only those: files of exactly that name pattern, owned by this user,
untouched for :data:`STALE_PARTIAL_SECONDS`.
"""
import os
import re
import secrets
import stat
import time
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".part"

# A live writer of npae touches its temporary file at least every read timeout (30 s for downloads), so
# one untouched for an hour belongs to a process that died.
STALE_PARTIAL_SECONDS = 3600.0

_RANDOM_LENGTH = 8  # hexadecimal characters of the temporary name: 4 random bytes


def as_path(value, argument="path") -> Path:
    """``value`` as a Path, or a ``ValueError`` naming ``argument`` when it is not a file name (str or
    os.PathLike): a number or None given as a path is a mistake to report, not a ``TypeError`` later."""
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return Path(path)
    raise ValueError(f"{argument} must be a file or folder name (str or os.PathLike), got {value!r:.80}")


def partial_name_pattern(name):
    """The regular expression matching the temporary files :func:`atomic_open` makes for file ``name``."""
    return re.compile(re.escape(f".{name}.") + f"[0-9a-f]{{{_RANDOM_LENGTH}}}" + re.escape(PARTIAL_SUFFIX))


def remove_stale_partials(path, older_than=STALE_PARTIAL_SECONDS):
    """Delete the temporary files that interrupted atomic writes of ``path`` left behind; return their paths.

    Only regular files (not links) in ``path``'s folder whose name matches :func:`partial_name_pattern`,
    owned by the current user and not modified for ``older_than`` seconds are removed: a write still in
    progress, another user's file or a file that merely looks similar is never touched.  A folder that
    cannot be listed, or a file that vanishes meanwhile, is skipped silently: tidying is best effort.
    """
    path = Path(path)
    pattern = partial_name_pattern(path.name)
    now, removed = time.time(), []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and now - info.st_mtime > older_than:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _new_file_mode(path):
    """The permission bits the file at ``path`` gets: those of the file it replaces, or None for a new file
    (then the mode ``0o666`` given to ``os.open`` lets the kernel apply the umask, as ``open()`` does)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o777  # no set-user-ID or sticky bits on a data file
    except FileNotFoundError:
        return None


def _create_temporary(path):
    """``(descriptor, temporary path)`` of a new, empty file next to ``path``, opened for writing."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(_RANDOM_LENGTH // 2)}{PARTIAL_SUFFIX}"
        try:
            # O_EXCL: never open a file (or follow a link) that someone else created under this name.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return descriptor, temporary


def writable_target(path, argument="path") -> Path:
    """The regular file that writing to ``path`` replaces: ``path`` itself, or, for a symbolic link, the
    file it points to (written through, as ``open(path, "w")`` would, instead of replacing the link).

    ValueError, naming ``argument``, when ``path`` is no file name, is a folder, or is something other
    than a regular file: renaming over a FIFO or a device (``/dev/null``, as root) would replace it with
    a file, which is never what the caller meant.
    """
    path = as_path(path, argument)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise ValueError(f"{argument} {str(path)!r} is a folder; expected a file name")
    if path.exists() and not path.is_file():
        raise ValueError(f"{argument} {str(path)!r} is not a regular file (a device, FIFO or socket); npae writes "
                         "only regular files")
    return path


@contextmanager
def atomic_open(path):
    """Open a temporary file next to ``path`` for binary writing; on success rename it to ``path``.

    The temporary file lives in the same folder because ``os.replace`` is atomic only within one file
    system.  If the ``with`` block raises (a dropped connection, a checksum mismatch, Ctrl-C), the
    temporary file is deleted and ``path`` is left as it was.

    Permissions: a replaced file keeps its mode; a new one gets ``0o666`` minus the umask, as a file
    made by ``open()`` would.  (Owner and group are the writer's: only root could keep others'.)
    """
    path = writable_target(path)
    mode = _new_file_mode(path)
    remove_stale_partials(path)
    descriptor, temporary = _create_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            yield file
            file.flush()
            os.fsync(file.fileno())  # the rename must not overtake the data on a crash
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError) and error.filename is None and error.errno is not None:
            # "[Errno 28] No space left on device" alone does not say which write failed
            raise OSError(error.errno, f"{error.strerror} (nothing was written; the old file, if any, is "
                                       "unchanged)", str(path)) from error
        raise


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it to ``path`` (see
    :func:`atomic_open`).  A missing folder is a ValueError, before anything is written."""
    path = os.fspath(writable_target(path))
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: the folder {directory!r} does not exist")
    with atomic_open(path) as stream:
        write(stream)
