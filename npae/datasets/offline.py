"""Remembering, for a while, that the mirrors could not be reached: offline, one failed try, not one per run.

When the loaders' automatic download fails because no mirror could be *reached* (connection refused,
no route, name not resolved, timed out), :func:`remember` writes ``<user cache>/download-failed.json``:
when, which mirrors, and why.  For :data:`RETRY_AFTER` seconds after that, :func:`recent_failure` tells
the loaders not to try the same mirrors again, so that every command and example run offline falls back
to the embedded sample at once, saying so in a line instead of retrying every mirror for every file.

A mirror that answered (an HTTP error, a file with the wrong checksum) is not "offline" and is not
remembered: that is a fault to report each time.  ``npae data fetch`` always tries, and a successful
download forgets the failure (:func:`forget`).  The file is a convenience: if it cannot be written
(a read-only cache) or read, npae simply tries again.
"""
import json
import os
import time

from .._files import atomic_open
from .locate import user_cache_dir

RETRY_AFTER = 30 * 60   # seconds: long enough for a session offline, short enough to notice a network back


def _path():
    return user_cache_dir() / "download-failed.json"


def unreachable(error) -> bool:
    """True when every attempt of a DownloadError failed before any server answered."""
    from urllib.error import HTTPError, URLError  # deferred: see npae.datasets.download

    failures = getattr(error, "failures", None)
    return bool(failures) and all(
        isinstance(failure, (TimeoutError, ConnectionError))
        or (isinstance(failure, URLError) and not isinstance(failure, HTTPError)) for _, failure in failures)


def _read():
    try:
        with open(_path(), encoding="utf-8") as file:
            entries = json.load(file)
        return entries if isinstance(entries, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(name, mirrors, error):
    """Note that downloading data set ``name`` from ``mirrors`` failed with ``error`` (if it was unreachable)."""
    if not unreachable(error):
        return
    entries = _read()
    entries[name] = {"time": time.time(), "mirrors": list(mirrors), "reason": str(error)}
    _write(entries)


def recent_failure(name, mirrors, now=None):
    """``(seconds ago, seconds until the next try, reason)`` of a failure to reach ``mirrors`` for data set
    ``name`` less than RETRY_AFTER seconds ago, else None."""
    entry = _read().get(name)
    now = time.time() if now is None else now
    try:
        age = now - float(entry["time"])
        if entry["mirrors"] != list(mirrors) or not 0 <= age < RETRY_AFTER:
            return None
        return age, RETRY_AFTER - age, str(entry["reason"])
    except (TypeError, KeyError, ValueError):
        return None


def forget(name):
    """A download of ``name`` worked: the next failure starts afresh."""
    entries = _read()
    if entries.pop(name, None) is not None:
        _write(entries)


def _write(entries):
    try:
        os.makedirs(_path().parent, exist_ok=True)
        with atomic_open(_path()) as file:
            file.write(json.dumps(entries, indent=1).encode("utf-8"))
    except (OSError, ValueError):  # a cache we cannot write: nothing remembered, the next run tries again
        pass
