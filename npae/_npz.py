"""Reading ``.npz`` archives without trusting them: each member's header is checked before its data is read.

``np.load(path, allow_pickle=False)`` never runs code, but it trusts sizes: it allocates the shape a
member's header declares and inflates whatever a member holds, so a 1 MB file can make it take
gigabytes; and what goes wrong reaches the caller as ``zlib.error``, ``BadZipFile``, ``EOFError``, or
NumPy's advice to load the file "unsafely" with ``allow_pickle``.  :class:`NpzArchive` reads the same
files (a zip archive of ``.npy`` files, as ``np.savez`` writes them), and:

- tells from the first bytes when a file is no ``.npz`` at all (a pickle, a lone ``.npy``, random
  bytes), and says so;
- reads only the members asked for, each one header first (NumPy's own safe header parser, at most
  10,000 bytes of header), so that the caller can compare shape and dtype with what it expects before
  any data is read;
- refuses a member before allocating its array when the sizes do not add up: the data size the
  ``.npy`` header declares must be what the zip directory says the member holds, and that must be
  reachable from the member's compressed size (deflate inflates at most 1032-fold; a stored member
  is its own size; LZMA, whose ratio has no useful bound, only when the caller asks for it and knows
  every shape in advance);
- refuses object arrays (they need pickle), structured and sub-array dtypes;
- reads the data in 1 MiB pieces straight into the array (no second copy), so reading a member costs
  its array and a megabyte; :meth:`NpzArchive.read_into` reads it into an array the caller already has
  (a model's parameter);
- refuses an archive whose directory declares more members than ``MAX_MEMBERS``, before ``zipfile``
  turns each entry into a Python object (millions of entries, a few bytes each on disk, would take
  gigabytes);
- turns every failure of the zip layer (bad CRC-32, damaged deflate data, truncation, encryption,
  an unknown compression method) into :class:`ArchiveError`, a ``ValueError`` naming the file.

JSON held in a member (a 0-d unicode array, as npae's files store their metadata) is read with
:meth:`NpzArchive.read_json`: bounded in length and parsed by :func:`parse_json`, which refuses
``NaN``, ``Infinity``, numbers that overflow to infinity and nesting too deep to parse.
"""
import json
import os
import stat
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from ._validation import shape_problem

# zlib's documentation ("Maximum compression factor"): deflate inflates one byte to at most 1032.
MAX_DEFLATE_RATIO = 1032
READ_CHUNK = 1 << 20
MAX_JSON_CHARACTERS = 1_000_000  # npae's metadata is a few kilobytes; this leaves room for any model
MAX_MEMBERS = 10_000  # a model of thousands of layers, with its optimiser state, has fewer

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"
try:
    from lzma import LZMAError
except ImportError:  # Python built without lzma: zipfile then refuses LZMA members with a RuntimeError
    LZMAError = zlib.error
# What zipfile raises on damaged or crafted archives (OSError: a seek to a negative offset read from the
# directory, for instance).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, LZMAError, EOFError, NotImplementedError, zipfile.LargeZipFile,
               OSError)


class ArchiveError(ValueError):
    """A file that is not a readable ``.npz``, or a member that is not what it claims to be.

    ``path`` names the file, ``problem`` says what is wrong; ``foreign`` is True when the file is no
    ``.npz`` archive at all (rather than a damaged one).
    """

    def __init__(self, path, problem, foreign=False):
        self.path, self.problem, self.foreign = str(path), problem, foreign
        super().__init__(f"{self.path}: {problem}")


class NpyHeader(NamedTuple):
    """What a member's ``.npy`` header declares."""

    shape: tuple
    dtype: np.dtype
    fortran_order: bool

    @property
    def count(self) -> int:
        count = 1
        for length in self.shape:
            count *= length
        return count

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


def parse_json(text):
    """``json.loads(text)``, refusing what JSON itself does not allow but Python's parser accepts.

    ``NaN``, ``Infinity`` and numbers such as ``1e999`` (which Python would turn into infinity), nesting
    deeper than the interpreter's recursion limit, and integers of more digits than Python converts are
    each a ``ValueError`` saying so, never an ``OverflowError`` or ``RecursionError`` later.
    """
    def refuse_constant(name):
        raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")

    def finite_float(literal):
        value = float(literal)
        if not np.isfinite(value):
            raise ValueError(f"{literal} is beyond the range of a float")
        return value

    try:
        return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, the refusals above, an integer of too many digits
        raise ValueError(f"not valid JSON ({error})") from None


