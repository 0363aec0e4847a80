"""The command line's side of the user's own files: read them strictly, write results safely.

Reading (``read_array``): ``.npy``, ``.npz`` (``FILE.npz:KEY`` picks an array) and ``.csv``.  Nothing
is ever unpickled, and a file is checked before its data is allocated: a ``.npy`` header's declared
shape must fit the bytes that follow it and the memory that is free, and must be numbers.  CSV is
numbers separated by commas, one observation per line; every problem is reported with the 1-based line
number an editor shows (a ragged line, an empty value, text, ``#``, NaN or infinity).  Its first line
is taken as column names only when none of its values is a number, and the caller is told so.

Writing (``write_array``): ``.npy`` or ``.csv``, atomically (a reader sees the old file or the whole
new one).  Before any work starts, ``check_output`` verifies that an output can be written there (the
folder exists and accepts a file, the name is not a folder) and ``check_not_input`` that it is not one
of the command's own input files: a long run never ends in "cannot write", and never overwrites its data.

Every failure is a ValueError that names the file and says what was expected.
"""
import codecs
import io
import math
import os
import re
import tempfile

import numpy as np

from ._memory import available_bytes, format_bytes
from ._npz import ArchiveError
from ._validation import check_array

NUMBER_KINDS = "biuf"                 # bool, signed and unsigned integers, floats: what a data file may hold
CSV_EXTENSIONS = (".csv", ".txt")


# ------------------------------------------------------------------------------------------------
# Which file, and is it safe to write

def split_key(spec):
    """``"data.npz:x_train"`` -> ("data.npz", "x_train"); anything else -> (spec, None)."""
    spec = os.fspath(spec)
    head, separator, key = spec.rpartition(":")
    if separator and head.lower().endswith(".npz") and key:
        return head, key
    return spec, None


def check_output(path, extensions, option="-o"):
    """Fail now, before the work, when ``path`` cannot receive the result.

    Checks: the name ends in one of ``extensions``; it is not a folder nor a special file; its folder
    exists and accepts a new file (a temporary file is created there and removed, which is the only
    test that also catches read-only mounts, full quotas and permissions that ``os.access`` misjudges).
    """
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in extensions:
        raise ValueError(f"{option} {path!r}: expected a file name ending in {' or '.join(extensions)}")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a folder; give a file name, such as {os.path.join(path, 'out' + extensions[0])!r}")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{option} {path!r} exists and is not a regular file")
    check_writable_folder(os.path.dirname(os.path.abspath(path)), f"{option} {path!r}")


def check_writable_folder(folder, what):
    """ValueError naming ``what`` unless ``folder`` exists and a file can be created in it."""
    if not os.path.isdir(folder):
        raise ValueError(f"{what}: the folder {folder!r} does not exist")
    try:
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".npae-write-check-")
    except OSError as error:
        raise ValueError(f"{what}: cannot write in the folder {folder!r} ({error.strerror or error})") from None
    os.close(descriptor)
    os.unlink(probe)


def check_not_input(output, inputs, option="-o"):
    """ValueError when ``output`` is one of the files in ``inputs`` (specs as given; None entries skipped).

    ``os.path.samefile`` compares devices and inodes, so another spelling, a symbolic or a hard link of
    an input is caught too.
    """
    output = os.fspath(output)
    if not os.path.exists(output):
        return
    for spec in inputs:
        if spec is None:
            continue
        path, _ = split_key(spec)
        if os.path.exists(path) and os.path.samefile(path, output):
            raise ValueError(f"{option} {output!r} is the input file {path!r}: npae never writes over its own "
                             "input; choose another output name")


# ------------------------------------------------------------------------------------------------
# .npy and .npz: the header first, then the data

