"""Arithmetic coding of integer codes under a stored, factorised probability model.

A set of N codes, each q symbols (column j of an (N, q) integer array takes values 0 .. A-1), costs
N q log2(A) bits stored plainly.  If column j's symbols have probabilities p_j(s), an arithmetic coder
stores them in about

    bits = - sum_i sum_j log2 p_j(c_ij)           (+ 2 bits at the end, + the model)

the Shannon information of the data under the model: frequent symbols cost less than a bit, rare ones
more.  The model here is *factorised*: one frequency table per column, measured on the data being coded
(:func:`frequency_tables`), written into the file and counted in its bytes, so that the decoder needs
nothing it could not read.

The coder (Witten, Neal and Cleary 1987, "Arithmetic coding for data compression", CACM 30(6)) keeps an
interval [low, high] of 32-bit integers.  Each symbol s with cumulative frequencies cum[s] <= ... <
cum[s + 1] out of ``total`` narrows it to its share:

    width = high - low + 1
    high  = low + width * cum[s + 1] // total - 1
    low   = low + width * cum[s]     // total

and whenever the interval lies in one half of the range, the leading bit is settled: it is written and
the interval doubled (``low = 2 low``, ``high = 2 high + 1``).  An interval straddling the middle in
[1/4, 3/4) is doubled around the middle, and the bit it will eventually settle is owed ("pending") and
written, inverted, after the next settled bit.  So the interval is always wider than a quarter of 2^32,
and every symbol of frequency >= 1 out of ``total`` <= 2^16 keeps a non-empty share of it.  The decoder
runs the same arithmetic on a 32-bit window ``value`` of the stream and finds, at each step, the symbol s
whose share holds ``value``:

    scaled = ((value - low + 1) * total - 1) // width,   cum[s] <= scaled < cum[s + 1]

Past the end of the stream it reads zeros; the two final bits of the encoder make that correct.

The functions come in pairs, as everywhere in npae: :func:`encode_numpy` / :func:`decode_numpy` are plain
Python (one symbol per loop turn; read these), :func:`_encode_kernel` / :func:`_decode_kernel` are the
same loops compiled by Numba (~100x faster); a test pins them to the same bytes.  ``NPAE_JIT=0`` runs the
reference.

Robustness.  The decoder never reads outside its arrays (bits past the end are zeros), decodes exactly
the number of symbols the header declares (so it cannot loop forever), and its search always lands on a
symbol (the interval always holds ``value``, whatever the bytes).  A damaged file is caught before that:
the container (:func:`pack` / :func:`unpack`) stores the stream's length and a CRC-32 of the whole file
(header, model and stream), and a file that is shorter than declared, longer, or altered is a ValueError.
"""
import struct
import zlib

import numpy as np

from ._memory import check_allocation
from .kernels._jit import kernel_pair, numba_kernel

__all__ = ["TOTAL", "frequency_tables", "uniform_quantize", "encode", "decode", "encode_numpy", "decode_numpy", "pack", "unpack",
           "EncodedCodes", "information_bits"]

PRECISION = 32
TOTAL = 1 << 16              # every frequency table sums to this (<= a quarter of 2^32: see the docstring)
_TOP = (1 << PRECISION) - 1
_HALF = 1 << (PRECISION - 1)
_QUARTER = 1 << (PRECISION - 2)
_MAX_BITS_PER_SYMBOL = 18    # a symbol of frequency 1 / 2^16 costs 16 bits, + 2 for rounding of the interval
_ERROR_OVERFLOW = -1         # the kernels' error codes (Numba cannot raise with a message from a loop)


# -- the probability model --------------------------------------------------------------------------

