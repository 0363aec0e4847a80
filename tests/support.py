"""Helpers for the hardening tests: run code in a child process and measure its peak memory; build
hostile files (gzip and zip bombs) without ever holding their inflated content in memory.

Peak memory
-----------
:func:`run_child` runs Python code in a fresh interpreter (``sys.executable``) and returns a
:class:`ChildRun`: exit code, output, the exception the code raised (type name and message, or None),
and ``peak_bytes``, the child's resident-memory high-water mark, taken from ``os.wait4``'s resource
usage of that very child (``ru_maxrss``; unlike ``getrusage(RUSAGE_CHILDREN)`` it is not the maximum
over every child the test process ever had).  A crash (a signal) shows as a negative ``returncode``.

:func:`extra_peak_bytes` subtracts the peak of a child that ran only ``setup`` (the imports), so that a
test can assert how much the code itself needed::

    from support import extra_peak_bytes

    run, extra = extra_peak_bytes(f"read_idx({str(path)!r})", setup="from npae.datasets import read_idx")
    assert run.error == ("ValueError", ...) and extra < 100 * MB

The baseline is cached per ``setup`` string; the children inherit the environment (``NPAE_DATA``...)
plus ``env``.  Memory is counted in bytes; ``MB`` is 2**20.

Hostile files
-------------
:func:`write_gzip` writes a valid gzip file of some bytes followed by any number of zero bytes (a
gigabyte of zeros costs a megabyte of file and half a second, most of it the CRC-32);
:func:`write_npz` writes an ``.npz`` by hand, member by member: arrays, raw bytes (any ``.npy`` header,
made with :func:`npy_header`, however absurd), or :class:`Member` runs of zeros with, if wanted, a
false uncompressed size in the zip directory; :func:`foreign_files` lists contents that are no ``.npz``
at all (a pickle, a lone ``.npy``, random bytes, nothing) with what a reader must call them.
"""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MB = 1 << 20

_WRAPPER = """
import json, sys
error = None
try:
    exec(compile(sys.argv[2], "<setup>", "exec"))
    exec(compile(sys.argv[3], "<code>", "exec"))
except BaseException as raised:
    error = [type(raised).__name__, str(raised)]
with open(sys.argv[1], "w") as report:
    json.dump(error, report)
"""


@dataclass
class ChildRun:
    """What :func:`run_child` saw: ``error`` is ``(type name, message)`` or None."""

    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int
    error: tuple | None


