"""The command line's files and signals, after this week's red-team pass (findings 5, 8, 15, 16, 17, 24, 25).

Each test reproduces the finding with the real thing: CSV files of millions of lines read in a child
process whose peak memory is measured, a tmpfs of 64 kB for a full disk (root only), real SIGTERMs."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import npae
from npae.cli import INTERRUPTED, TERMINATED, main
from npae.userfiles import read_array
from support import MB, extra_peak_bytes, run_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, capsys):
    status = main([str(part) for part in argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- CSV: linear in blank lines, bounded memory on the error path (findings 5 and 8) --------------------

def test_leading_blank_lines_are_skipped_in_linear_time(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n" * 60_000 + " \n\t\n" + "1,2\n\n \n3,4\n")
    np.testing.assert_array_equal(read_array(path), [[1, 2], [3, 4]])
    # 20 MB of blank lines: the quadratic reader did not finish; a linear one takes seconds.  The child's
    # timeout is a hang guard (a failure instead of a stuck suite), not a speed test.
    big = tmp_path / "big-blank.csv"
    big.write_text("\n" * 20_000_000 + "1,2\n3,4\n")
    child = run_child(f"print(read_array({str(big)!r}).tolist())", setup="from npae.userfiles import read_array",
                      timeout=240)
    assert child.error is None and child.stdout.strip() == "[[1.0, 2.0], [3.0, 4.0]]", child


def test_a_bad_value_at_the_end_of_ten_million_lines_costs_little_memory(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("1\n" * 9_999_999 + "x\n")           # 20 MB; the old error path peaked at 1.26 GB
    child, extra = extra_peak_bytes(f"read_array({str(path)!r})", setup="from npae.userfiles import read_array",
                                    timeout=240)
    assert child.error[0] == "ValueError"
    assert "line 10000000: value 1 of 1 ('x') is not a number" in child.error[1]
    assert extra < 250 * MB, f"{extra / MB:.0f} MB"      # the 80 MB table NumPy builds, and its growth


def test_csv_errors_found_past_the_fast_parser_still_name_their_line(tmp_path):
    cases = {"nan late": ("1,2\n" * 1000 + "3,nan\n", "line 1001: value 2 of 2 ('nan') is not a finite number"),
             "ragged late": ("a,b\n" + "1,2\n" * 500 + "\n3\n", "line 503 has 1 values, but line 2 has 2"),
             "comment late": ("1,2\n" * 30 + "3,4 # note\n", "line 31 holds '#'"),
             "blank-looking line then text": ("1,2\n \n3,y\n", "line 3: value 2 of 2 ('y') is not a number")}
    for case, (content, message) in cases.items():
        path = tmp_path / "data.csv"
        path.write_text(content)
        with pytest.raises(ValueError, match=None) as error:
            read_array(path)
        assert message in str(error.value), (case, str(error.value))
    path.write_bytes(b"1,2\n" * 300_000 + b"3,\xff\n")
    with pytest.raises(ValueError, match=r"is not UTF-8 text \(byte 1,200,002: invalid start byte\)"):
        read_array(path)


# -- .npz through npae's careful reader (finding 24) -----------------------------------------------------

@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_user_npz_files_go_through_the_member_cap_and_the_duplicate_check(tmp_path, capsys):
    many = tmp_path / "many.npz"
    with zipfile.ZipFile(many, "w") as archive:
        for index in range(10_001):
            archive.writestr(f"m{index}.npy", b"")
    status, _, err = run(["train", many, "-o", tmp_path / "m.npz"], capsys)
    assert status == 1 and f"data file '{many}': the archive declares 10,001 members; npae's files have at most " \
                           "10,000" in err
    twice = tmp_path / "twice.npz"
    with zipfile.ZipFile(twice, "w") as archive:
        for value in (0.0, 1.0):
            buffer = io.BytesIO()
            np.save(buffer, np.full((3, 4), value))
            archive.writestr("x.npy", buffer.getvalue())
    status, _, err = run(["train", twice, "-o", tmp_path / "m.npz"], capsys)
    assert status == 1 and "the archive holds the array 'x' twice" in err and err.count(str(twice)) == 1
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.arange(12.0).reshape(3, 4), y=np.zeros(3))
    np.testing.assert_array_equal(read_array(f"{good}:x"), np.arange(12.0).reshape(3, 4))
    with pytest.raises(ValueError, match=r"it holds 2 arrays \(x, y\)|has no array"):
        read_array(f"{good}:z")


# -- models that are not autoencoders, codes that are images (findings 15 and 16) ----------------------

@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, np.random.default_rng(0).uniform(0, 1, (12, 64)).astype(np.float32))
    return path


def test_a_sequential_model_is_refused_clearly_by_encode_knn_and_anomaly(tmp_path, rows, capsys):
    model = tmp_path / "sequential.npz"
    npae.Sequential([npae.Dense(64, 8, "relu", rng=0), npae.Dense(8, 64, rng=1)], loss="mse").save(model)
    labels = tmp_path / "labels.npy"
    np.save(labels, np.arange(12) % 3)
    for argv in (["encode", "-m", model, rows, "-o", tmp_path / "codes.npy"],
                 ["knn", rows, rows, "--train-labels", labels, "-m", model, "-k", "1"],
                 ["anomaly", "-m", model, rows]):
        status, _, err = run(argv, capsys)
        assert status == 1 and "internal error" not in err, err
        assert f"model file '{model}' holds an npae.Sequential, not an autoencoder" in err
    assert not (tmp_path / "codes.npy").exists()


def test_image_shaped_codes_keep_their_shape_in_npy_and_are_flattened_in_csv(tmp_path, rows, capsys):
    encoder = [npae.Reshape((8, 8, 1)), npae.Conv2D(1, 2, 3, padding="same", activation="relu", rng=0),
               npae.MaxPool2D(2)]
    decoder = [npae.UpSampling2D(2), npae.Conv2D(2, 1, 3, padding="same", rng=1), npae.Reshape((64,))]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse", input_shape=(64,))
    path = tmp_path / "conv.npz"
    model.save(path)
    codes = model.encode(np.load(rows))                       # (12, 4, 4, 2)
    status, out, err = run(["encode", "-m", path, rows, "-o", tmp_path / "codes.npy"], capsys)
    assert status == 0, err
    assert "12 x 4 x 4 x 2 latent features (each code 4 x 4 x 2)" in out
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), codes)
    status, out, err = run(["encode", "-m", path, rows, "-o", tmp_path / "codes.csv"], capsys)
    assert status == 0, err
    assert "12 x 32 latent features (each code 4 x 4 x 2, flattened in C order)" in out
    table = np.loadtxt(tmp_path / "codes.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table, codes.reshape(12, 32), rtol=1e-6)
    assert (tmp_path / "codes.csv").read_text().splitlines()[0] == ",".join(f"h{j}" for j in range(32))


# -- a full disk (finding 17) ----------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs (mounting needs root): a folder where a write of more fails with ENOSPC."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                                                   capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("mounting a small tmpfs needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_names_the_file_and_says_no_space_left(tmp_path, full_disk, capsys):
    data = tmp_path / "data.npy"
    np.save(data, np.random.default_rng(0).uniform(0, 1, (400, 64)).astype(np.float32))
    model = tmp_path / "model.npz"
    npae.Autoencoder([64, 32], seed=0).save(model)
    for output in ("codes.npy", "codes.csv"):
        status, _, err = run(["encode", "-m", model, data, "-o", full_disk / output, "--reconstruct"], capsys)
        assert status == 1 and "No space left on device" in err and str(full_disk / output) in err, err
        assert "nothing was written" in err
    assert os.listdir(full_disk) == []                        # no .part left behind


# -- SIGTERM like Ctrl-C (finding 25) --------------------------------------------------------------------

@pytest.mark.parametrize("signal_number, status, message", [(signal.SIGTERM, TERMINATED, "terminated (SIGTERM)"),
                                                            (signal.SIGINT, INTERRUPTED, "interrupted")])
def test_a_signal_during_a_save_leaves_no_partial_file(tmp_path, rows, signal_number, status, message):
    """The signal arrives while the model file is being written (from inside the write, so always at that
    moment): the old file stays as it was and no temporary file is left."""
    output = tmp_path / "existing.npz"
    output.write_bytes(b"the previous model")
    code = textwrap.dedent(f"""
        import os, signal, sys
        import npae._files
        # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when this test runs with SIGINT ignored
        # (a job started in the background by a non-interactive shell inherits SIG_IGN).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        real_fsync = os.fsync
        def fsync_then_signal(descriptor):
            real_fsync(descriptor)
            os.kill(os.getpid(), {int(signal_number)})
        npae._files.os.fsync = fsync_then_signal
        from npae.cli import main
        sys.exit(main(["train", {str(rows)!r}, "-o", {str(output)!r}, "--epochs", "1", "--latent", "4", "-q"]))
        """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": ROOT})
    assert child.returncode == status, child.stderr
    assert child.stderr.strip() == f"npae train: {message}"
    assert output.read_bytes() == b"the previous model"
    assert sorted(os.listdir(tmp_path)) == ["existing.npz", "rows.npy"]


# -- the memory pre-check under a cgroup v1 limit (finding 7) -------------------------------------------

@pytest.fixture
def memory_limited():
    """A ``preexec_fn`` that moves a child process into a new cgroup limited to 400 MB, made under this
    process's own memory cgroup (v1, this machine's kind, or v2).  Needs root and a writable cgroup tree."""
    from npae._memory import _cgroup_folders

    folders = [] if os.geteuid() != 0 else list(_cgroup_folders())
    if not folders:
        pytest.skip("no writable memory cgroup (needs root and a cgroup v1 or v2 memory controller)")
    parent, limit_name, _ = folders[0]
    folder = os.path.join(parent, f"npae-test-{os.getpid()}")
    try:
        os.mkdir(folder)
        with open(os.path.join(folder, limit_name), "w") as limit:
            limit.write(str(400 * 10**6))
    except OSError as error:
        pytest.skip(f"cannot make a memory cgroup here ({error})")

    def enter():
        with open(os.path.join(folder, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))

    yield enter
    os.rmdir(folder)


def test_the_memory_check_sees_a_cgroup_limit_and_refuses_before_the_kernel_kills(tmp_path, memory_limited):
    environment = {**os.environ, "PYTHONPATH": ROOT}
    probe = subprocess.run([sys.executable, "-c", "from npae._memory import available_bytes; print(available_bytes())"],
                           capture_output=True, text=True, timeout=120, env=environment, preexec_fn=memory_limited)
    assert probe.returncode == 0 and 0 < int(probe.stdout) <= 400 * 10**6, probe
    data = tmp_path / "data.npy"
    np.save(data, np.random.default_rng(0).uniform(0, 1, (100, 784)).astype(np.float32))
    train = subprocess.run([sys.executable, "-m", "npae", "train", str(data), "-o", str(tmp_path / "m.npz"),
                            "--hidden", "20000"], capture_output=True, text=True, timeout=300, env=environment,
                           preexec_fn=memory_limited)
    assert train.returncode == 1, (train.returncode, train.stderr)   # not -9: the kernel's OOM killer
    assert "the model 784-20000-64-20000-784 has 33,960,848 parameters and needs about" in train.stderr
    assert "of memory is available" in train.stderr and not (tmp_path / "m.npz").exists()


def test_the_estimate_counts_the_epoch_snapshot_and_the_evaluation_buffers():
    from npae.cli import training_memory

    parameters, needed = training_memory([784, 20000, 64], 256)
    widths = 784 + 20000 + 64 + 20000 + 784
    assert needed == 28 * parameters + 256 * (20 * widths + 8 * 784)
