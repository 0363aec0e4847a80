"""The downloader against a real HTTP server on 127.0.0.1, started by these tests in a thread.

The server serves the real MNIST .gz files of NPAE_DATA under these prefixes: ``/good/`` (complete),
``/drop/`` (announces the full Content-Length, sends half, hangs up), ``/missing/`` (404), and the
hostile ones: ``/trickle/`` (one byte every 50 ms), ``/silent/`` (headers, then nothing),
``/slowheaders/`` (the header lines one byte every 50 ms), ``/endless/`` (no Content-Length, zeros
without end) and ``/huge/`` (announces a terabyte).  Those files are re-compressed, so their MD5
differs from the public mirrors': the default checksum table rejects them (the mismatch case), and the
success cases pass the files' own MD5 through ``md5=``.

The deadline tests use a deadline of one second and assert what ended the download (the error type
and message), not how long it took; :func:`returns` only checks that the call came back at all, so
that a regression fails the test instead of hanging the suite.
"""
import hashlib
import io
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from npae.datasets import (
    ChecksumError,
    DataNotFoundError,
    DownloadError,
    fetch,
    find_or_sample,
    load_mnist,
    read_idx,
)
from npae._files import STALE_PARTIAL_SECONDS
from npae.datasets.catalog import MNIST
from npae.datasets.commands import data_fetch
from npae.datasets.download import Progress

FILE_NAMES = [file_spec.gz_name for file_spec in MNIST.files]


@pytest.fixture(scope="module")
def served_files():
    """``{file name: bytes}`` of the real MNIST .gz files."""
    if not os.environ.get("NPAE_DATA"):
        pytest.skip("NPAE_DATA is not set")
    directory = Path(os.environ["NPAE_DATA"]) / "mnist"
    return {name: (directory / name).read_bytes() for name in FILE_NAMES}


HOSTILE = ("trickle", "silent", "slowheaders", "endless", "huge")


@pytest.fixture(scope="module")
def server(served_files):
    """Base URL of a local server; ``server.requests`` records the paths asked for."""
    requests = []
    stop = threading.Event()  # set at teardown: the slow handlers end

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            behaviour, _, name = self.path.strip("/").partition("/mnist/")
            body = served_files.get(name)
            if body is None or behaviour not in ("good", "drop", *HOSTILE):
                self.send_error(404)
                return
            try:
                if behaviour in HOSTILE:
                    self.hostile(behaviour, body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if behaviour == "good" else body[: len(body) // 2])
            except (BrokenPipeError, ConnectionResetError):  # the client gave up: so do we
                pass
            self.close_connection = True

        def hostile(self, behaviour, body):
            if behaviour == "slowheaders":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not stop.wait(0.05):
                    self.wfile.write(b"x")
                return
            self.send_response(200)
            if behaviour != "endless":
                self.send_header("Content-Length", str(10**12 if behaviour == "huge" else len(body)))
            self.end_headers()
            if behaviour == "trickle":
                for position in range(len(body)):
                    if stop.wait(0.05):
                        return
                    self.wfile.write(body[position:position + 1])
            elif behaviour == "silent":
                stop.wait(120)
            elif behaviour == "endless":
                zeros = bytes(1 << 16)
                while not stop.is_set():
                    self.wfile.write(zeros)

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield type("Server", (), {"base": base, "requests": requests})
    stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def returns(function, *arguments, **keywords):
    """``function(...)``'s result or exception, run in a thread: asserts only that it came back at all
    (within a generous two minutes), so that a download that never ends fails instead of hanging."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*arguments, **keywords)
        except BaseException as error:  # handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the download did not end"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def served_md5(served_files):
    return {name: hashlib.md5(data).hexdigest() for name, data in served_files.items()}


@pytest.fixture(autouse=True)
def local_environment(monkeypatch, tmp_path):
    """Downloads go to tmp_path/cache; no proxy may intercept 127.0.0.1."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NPAE_MIRROR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)


def files_left(directory):
    """Every file under ``directory``, temporary ones included."""
    return sorted(str(path.relative_to(directory)) for path in Path(directory).rglob("*") if path.is_file())


def test_success_writes_verified_files_that_load(server, served_md5, tmp_path):
    progress = io.StringIO()
    directory = fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/good/mnist/"], md5=served_md5,
                      stream=progress)
    assert directory == tmp_path / "data" / "mnist"
    assert files_left(directory) == sorted(FILE_NAMES)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path / "data", normalize=False, flatten=False)
    original = Path(os.environ["NPAE_DATA"]) / "mnist"
    np.testing.assert_array_equal(y_train, read_idx(original / "train-labels-idx1-ubyte.gz"))
    np.testing.assert_array_equal(x_test, read_idx(original / "t10k-images-idx3-ubyte.gz"))
    lines = progress.getvalue().splitlines()
    # Not a terminal: plain lines, and a final one for each file of 1 MB or more.
    assert lines[0] == f"downloading {server.base}/good/mnist/train-images-idx3-ubyte.gz (9.7 MB)"
    assert sum("done in" in line for line in lines) == 2 and "\r" not in progress.getvalue()