def frequency_tables(codes, alphabet_size):
    """One frequency table per column of ``codes`` (N, q), ints in [0, alphabet_size): (q, A) int64.

    Each row sums to :data:`TOTAL`; a symbol that occurs gets frequency >= 1 (so that it can be coded),
    one that does not gets 0.  The counts are scaled, rounded down, and the remainder given to the most
    frequent symbol (which keeps every table exact and close to the measured probabilities).
    """
    codes = _check_codes(codes, alphabet_size)
    q = codes.shape[1]
    counts = np.zeros((q, alphabet_size), dtype=np.int64)
    for column in range(q):
        counts[column] = np.bincount(codes[:, column], minlength=alphabet_size)
    present = counts > 0
    scaled = np.where(present, np.maximum(1, counts * TOTAL // codes.shape[0]), 0)
    for column in range(q):      # make each row sum to TOTAL exactly
        row = scaled[column]
        excess = int(row.sum()) - TOTAL
        order = np.argsort(-row, kind="stable")
        for symbol in order:     # take the excess from the largest entries, never below 1
            if excess == 0:
                break
            if excess > 0:
                take = min(excess, int(row[symbol]) - 1)
                row[symbol] -= take
                excess -= take
            else:
                row[symbol] -= excess
                excess = 0
    return scaled


def uniform_quantize(values, bits):
    """Each column of ``values`` (N, q) on 2^bits evenly spaced levels over its own [min, max]:
    ``(codes (N, q) int64 in [0, 2^bits), offset (q,), step (q,))`` with value ~ offset + code x step
    (error at most step / 2).  A constant column gets step 1 and code 0: restored exactly."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a non-empty, finite 2-D array (N, q), got shape {values.shape}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 15:
        raise ValueError(f"bits must be an integer from 1 to 15, got {bits!r}")
    levels = 2 ** bits
    offset = values.min(axis=0)
    step = (values.max(axis=0) - offset) / (levels - 1)
    step = np.where(step > 0, step, 1.0).astype(np.float32)
    codes = np.clip(np.rint((values - offset) / step), 0, levels - 1).astype(np.int64)
    return codes, offset.astype(np.float32), step


def information_bits(codes, tables):
    """- sum log2 p_j(c_ij): the size, in bits, the model promises for ``codes`` (the coder adds ~2)."""
    codes = np.asarray(codes)
    probabilities = np.take_along_axis(np.asarray(tables, dtype=np.float64).T, codes, axis=0) / TOTAL
    return float(-np.log2(probabilities).sum())


def _cumulative(tables):
    """(q, A + 1) int64: cum[j, s] = sum of tables[j, :s], so symbol s owns [cum[j, s], cum[j, s + 1])."""
    cumulative = np.zeros((tables.shape[0], tables.shape[1] + 1), dtype=np.int64)
    np.cumsum(tables, axis=1, out=cumulative[:, 1:])
    return cumulative


def _check_codes(codes, alphabet_size):
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
        raise ValueError(f"codes must be a non-empty 2-D array (n_codes, q), got shape {codes.shape}")
    if codes.dtype.kind not in "iu":
        raise ValueError(f"codes must hold integers, got dtype {codes.dtype}")
    if isinstance(alphabet_size, bool) or not isinstance(alphabet_size, (int, np.integer)) \
            or not 2 <= alphabet_size <= TOTAL:
        raise ValueError(f"alphabet_size must be an integer in [2, {TOTAL}], got {alphabet_size!r}")
    if codes.min() < 0 or codes.max() >= alphabet_size:
        raise ValueError(f"codes must lie in [0, {alphabet_size}), got values in [{codes.min()}, {codes.max()}]")
    return codes.astype(np.int64, copy=False)


def _as_table_array(tables):
    tables = np.asarray(tables)
    if tables.ndim != 2 or tables.shape[1] < 2:
        raise ValueError(f"tables must be a 2-D array (q, alphabet_size >= 2) of frequencies, got shape {tables.shape}")
    return tables


def _check_tables(tables, q):
    tables = np.asarray(tables)
    if tables.ndim != 2 or tables.shape[0] != q or tables.dtype.kind not in "iu":
        raise ValueError(f"tables must be an integer array (q={q}, alphabet_size), got {tables.dtype} "
                         f"of shape {tables.shape}")
    if tables.min() < 0 or np.any(tables.sum(axis=1) != TOTAL):
        raise ValueError(f"every frequency table must hold counts >= 0 summing to {TOTAL}")
    return tables.astype(np.int64)


# -- the reference coder: read this -----------------------------------------------------------------

def encode_numpy(codes, cumulative, out):
    """Arithmetic-code ``codes`` (N, q) row by row, column j with ``cumulative[j]`` (q, A + 1), into the
    bytes ``out`` (uint8, zeroed, big enough: see :func:`encode`).  Returns the number of bytes written
    (or -1 if ``out`` is too small).  Bits are written most significant first."""
    total = int(cumulative[0, -1])
    low, high, pending, n_bits = 0, _TOP, 0, 0
    capacity = out.shape[0] * 8

    def write(bit, n_bits):
        if n_bits >= capacity:
            return -1
        if bit:
            out[n_bits >> 3] |= 0x80 >> (n_bits & 7)
        return n_bits + 1

    for row in range(codes.shape[0]):
        for column in range(codes.shape[1]):
            symbol = int(codes[row, column])
            width = high - low + 1
            high = low + width * int(cumulative[column, symbol + 1]) // total - 1
            low = low + width * int(cumulative[column, symbol]) // total
            while True:
                if high < _HALF:                          # both in the lower half: the bit is 0
                    bit = 0
                elif low >= _HALF:                        # both in the upper half: the bit is 1
                    bit, low, high = 1, low - _HALF, high - _HALF
                elif low >= _QUARTER and high < _HALF + _QUARTER:   # straddling the middle: owe a bit
                    pending, low, high = pending + 1, low - _QUARTER, high - _QUARTER
                    low, high = 2 * low, 2 * high + 1
                    continue
                else:
                    break
                for index in range(1 + pending):          # the settled bit, then the owed ones inverted
                    n_bits = write(bit if index == 0 else 1 - bit, n_bits)
                    if n_bits < 0:
                        return _ERROR_OVERFLOW
                pending = 0
                low, high = 2 * low, 2 * high + 1
    # Two final bits pick a point inside [low, high]: 01 (with the owed 1s) if low < 1/4, else 10.
    pending += 1
    bit = 0 if low < _QUARTER else 1
    for index in range(1 + pending):
        n_bits = write(bit if index == 0 else 1 - bit, n_bits)
        if n_bits < 0:
            return _ERROR_OVERFLOW
    return (n_bits + 7) // 8


def decode_numpy(stream, cumulative, out):
    """Decode ``out.shape`` (N, q) symbols from ``stream`` (uint8) with the tables of :func:`encode_numpy`,
    into ``out`` (int64).  Returns the number of bits read, those past the end of ``stream`` (read as 0)
    included, so that the caller can tell a stream that ended too early."""
    total = int(cumulative[0, -1])
    n_available = stream.shape[0] * 8
    position = 0

    def read(position):
        bit = (int(stream[position >> 3]) >> (7 - (position & 7))) & 1 if position < n_available else 0
        return bit, position + 1

    value = 0
    for _ in range(PRECISION):
        bit, position = read(position)
        value = 2 * value + bit
    low, high = 0, _TOP
    alphabet = cumulative.shape[1] - 1
    for row in range(out.shape[0]):
        for column in range(out.shape[1]):
            width = high - low + 1
            scaled = ((value - low + 1) * total - 1) // width
            # the symbol s with cum[s] <= scaled < cum[s + 1]: binary search over the cumulative table
            lo, hi = 0, alphabet - 1
            while lo < hi:
                middle = (lo + hi + 1) // 2
                if int(cumulative[column, middle]) <= scaled:
                    lo = middle
                else:
                    hi = middle - 1
            symbol = lo
            out[row, column] = symbol
            high = low + width * int(cumulative[column, symbol + 1]) // total - 1
            low = low + width * int(cumulative[column, symbol]) // total
            while True:
                if high < _HALF:
                    pass
                elif low >= _HALF:
                    low, high, value = low - _HALF, high - _HALF, value - _HALF
                elif low >= _QUARTER and high < _HALF + _QUARTER:
                    low, high, value = low - _QUARTER, high - _QUARTER, value - _QUARTER
                else:
                    break
                bit, position = read(position)
                low, high, value = 2 * low, 2 * high + 1, 2 * value + bit
    return position


# -- the same loops for Numba (no closures, int64 arithmetic: width * cum < 2^33 * 2^16 fits) ----------

@numba_kernel
def _encode_kernel(codes, cumulative, out):
    total = cumulative[0, cumulative.shape[1] - 1]
    top, half, quarter = np.int64(_TOP), np.int64(_HALF), np.int64(_QUARTER)
    low, high, pending, n_bits = np.int64(0), top, 0, 0
    capacity = out.shape[0] * 8
    for row in range(codes.shape[0]):
        for column in range(codes.shape[1]):
            symbol = codes[row, column]
            width = high - low + 1
            high = low + width * cumulative[column, symbol + 1] // total - 1
            low = low + width * cumulative[column, symbol] // total
            while True:
                if high < half:
                    bit = 0
                elif low >= half:
                    bit = 1
                    low -= half
                    high -= half
                elif low >= quarter and high < half + quarter:
                    pending += 1
                    low = 2 * (low - quarter)
                    high = 2 * (high - quarter) + 1
                    continue
                else:
                    break
                if n_bits + 1 + pending > capacity:
                    return _ERROR_OVERFLOW
                if bit:
                    out[n_bits >> 3] |= 0x80 >> (n_bits & 7)
                n_bits += 1
                for _ in range(pending):
                    if not bit:
                        out[n_bits >> 3] |= 0x80 >> (n_bits & 7)
                    n_bits += 1
                pending = 0
                low = 2 * low
                high = 2 * high + 1
    pending += 1
    bit = 0 if low < quarter else 1
    if n_bits + 1 + pending > capacity:
        return _ERROR_OVERFLOW
    if bit:
        out[n_bits >> 3] |= 0x80 >> (n_bits & 7)
    n_bits += 1
    for _ in range(pending):
        if not bit:
            out[n_bits >> 3] |= 0x80 >> (n_bits & 7)
        n_bits += 1
    return (n_bits + 7) // 8


@numba_kernel
def _decode_kernel(stream, cumulative, out):
    total = cumulative[0, cumulative.shape[1] - 1]
    top, half, quarter = np.int64(_TOP), np.int64(_HALF), np.int64(_QUARTER)
    n_available = stream.shape[0] * 8
    position = 0
    value = np.int64(0)
    for _ in range(PRECISION):
        bit = (stream[position >> 3] >> (7 - (position & 7))) & 1 if position < n_available else 0
        value = 2 * value + bit
        position += 1
    low, high = np.int64(0), top
    alphabet = cumulative.shape[1] - 1
    for row in range(out.shape[0]):
        for column in range(out.shape[1]):
            width = high - low + 1
            scaled = ((value - low + 1) * total - 1) // width
            lo, hi = 0, alphabet - 1
            while lo < hi:
                middle = (lo + hi + 1) // 2
                if cumulative[column, middle] <= scaled:
                    lo = middle
                else:
                    hi = middle - 1
            out[row, column] = lo
            high = low + width * cumulative[column, lo + 1] // total - 1
            low = low + width * cumulative[column, lo] // total
            while True:
                if high < half:
                    pass
                elif low >= half:
                    low -= half
                    high -= half
                    value -= half
                elif low >= quarter and high < half + quarter:
                    low -= quarter
                    high -= quarter
                    value -= quarter
                else:
                    break
                bit = (stream[position >> 3] >> (7 - (position & 7))) & 1 if position < n_available else 0
                position += 1
                low = 2 * low
                high = 2 * high + 1
                value = 2 * value + bit
    return position


_encode = kernel_pair(encode_numpy, _encode_kernel, name="arithmetic_encode")
_decode = kernel_pair(decode_numpy, _decode_kernel, name="arithmetic_decode")


# -- the public functions -----------------------------------------------------------------------------

def encode(codes, tables):
    """The arithmetic-coded bytes of ``codes`` (N, q) under ``tables`` (q, A) (from :func:`frequency_tables`
    of these or other codes).  A symbol whose frequency is 0 cannot be coded: ValueError."""
    tables = _as_table_array(tables)
    codes = _check_codes(codes, tables.shape[1])
    tables = _check_tables(tables, codes.shape[1])
    if np.any(np.take_along_axis(tables.T, codes, axis=0) == 0):
        raise ValueError("codes contain a symbol whose frequency in tables is 0: it cannot be coded")
    out = np.zeros(codes.size * _MAX_BITS_PER_SYMBOL // 8 + 16, dtype=np.uint8)
    n_bytes = _encode(np.ascontiguousarray(codes), _cumulative(tables), out)
    if n_bytes < 0:   # cannot happen with the bound above; a clear error rather than a silent cut
        raise RuntimeError("arithmetic coder: output buffer too small")
    return out[:n_bytes].tobytes()


def decode(stream, tables, n_codes):
    """The (n_codes, q) int64 codes of :func:`encode`'s ``stream`` (bytes) under the same ``tables``.

    A stream that ends before ``n_codes`` codes are decoded is a ValueError.  Any other bytes decode
    to *some* codes (an arithmetic code has no redundancy to check): use :func:`pack`/:func:`unpack`,
    whose CRC-32 catches altered bytes.
    """
    tables = _as_table_array(tables)
    tables = _check_tables(tables, tables.shape[0])
    if isinstance(n_codes, bool) or not isinstance(n_codes, (int, np.integer)) or n_codes < 1:
        raise ValueError(f"n_codes must be an integer >= 1, got {n_codes!r}")
    if not isinstance(stream, (bytes, bytearray, memoryview)):
        raise ValueError(f"stream must be bytes, got {type(stream).__name__}")
    stream = np.frombuffer(bytes(stream), dtype=np.uint8)
    # A column whose table has one symbol costs 0 bits, so the stream's length bounds nothing: the
    # memory this machine has does (a header may claim 2^32 codes).
    check_allocation(int(n_codes) * tables.shape[0] * 8, f"decoding {n_codes} codes of {tables.shape[0]} symbols")
    out = np.empty((int(n_codes), tables.shape[0]), dtype=np.int64)
    bits_read = _decode(stream, _cumulative(tables), out)
    # The decoder reads PRECISION bits ahead of the ones it has settled; the encoder's last two bits
    # are settled, so a complete stream is never overrun by PRECISION - 2 bits or more (plus byte padding).
    if bits_read > stream.shape[0] * 8 + PRECISION:
        raise ValueError(f"the stream ends early: decoding {n_codes} codes needed {bits_read - PRECISION} bits, "
                         f"the stream has {stream.shape[0] * 8}")
    return out


# -- the container ----------------------------------------------------------------------------------

MAGIC = b"NPAEAC"
VERSION = 1
_HEADER = struct.Struct("<6sBBIHHI")    # magic, version, kind, n_codes, q, alphabet_size, model_id
_TABLE_HEAD = struct.Struct("<HH")      # first symbol with frequency > 0, number of symbols stored
_TRAILER = struct.Struct("<II")         # stream length in bytes, CRC-32 of every other byte of the file
KINDS = {"indices": 0, "uniform": 1}    # what the codes mean: indices (VQ) or uniformly quantised values


class EncodedCodes:
    """What one file holds: ``codes`` (N, q) ints in [0, alphabet_size), their ``kind`` ("indices" or
    "uniform"), for "uniform" the per-column ``offset`` and ``step`` (q,) float32 of the quantiser
    (value = offset + code * step), the ``tables`` of the model, and ``model_id``, a 32-bit number naming
    the decoder the codes are meant for (``npae compress`` stores a CRC-32 of the model's weights; 0: none)."""

    def __init__(self, codes, alphabet_size, kind="indices", offset=None, step=None, tables=None, model_id=0):
        self.codes = _check_codes(codes, alphabet_size)
        self.alphabet_size = int(alphabet_size)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        self.kind = kind
        q = self.codes.shape[1]
        if kind == "uniform":
            offset, step = (np.asarray(v, dtype=np.float32) for v in (offset, step))
            if offset.shape != (q,) or step.shape != (q,) or not np.all(np.isfinite(offset)) \
                    or not np.all(np.isfinite(step)) or np.any(step <= 0):
                raise ValueError(f"uniform codes need offset and step of shape ({q},), finite, step > 0")
        self.offset, self.step = offset, step
        self.tables = frequency_tables(self.codes, alphabet_size) if tables is None else _check_tables(tables, q)
        if isinstance(model_id, bool) or not isinstance(model_id, (int, np.integer)) or not 0 <= model_id < 2**32:
            raise ValueError(f"model_id must be an integer in [0, 2^32), got {model_id!r}")
        self.model_id = int(model_id)

    def values(self):
        """The dequantised values offset + code * step (N, q) float32 (the codes themselves for indices)."""
        if self.kind == "indices":
            return self.codes
        return (self.offset + self.codes * self.step).astype(np.float32)


def _pack_table(row):
    present = np.flatnonzero(row)
    first, last = int(present[0]), int(present[-1])
    # Stored as frequency - 1 in 16 bits (a symbol with all of TOTAL = 2^16 would not fit otherwise);
    # symbols inside [first, last] with frequency 0 are stored as 0xFFFF, which no real entry can be
    # (a symbol of frequency 2^16 is alone, so first == last).
    values = (row[first:last + 1] - 1) & 0xFFFF
    return _TABLE_HEAD.pack(first, last - first + 1) + values.astype("<u2").tobytes()


def pack(encoded):
    """The bytes of a file holding :class:`EncodedCodes`: header, quantiser, tables, then the stream's
    length and the CRC-32 of all the other bytes, then the stream.  Returns ``(data, sizes)`` where sizes splits the bytes into
    ``"header"``, ``"quantiser"``, ``"model"`` (the tables) and ``"stream"``."""
    stream = encode(encoded.codes, encoded.tables)
    n, q = encoded.codes.shape
    if n >= 2**32 or q >= 2**16 or encoded.alphabet_size > 2**16 - 1:
        raise ValueError("too many codes for this format (at most 2^32 - 1 rows, 65,535 columns and symbols)")
    header = _HEADER.pack(MAGIC, VERSION, KINDS[encoded.kind], n, q, encoded.alphabet_size, encoded.model_id)
    quantiser = b"" if encoded.kind == "indices" else \
        encoded.offset.astype("<f4").tobytes() + encoded.step.astype("<f4").tobytes()
    model = b"".join(_pack_table(row) for row in encoded.tables)
    before = header + quantiser + model
    trailer = _TRAILER.pack(len(stream), zlib.crc32(stream, zlib.crc32(before)))
    sizes = {"header": len(header) + len(trailer), "quantiser": len(quantiser), "model": len(model),
             "stream": len(stream)}
    return before + trailer + stream, sizes


def unpack(data):
    """The :class:`EncodedCodes` of :func:`pack`'s bytes, every field checked: ValueError for anything
    that is not such a file, truncated, altered (CRC-32) or followed by extra bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)

    def take(position, size, what):
        if position + size > len(data):
            raise ValueError(f"the file is truncated: it ends inside the {what} (byte {len(data)} of at least "
                             f"{position + size})")
        return data[position:position + size], position + size

    head, position = take(0, _HEADER.size, "header")
    magic, version, kind_code, n, q, alphabet_size, model_id = _HEADER.unpack(head)
    if magic != MAGIC:
        raise ValueError("not an npae entropy-coded file (the first bytes are not 'NPAEAC')")
    if version != VERSION:
        raise ValueError(f"version {version} is not supported (this npae reads version {VERSION})")
    kinds = {code: name for name, code in KINDS.items()}
    if kind_code not in kinds or n < 1 or q < 1 or alphabet_size < 2:
        raise ValueError(f"invalid header: kind {kind_code}, {n} codes of {q} symbols out of {alphabet_size}")
    offset = step = None
    if kinds[kind_code] == "uniform":
        raw, position = take(position, 8 * q, "quantiser")
        offset = np.frombuffer(raw[:4 * q], dtype="<f4").astype(np.float32)
        step = np.frombuffer(raw[4 * q:], dtype="<f4").astype(np.float32)
    tables = np.zeros((q, alphabet_size), dtype=np.int64)
    for column in range(q):
        raw, position = take(position, _TABLE_HEAD.size, f"table {column}")
        first, count = _TABLE_HEAD.unpack(raw)
        if count < 1 or first + count > alphabet_size:
            raise ValueError(f"table {column} is invalid: symbols {first} .. {first + count - 1} of {alphabet_size}")
        raw, position = take(position, 2 * count, f"table {column}")
        stored = np.frombuffer(raw, dtype="<u2").astype(np.int64)
        tables[column, first:first + count] = np.where(stored == 0xFFFF, 0, stored + 1) if count > 1 else stored + 1
        if tables[column].sum() != TOTAL:
            raise ValueError(f"table {column} is invalid: its frequencies sum to {tables[column].sum()}, not {TOTAL}")
    raw, position = take(position, _TRAILER.size, "stream length")
    length, checksum = _TRAILER.unpack(raw)
    if len(data) - position != length:
        raise ValueError(f"the stream should be {length} bytes, the file holds {len(data) - position}: the file is "
                         + ("truncated" if len(data) - position < length else "followed by extra bytes"))
    stream = data[position:]
    if zlib.crc32(stream, zlib.crc32(data[:position - _TRAILER.size])) != checksum:
        raise ValueError("the file is damaged: its CRC-32 does not match the one stored in it")
    codes = decode(stream, tables, n)
    return EncodedCodes(codes, alphabet_size, kinds[kind_code], offset, step, tables, model_id)
