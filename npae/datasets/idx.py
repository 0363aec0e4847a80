"""The IDX file format of MNIST and Fashion-MNIST: a strict reader and an atomic writer.

Layout (Y. LeCun, http://yann.lecun.com/exdb/mnist/, section "THE IDX FILE FORMAT"):

    offset  bytes        meaning
    0       2            zero
    2       1            type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    3       1            number of dimensions, ndim >= 1
    4       4 * ndim     size of each dimension, big-endian uint32
    4+4*ndim  prod(sizes) * itemsize   the values, big-endian, C order (last index fastest)

MNIST's images are ``0x00000803`` (uint8, 3 dims: N, 28, 28) and its labels ``0x00000801`` (uint8, N).
A file is either this byte string or its gzip compression; the reader tells them apart by the gzip magic
bytes ``1f 8b`` (an IDX file starts with ``00 00``), not by the file name.

"Strict" means every header field is checked against the byte count: a file that is empty, truncated,
has trailing bytes, a wrong magic number or an unknown type code raises a ``ValueError`` naming the file
and the problem, instead of returning an array that silently holds the wrong pixels.

"Bounded" means a small file cannot make the reader allocate much: the header is checked against the
file's size before any data is allocated, and gzip data is inflated only up to the declared size plus
one byte (:class:`IdxReader`), so a 1 MB file of a valid header and a gigabyte of compressed zeros is
refused after reading what the header declares, not after inflating the gigabyte.
"""
import gzip
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import as_path, atomic_open
from .._validation import shape_problem