def test_checksum_mismatch_names_file_expected_and_received(server, served_md5, tmp_path):
    with pytest.raises(DownloadError) as error:
        fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/good/mnist/"], stream=io.StringIO())
    (url, cause), = error.value.failures
    assert isinstance(cause, ChecksumError)
    name = "train-images-idx3-ubyte.gz"
    assert (cause.file_name, cause.expected, cause.received) == (name, MNIST.files[0].md5_gz, served_md5[name])
    for text in (name, MNIST.files[0].md5_gz, served_md5[name]):
        assert text in str(error.value)
    assert files_left(tmp_path) == []


def test_connection_dropped_mid_file(server, served_md5, tmp_path):
    with pytest.raises(DownloadError, match=r"connection closed after \d+ of 9719438 bytes"):
        fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/drop/mnist/"], md5=served_md5,
              stream=io.StringIO())
    assert files_left(tmp_path) == []


def test_not_found_on_the_server(server, served_md5, tmp_path):
    with pytest.raises(DownloadError, match="HTTP Error 404"):
        fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/missing/mnist/"], md5=served_md5,
              stream=io.StringIO())
    assert files_left(tmp_path) == []


def test_failing_mirrors_are_skipped_for_a_good_one(server, served_md5, tmp_path):
    log = io.StringIO()
    mirrors = [f"{server.base}/missing/mnist/", f"{server.base}/drop/mnist", f"{server.base}/good/mnist/"]
    fetch("mnist", tmp_path / "data", mirrors=mirrors, md5=served_md5, stream=log)
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES)
    assert log.getvalue().count("(trying the next mirror)") == 2 * len(FILE_NAMES)


def test_only_missing_files_are_downloaded(server, served_files, served_md5, tmp_path):
    directory = tmp_path / "data" / "mnist"
    directory.mkdir(parents=True)
    for name in FILE_NAMES[:3]:
        (directory / name).write_bytes(served_files[name])
    server.requests.clear()
    fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/good/mnist/"], md5=served_md5,
          stream=io.StringIO())
    assert server.requests == ["/good/mnist/t10k-labels-idx1-ubyte.gz"]


def test_npae_mirror_is_used_by_the_loaders(server, tmp_path, monkeypatch):
    # NPAE_MIRROR reaches the loader's automatic download; the default (public-mirror) MD5s then reject
    # the re-compressed files, so the loader reports where it looked and why the download failed.
    monkeypatch.delenv("NPAE_DATA", raising=False)
    monkeypatch.setenv("NPAE_MIRROR", f"{server.base}/good/")
    server.requests.clear()
    with pytest.raises(DataNotFoundError, match="checksum mismatch for train-images-idx3-ubyte.gz") as error:
        load_mnist()
    assert server.requests == ["/good/mnist/train-images-idx3-ubyte.gz"]
    assert str(tmp_path / "cache" / "npae" / "mnist") in str(error.value)
    assert files_left(tmp_path / "cache") == []
    assert find_or_sample("mnist").used_sample
    output = io.StringIO()
    assert data_fetch(names=("mnist",), stream=output) == 1
    assert "expected MD5 " + MNIST.files[0].md5_gz in output.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream, separator", [(Terminal(), "\r"), (io.StringIO(), "\n")])
