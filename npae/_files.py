"""Atomic file writes: a reader sees the old file or the complete new one, never half of it."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".part"


@contextmanager
def atomic_open(path):
    """Open a temporary file next to ``path`` for binary writing; on success rename it to ``path``.

    The temporary file lives in the same directory (``.<name>.<random>.part``) because ``os.replace``
    is atomic only within one file system.  If the ``with`` block raises (a dropped connection, a
    checksum mismatch, Ctrl-C), the temporary file is deleted and ``path`` is left as it was.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # the rename must not overtake the data on a crash
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; data files are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it to ``path`` (see
    :func:`atomic_open`).  A missing folder is a ValueError, before anything is written."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: the folder {directory!r} does not exist")
    with atomic_open(path) as stream:
        write(stream)