def _check_declared(dtype, shape, data_bytes):
    """Refuse a declared array that is not numbers, does not fit the bytes present, or not in memory."""
    if dtype.hasobject:
        raise ValueError("it holds Python objects (a pickle); npae never unpickles files: save numbers")
    if dtype.kind not in NUMBER_KINDS or dtype.fields is not None:
        raise ValueError(f"it holds {dtype} values; expected numbers (integers or floats)")
    values = int(np.prod(shape, dtype=object))
    needed = values * dtype.itemsize
    if needed > data_bytes:
        raise ValueError(f"it is truncated or damaged: its header declares {dtype} {shape} ({needed:,} bytes), "
                         f"but only {data_bytes:,} bytes of data follow")
    available = available_bytes()
    with_copy = needed + 4 * values  # the commands work on a float32 copy
    if available is not None and with_copy > available:
        raise ValueError(f"its {dtype} {shape} array needs {format_bytes(with_copy)} of memory to read and "
                         f"convert to float32, but only {format_bytes(available)} is available")


def _npy_header(stream):
    """``(dtype, shape)`` from an open ``.npy`` stream, which is left at the first data byte."""
    if stream.read(6) != b"\x93NUMPY":
        raise ValueError("it does not start with the .npy signature (not a NumPy file, or damaged)")
    version = tuple(stream.read(2))
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only in allowing UTF-8 in field names
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"it is a .npy file of format version {version}, which this NumPy cannot read")
    return dtype, shape


def _read_npy(path):
    with open(path, "rb") as stream:
        dtype, shape = _npy_header(stream)
        _check_declared(dtype, shape, os.path.getsize(path) - stream.tell())
    return np.load(path, allow_pickle=False)


def _pick_member(path, names, key):
    if key is None:
        if len(names) == 1:
            return names[0]
        if "x" in names:
            return "x"
        raise ValueError(f"it holds {len(names)} arrays ({', '.join(names)}); pick one with {path}:NAME")
    if key not in names:
        raise ValueError(f"it has no array {key!r} (it holds {', '.join(names) or 'none'})")
    return key


def _read_npz(path, key):
    """Through npae's careful reader (:mod:`npae._npz`, as every .npz npae reads): at most MAX_MEMBERS
    members, no array stored twice, sizes checked against the zip directory before any data is read."""
    from ._npz import NpzArchive

    with NpzArchive(path) as archive:
        name = _pick_member(path, archive.names, key)
        return archive.read(name, lambda header: _check_declared(header.dtype, header.shape, header.nbytes))


# ------------------------------------------------------------------------------------------------
# CSV: numbers separated by commas, with the editor's line numbers in every error