def test_progress_rewrites_one_line_on_a_terminal_and_prints_lines_otherwise(stream, separator):
    progress = Progress("train-images-idx3-ubyte.gz", 26_421_880, stream, interval=0)
    progress.update(13_210_940)
    progress.finish(26_421_880)
    text = stream.getvalue()
    assert "train-images-idx3-ubyte.gz: 13.2 MB of 26.4 MB (50%)" + separator in text
    assert re.search(r"26\.4 MB of 26\.4 MB \(100%\), done in \d+\.\d s\n$", text)
    assert text.count("\n") == (1 if separator == "\r" else 2)


# -- deadlines, size caps, leftovers --------------------------------------------------------------------

def fetch_one_file(server, served_files, served_md5, tmp_path, behaviours, **options):
    """Fetch MNIST into tmp_path/data with all but the test labels present, from mirrors ``behaviours``."""
    directory = tmp_path / "data" / "mnist"
    directory.mkdir(parents=True, exist_ok=True)
    for name in FILE_NAMES[:3]:
        (directory / name).write_bytes(served_files[name])
    mirrors = [f"{server.base}/{behaviour}/mnist/" for behaviour in behaviours]
    return returns(fetch, "mnist", tmp_path / "data", mirrors=mirrors, md5=served_md5, stream=io.StringIO(),
                   **options)


@pytest.mark.parametrize("behaviour", ["trickle", "silent", "slowheaders"])
def test_a_slow_server_is_cut_off_at_the_deadline(server, served_files, served_md5, tmp_path, behaviour):
    # The per-read timeout (30 s) never fires: one byte every 50 ms, or a wait shorter than 30 s.
    with pytest.raises(DownloadError) as error:
        fetch_one_file(server, served_files, served_md5, tmp_path, [behaviour, "trickle"], deadline=1.0,
                       timeout=30.0)
    (first_url, first), (second_url, second) = error.value.failures
    assert type(first) is TimeoutError and "the download deadline passed after" in str(first)
    assert "nothing was kept" in str(first) and behaviour in first_url
    assert type(second) is TimeoutError and "not tried: the download deadline had passed" in str(second)
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES[:3])   # no .part left behind


def test_the_deadline_covers_the_whole_fetch(server, served_md5, tmp_path):
    # Four files from a trickling server: the first takes the whole second, the rest are not tried.
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz") as error:
        returns(fetch, "mnist", tmp_path / "data", mirrors=[f"{server.base}/trickle/mnist/"], md5=served_md5,
                stream=io.StringIO(), deadline=1.0)
    assert isinstance(error.value.failures[0][1], TimeoutError)
    assert files_left(tmp_path) == []


def test_a_body_without_length_stops_at_the_byte_cap(server, served_files, served_md5, tmp_path):
    cap = MNIST.files[3].max_download_bytes
    assert 10_008 < cap < 100_000   # the test labels: 10,008 bytes of data at most in any gzip
    with pytest.raises(DownloadError) as error:
        fetch_one_file(server, served_files, served_md5, tmp_path, ["endless"])
    (url, cause), = error.value.failures
    assert type(cause) is ValueError and f"the server sent more than {cap} bytes" in str(cause)
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES[:3])


def test_an_announced_size_beyond_the_cap_is_refused_before_the_body(server, served_files, served_md5, tmp_path):
    with pytest.raises(DownloadError, match=r"the server announces 1000000000000 bytes, more than the \d+"):
        fetch_one_file(server, served_files, served_md5, tmp_path, ["huge"])
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES[:3])


