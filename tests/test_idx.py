"""The IDX reader and writer: exact bytes, round trips, and strictness on every kind of damage."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from npae.datasets import read_idx, write_idx
from npae.datasets.idx import IDX_DTYPES, IdxReader, encode_idx
from support import run_child, write_gzip

NATIVE_DTYPES = [dtype.newbyteorder("=") for dtype in IDX_DTYPES.values()]


@pytest.fixture
def data_root():
    """The real data (CI: NPAE_DATA=../shared/data)."""
    if not os.environ.get("NPAE_DATA"):
        pytest.skip("NPAE_DATA is not set")
    return Path(os.environ["NPAE_DATA"])


def test_bytes_of_a_small_int16_array_follow_the_format():
    # Header: 00 00, type 0x0B (int16), 1 dimension, size 2 as big-endian uint32; then 1 and 258 big-endian.
    expected = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x00, 0x01, 0x01, 0x02])
    assert encode_idx(np.array([1, 258], dtype=np.int16)) == expected


def test_mnist_style_header():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    assert encode_idx(images)[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")


@pytest.mark.parametrize("dtype", NATIVE_DTYPES, ids=lambda dtype: dtype.name)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_then_read_round_trip(tmp_path, rng, dtype, suffix):
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / f"array-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.flags.c_contiguous
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    assert [name for name in os.listdir(tmp_path) if name != path.name] == []  # no temporary file left


def test_write_is_deterministic_and_atomic(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.arange(10, dtype=np.uint8))
    first = path.read_bytes()
    write_idx(path, np.arange(10, dtype=np.uint8))
    assert path.read_bytes() == first  # gzip written without a time stamp
    with pytest.raises(ValueError, match="dtype"):
        write_idx(path, np.arange(10, dtype=np.uint64))
    assert path.read_bytes() == first  # a failed write leaves the old file intact
    assert sorted(os.listdir(tmp_path)) == ["labels.gz"]


@pytest.mark.parametrize("array, message", [
    (np.zeros(3, dtype=np.complex64), "dtype"),
    (np.float32(1.0), "dimensions"),
])
def test_write_rejects_what_idx_cannot_store(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        write_idx(tmp_path / "x", array)
    assert os.listdir(tmp_path) == []


def _valid_file(tmp_path):
    path = tmp_path / "valid"
    write_idx(path, np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    return path, path.read_bytes()


@pytest.mark.parametrize("mutate, message", [
    (lambda data: b"", "empty"),
    (lambda data: data[:3], "truncated"),
    (lambda data: data[:10], "truncated header"),
    (lambda data: data[:-1], "truncated"),
    (lambda data: data + b"\x00", "1 trailing bytes"),
    (lambda data: b"\x01" + data[1:], "magic"),
    (lambda data: data[:2] + b"\x0A" + data[3:], "type code 0x0A"),
    (lambda data: data[:3] + b"\x00" + data[4:], "0 dimensions"),
    (lambda data: data[:3] + b"\x02" + data[4:], "shape"),
    (lambda data: gzip.compress(data)[:-5], "damaged gzip"),
    (lambda data: gzip.compress(data)[:-8] + b"\x00" * 8, "damaged gzip"),  # CRC and size zeroed
    (lambda data: gzip.compress(data) + b"garbage", "damaged gzip"),
])
def test_damaged_files_raise_value_error_naming_file_and_problem(tmp_path, mutate, message):
    path, data = _valid_file(tmp_path)
    path.write_bytes(mutate(data))
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_every_truncation_of_a_file_is_rejected(tmp_path):
    path, data = _valid_file(tmp_path)
    for length in range(len(data)):
        path.write_bytes(data[:length])
        with pytest.raises(ValueError):
            read_idx(path)


def test_more_dimensions_than_numpy_allows_is_a_value_error(tmp_path):
    path = tmp_path / "deep"
    path.write_bytes(bytes([0, 0, 0x08, 100]) + (1).to_bytes(4, "big") * 100 + b"\x07")
    with pytest.raises(ValueError, match="NumPy") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_an_empty_shape_numpy_cannot_index_is_a_value_error_naming_the_file(tmp_path):
    # Found by the fuzz test below: 0 x 687865856 x 3355443200 int32 holds nothing, and the file's size
    # matches, but NumPy refuses the shape ("array is too big"), with a message that names no file.
    path = tmp_path / "empty"
    path.write_bytes(bytes([0, 0, 0x0C, 3]) + b"".join(n.to_bytes(4, "big") for n in (0, 687865856, 3355443200)))
    with pytest.raises(ValueError, match="more than NumPy can index") as error:
        read_idx(path)
    assert str(path) in str(error.value)
    path.write_bytes(bytes([0, 0, 0x0C, 3]) + b"".join(n.to_bytes(4, "big") for n in (0, 2**20, 2**20)))
    assert read_idx(path).shape == (0, 2**20, 2**20)  # empty and within NumPy's index range: an exact array


def test_gzip_with_two_members_and_zero_padding_reads(tmp_path):
    path, data = _valid_file(tmp_path)
    path.write_bytes(gzip.compress(data[:20]) + gzip.compress(data[20:]) + b"\x00" * 4)
    np.testing.assert_array_equal(read_idx(path), np.arange(24).reshape(2, 3, 4))


@pytest.fixture(scope="module")
def scratch_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "case"


SMALL_ARRAYS = hnp.arrays(
    dtype=st.sampled_from(NATIVE_DTYPES),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
)


def _resize(data, change):
    """Cut ``-change`` bytes off ``data`` or append ``change`` zero bytes."""
    return data[:len(data) + change] if change < 0 else data + bytes(change)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=64),
    # Mostly-valid headers reach the size checks more often than random bytes do.
    st.tuples(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.integers(0, 3),
              st.lists(st.integers(0, 4), max_size=3), st.binary(max_size=80))
      .map(lambda t: bytes([0, 0, t[0], t[1]]) + b"".join(n.to_bytes(4, "big") for n in t[2]) + t[3]),
    # Valid files, exact or a few bytes too short or too long: the boundary of the size check.
    st.tuples(SMALL_ARRAYS, st.integers(-3, 3)).map(lambda t: _resize(encode_idx(t[0]), t[1])),
))
def test_arbitrary_bytes_give_an_exact_array_or_a_value_error(scratch_file, data):
    for content in (data, gzip.compress(data)):
        scratch_file.write_bytes(content)
        try:
            array = read_idx(scratch_file)
        except ValueError as error:
            assert str(scratch_file) in str(error)
            continue
        # Accepted: then the array must encode back to exactly the bytes that were read.
        assert encode_idx(array) == data


@settings(max_examples=100, deadline=None)
@given(array=SMALL_ARRAYS)
def test_any_supported_array_round_trips(scratch_file, array):
    write_idx(scratch_file, array)
    back = read_idx(scratch_file)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()  # bytes, so that NaN payloads and -0.0 count too


def test_real_mnist_test_labels(data_root):
    labels = read_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert labels.dtype == np.uint8 and labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# -- hostile files: sizes are checked before anything is allocated, gzip inflated only as far as declared --

def test_a_small_gzip_declaring_more_than_it_can_inflate_to_is_refused_at_once(tmp_path):
    path = tmp_path / "huge-idx2.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 2]) + (2**31).to_bytes(4, "big") * 2 + bytes(100)))
    with pytest.raises(ValueError, match=r"truncated: .* \(2147483648, 2147483648\) .* inflate to at most"):
        read_idx(path)


def test_the_header_is_known_before_any_data_is_read(tmp_path):
    path = tmp_path / "bomb.gz"
    write_gzip(path, bytes([0, 0, 0x08, 1]) + (2**30).to_bytes(4, "big"), zeros=2**30)  # 1 MB of file
    with IdxReader(path) as reader:
        assert reader.header.shape == (2**30,) and reader.header.data_bytes == 2**30
        assert reader.compressed and reader.stored_size < 2**21


@pytest.mark.parametrize("path", [3, None, "", b"labels"])
def test_a_path_that_is_no_file_name_is_a_value_error(path):
    with pytest.raises(ValueError, match="path must be a file or folder name"):
        read_idx(path)
    with pytest.raises(ValueError, match="path must be a file or folder name"):
        write_idx(path, np.arange(3, dtype=np.uint8))


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo-idx1")
    # In a child with a time limit: before the fix, opening the FIFO blocked for ever.
    run = run_child(f"read_idx({str(tmp_path / 'fifo-idx1')!r})", setup="from npae.datasets import read_idx",
                    timeout=60)
    assert run.error is not None and run.error[0] == "ValueError" and "not a regular file" in run.error[1]


@pytest.mark.parametrize("tail, message", [
    (b"\x1f", "not gzip"),                     # half a magic number after the member
    (b"\x00" * 3 + b"\x01", "not gzip"),       # padding, then garbage
    (b"\x00" * 100_000, None),                 # padding only: as gzip.decompress, accepted
])
def test_what_may_follow_a_gzip_member(tmp_path, tail, message):
    path, data = _valid_file(tmp_path)
    path.write_bytes(gzip.compress(data) + tail)
    if message is None:
        np.testing.assert_array_equal(read_idx(path), np.arange(24).reshape(2, 3, 4))
    else:
        with pytest.raises(ValueError, match=message):
            read_idx(path)


def test_trailing_bytes_inside_the_gzip_data_are_refused_without_inflating_them(tmp_path):
    path, data = _valid_file(tmp_path)
    write_gzip(path, data, zeros=10**8)
    with pytest.raises(ValueError, match="trailing bytes: .* holds more once decompressed"):
        read_idx(path)


@st.composite
def mutated_gzip_files(draw):
    content = bytearray(gzip.compress(encode_idx(draw(SMALL_ARRAYS))))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(content) - 1))
        kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
        if kind == "flip":
            content[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del content[max(position, 2):]
        else:
            content[position:position] = draw(st.binary(min_size=1, max_size=6))
    return bytes(content)


@settings(max_examples=300, deadline=None)
@given(content=mutated_gzip_files())
def test_a_mutated_gzip_file_reads_as_gzip_decompress_would_or_raises_value_error(scratch_file, content):
    scratch_file.write_bytes(content)
    try:
        reference = gzip.decompress(content)
    except Exception:  # what the standard library refuses, npae must refuse too
        reference = None
    try:
        array = read_idx(scratch_file)
    except ValueError as error:
        assert str(scratch_file) in str(error)
        return
    assert reference is not None and encode_idx(array) == reference