def _is_number(cell):
    """A cell NumPy's CSV reader parses as a number (it rejects Python's ``1_000``)."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell


def _looks_numeric(cell):
    """Numbers, perhaps separated by something else than commas: ``"1;2;3"`` is data, not a column name."""
    parts = [part for part in re.split(r"[;\t ]+", cell.strip()) if part]
    return bool(parts) and all(_is_number(part) for part in parts)


def _value_problem(number, position, width, cell):
    """``"line 3: value 2 of 4 ('x') is not a number (...)"``, with a hint for the usual causes."""
    where = f"line {number}: value {position} of {width}"
    if not cell.strip():
        return f"{where} is empty (every line needs a number in each column)"
    hints = [("\t", "separate numbers with commas, not tabs"), (";", "separate numbers with commas, not semicolons"),
             ('"', "quotes are not supported: write plain numbers"), (" ", "separate numbers with commas, not spaces")]
    hint = next((text for mark, text in hints if mark in cell.strip()), "expected a number")
    return f"{where} ({cell.strip()[:40]!r}) is not a number ({hint})"


def _header_line(first_number, first_line, more_lines, path, notes):
    """True when the first non-blank line holds column names (and say so in ``notes``); a ValueError
    when it mixes numbers and other text.  ``more_lines``: whether any non-blank line follows."""
    first_cells = first_line.split(",")
    column_numbers = len(first_cells) >= 3 and more_lines and \
        [cell.strip() for cell in first_cells] == [str(j) for j in range(len(first_cells))]
    if column_numbers:  # 0,1,2,...,n-1: the header pandas' to_csv writes for unnamed columns, not a data row
        notes.append(f"line {first_number} of {path} taken as column names: it holds the column numbers "
                     f"0..{len(first_cells) - 1}, as pandas writes them")
        return True
    if not any(_looks_numeric(cell) or not cell.strip() for cell in first_cells):
        names = first_line.strip()
        notes.append(f"line {first_number} of {path} taken as column names "
                     f"({names[:24] + '...' if len(names) > 24 else names})")
        if not more_lines:
            raise ValueError(f"it has column names on line {first_number} but no data")
        return True
    bad = next((position for position, cell in enumerate(first_cells, start=1) if not _is_number(cell)), None)
    if bad is not None and any(_is_number(cell) for cell in first_cells):
        cell = first_cells[bad - 1]
        raise ValueError(_value_problem(first_number, bad, len(first_cells), cell)
                         + ("; a first line of column names must hold no numbers at all" if cell.strip() else ""))
    return False


def _lines(path):
    """``(line number, text without the newline)`` of every non-blank line of a CSV file, streamed: one
    line in memory at a time.  utf-8-sig: a byte-order mark (Excel's) is not data; universal newlines:
    \r\n and \r end lines too."""
    with open(path, encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line.rstrip("\n")


def _first_lines(path, count=2):
    """The first ``count`` non-blank lines ``[(number, text)]``, however many blank lines precede them."""
    lines = _lines(path)
    first = [line for _, line in zip(range(count), lines)]
    lines.close()
    return first


def _read_csv(path, notes):
    """The table of a CSV file of numbers, float64 (rows, columns).

    Memory: NumPy's parser reads the file as a stream, into the table and little else.  Only when that
    fails (a bad value, a ragged row, lines of blanks, '#', NaN) is the file read again, still as a
    stream (:func:`_read_csv_carefully`), to say exactly where and what is wrong."""
    try:
        numbered = _first_lines(path)
    except UnicodeDecodeError:
        return _read_csv_carefully(path, notes)
    if not numbered:
        return _read_csv_carefully(path, notes)
    own_notes = []
    header = _header_line(numbered[0][0], numbered[0][1], len(numbered) > 1, path, own_notes)
    try:
        with open(path, encoding="utf-8-sig") as stream:
            table = np.loadtxt(stream, delimiter=",", comments=None, ndmin=2, dtype=np.float64,
                               skiprows=numbered[0][0] if header else 0)
    except UnicodeDecodeError:
        return _read_csv_carefully(path, notes)
    except ValueError as error:
        return _read_csv_carefully(path, notes, _row_of(error))
    if table.size == 0:
        return _read_csv_carefully(path, notes)
    if not np.isfinite(table).all():
        return _read_csv_carefully(path, notes, int(np.argwhere(~np.isfinite(table))[0][0]) + 2)
    notes.extend(own_notes)
    return table


def _row_of(error):
    """The row number in NumPy's parser error ("... at row 12, column 3"), or 0."""
    row = re.search(r"at row (\d+)", str(error))
    return int(row.group(1)) if row else 0


def _check_utf8(path):
    """ValueError, with the offset of the first bad byte, unless the file is UTF-8 text (read 1 MiB at a time)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as stream:
        while True:
            chunk = stream.read(1 << 20)
            pending = len(decoder.getstate()[0])  # the bytes of a character cut by the previous chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                position = offset - pending + error.start
                raise ValueError(f"it is not UTF-8 text (byte {max(position, 0):,}: {error.reason}); expected "
                                 "numbers separated by commas") from None
            if not chunk:
                return
            offset += len(chunk)


def _line_problem(number, line, width, first_number):
    """What is wrong with data line ``number`` (a sentence naming it), or None when it is ``width`` finite numbers."""
    if "#" in line:
        return (f"line {number} holds '#': comments are not supported (remove them, or the text after them, so "
                "that no row is silently cut short)")
    cells = line.split(",")
    if len(cells) != width:
        return f"line {number} has {len(cells)} values, but line {first_number} has {width}"
    for position, cell in enumerate(cells, start=1):
        if not _is_number(cell):
            return _value_problem(number, position, width, cell)
        if not math.isfinite(float(cell)):
            reason = "NaN or infinity" if re.fullmatch(r"[+-]?(nan|inf|infinity)", cell.strip(), re.IGNORECASE) \
                else "beyond the range of 64-bit floats"
            return (f"line {number}: value {position} of {width} ({cell.strip()!r}) is not a finite number "
                    f"({reason})")
    return None


def _data_lines(path, header_number):
    return ((number, line) for number, line in _lines(path) if number != header_number)


def _csv_problem(path, header_number, near_row):
    """The first problem of the file's data lines (a sentence), looked for from data row ``near_row - 2``
    (where NumPy's parser stopped: its row numbers are 0- or 1-based depending on the error), then from
    the start; None if every line is fine.  Streams the file: one line in memory at a time."""
    for start in dict.fromkeys((max(0, near_row - 2), 0)):
        width = first_number = None
        for index, (number, line) in enumerate(_data_lines(path, header_number)):
            if width is None:
                width, first_number = line.count(",") + 1, number
            if index >= start:
                problem = _line_problem(number, line, width, first_number)
                if problem:
                    return problem
    return None


def _read_csv_carefully(path, notes, near_row=None):
    """The table, read as a stream of non-blank lines (a line of blanks is skipped, where NumPy's parser
    counts it as a row); or the ValueError naming the first bad line.  ``near_row``: where the fast
    parser stopped, if it did: the lines are checked from there first.  Memory: the table, plus one line."""
    _check_utf8(path)
    numbered = _first_lines(path)
    if not numbered:
        raise ValueError("the file is empty")
    header_number = numbered[0][0] if _header_line(*numbered[0], len(numbered) > 1, path, notes) else None
    problem = None if near_row is None else _csv_problem(path, header_number, near_row)
    if problem:
        raise ValueError(problem)
    try:
        table = np.loadtxt((line for _, line in _data_lines(path, header_number)), delimiter=",", comments=None,
                           ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise ValueError(_csv_problem(path, header_number, _row_of(error)) or str(error)) from None
    not_finite = ~np.isfinite(table)
    if not_finite.any():
        raise ValueError(_csv_problem(path, header_number, int(np.argwhere(not_finite)[0][0]) + 2))
    return table


def read_array(spec, what="data", notes=None):
    """The array in file ``spec`` (.npy, .npz[:KEY] or .csv).  ``notes`` (a list) receives what the
    reader decided on the user's behalf, such as a first CSV line taken as column names."""
    notes = [] if notes is None else notes
    path, key = split_key(spec)
    if os.path.isdir(path):
        raise ValueError(f"{what} file {path!r} is a folder; expected a .npy, .npz or .csv file")
    if not os.path.isfile(path):
        raise ValueError(f"{what} file {path!r} does not exist")
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".npy", ".npz", *CSV_EXTENSIONS):
        raise ValueError(f"{what} file {path!r}: expected a .npy, .npz or .csv file")
    try:
        if extension in CSV_EXTENSIONS:
            return _read_csv(path, notes)
        return _read_npy(path) if extension == ".npy" else _read_npz(path, key)
    except MemoryError:
        raise
    except Exception as error:  # a damaged or foreign file may fail in zipfile, zlib, numpy's header parser...
        if isinstance(error, ArchiveError):  # it names the file itself: say it once
            raise ValueError(f"{what} file {path!r}: {error.problem}") from None
        if isinstance(error, ValueError):
            raise ValueError(f"{what} file {path!r}: {error}") from None
        raise ValueError(f"{what} file {path!r} cannot be read ({_error_name(error)}: {error})") from None


def _error_name(error):
    """``"zipfile.BadZipFile"``, ``"zlib.error"``, ``"EOFError"``: the exception's type as a reader can look it up."""
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


# ------------------------------------------------------------------------------------------------
# From an array to the rows the models take, and back to a file

def as_rows(array, what="data"):
    """``array`` as C-contiguous float32 rows, observations x features: images (N, 28, 28) are flattened.

    The checks (numbers, finite, within float32's range) are the library's own (``check_array``).
    """
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"{what} has shape {array.shape}: expected one observation per row (a 2-D array)")
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    return check_array(array.reshape(array.shape[0], -1), what, dtype=np.float32)