def test_stale_partial_downloads_are_removed_and_live_ones_kept(server, served_md5, tmp_path):
    directory = tmp_path / "data" / "mnist"
    directory.mkdir(parents=True)
    stale = directory / ".train-images-idx3-ubyte.gz.0a1b2c3d.part"
    live = directory / ".t10k-labels-idx1-ubyte.gz.4e5f6a7b.part"
    foreign = directory / "notes.part"
    for path in (stale, live, foreign):
        path.write_bytes(b"partial")
    long_ago = time.time() - STALE_PARTIAL_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    os.utime(foreign, (long_ago, long_ago))
    fetch("mnist", tmp_path / "data", mirrors=[f"{server.base}/good/mnist/"], md5=served_md5, stream=io.StringIO())
    assert files_left(directory) == sorted(FILE_NAMES + [live.name, foreign.name])


@pytest.mark.parametrize("arguments", [{"deadline": 0}, {"deadline": -1.0}, {"deadline": "60"},
                                       {"deadline": float("inf")}, {"timeout": True}, {"timeout": float("nan")}])
def test_deadline_and_timeout_must_be_positive_numbers(tmp_path, arguments):
    name = next(iter(arguments))
    with pytest.raises(ValueError, match=f"{name} must be a positive number of seconds"):
        fetch("mnist", tmp_path / "data", mirrors=["http://127.0.0.1:9/"], **arguments)
    assert files_left(tmp_path) == [] and not (tmp_path / "data").exists()


def test_file_urls_are_read_like_http(served_md5, tmp_path):
    source = (Path(os.environ["NPAE_DATA"]) / "mnist").as_uri() + "/"
    fetch("mnist", tmp_path / "data", mirrors=[source], md5=served_md5, stream=io.StringIO())
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES)


# -- stalled transfers (curl's --speed-limit / --speed-time) ------------------------------------------

@pytest.mark.parametrize("behaviour", ["trickle", "slowheaders", "silent"])
def test_a_stalled_transfer_ends_long_before_the_deadline(server, served_files, served_md5, tmp_path, behaviour):
    # 20 bytes/s (or nothing at all) against a minimum of 1,000 bytes/s over a 1-second window: each
    # mirror's attempt ends as stalled, the next mirror is tried, and the 30-minute deadline never fires.
    with pytest.raises(DownloadError) as error:
        fetch_one_file(server, served_files, served_md5, tmp_path, [behaviour, "trickle"], min_rate=1000,
                       rate_window=1.0, timeout=30.0)
    for url, cause in error.value.failures:
        assert type(cause) is TimeoutError and "the transfer stalled" in str(cause), cause
        assert "below the minimum rate of 1000 bytes/s" in str(cause) and "nothing was kept" in str(cause)
    assert [url.split("/")[3] for url, _ in error.value.failures] == [behaviour, "trickle"]
    assert files_left(tmp_path / "data" / "mnist") == sorted(FILE_NAMES[:3])   # no .part left behind


def test_a_slow_but_steady_transfer_is_not_a_stall(server, served_files, served_md5, tmp_path):
    # The trickling server's 20 bytes/s are above a minimum of 10 bytes/s: the attempt goes on until
    # the deadline ends it (a stall would have been reported after one window).
    with pytest.raises(DownloadError) as error:
        fetch_one_file(server, served_files, served_md5, tmp_path, ["trickle"], min_rate=10, rate_window=0.5,
                       deadline=3.0)
    (url, cause), = error.value.failures
    assert "the download deadline passed" in str(cause)


@pytest.mark.parametrize("arguments, message", [({"min_rate": -1}, "min_rate must be a number of bytes"),
                                                ({"min_rate": "1k"}, "min_rate must be a number of bytes"),
                                                ({"rate_window": 0}, "rate_window must be a positive number")])
def test_rate_options_are_checked(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        fetch("mnist", tmp_path / "data", mirrors=["http://127.0.0.1:9/"], **arguments)