def _describe_foreign(start):
    """What a file that is no zip archive seems to be, from its first bytes."""
    if not start:
        return "it is empty"
    if start.startswith(_NPY_MAGIC):
        return "it is a single .npy array"
    if start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it is a Python pickle, which npae never loads"
    return f"it starts with 0x{start[:8].hex()}"


def _declared_member_count(path):
    """How many members the zip archive at ``path`` declares in its end-of-central-directory record (the
    zip64 record's count where there is one); 0 if no record is found (zipfile then says what is wrong)."""
    import struct

    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - (1 << 16) - 22))  # the record, and a comment of at most 64 KiB
        tail = file.read()
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < 22:
        return 0
    count = struct.unpack("<H", tail[position + 10:position + 12])[0]
    zip64 = tail.rfind(b"PK\x06\x06", 0, position)
    if zip64 >= 0 and len(tail) - zip64 >= 40:
        count = max(count, struct.unpack("<Q", tail[zip64 + 32:zip64 + 40])[0])
    return count


class NpzArchive:
    """A ``.npz`` file opened for careful reading (see the module docstring).  A context manager.

    ``allow_lzma``: accept LZMA-compressed members (npae's embedded sample uses them); only for callers
    that check every member's shape against a fixed expectation, since LZMA's ratio is unbounded.
    """

    def __init__(self, path, *, allow_lzma=False):
        self.path = os.fspath(path)
        self.methods = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: MAX_DEFLATE_RATIO}
        if allow_lzma:
            self.methods[zipfile.ZIP_LZMA] = None
        info = os.stat(self.path)  # FileNotFoundError, PermissionError: the caller's to handle
        if not stat.S_ISREG(info.st_mode):
            raise ArchiveError(self.path, "not a regular file", foreign=True)
        with open(self.path, "rb") as file:
            start = file.read(8)
        if not start.startswith(_ZIP_MAGICS):
            raise ArchiveError(self.path, f"not a .npz archive ({_describe_foreign(start)})", foreign=True)
        declared = _declared_member_count(self.path)
        if declared > MAX_MEMBERS:
            raise ArchiveError(self.path, f"the archive declares {declared:,} members; npae's files have at most "
                                          f"{MAX_MEMBERS:,}")
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (*_ZIP_ERRORS, ValueError) as error:
            raise ArchiveError(self.path, f"damaged .npz archive ({type(error).__name__}: {error})") from None
        self.members = {}
        for info in self.zip.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            if name in self.members:  # readers disagree on which copy counts (unzip: the first; zipfile: the last)
                self.zip.close()
                raise ArchiveError(self.path, f"the archive holds the array {name!r} twice")
            self.members[name] = info

    @property
    def names(self):
        """The array names, as ``np.load(path).files`` gives them."""
        return list(self.members)

    def __contains__(self, name):
        return name in self.members

    def _member(self, name):
        try:
            info = self.members[name]
        except KeyError:
            raise ArchiveError(self.path, f"has no array {name!r}") from None
        if info.flag_bits & 0x1:
            raise ArchiveError(self.path, f"the array {name!r} is encrypted")
        if info.compress_type not in self.methods:
            raise ArchiveError(self.path, f"the array {name!r} is compressed with zip method "
                                          f"{info.compress_type}, which npae does not read here")
        ratio = self.methods[info.compress_type]
        if ratio is not None and info.file_size > ratio * info.compress_size + 1024:
            raise ArchiveError(self.path, f"the array {name!r} claims {info.file_size} bytes, more than its "
                                          f"{info.compress_size} compressed bytes can hold")
        return info

    def _open_header(self, name):
        """``(open member, header)`` with the member positioned at the data; checks sizes and dtype."""
        info = self._member(name)
        member = None
        try:
            member = self.zip.open(info)
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy format version {version} is not one npae writes")
            header = NpyHeader(tuple(shape), dtype, bool(fortran_order))
            if dtype.hasobject:
                raise ValueError("it holds Python objects (they need pickle, which npae never uses)")
            if dtype.names is not None or dtype.subdtype is not None or dtype.kind == "V":
                raise ValueError(f"its dtype {dtype} is a record type, not a plain number or string")
            if dtype.itemsize == 0:  # NumPy would allocate such arrays with one byte per element
                raise ValueError(f"its dtype {dtype} has elements of zero bytes")
            problem = shape_problem(header.shape, dtype)
            if problem:
                raise ValueError(problem)
            held = info.file_size - member.tell()
            if header.nbytes != held:
                raise ValueError(f"its header declares {header.nbytes} bytes of {dtype} {header.shape}, "
                                 f"the archive holds {held}")
        except (ValueError, TypeError) as error:  # NumPy's header parser: a malformed header
            if member is not None:
                member.close()
            raise ArchiveError(self.path, f"the array {name!r} is not valid: {error}") from None
        except _ZIP_ERRORS as error:
            if member is not None:
                member.close()
            raise ArchiveError(self.path, f"the array {name!r} is damaged ({type(error).__name__}: {error})") \
                from None
        return member, header

    def header(self, name) -> NpyHeader:
        """The shape, dtype and order that the array ``name`` declares; its data is not read."""
        member, header = self._open_header(name)
        member.close()
        return header

    def read(self, name, expected=None) -> np.ndarray:
        """The array ``name``, a new writable array.

        ``expected``: a function called with the :class:`NpyHeader` before any data is allocated; it
        raises (any exception, typically a ``ValueError`` of the caller's wording) to refuse the array.
        """
        member, header = self._open_header(name)
        with member:
            if expected is not None:
                expected(header)
            flat = np.empty(header.count, dtype=header.dtype)
            self._read_data(name, member, flat)
        if header.fortran_order:
            return flat.reshape(header.shape[::-1]).transpose()
        return flat.reshape(header.shape)

    def read_into(self, name, target):
        """Read the array ``name`` into ``target`` (a C-contiguous array of the same shape and dtype: anything
        else is an ArchiveError, raised before any data is read)."""
        member, header = self._open_header(name)
        with member:
            if header.shape != target.shape or header.dtype != target.dtype or header.fortran_order:
                raise ArchiveError(self.path, f"the array {name!r} is {header.dtype} {header.shape}, expected "
                                              f"{target.dtype} {target.shape}")
            self._read_data(name, member, target.reshape(-1))

    def _read_data(self, name, member, flat):
        """Fill the 1-D array ``flat`` from ``member``, 1 MiB at a time; exactly its size must be there."""
        view = memoryview(flat.view(np.uint8))
        try:
            for start in range(0, len(view), READ_CHUNK):
                piece = member.read(min(READ_CHUNK, len(view) - start))
                if len(piece) != min(READ_CHUNK, len(view) - start):
                    raise EOFError(f"the data ends after {start + len(piece)} of {len(view)} bytes")
                view[start:start + len(piece)] = piece
            if member.read(1):
                raise ValueError("it holds more bytes than its header declares")
        except (*_ZIP_ERRORS, ValueError) as error:
            raise ArchiveError(self.path, f"the array {name!r} is damaged ({type(error).__name__}: "
                                          f"{error})") from None

    def read_json(self, name, max_characters=MAX_JSON_CHARACTERS):
        """The JSON value stored as the 0-d unicode array ``name`` (see :func:`parse_json`)."""
        def check(header):
            if header.dtype.kind != "U" or header.shape != ():
                raise ArchiveError(self.path, f"{name!r} is not a JSON string (it is {header.dtype} "
                                              f"{header.shape})")
            if header.dtype.itemsize > 4 * max_characters:
                raise ArchiveError(self.path, f"{name!r} is {header.dtype.itemsize // 4} characters long, "
                                              f"more than the {max_characters} npae reads")

        text = str(self.read(name, check)[()])
        try:
            return parse_json(text)
        except ValueError as error:
            raise ArchiveError(self.path, f"{name!r}: {error}") from None

    def close(self):
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