def looks_like_8bit_pixels(rows):
    """True when every value is a whole number in 0..255 and some exceed 1: what ``--scale auto`` divides."""
    return bool(rows.min() >= 0 and rows.max() <= 255 and rows.max() > 1 and np.all(rows == np.round(rows)))


def scale_rows(rows, scale):
    """Apply ``--scale``: "255" divides by 255; "auto" does so when every value is a whole number in
    0..255 and some exceed 1 (8-bit pixels); "none" keeps the values.  Returns (rows, divided, note)."""
    divide = looks_like_8bit_pixels(rows) if scale == "auto" else scale == "255"
    if divide:
        rows = rows if rows.flags.writeable else rows.copy()
        np.divide(rows, np.float32(255), out=rows)  # in place: the rows are this command's own copy
        return rows, True, "pixel values 0..255 divided by 255"
    return rows, False, "values used as they are"


def read_labels(spec, n_rows, what, notes=None):
    """One integer class label per data row, from ``spec`` (a column or a flat array)."""
    labels = np.asarray(read_array(spec, what, notes))
    name = f"{what} file {spec!r}"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} holds an array of shape {labels.shape}; expected one column of labels")
    if labels.shape[0] != n_rows:
        raise ValueError(f"{name} holds {labels.shape[0]:,} labels, but its data has {n_rows:,} rows: expected "
                         "one label per row")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)) \
                or np.abs(labels).max() >= 2.0 ** 53:
            raise ValueError(f"{name} must hold whole numbers (class labels)")
        labels = labels.astype(np.int64)
    return labels


