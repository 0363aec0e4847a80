"""Downloading a data set's four ``.gz`` files: mirror after mirror, MD5-verified, written atomically.

For each missing file, the mirrors are tried in order.  One attempt streams the response into a
temporary file next to the target while hashing it; it fails when the server answers with an HTTP
error, when the connection ends before ``Content-Length`` bytes arrived, or when the MD5 of what
arrived is not the catalogued one (:class:`ChecksumError`, naming file, expected and received
checksum).  A failed attempt deletes its temporary file, prints one line, and the next mirror is
tried; when all fail, :class:`DownloadError` lists every URL with its error.  Only a complete,
verified file is renamed into place, so an interrupted download never leaves anything behind.

Mirrors: ``mirrors=`` when given, else ``$NPAE_MIRROR/<name>/`` when ``NPAE_MIRROR`` is set (a private
mirror, or a local server in the tests; ``file://`` URLs work too), else the public mirrors of
:mod:`npae.datasets.catalog`.  The expected MD5s can be replaced with ``md5=`` (a mapping from file
name to hex digest), which is how the tests check the success path against a server that serves
re-compressed files: no monkeypatching of module state is needed.

Only the standard library is used; ``urllib.request`` is imported on the first download, because it
costs about 20 ms and ``import npae`` must stay fast.
"""
import hashlib
import os
import sys
import time

from .catalog import dataset_spec
from .errors import ChecksumError, DownloadError
from .locate import download_root, find_file
from .._files import atomic_open

CHUNK_SIZE = 1 << 16
BIG_FILE_BYTES = 1_000_000  # progress lines are printed only for files at least this large
DEFAULT_TIMEOUT = 30.0      # seconds without any byte from the server before an attempt fails


def _size(count):
    """``9.7 MB`` or ``4.5 kB``: one decimal, in the unit that keeps it readable."""
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


class Progress:
    """Throttled progress for one download, written to ``stream`` (stderr by default).

    On a terminal, one line rewritten in place with ``\\r`` at most every 0.1 s; otherwise (a log file,
    CI) a plain new line at most every 5 s, so logs stay short (tqdm's and allennlp's choices).
    """

    def __init__(self, label, total, stream, interval=None):
        self.label, self.total, self.stream = label, total, stream
        self.is_terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = (0.1 if self.is_terminal else 5.0) if interval is None else interval
        self.start = self.last = time.monotonic()

    def _text(self, done):
        text = f"{self.label}: {done / 1e6:.1f} MB"
        if self.total:
            text += f" of {self.total / 1e6:.1f} MB ({100 * done / self.total:.0f}%)"
        return text

    def update(self, done):
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        self.stream.write(("\r" if self.is_terminal else "") + self._text(done) + ("" if self.is_terminal else "\n"))
        self.stream.flush()

    def finish(self, done):
        elapsed = time.monotonic() - self.start
        prefix = "\r" if self.is_terminal else ""
        self.stream.write(f"{prefix}{self._text(done)}, done in {elapsed:.1f} s\n")
        self.stream.flush()


def mirror_urls(name, mirrors=None) -> list:
    """Base URLs to try for data set ``name``, in order (see the module docstring)."""
    if mirrors is not None:
        return [str(mirror) for mirror in mirrors]
    override = os.environ.get("NPAE_MIRROR", "").strip()
    if override:
        return [f"{override.rstrip('/')}/{name}/"]
    return list(dataset_spec(name).mirrors)


def _content_length(response):
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, TypeError, ValueError):
        return None


def _download_once(url, destination, expected_md5, timeout, stream):
    """One attempt: stream ``url`` into ``destination`` atomically, checking length and MD5."""
    import urllib.request  # deferred: see the module docstring

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = _content_length(response)
        stream.write(f"downloading {url}" + (f" ({_size(total)})" if total else "") + "\n")
        progress = Progress(destination.name, total, stream) if (total or 0) >= BIG_FILE_BYTES else None
        digest = hashlib.md5(usedforsecurity=False)  # an integrity check, so allowed under FIPS
        received = 0
        with atomic_open(destination) as file:
            while chunk := response.read(CHUNK_SIZE):
                file.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if progress:
                    progress.update(received)
            # http.client returns b"" when the server hangs up early, without an error: count the bytes.
            if total is not None and received != total:
                raise ConnectionError(f"connection closed after {received} of {total} bytes")
            if digest.hexdigest() != expected_md5:
                raise ChecksumError(destination.name, expected_md5, digest.hexdigest(), url)
        if progress:
            progress.finish(received)


def download_file(urls, destination, expected_md5, *, timeout=DEFAULT_TIMEOUT, stream=None) -> str:
    """Download ``destination.name`` from the first of ``urls`` that delivers it with ``expected_md5``.

    Returns the URL that worked.  Raises :class:`DownloadError` (listing each URL and its error) when
    none did; ``destination`` then does not exist and no temporary file is left.
    """
    from http.client import HTTPException  # deferred with urllib.request

    stream = sys.stderr if stream is None else stream
    failures = []
    for url in urls:
        try:
            _download_once(url, destination, expected_md5, timeout, stream)
            return url
        except (OSError, ValueError, HTTPException) as error:  # HTTP errors, timeouts, ChecksumError...
            failures.append((url, error))
            more = "trying the next mirror" if len(failures) < len(urls) else "no mirror left"
            stream.write(f"failed: {url}: {error} ({more})\n")
    raise DownloadError(destination.name, failures)


def fetch(name, data_dir=None, *, mirrors=None, md5=None, timeout=DEFAULT_TIMEOUT, stream=None):
    """Download the files of data set ``name`` that are missing from its download directory.

    The directory is ``<root>/<name>/`` with ``root`` = ``data_dir``, else ``$NPAE_DATA``, else the user
    cache (:func:`npae.datasets.locate.download_root`).  Files already there (``.gz`` or not) are left
    alone: checking their content is the loaders' job.  ``mirrors`` and ``md5`` override the base URLs
    and the expected checksums (see the module docstring); progress goes to ``stream`` (stderr).

    Returns the directory.  Raises :class:`DownloadError` on the first file that no mirror delivers;
    the files completed before it stay (each is whole and verified), and a directory created for
    nothing is removed again.
    """
    spec = dataset_spec(name)
    root, _ = download_root(data_dir)
    directory = root / spec.name
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    expected = {file_spec.gz_name: file_spec.md5_gz for file_spec in spec.files}
    expected.update(md5 or {})
    bases = mirror_urls(spec.name, mirrors)
    try:
        for file_spec in spec.files:
            if find_file(directory, file_spec) is None:
                urls = [f"{base.rstrip('/')}/{file_spec.gz_name}" for base in bases]
                download_file(urls, directory / file_spec.gz_name, expected[file_spec.gz_name],
                              timeout=timeout, stream=stream)
    except BaseException:
        if created and not any(directory.iterdir()):
            directory.rmdir()
        raise
    return directory
