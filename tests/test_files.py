"""npae._files: atomic writes keep permissions as open() would, and tidy only their own stale leftovers."""
import os
import stat
import time

import pytest

from npae._files import STALE_PARTIAL_SECONDS, atomic_open, partial_name_pattern, remove_stale_partials


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda value: os.umask(value)
    os.umask(previous)


def write(path, data=b"new"):
    with atomic_open(path) as file:
        file.write(data)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, umask, mask, expected):
    umask(mask)
    write(tmp_path / "new.bin")
    with open(tmp_path / "by-open.bin", "wb"):
        pass
    assert mode_of(tmp_path / "new.bin") == mode_of(tmp_path / "by-open.bin") == expected


@pytest.mark.parametrize("old_mode", [0o600, 0o640, 0o755, 0o444])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, old_mode):
    umask(0o022)
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    os.chmod(path, old_mode)
    write(path)
    assert path.read_bytes() == b"new" and mode_of(path) == old_mode


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as file:
            file.write(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["data.bin"]


def leftover(directory, name, age_seconds, random_part="0123abcd"):
    """A temporary file as a killed atomic_open of ``name`` leaves it, last modified ``age_seconds`` ago."""
    path = directory / f".{name}.{random_part}.part"
    path.write_bytes(b"partial")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_the_temporary_name_is_the_pattern_that_is_swept(tmp_path):
    seen = []
    with atomic_open(tmp_path / "x.gz") as file:
        seen = [name for name in os.listdir(tmp_path) if name != "x.gz"]
        file.write(b"1")
    assert len(seen) == 1 and partial_name_pattern("x.gz").fullmatch(seen[0])


def test_stale_leftovers_of_the_same_file_are_removed_by_the_next_write(tmp_path):
    old = leftover(tmp_path, "labels.gz", STALE_PARTIAL_SECONDS + 60)
    fresh = leftover(tmp_path, "labels.gz", 5, random_part="fedc4321")   # perhaps a write in progress
    other_file = leftover(tmp_path, "images.gz", STALE_PARTIAL_SECONDS + 60)  # another target's
    lookalike = tmp_path / ".labels.gz.not-ours.part"
    lookalike.write_bytes(b"")
    os.utime(lookalike, (0, 0))
    directory = tmp_path / ".labels.gz.aaaaaaaa.part"
    directory.mkdir()
    os.utime(directory, (0, 0))
    link = tmp_path / ".labels.gz.bbbbbbbb.part"
    link.symlink_to(other_file)
    os.utime(link, (0, 0), follow_symlinks=False)

    write(tmp_path / "labels.gz")
    assert not old.exists()
    assert fresh.exists() and other_file.exists() and lookalike.exists() and directory.is_dir()
    assert link.is_symlink()


def test_remove_stale_partials_reports_what_it_removed_and_ignores_a_missing_folder(tmp_path):
    old = leftover(tmp_path, "a.npz", 7200)
    assert remove_stale_partials(tmp_path / "a.npz") == [old]
    assert remove_stale_partials(tmp_path / "a.npz") == []
    assert remove_stale_partials(tmp_path / "no such folder" / "a.npz") == []


def test_a_fifo_a_folder_or_no_file_name_is_refused_and_left_as_it_was(tmp_path):
    import npae

    model = npae.Autoencoder([6, 3], seed=0)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        model.save(fifo)  # renaming over it would turn the FIFO (or, as root, /dev/null) into a file
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ValueError, match="is a folder"):
        model.save(tmp_path)
    for not_a_name in (3, None, ""):
        with pytest.raises(ValueError, match="must be a file or folder name"):
            model.save(not_a_name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left behind


def test_writing_to_a_symbolic_link_writes_through_to_its_file(tmp_path):
    target, link = tmp_path / "data.bin", tmp_path / "link.bin"
    target.write_bytes(b"old")
    link.symlink_to(target)
    with atomic_open(link) as file:
        file.write(b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


def test_a_failed_write_names_its_file(tmp_path):
    target = tmp_path / "model.npz"
    with pytest.raises(OSError, match="No space left on device") as error:
        with atomic_open(target) as file:
            file.write(b"partial")
            raise OSError(28, "No space left on device")  # what a full disk raises from write or fsync
    assert error.value.filename == str(target) and not list(tmp_path.iterdir())