# Type code -> big-endian dtype, as the format defines them.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"
MAX_HEADER_BYTES = 4 + 4 * 255  # 255 dimensions at most: the dimension count is one byte
# Deflate cannot inflate one byte to more than 1032 (zlib's documentation, "Maximum compression factor"):
# a gzip file of n bytes declaring more than 1032 n bytes of data is truncated, whatever it holds.
MAX_DEFLATE_RATIO = 1032
READ_CHUNK = 1 << 20    # compressed bytes read at a time
OUTPUT_CHUNK = 4 << 20  # decompressed bytes produced at a time


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header declares: the stored (big-endian) ``dtype`` and the ``shape``."""

    dtype: np.dtype
    shape: tuple

    @property
    def size(self) -> int:
        """Bytes of the header itself."""
        return 4 + 4 * len(self.shape)

    @property
    def data_bytes(self) -> int:
        count = 1
        for length in self.shape:  # Python ints: a product of huge sizes cannot overflow
            count *= length
        return count * self.dtype.itemsize

    @property
    def total_bytes(self) -> int:
        return self.size + self.data_bytes


def parse_header(prefix, source="<bytes>") -> IdxHeader:
    """The header at the start of ``prefix`` (the file's first bytes, at least the whole header).

    Raises ``ValueError`` naming ``source`` when the bytes are empty, too short, do not start with the
    two zero bytes, name an unknown type code, or declare 0 dimensions or more than NumPy can hold.
    """
    size = len(prefix)
    if size == 0:
        raise ValueError(f"{source}: file is empty (an IDX file has at least a 4-byte header)")
    if size < 4:
        raise ValueError(f"{source}: truncated: {size} bytes, an IDX header needs at least 4")
    if prefix[0] != 0 or prefix[1] != 0:
        raise ValueError(
            f"{source}: not an IDX file: the magic number must start with two zero bytes, "
            f"got 0x{bytes(prefix[:4]).hex()}"
        )
    type_code, ndim = prefix[2], prefix[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise ValueError(f"{source}: unknown IDX type code 0x{type_code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{source}: the IDX header declares 0 dimensions (at least 1 expected)")
    header_size = 4 + 4 * ndim
    if size < header_size:
        raise ValueError(
            f"{source}: truncated header: {ndim} dimensions need {header_size} header bytes, the file has {size}"
        )
    try:  # an empty array of that many dimensions: allocates nothing, and fails as the data would
        np.empty((0,) * ndim, dtype=np.uint8)
    except ValueError as error:  # more dimensions than NumPy allows (64 in NumPy 2)
        raise ValueError(f"{source}: cannot be represented as a NumPy array: {error}") from None
    shape = tuple(int.from_bytes(prefix[4 + 4 * axis: 8 + 4 * axis], "big") for axis in range(ndim))
    dtype = IDX_DTYPES[type_code]
    problem = shape_problem(shape, dtype)
    if problem:
        raise ValueError(f"{source}: cannot be represented as a NumPy array: {problem}")
    return IdxHeader(dtype, shape)


class _GzipStream:
    """The decompressed bytes of an open gzip file, produced on demand: memory stays bounded by what is read.

    ``readinto(buffer)`` fills ``buffer`` as far as the data goes and returns the count, like a file's.
    Several gzip members follow each other as one stream, and zero bytes after a member are padding,
    as for ``gzip.decompress``; anything else after a member, a stream that ends inside a member, or a
    wrong CRC-32 or length in a member's trailer is a ``ValueError`` naming ``source``.
    """

    def __init__(self, file, source):
        self.file, self.source = file, source
        self.decompressor = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer, checked by zlib
        self.unread = b""  # compressed bytes read from the file, not yet given to the decompressor
        self.finished = False

    def _damaged(self, problem):
        return ValueError(f"{self.source}: damaged gzip data ({problem})")

    def _next_input(self):
        data = self.decompressor.unconsumed_tail or self.unread or self.file.read(READ_CHUNK)
        self.unread = b""
        return data

    def _start_next_member(self):
        """After a member's end: skip zero padding, then start the next member, or finish at the file's end."""
        rest = self.decompressor.unused_data
        while True:
            rest = rest.lstrip(b"\x00")
            more = b"" if len(rest) >= 2 else self.file.read(READ_CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            self.finished = True
        elif rest[:2] != GZIP_MAGIC:
            raise self._damaged("the bytes after the end of the compressed data are not gzip")
        else:
            self.decompressor, self.unread = zlib.decompressobj(wbits=31), rest

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        try:
            while filled < len(view) and not self.finished:
                data = self._next_input()
                # max_length bounds the output: a bomb is inflated only as far as the buffer reaches, in
                # pieces small enough that the temporary bytes object costs little.
                output = self.decompressor.decompress(data, min(len(view) - filled, OUTPUT_CHUNK))
                view[filled:filled + len(output)] = output
                filled += len(output)
                if self.decompressor.eof:
                    self._start_next_member()
                elif not data and not output:
                    raise self._damaged("the file ends inside the compressed data")
        except zlib.error as error:  # a bad CRC-32, length or deflate block
            raise self._damaged(error) from None
        return filled


def _fill(stream, view) -> int:
    """Read from ``stream`` into ``view`` until it is full or the stream ends; return the count."""
    filled = 0
    while filled < len(view):
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


class IdxReader:
    """An IDX file opened for reading: its ``header`` is parsed and checked against the file size, and
    nothing else is read until :meth:`read_data`, so that a caller can refuse an unexpected shape first.

    Use it as a context manager::

        with IdxReader(path) as reader:
            if reader.header.shape != (10000,): ...
            data = reader.read_data()

    Before any data is allocated, the declared size is checked against what the file can hold: an
    uncompressed file must have exactly the header's size; a gzip file cannot inflate to more than
    :data:`MAX_DEFLATE_RATIO` times its size (and reading stops one byte past the declared size, so a
    file that inflates to more is never inflated in full).
    """

    def __init__(self, path):
        self.path = as_path(path)
        self.source = str(path)
        info = os.stat(self.path)  # FileNotFoundError, PermissionError: the caller's to handle
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, a device never end
            raise ValueError(f"{self.source}: not a regular file")
        self.file = open(self.path, "rb")
        try:
            self.stored_size = os.fstat(self.file.fileno()).st_size
            self.compressed = self.file.read(2) == GZIP_MAGIC
            self.file.seek(0)
            self.stream = _GzipStream(self.file, self.source) if self.compressed else self.file
            prefix = bytearray(MAX_HEADER_BYTES)
            prefix = bytes(prefix[:_fill(self.stream, memoryview(prefix))])
            self.header = parse_header(prefix, self.source)
            self.header_bytes = prefix[:self.header.size]
            self._data_start = prefix[self.header.size:]
            self._check_size()
        except BaseException:
            self.file.close()
            raise

    def _size_problem(self, problem, holds):
        header = self.header
        return ValueError(
            f"{self.source}: {problem}: the header declares shape {header.shape} of "
            f"{header.dtype.newbyteorder('=').name} ({header.total_bytes} bytes in all) but the file {holds}"
        )

    def _check_size(self):
        expected = self.header.total_bytes
        if not self.compressed and self.stored_size != expected:
            problem = "truncated" if self.stored_size < expected else f"{self.stored_size - expected} trailing bytes"
            raise self._size_problem(problem, f"holds {self.stored_size} bytes")
        if self.compressed and expected > MAX_DEFLATE_RATIO * self.stored_size + MAX_HEADER_BYTES:
            raise self._size_problem("truncated", f"is {self.stored_size} bytes of gzip, which inflate to at "
                                                  f"most {MAX_DEFLATE_RATIO * self.stored_size} bytes")

    def read_data(self) -> np.ndarray:
        """The values' bytes as stored (big-endian), a writable uint8 array of ``header.data_bytes``.

        Raises ``ValueError`` when the file holds fewer bytes than declared, or more (reading stops at
        the first byte too many), or when its gzip data is damaged.
        """
        expected = self.header.data_bytes
        data = np.empty(expected, dtype=np.uint8)  # pages become resident only as they are filled
        start = self._data_start[:expected]
        data[:len(start)] = np.frombuffer(start, dtype=np.uint8)
        filled = len(start) + _fill(self.stream, memoryview(data)[len(start):])
        if filled < expected:
            raise self._size_problem("truncated", f"holds {self.header.size + filled} bytes")
        if len(self._data_start) > expected or _fill(self.stream, memoryview(bytearray(1))):
            raise self._size_problem("trailing bytes", "holds more" + (" once decompressed" if self.compressed else ""))
        return data

    def read_array(self) -> np.ndarray:
        """The values as a writable, native-byte-order array of the declared shape (swapped in place)."""
        data = self.read_data()
        array = data.view(self.header.dtype).reshape(self.header.shape)
        native = self.header.dtype.newbyteorder("=")
        if native != self.header.dtype:
            array.byteswap(inplace=True)
        return array.view(native)

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def read_idx(path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into a writable native-byte-order array.

    Raises ``ValueError`` naming ``path`` when the file is not a complete, well-formed IDX file
    (see the module docstring), and ``FileNotFoundError`` when it does not exist.  Memory: the array,
    plus about a megabyte, whatever the file holds (see :class:`IdxReader`).
    """
    with IdxReader(path) as reader:
        return reader.read_array()


def encode_idx(array) -> bytes:
    """The IDX bytes of ``array`` (uncompressed): header, then the values big-endian in C order."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _TYPE_CODES:
        names = sorted(dtype.name for dtype in _TYPE_CODES)
        raise ValueError(f"array has dtype {array.dtype}, IDX stores only {names}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array has {array.ndim} dimensions, IDX stores 1 to 255")
    if any(length >= 2**32 for length in array.shape):
        raise ValueError(f"array shape {array.shape} has a dimension too long for IDX (sizes are uint32)")
    header = bytes([0, 0, _TYPE_CODES[native], array.ndim])
    header += b"".join(length.to_bytes(4, "big") for length in array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[_TYPE_CODES[native]]).tobytes()


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file at ``path``, gzip-compressed when the name ends in ``.gz``.

    Atomic: the bytes go to a temporary file in the same directory, renamed over ``path`` only once
    complete.  The gzip header carries no time stamp, so the same array always gives the same bytes.
    """
    path = as_path(path)
    data = encode_idx(array)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_open(path) as file:
        file.write(data)
