"""npae.entropy_coding: exact round trips, the reference and the kernel give the same bytes, the size the
model promises, and damaged, truncated or foreign files are a ValueError (never a hang or a crash)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from npae import entropy_coding as ec
from npae._backend import jit as jit_context


@pytest.fixture(params=[True, False], ids=["numba", "reference"])
def jit(request):
    with jit_context(request.param):
        yield request.param


def skewed_codes(rng, rows=400, columns=3, alphabet=16):
    return np.minimum(rng.geometric(0.35, (rows, columns)) - 1, alphabet - 1)


def test_round_trip_is_exact(rng, jit):
    codes = skewed_codes(rng)
    tables = ec.frequency_tables(codes, 16)
    stream = ec.encode(codes, tables)
    np.testing.assert_array_equal(ec.decode(stream, tables, codes.shape[0]), codes)


def test_reference_and_kernel_write_the_same_bytes(rng):
    codes = skewed_codes(rng, 300, 4, 16)
    tables = ec.frequency_tables(codes, 16)
    with jit_context(False):
        reference = ec.encode(codes, tables)
    with jit_context(True):
        assert ec.encode(codes, tables) == reference


def test_size_is_the_information_plus_at_most_a_few_bytes(rng):
    # An arithmetic coder's length is -sum log2 p + at most 2 bits (+ the interval's integer rounding):
    # within a few bytes of the Shannon bound of its own model, and well under the 4 bits of plain storage.
    codes = skewed_codes(rng, 2000, 5, 16)
    tables = ec.frequency_tables(codes, 16)
    bound = ec.information_bits(codes, tables) / 8
    size = len(ec.encode(codes, tables))
    assert bound <= size <= bound + 4
    assert size < codes.size * 4 / 8 * 0.7


def test_hand_worked_frequency_table():
    # Column 0: symbols 0, 0, 0, 1 -> 3/4 and 1/4 of 2^16.  Column 1: one symbol, all of it.
    tables = ec.frequency_tables(np.array([[0, 2], [0, 2], [0, 2], [1, 2]]), 3)
    np.testing.assert_array_equal(tables, [[49152, 16384, 0], [0, 0, 65536]])


def test_a_certain_symbol_costs_nothing():
    codes = np.full((1000, 1), 5)
    tables = ec.frequency_tables(codes, 8)
    stream = ec.encode(codes, tables)
    assert len(stream) <= 1
    np.testing.assert_array_equal(ec.decode(stream, tables, 1000), codes)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 4), st.integers(2, 300), st.integers(0, 2**32 - 1))
def test_round_trip_any_codes(rows, columns, alphabet, seed):
    rng = np.random.default_rng(seed)
    # a random mix of flat and peaked distributions, including rare symbols of frequency 1 / 2^16
    codes = np.where(rng.random((rows, columns)) < 0.8, 0, rng.integers(0, alphabet, (rows, columns)))
    tables = ec.frequency_tables(codes, alphabet)
    np.testing.assert_array_equal(ec.decode(ec.encode(codes, tables), tables, rows), codes)


def test_very_rare_symbols_round_trip():
    # 70,000 zeros and one 1: the 1 gets the minimum frequency 1 out of 2^16 (16 bits).
    codes = np.zeros((70001, 1), dtype=np.int64)
    codes[12345] = 1
    tables = ec.frequency_tables(codes, 2)
    assert tables[0, 1] == 1
    np.testing.assert_array_equal(ec.decode(ec.encode(codes, tables), tables, codes.shape[0]), codes)


def test_encode_refuses_a_symbol_the_model_does_not_have():
    tables = ec.frequency_tables(np.array([[0], [1]]), 4)
    with pytest.raises(ValueError, match="frequency in tables is 0"):
        ec.encode(np.array([[3]]), tables)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 4\)"):
        ec.encode(np.array([[4]]), tables)
    with pytest.raises(ValueError, match="summing to"):
        ec.encode(np.array([[0]]), np.array([[1, 2, 3, 4]]))
    with pytest.raises(ValueError, match="tables must be a 2-D array"):
        ec.encode(np.array([[0]]), np.array([65536]))


def packed(rng, kind="indices"):
    codes = skewed_codes(rng, 200, 3, 16)
    if kind == "indices":
        encoded = ec.EncodedCodes(codes, 16)
    else:
        encoded = ec.EncodedCodes(codes, 16, "uniform", offset=[0.0, -1.0, 2.0], step=[0.5, 0.25, 1.0])
    return encoded, *ec.pack(encoded)


@pytest.mark.parametrize("kind", ["indices", "uniform"])
def test_pack_round_trip(rng, kind):
    encoded, data, sizes = packed(rng, kind)
    assert sum(sizes.values()) == len(data)
    loaded = ec.unpack(data)
    np.testing.assert_array_equal(loaded.codes, encoded.codes)
    np.testing.assert_array_equal(loaded.tables, encoded.tables)
    np.testing.assert_array_equal(loaded.values(), encoded.values())
    assert loaded.kind == kind


def test_every_truncation_is_a_value_error(rng, jit):
    _, data, _ = packed(rng)
    for length in range(len(data)):
        with pytest.raises(ValueError):
            ec.unpack(data[:length])
    with pytest.raises(ValueError, match="extra bytes"):
        ec.unpack(data + b"\0")


def test_every_single_bit_flip_is_a_value_error(rng):
    # The CRC-32 covers every byte but its own, and a CRC catches every single-bit error.
    _, data, _ = packed(rng)
    for index in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[index] ^= 1 << bit
            with pytest.raises(ValueError):
                ec.unpack(bytes(damaged))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data):
    with pytest.raises(ValueError):
        ec.unpack(ec.MAGIC + bytes([ec.VERSION]) + data)


def test_decode_of_random_bytes_stays_in_the_alphabet(rng, jit):
    # Without the container, any bytes decode to *some* codes: the search always lands on a symbol.
    tables = ec.frequency_tables(skewed_codes(rng, 500, 2, 10), 10)
    stream = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    codes = ec.decode(stream, tables, 300)
    assert codes.min() >= 0 and codes.max() < 10
    assert np.all(np.take_along_axis(tables.T, codes, axis=0) > 0)


def test_decode_refuses_a_stream_that_ends_early(rng, jit):
    codes = rng.integers(0, 16, (500, 2))
    tables = ec.frequency_tables(codes, 16)
    stream = ec.encode(codes, tables)
    with pytest.raises(ValueError, match="ends early"):
        ec.decode(stream[:len(stream) // 2], tables, 500)


def test_foreign_files(rng):
    with pytest.raises(ValueError, match="not an npae entropy-coded file"):
        ec.unpack(b"\x89PNG\r\n\x1a\n" + bytes(40))
    _, data, _ = packed(rng)
    with pytest.raises(ValueError, match="version 99 is not supported"):
        ec.unpack(data[:6] + bytes([99]) + data[7:])
    with pytest.raises(ValueError, match="must be bytes"):
        ec.unpack("text")