def run_child(code, *, setup="", env=None, timeout=300) -> ChildRun:
    """Run ``setup`` then ``code`` (Python source) in a fresh interpreter; see the module docstring."""
    environment = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "error.json")
        out_path, err_path = os.path.join(scratch, "out"), os.path.join(scratch, "err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            child = subprocess.Popen(
                [sys.executable, "-c", _WRAPPER, report, textwrap.dedent(setup), textwrap.dedent(code)],
                stdout=out, stderr=err, env=environment)
        # A timer kills a child that hangs, so that a broken test fails instead of blocking the suite.
        killer = threading.Timer(timeout, child.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
        error = None
        if os.path.exists(report):
            with open(report) as file:
                loaded = json.load(file)
            error = tuple(loaded) if loaded else None
        with open(out_path) as out, open(err_path) as err:
            stdout, stderr = out.read(), err.read()
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return ChildRun(child.returncode, stdout, stderr, peak, error)


@lru_cache(maxsize=None)
def baseline_peak_bytes(setup="", env_items=()) -> int:
    """Peak resident memory of a child that runs only ``setup`` (cached; ``env_items`` as sorted pairs)."""
    run = run_child("", setup=setup, env=dict(env_items))
    if run.error is not None:
        raise RuntimeError(f"the setup code failed in the child: {run.error}\n{run.stderr}")
    return run.peak_bytes


def extra_peak_bytes(code, *, setup="", env=None, timeout=300):
    """``(run, bytes)``: the :class:`ChildRun` of ``setup`` + ``code`` and its peak above the ``setup``-only
    baseline."""
    run = run_child(code, setup=setup, env=env, timeout=timeout)
    baseline = baseline_peak_bytes(setup, tuple(sorted((env or {}).items())))
    return run, run.peak_bytes - baseline


# -- hostile files ------------------------------------------------------------------------------------

def _crc32_and_size(start, zeros):
    crc = zlib.crc32(start)
    block = bytes(MB)
    for offset in range(0, zeros, MB):
        crc = zlib.crc32(block[:min(MB, zeros - offset)], crc)
    return crc, len(start) + zeros


def deflate_pieces(start=b"", zeros=0):
    """Raw deflate data of ``start`` followed by ``zeros`` zero bytes, in pieces, quickly for any count.

    After a full flush the compressor starts afresh, so a MiB of zeros compresses to the same 1,037 bytes
    every time: compressed once and repeated, a gigabyte of zeros costs milliseconds, not seconds.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # -15: raw deflate, no header
    yield compressor.compress(start) + compressor.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(zeros, MB)
    if whole:
        block = compressor.compress(bytes(MB)) + compressor.flush(zlib.Z_FULL_FLUSH)
        for _ in range(whole):
            yield block
    yield compressor.compress(bytes(rest)) + compressor.flush()


def write_gzip(path, data=b"", zeros=0):
    """Write a valid gzip file of ``data`` followed by ``zeros`` zero bytes (quickly, for any count)."""
    crc, size = _crc32_and_size(data, zeros)
    with open(path, "wb") as file:
        file.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # deflate, no flags, no time, unknown OS
        for piece in deflate_pieces(data, zeros):
            file.write(piece)
        file.write(struct.pack("<II", crc, size % (1 << 32)))
    return path


def npy_header(shape, descr, fortran_order=False):
    """The bytes of a version 1.0 ``.npy`` header declaring ``shape`` and ``descr`` (a dtype string as
    ``.npy`` writes them: ``"|u1"``, ``"<f4"``, ``"<U100"``...), whatever they are, even absurd."""
    text = repr({"descr": descr, "fortran_order": fortran_order, "shape": tuple(shape)})
    text += " " * (63 - (10 + len(text)) % 64) + "\n"  # NumPy pads the header to a multiple of 64
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def npy_bytes(array):
    """The ``.npy`` bytes of ``array``, as ``np.save`` writes them."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass
class Member:
    """One member of a hand-made zip: ``data`` then ``zeros`` zero bytes; ``claimed_size`` replaces the
    uncompressed size the zip records (a lie, when given); ``stored`` writes it uncompressed."""

    data: bytes = b""
    zeros: int = 0
    claimed_size: int | None = None
    stored: bool = False


def write_npz(path, members):
    """Write an ``.npz`` (a zip without zip64, so members below 4 GiB) at ``path``.

    ``members`` maps an array name to an ndarray (stored as ``np.savez`` would), ``bytes`` (the member's
    exact content) or a :class:`Member`.  Deflated members of many zeros are made by
    :func:`deflate_pieces`, so a small file can hold a member that inflates to a gigabyte.
    """
    central, offset = [], 0
    with open(path, "wb") as file:
        for name, content in members.items():
            if isinstance(content, np.ndarray):
                content = Member(npy_bytes(content))
            elif isinstance(content, bytes):
                content = Member(content)
            crc, size = _crc32_and_size(content.data, content.zeros)
            if content.stored:
                pieces, method = [content.data + bytes(content.zeros)], 0
            else:
                pieces, method = list(deflate_pieces(content.data, content.zeros)), 8
            compressed = sum(len(piece) for piece in pieces)
            claimed = size if content.claimed_size is None else content.claimed_size
            file_name = f"{name}.npy".encode()
            fields = (20, 0, method, 0, 0x21, crc, compressed, claimed, len(file_name))  # 0x21: 1980-01-01
            file.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + file_name)
            for piece in pieces:
                file.write(piece)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0o644 << 16,
                                       offset) + file_name)
            offset += 30 + len(file_name) + compressed
        directory = b"".join(central)
        file.write(directory)
        file.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0))
    return path


def foreign_files():
    """``[(content, what npae must say it is)]``: files that are no ``.npz`` at all, for any reader that
    expects one (a pickle must never be unpickled, nor NumPy's "allow_pickle" advice be shown)."""
    import pickle

    return [
        (pickle.dumps({"weights": [1, 2, 3]}), "Python pickle, which npae never loads"),
        (npy_bytes(np.arange(3)), "single .npy array"),
        (b"\x00\x01 random bytes \xff", "starts with 0x"),
        (b"", "it is empty"),
    ]


def metadata_member(value):
    """What npae stores JSON metadata as: a 0-d unicode array of the JSON text (``value`` or its dump)."""
    return np.array(value if isinstance(value, str) else json.dumps(value))
