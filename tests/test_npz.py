"""npae._npz: .npz archives read header first, sizes checked before allocating, every failure an ArchiveError."""
import io
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from npae._npz import ArchiveError, NpzArchive, parse_json
from support import Member, foreign_files, metadata_member, npy_bytes, npy_header, write_npz


def read_all(path, **options):
    with NpzArchive(path, **options) as archive:
        return {name: archive.read(name) for name in archive.names}


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_reads_what_numpy_writes_exactly_as_np_load(tmp_path, rng, save):
    arrays = {
        "floats": rng.standard_normal((3, 4)).astype(np.float32),
        "fortran": np.asfortranarray(rng.standard_normal((5, 2))),
        "scalar": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3), dtype=np.uint8),
        "text": np.array('{"a": [1, 2]}'),
        "big_endian": np.arange(4, dtype=">i4"),
    }
    save(tmp_path / "a.npz", **arrays)
    loaded = read_all(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as reference:
        assert sorted(loaded) == sorted(reference.files)
        for name in arrays:
            assert loaded[name].dtype == reference[name].dtype and loaded[name].shape == reference[name].shape
            np.testing.assert_array_equal(loaded[name], reference[name])
            assert loaded[name].flags.writeable
    with NpzArchive(tmp_path / "a.npz") as archive:
        assert archive.read_json("text") == {"a": [1, 2]}
        assert archive.header("floats").shape == (3, 4) and archive.header("fortran").fortran_order


@pytest.mark.parametrize("content, description", foreign_files())
def test_foreign_files_are_named_as_such_without_numpy_advice(tmp_path, content, description):
    path = tmp_path / "thing.npz"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="not a .npz archive") as error:
        NpzArchive(path)
    assert error.value.foreign and description in str(error.value) and str(path) in str(error.value)
    assert "allow_pickle" not in str(error.value)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(ArchiveError, match="not a regular file"):
        NpzArchive(tmp_path / "pipe.npz")


def expect_refused(path, name, message, **options):
    with NpzArchive(path, **options) as archive:
        with pytest.raises(ArchiveError, match=message) as error:
            archive.read(name)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("member, message", [
    (npy_header((2,), "|O") + b"\x00" * 16, "Python objects"),
    (npy_header((2,), [("a", "<i4"), ("b", "<f4")]) + bytes(16), "record type"),
    (npy_header((2,), "|V8") + bytes(16), "record type"),
    (npy_header((10**12,), "|S0"), "zero bytes"),
    (npy_header((3,), "<f8") + bytes(16), "declares 24 bytes"),        # data short of the header's shape
    (npy_header((2,), "<f8") + bytes(24), "declares 16 bytes"),        # data beyond it
    (npy_header((2**62, 2**62), "<f8"), "more than NumPy can index"), # an absurd shape, nothing allocated
    (npy_header((2**20, 2**20), "<f8"), "declares 8796093022208 bytes"),  # a possible one, not in the file
    (npy_header((0, 2**40, 2**40), "<f8"), "more than NumPy can index"),  # empty, yet no NumPy shape
    (b"\x93NUMPY\x03\x00" + bytes(8), "version"),
    (b"\x93NUMPY\x01\x00\x10\x00" + b"{'descr': 5}   \n", "not valid"),
    (b"not an npy member", "not valid"),
])
def test_bad_members_are_refused_before_any_data_is_read(tmp_path, member, message):
    path = write_npz(tmp_path / "a.npz", {"x": member, "good": np.arange(3)})
    expect_refused(path, "x", message)
    with NpzArchive(path) as archive:  # the other members stay readable
        np.testing.assert_array_equal(archive.read("good"), [0, 1, 2])


def test_a_member_claiming_more_than_its_compressed_bytes_can_hold(tmp_path):
    header = npy_header((2**31,), "|u1")
    path = write_npz(tmp_path / "a.npz", {"x": Member(header, zeros=1000, claimed_size=len(header) + 2**31)})
    expect_refused(path, "x", "claims 2147483776 bytes, more than its .* compressed bytes can hold")
    stored = write_npz(tmp_path / "b.npz", {"x": Member(npy_bytes(np.arange(3)), stored=True, claimed_size=10**6)})
    expect_refused(stored, "x", "claims 1000000 bytes")


def corrupt(path, find, replace):
    data = path.read_bytes()
    assert find in data
    path.write_bytes(data.replace(find, replace, 1))