def write_array(path, array, header):
    """Write ``array`` to ``path`` (.npy, or .csv with a header line), atomically."""
    from ._files import atomic_write

    extension = os.path.splitext(os.fspath(path))[1].lower()
    values = np.asarray(array)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        # finite inputs can still overflow float32 inside a model (weights near 1e38): say so, write nothing
        raise ValueError(f"the results for {os.fspath(path)!r} hold NaN or infinity "
                         f"({int((~np.isfinite(values)).sum()):,} of {values.size:,} values: the model's "
                         "arithmetic overflowed float32 on this data); nothing was written")
    if extension == ".npy":
        atomic_write(path, lambda stream: np.save(_WriteOnly(stream), array, allow_pickle=False))
    elif extension == ".csv":
        text = io.StringIO()
        integer = np.asarray(array).dtype.kind in "biu"
        np.savetxt(text, array, delimiter=",", header=header, comments="", fmt="%d" if integer else "%.8g")
        atomic_write(path, lambda stream: stream.write(text.getvalue().encode("utf-8")))
    else:
        raise ValueError(f"output {path!r}: expected a file name ending in .npy or .csv")


class _WriteOnly:
    """Only the ``write`` of an open file.  NumPy writes an array to a real file with ``ndarray.tofile``,
    whose failure on a full disk says "12000 requested and 10208 written" and nothing else; to any other
    object it writes 16 MiB pieces with ``write``, whose OSError carries errno ENOSPC ("No space left on
    device"), which :func:`npae._files.atomic_open` completes with the file's name."""

    def __init__(self, file):
        self.write = file.write

