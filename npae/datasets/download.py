"""Downloading a data set's four ``.gz`` files: mirror after mirror, MD5-verified, written atomically.

For each missing file, the mirrors are tried in order.  One attempt streams the response into a
temporary file next to the target while hashing it; it fails when the server answers with an HTTP
error, when the connection ends before ``Content-Length`` bytes arrived, when the server announces or
sends more bytes than a gzip of the file can take (the catalogue's ``max_download_bytes``), when a read
waits ``timeout`` seconds for a byte, when the transfer stalls (fewer than ``min_rate`` bytes per second
over the last ``rate_window`` seconds, curl's ``--speed-limit``/``--speed-time``: 1 kB/s over 60 s by
default, headers included), when the fetch's ``deadline`` passes (a :class:`Watchdog` ends the attempt
in both cases, however slowly the server trickles), or when the MD5 of what arrived is not the
catalogued one (:class:`ChecksumError`, naming file, expected and received checksum).  A failed
attempt deletes its temporary file, prints one line, and the next mirror is tried; when all fail,
:class:`DownloadError` lists every URL with its error.  Only a complete, verified file is renamed into
place, so an interrupted download leaves nothing behind; the temporary file of a process killed
outright is removed by the next fetch once it is an hour old (:func:`npae._files.remove_stale_partials`).

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
import threading
import time

from .catalog import dataset_spec
from .errors import ChecksumError, DownloadError
from .locate import download_root, find_file
from .._files import atomic_open, remove_stale_partials

CHUNK_SIZE = 1 << 16
BIG_FILE_BYTES = 1_000_000  # progress lines are printed only for files at least this large
DEFAULT_TIMEOUT = 30.0      # seconds without any byte from the server before an attempt fails
# Seconds for a whole fetch (four files, every mirror): Fashion-MNIST's 30 MB at 20 kB/s, with room to spare.
DEFAULT_DEADLINE = 1800.0
# A stalled transfer: fewer than DEFAULT_MIN_RATE bytes a second over the last DEFAULT_RATE_WINDOW seconds
# (curl's --speed-limit 1000 --speed-time 60) ends the attempt, long before the deadline.
DEFAULT_MIN_RATE = 1000.0
DEFAULT_RATE_WINDOW = 60.0


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


class Watchdog:
    """Ends one download attempt at its deadline, or when it stalls, whatever the server does.

    A per-read timeout alone cannot: a server sending one byte every few seconds never lets a read wait
    long enough.  The watchdog is a thread that looks at the attempt every ``step`` seconds.  It fires
    when ``seconds`` have passed since the start (:attr:`reason` "deadline"), or, with ``min_rate`` > 0,
    when fewer than ``min_rate * window`` bytes arrived in the last ``window`` seconds (:attr:`reason`
    "stalled"; the attempt reports its bytes with :meth:`count`, and a server that trickles its
    headers counts as sending nothing).  Firing shuts down every socket the attempt opened
    (:meth:`watch`), which wakes a read blocked on it: the read returns or fails at once, and
    :attr:`expired` tells the attempt why.  Name resolution and the TLS handshake are not covered (the
    system resolver has its own time limit, the handshake the per-read timeout).
    """

    def __init__(self, seconds, min_rate=0.0, window=DEFAULT_RATE_WINDOW):
        self.seconds, self.min_rate, self.window = seconds, min_rate, window
        self.step = min(1.0, window / 10)
        self.expired = threading.Event()
        self.reason = None
        self.received = 0
        self._window_start = 0            # self.received as it was `window` seconds ago
        self._done = threading.Event()
        self._sockets = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self, byte_count):
        """The attempt received ``byte_count`` more bytes."""
        self.received += byte_count

    def bytes_in_window(self):
        """Bytes received in the last ``window`` seconds (the rate check's numerator)."""
        return self.received - self._window_start

    def watch(self, sock):
        with self._lock:
            self._sockets.append(sock)
            if self.expired.is_set():
                self._shut(sock)
        return sock

    @staticmethod
    def _shut(sock):
        import socket  # deferred with urllib.request: see the module docstring

        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass

    def _run(self):
        start = time.monotonic()
        samples = [(start, 0)]            # (time, bytes received by then), the last window's worth
        while not self._done.wait(min(self.step, max(0.0, start + self.seconds - time.monotonic()))):
            now = time.monotonic()
            if now - start >= self.seconds:
                return self._expire("deadline")
            samples.append((now, self.received))
            while len(samples) > 1 and samples[1][0] <= now - self.window:
                samples.pop(0)            # samples[0]: the last one at least `window` seconds old
            self._window_start = samples[0][1]
            if self.min_rate and now - start >= self.window and \
                    self.received - samples[0][1] < self.min_rate * self.window:
                return self._expire("stalled")

    def _expire(self, reason):
        with self._lock:
            self.reason = reason
            self.expired.set()
            for sock in self._sockets:
                self._shut(sock)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()


def _opener(watchdog):
    """A urllib opener (proxies, redirects, https and file URLs as usual) whose connections ``watchdog`` sees."""
    import urllib.request  # deferred: see the module docstring

    def watched(connection_class):
        class WatchedConnection(connection_class):
            def connect(self):
                super().connect()
                watchdog.watch(self.sock)
        return WatchedConnection

    class WatchedHTTPHandler(urllib.request.HTTPHandler):
        def do_open(self, http_class, request, **arguments):
            return super().do_open(watched(http_class), request, **arguments)

    handlers = [WatchedHTTPHandler]
    if hasattr(urllib.request, "HTTPSHandler"):  # Python built with ssl
        class WatchedHTTPSHandler(urllib.request.HTTPSHandler):
            def do_open(self, http_class, request, **arguments):
                return super().do_open(watched(http_class), request, **arguments)
        handlers.append(WatchedHTTPSHandler)
    return urllib.request.build_opener(*handlers)


def _receive(response, file, digest, max_bytes, progress, watchdog):
    """Copy the body of ``response`` into ``file`` and ``digest``; return the byte count.

    ``read1`` returns what one read of the socket brings, so the deadline and the cap are checked
    after every arrival, however slowly the bytes come.
    """
    read = getattr(response, "read1", response.read)
    received = 0
    while chunk := read(CHUNK_SIZE):
        if watchdog.expired.is_set():
            break
        received += len(chunk)
        watchdog.count(len(chunk))
        if max_bytes is not None and received > max_bytes:
            raise ValueError(f"the server sent more than {max_bytes} bytes, the most a gzip of "
                             f"this file can take: not the file asked for")
        file.write(chunk)
        digest.update(chunk)
        if progress:
            progress.update(received)
    return received


def _download_once(url, destination, expected_md5, timeout, deadline, max_bytes, stream, min_rate, rate_window):
    """One attempt: stream ``url`` into ``destination`` atomically, checking length, size cap, rate, deadline,
    MD5."""
    start = time.monotonic()
    with Watchdog(deadline, min_rate, rate_window) as watchdog:
        try:
            with _opener(watchdog).open(url, timeout=min(timeout, deadline)) as response:
                total = _content_length(response)
                stream.write(f"downloading {url}" + (f" ({_size(total)})" if total else "") + "\n")
                if max_bytes is not None and total is not None and total > max_bytes:
                    raise ValueError(f"the server announces {total} bytes, more than the {max_bytes} that a gzip "
                                     f"of {destination.name} can take: not the file asked for")
                progress = Progress(destination.name, total, stream) if (total or 0) >= BIG_FILE_BYTES else None
                digest = hashlib.md5(usedforsecurity=False)  # an integrity check, so allowed under FIPS
                with atomic_open(destination) as file:
                    received = _receive(response, file, digest, max_bytes, progress, watchdog)
                    if watchdog.expired.is_set():
                        raise TimeoutError(watchdog.reason)  # replaced below by the message that says it all
                    # http.client returns b"" when the server hangs up early, without an error: count the bytes.
                    if total is not None and received != total:
                        raise ConnectionError(f"connection closed after {received} of {total} bytes")
                    if digest.hexdigest() != expected_md5:
                        raise ChecksumError(destination.name, expected_md5, digest.hexdigest(), url)
                if progress:
                    progress.finish(received)
        except Exception:
            if watchdog.reason == "stalled":  # whatever the shut-down socket made the read raise
                raise TimeoutError(f"the transfer stalled: {watchdog.bytes_in_window()} bytes in the last "
                                   f"{rate_window:g} s, below the minimum rate of {min_rate:g} bytes/s (after "
                                   f"{time.monotonic() - start:.1f} s and {watchdog.received} bytes); nothing was "
                                   "kept") from None
            if watchdog.expired.is_set():
                raise TimeoutError(f"the download deadline passed after {time.monotonic() - start:.1f} s, with "
                                   f"{watchdog.received} bytes received; nothing was kept") from None
            raise


def _check_seconds(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{argument} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_rate(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"min_rate must be a number of bytes per second >= 0 (0: no minimum), got {value!r}")
    return float(value)


def download_file(urls, destination, expected_md5, *, timeout=DEFAULT_TIMEOUT, deadline=DEFAULT_DEADLINE,
                  max_bytes=None, stream=None, min_rate=DEFAULT_MIN_RATE, rate_window=DEFAULT_RATE_WINDOW) -> str:
    """Download ``destination.name`` from the first of ``urls`` that delivers it with ``expected_md5``.

    ``timeout``: seconds a single read may wait for a byte.  ``deadline``: seconds for the whole call,
    every mirror included; when it passes, the attempt under way ends at once and no further mirror is
    tried.  ``min_rate`` (bytes per second, 0: none) and ``rate_window`` (seconds): an attempt that
    receives fewer than ``min_rate * rate_window`` bytes in any ``rate_window`` seconds has stalled and
    ends (the next mirror is tried).  ``max_bytes``: an attempt that announces or sends more fails (None:
    no cap).

    Returns the URL that worked.  Raises :class:`DownloadError` (listing each URL and its error) when
    none did; ``destination`` then does not exist and no temporary file is left.
    """
    from http.client import HTTPException  # deferred with urllib.request

    timeout, deadline = _check_seconds(timeout, "timeout"), _check_seconds(deadline, "deadline")
    min_rate, rate_window = _check_rate(min_rate), _check_seconds(rate_window, "rate_window")
    end = time.monotonic() + deadline
    stream = sys.stderr if stream is None else stream
    failures = []
    for url in urls:
        remaining = end - time.monotonic()
        if remaining <= 0:
            failures.append((url, TimeoutError("not tried: the download deadline had passed")))
            continue
        try:
            _download_once(url, destination, expected_md5, timeout, remaining, max_bytes, stream, min_rate,
                           rate_window)
            return url
        except (OSError, ValueError, HTTPException) as error:  # HTTP errors, timeouts, ChecksumError...
            failures.append((url, error))
            more = "trying the next mirror" if len(failures) < len(urls) else "no mirror left"
            stream.write(f"failed: {url}: {error} ({more})\n")
    raise DownloadError(destination.name, failures)


def fetch(name, data_dir=None, *, mirrors=None, md5=None, timeout=DEFAULT_TIMEOUT, deadline=DEFAULT_DEADLINE,
          stream=None, min_rate=DEFAULT_MIN_RATE, rate_window=DEFAULT_RATE_WINDOW):
    """Download the files of data set ``name`` that are missing from its download directory.

    The directory is ``<root>/<name>/`` with ``root`` = ``data_dir``, else ``$NPAE_DATA``, else the user
    cache (:func:`npae.datasets.locate.download_root`).  Files already there (``.gz`` or not) are left
    alone: checking their content is the loaders' job.  ``mirrors`` and ``md5`` override the base URLs
    and the expected checksums (see the module docstring); progress goes to ``stream`` (stderr).
    ``timeout`` bounds each read, ``deadline`` the whole fetch (all files, all mirrors), ``min_rate`` and
    ``rate_window`` how slow an attempt may get before it counts as stalled (see :func:`download_file`), and each file
    may take at most :attr:`FileSpec.max_download_bytes <npae.datasets.catalog.FileSpec.max_download_bytes>`.
    Temporary files that killed downloads left in the directory are removed once stale
    (:func:`npae._files.remove_stale_partials`).

    Returns the directory.  Raises :class:`DownloadError` on the first file that no mirror delivers;
    the files completed before it stay (each is whole and verified), and a directory created for
    nothing is removed again.
    """
    spec = dataset_spec(name)
    timeout, deadline = _check_seconds(timeout, "timeout"), _check_seconds(deadline, "deadline")
    min_rate, rate_window = _check_rate(min_rate), _check_seconds(rate_window, "rate_window")
    end = time.monotonic() + deadline
    root, _ = download_root(data_dir)
    directory = root / spec.name
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    expected = {file_spec.gz_name: file_spec.md5_gz for file_spec in spec.files}
    expected.update(md5 or {})
    bases = mirror_urls(spec.name, mirrors)
    try:
        for file_spec in spec.files:
            remove_stale_partials(directory / file_spec.gz_name)
            if find_file(directory, file_spec) is None:
                urls = [f"{base.rstrip('/')}/{file_spec.gz_name}" for base in bases]
                remaining = max(end - time.monotonic(), 1e-3)  # an expired deadline fails every mirror at once
                download_file(urls, directory / file_spec.gz_name, expected[file_spec.gz_name],
                              timeout=timeout, deadline=remaining, max_bytes=file_spec.max_download_bytes,
                              stream=stream, min_rate=min_rate, rate_window=rate_window)
    except BaseException:
        if created and not any(directory.iterdir()):
            directory.rmdir()
        raise
    from .offline import forget  # a download that worked: the loaders may try again after the next failure
    forget(spec.name)
    return directory