def test_damaged_deflate_data_and_a_wrong_crc_are_archive_errors(tmp_path, rng):
    np.savez_compressed(tmp_path / "a.npz", x=rng.standard_normal(1000))
    data = bytearray((tmp_path / "a.npz").read_bytes())
    data[200:260] = bytes(60)  # inside the deflate stream of the only member
    (tmp_path / "a.npz").write_bytes(bytes(data))
    expect_refused(tmp_path / "a.npz", "x", "damaged")

    np.savez(tmp_path / "b.npz", x=np.arange(100, dtype=np.int64))   # stored: the CRC-32 is all that checks
    corrupt(tmp_path / "b.npz", np.int64(42).tobytes(), np.int64(43).tobytes())
    expect_refused(tmp_path / "b.npz", "x", "Bad CRC-32")


def test_truncated_archive_and_missing_member(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.arange(10))
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="damaged .npz archive"):
        NpzArchive(tmp_path / "a.npz")
    (tmp_path / "a.npz").write_bytes(data)
    expect_refused(tmp_path / "a.npz", "y", "has no array 'y'")


def test_lzma_members_only_when_allowed_and_encrypted_ones_never(tmp_path):
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr("x.npy", npy_bytes(np.arange(5)))
    expect_refused(path, "x", "zip method 14")
    with NpzArchive(path, allow_lzma=True) as archive:
        np.testing.assert_array_equal(archive.read("x"), np.arange(5))
    np.savez(path, x=np.arange(5))
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1  # the "encrypted" bit of the general purpose flags
    path.write_bytes(bytes(data))
    expect_refused(path, "x", "encrypted")


def test_expected_is_asked_before_allocating(tmp_path):
    header = npy_header((2**30,), "|u1")
    path = write_npz(tmp_path / "a.npz", {"x": Member(header, zeros=2**30)})   # a 1 MB file, 1 GiB inflated
    seen = []

    def refuse(found):
        seen.append(found)
        raise ValueError("not the shape I want")

    with NpzArchive(path) as archive, pytest.raises(ValueError, match="not the shape I want"):
        archive.read("x", refuse)
    assert seen[0].shape == (2**30,) and seen[0].nbytes == 2**30


@pytest.mark.parametrize("text, message", [
    ('{"scale": NaN}', "NaN is not a number"),
    ('{"scale": Infinity}', "Infinity is not a number"),
    ('[-Infinity]', "Infinity is not a number"),
    ('{"sizes": [1e999]}', "beyond the range"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"n": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"a": 1', "not valid JSON"),
])
def test_parse_json_refuses_what_json_does_not_allow(text, message):
    with pytest.raises(ValueError, match=message):
        parse_json(text)


def test_read_json_refuses_non_strings_and_overlong_text_before_reading(tmp_path):
    path = write_npz(tmp_path / "a.npz", {
        "number": np.array(3.0),
        "long": Member(npy_header((), "<U500000000"), zeros=2_000_000_000),   # 2 GB of text, 2 MB of file
        "deep": metadata_member("[" * 50_000 + "]" * 50_000),
    })
    with NpzArchive(path) as archive:
        with pytest.raises(ArchiveError, match="not a JSON string"):
            archive.read_json("number")
        with pytest.raises(ArchiveError, match="500000000 characters long"):
            archive.read_json("long")
        with pytest.raises(ArchiveError, match="'deep': the JSON is nested too deeply"):
            archive.read_json("deep")


# -- fuzzing -----------------------------------------------------------------------------------------

def _valid_archive():
    buffer = io.BytesIO()
    np.savez_compressed(buffer, metadata=np.array('{"format": "x", "sizes": [3, 4]}'),
                        weights=np.arange(12, dtype=np.float32).reshape(3, 4), codes=np.arange(6, dtype=np.uint8))
    return buffer.getvalue()


VALID = _valid_archive()


@st.composite
def mutated_archives(draw):
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 8))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_archives())
def test_a_mutated_archive_reads_or_raises_archive_error(tmp_path, data):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    try:
        with NpzArchive(path) as archive:
            for name in archive.names:
                try:
                    archive.read(name)
                except ArchiveError:
                    pass
            if "metadata" in archive:
                try:
                    archive.read_json("metadata")
                except ArchiveError:
                    pass
    except ArchiveError as error:
        assert str(path) in str(error)


def test_an_array_stored_twice_is_refused(tmp_path):
    path = tmp_path / "twice.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x.npy", npy_bytes(np.full(3, 1e30)))  # the copy zipfile (and np.load) would read
    with pytest.raises(ArchiveError, match="holds the array 'x' twice") as error:
        NpzArchive(path)
    assert str(path) in str(error.value)
