"""The ``npae`` command line, run in-process through ``npae.cli.main``.

``npae reproduce --quick`` runs once on the embedded sample (NPAE_DATA unset, empty caches, --offline:
the real fallback path), and each experiment's section of that report is checked on its own; a few
more runs cover ``--only``, and one uses the real data when NPAE_DATA is set.  The user-data
commands run on small files, and every kind of bad input must give one line on stderr, exit status 1
and no traceback.
"""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import npae
from npae.cli import main
from npae.datasets import load_mnist
from npae.experiments import EXPERIMENTS
from npae.progress import Progress, fit_with_progress

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _isolate_from_data(patch, tmp_path):
    """Nothing on the data search path: no NPAE_DATA, empty user and Keras caches, no reachable mirror."""
    patch.delenv("NPAE_DATA", raising=False)
    patch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    patch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    patch.setenv("NPAE_MIRROR", "http://127.0.0.1:9")


def _section(report, number):
    """The text of section ``## <number>. ...`` of the report, up to the next ``## ``."""
    match = re.search(rf"^## {number}\. .*?(?=^## )", report, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no section {number} in the report"
    return match.group(0)


def _tables(text):
    """Every Markdown table in ``text``: a list of rows (lists of cells), header row first, rule dropped."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _first_column(table):
    return [row[0] for row in table[1:]]


def _check_png(path):
    from matplotlib.image import imread

    with open(path, "rb") as stream:
        assert stream.read(8) == PNG_SIGNATURE, path
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0.01  # not a blank canvas


# ------------------------------------------------------------------------------------------------
# npae reproduce on the embedded sample

@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    """One quick run of every experiment on the embedded sample: (exit status, report text, out dir, stderr)."""
    root = tmp_path_factory.mktemp("reproduce")
    out = root / "report"
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        _isolate_from_data(patch, root)
        patch.setattr(sys, "stderr", stderr)
        status = main(["reproduce", "--quick", "--offline", "--out", str(out)])
    return status, (out / "report.md").read_text(encoding="utf-8"), out, stderr.getvalue()


def test_reproduce_on_the_sample_succeeds_and_says_so(sample_report):
    status, report, _, stderr = sample_report
    assert status == 0, stderr
    assert "NOTICE: running on the EMBEDDED SAMPLE" in stderr
    head = report[:report.index("## The paper's conclusions")]
    assert "EMBEDDED SAMPLE, NOT THE FULL DATA" in head and "QUICK RUN" in head
    assert "6,000 training + 1,000 test images" in head
    assert "FAILED" not in report
    summary = _tables(report[report.index("## The paper's conclusions"):report.index("## 1.")])[0]
    assert summary[0] == ["claim", "paper", "this run", "holds"]
    assert {row[0].split(".")[0] for row in summary[1:]} == {str(e.number) for e in EXPERIMENTS.values()}
    assert all(row[3] in ("yes", "**NO**", "n/a") for row in summary[1:])
    machine = _tables(report[report.index("## Machine"):])
    assert [row[0] for row in machine[1][1:]][:2] == ["data", "reference models"]
    assert set(EXPERIMENTS) <= {row[0] for row in machine[1]}


EXPECTED_FIRST_COLUMNS = {
    "reconstruction": [["784-8-784, BCE", "784-16-784, BCE", "784-64-784, BCE", "784-16-784, MSE"]],
    "knn": [["MNIST, raw pixels, R^784", "MNIST, raw pixels, exact, with lower bounds, R^784", "MNIST, latent, R^8",
             "MNIST, PCA, R^8", "Fashion-MNIST, raw pixels, R^784",
             "Fashion-MNIST, raw pixels, exact, with lower bounds, R^784", "Fashion-MNIST, latent, R^8",
             "Fashion-MNIST, latent, R^16"]],
    "dimensionality": [["2", "10", "100", "1000"]],
    "anomaly": [None, ["sandal (test image 8)", "sneaker (test image 9)", "ankle boot (test image 0)"], ["0", "1"],
                None],
    "denoising": [["noisy", "noisy, clipped to [0, 1]", "denoised"]],
    "pca": [["8", "16", "32", "64"], None],
    "compression": [[q for q in ("8", "16", "32", "64") for _ in range(3)], ["8", "16", "32", "64"]],
}
FIGURES = {"reconstruction": ["reconstructions"], "knn": ["knn"], "dimensionality": ["dimensionality"],
           "anomaly": ["anomaly"], "denoising": ["denoising"], "pca": ["pca"], "compression": ["compression"]}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_section_has_its_tables_and_figures(sample_report, name):
    _, report, out, _ = sample_report
    section = _section(report, EXPERIMENTS[name].number)
    tables = _tables(section)
    expected = EXPECTED_FIRST_COLUMNS[name]
    assert len(tables) == len(expected)
    for table, first_column in zip(tables, expected):
        assert all(len(row) == len(table[0]) for row in table)
        if first_column is not None:
            assert _first_column(table) == first_column
    for figure in FIGURES[name]:
        assert f"](figures/{figure}.png)" in section
        _check_png(out / "figures" / f"{figure}.png")


def test_sample_numbers_are_the_experiments_own(sample_report):
    _, report, _, _ = sample_report
    anomaly = _tables(_section(report, 4))[0]
    assert anomaly[2][0] == "its rank among the 1,001 images"             # 1,000 sample digits + the shoe
    denoising = {row[0]: float(row[1]) for row in _tables(_section(report, 5))[0][1:]}
    assert denoising["noisy"] == pytest.approx(0.55 ** 2, rel=0.03)      # E[(0.55 z)^2]
    dimensionality = {row[0]: row for row in _tables(_section(report, 3))[0][1:]}
    assert dimensionality["10"][1] == "0.501"                           # (1/1000)^(1/10)
    _check_png(os.path.join(sample_report[2], "figures", "training-curves.png"))


def test_reproduce_only_runs_what_is_named(tmp_path, monkeypatch, capsys):
    _isolate_from_data(monkeypatch, tmp_path)
    out = tmp_path / "only"
    assert main(["reproduce", "--quick", "--offline", "--only", "dimensionality", "--out", str(out)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## 3. The curse of dimensionality" in report
    assert not re.search(r"^## [124567]\. ", report, flags=re.MULTILINE)
    assert "EMBEDDED SAMPLE" not in report                               # no data set was needed
    assert sorted(os.listdir(out / "figures")) == ["dimensionality.png"]
    assert "[yes] 3. the simulation agrees" in capsys.readouterr().err


def test_reproduce_quiet_prints_nothing(tmp_path, monkeypatch, capsys):
    _isolate_from_data(monkeypatch, tmp_path)
    assert main(["reproduce", "--quick", "--quiet", "--only", "dimensionality", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr() == ("", "")


def test_reproduce_rejects_an_unknown_experiment(capsys):
    assert main(["reproduce", "--only", "gan"]) == 2
    assert "invalid choice: 'gan'" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("NPAE_DATA"), reason="NPAE_DATA is not set")
def test_reproduce_on_the_real_data(tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["reproduce", "--quick", "--only", "denoising", "--out", str(out)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "EMBEDDED SAMPLE" not in report
    assert "Data: MNIST: 60000 training + 10000 test images from NPAE_DATA" in report
    rows = {row[0]: float(row[1]) for row in _tables(_section(report, 5))[0][1:]}
    assert rows["denoised"] < rows["noisy, clipped to [0, 1]"] < rows["noisy"]
    assert "NOTICE" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Progress

def test_progress_in_a_log_is_plain_lines_and_on_a_terminal_one_rewritten_line():
    log = io.StringIO()
    progress = Progress(log, tty=False)
    progress.update("step 1")
    progress.update("step 2")
    progress.line("done")
    assert log.getvalue() == "step 1\nstep 2\ndone\n"

    screen = io.StringIO()
    progress = Progress(screen, tty=True, min_interval=0)
    progress.update("step 10")
    progress.update("step 2")
    progress.line("done")
    assert screen.getvalue() == "\rstep 10\rstep 2 \r      \rdone\n"

    silent = io.StringIO()
    Progress(silent, quiet=True).line("nothing")
    assert silent.getvalue() == ""


def test_fit_with_progress_trains_the_same_weights_as_one_fit():
    (x, _), _ = load_mnist(sample=True)
    x = x[:600]
    reference = npae.Autoencoder([784, 8], seed=3)
    reference.fit(x, epochs=3, batch_size=128, verbose=0)
    stepped = npae.Autoencoder([784, 8], seed=3)
    log = io.StringIO()
    history = fit_with_progress(stepped, x, epochs=3, batch_size=128, validation_data=x[:50],
                                progress=Progress(log, tty=False), label="toy")
    for a, b in zip(reference.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["loss"] == reference.history_.history["loss"]
    assert len(history.history["val_loss"]) == 3 and stepped.history_ is history
    lines = log.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines[:3]] == ["toy: epoch 1/3", "toy: epoch 2/3", "toy: epoch 3/3"]
    assert "ETA" in lines[0] and "val_loss" in lines[2] and lines[3].startswith("toy: 3 epochs in")


# ------------------------------------------------------------------------------------------------
# Commands on the user's own data

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small data files: 8-bit digits as .npy, labels as .npy and .csv, an .npz, a CSV with a header."""
    folder = tmp_path_factory.mktemp("userdata")
    (x_train, y_train), (x_test, y_test) = load_mnist(sample=True, normalize=False)
    np.save(folder / "train.npy", x_train[:1000].reshape(-1, 28, 28))   # images: flattened on reading
    np.save(folder / "train_labels.npy", y_train[:1000])
    np.save(folder / "test.npy", x_test[:200])
    np.savetxt(folder / "test_labels.csv", y_test[:200], fmt="%d", header="digit", comments="")
    np.savez(folder / "both.npz", images=x_test[:200], labels=y_test[:200])
    rng = np.random.default_rng(0)
    np.savetxt(folder / "table.csv", rng.normal(size=(150, 6)), delimiter=",", header="a,b,c,d,e,f", comments="")
    return folder


def run(argv, capsys):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def trained_model(files):
    path = files / "model.npz"
    assert main([str(part) for part in ["train", files / "train.npy", "-o", path, "--latent", "8", "--epochs", "2",
                                        "--quiet"]]) == 0
    return path


def test_train_saves_a_model_that_npae_load_reads(files, trained_model, capsys):
    model = npae.load(trained_model)
    assert model.sizes == [784, 8] and model.loss_.name == "bce"       # 0..255 pixels were scaled to [0, 1]
    status, out, err = run(["train", files / "table.csv", "-o", files / "table-model.npz", "--epochs", "2",
                            "--validation-split", "0.2"], capsys)
    assert status == 0
    assert "6-3-6" in out and "MSE" in out and "values used as they are" in out
    assert "train: epoch 2/2" in err and "val_loss" in err
    assert npae.load(files / "table-model.npz").get_config()["output_activation"] == "identity"


def test_encode_writes_the_latent_features(files, trained_model, capsys):
    model = npae.load(trained_model)
    expected = model.encode(np.load(files / "test.npy").astype(np.float32) / 255)
    status, out, _ = run(["encode", "-m", trained_model, files / "test.npy", "-o", files / "codes.npy"], capsys)
    assert status == 0 and "200 x 8" in out
    np.testing.assert_array_equal(np.load(files / "codes.npy"), expected)
    both = f"{files / 'both.npz'}:images"
    assert run(["encode", "-m", trained_model, both, "-o", files / "codes.csv"], capsys)[0] == 0
    with open(files / "codes.csv") as stream:
        assert stream.readline().strip() == ",".join(f"h{j}" for j in range(8))
    np.testing.assert_allclose(np.loadtxt(files / "codes.csv", delimiter=",", skiprows=1), expected, rtol=1e-6)
    assert run(["encode", "-m", trained_model, files / "test.npy", "-o", files / "rec.npy", "--reconstruct"],
               capsys)[0] == 0
    assert np.load(files / "rec.npy").shape == (200, 784)


def test_knn_on_raw_pixels_and_on_latent_features(files, trained_model, capsys):
    from npae.knn import KNNClassifier

    x_train = np.load(files / "train.npy").reshape(1000, -1) / np.float32(255)
    x_test = np.load(files / "test.npy") / np.float32(255)
    y_train = np.load(files / "train_labels.npy")
    expected = KNNClassifier(k=7).fit(x_train, y_train).predict(x_test)
    status, out, _ = run(["knn", files / "train.npy", files / "test.npy", "--train-labels", files / "train_labels.npy",
                          "--test-labels", files / "test_labels.csv", "-o", files / "predicted.npy"], capsys)
    assert status == 0
    np.testing.assert_array_equal(np.load(files / "predicted.npy"), expected)
    accuracy = np.mean(expected == np.loadtxt(files / "test_labels.csv", skiprows=1))
    assert f"accuracy: {100 * accuracy:.2f} %" in out
    status, out, _ = run(["knn", files / "train.npy", files / "test.npy", "--train-labels", files / "train_labels.npy",
                          "-m", trained_model, "-k", "3", "-o", files / "predicted.csv"], capsys)
    assert status == 0 and "R^8" in out and "accuracy" not in out
    assert np.loadtxt(files / "predicted.csv", skiprows=1).shape == (200,)


def test_anomaly_scores_are_the_reconstruction_errors(files, trained_model, capsys):
    model = npae.load(trained_model)
    expected = model.reconstruction_error(np.load(files / "test.npy") / np.float32(255))
    status, out, _ = run(["anomaly", files / "test.npy", "-m", trained_model, "--top", "3", "--contamination", "0.05",
                          "-o", files / "scores.csv"], capsys)
    assert status == 0
    table = np.loadtxt(files / "scores.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 0], expected, rtol=1e-6)
    assert table[:, 1].sum() == 10                                       # 5 % of 200 rows flagged
    assert f"{int(np.argmax(expected)):>8}: " in out
    status, out, _ = run(["anomaly", files / "test.npy", "-m", trained_model, "-m", trained_model, "--combine", "max",
                          "-o", files / "scores.npy", "--quiet"], capsys)
    assert status == 0 and out == ""
    np.testing.assert_allclose(np.load(files / "scores.npy"), expected, rtol=1e-6)


def _bad_inputs(folder):
    (folder / "garbage.npy").write_bytes(b"not an array at all")
    (folder / "text.csv").write_text("a,b\nx,y\n")
    np.save(folder / "truncated.npy", np.zeros((50, 784)))
    (folder / "truncated.npy").write_bytes((folder / "truncated.npy").read_bytes()[:1000])
    np.save(folder / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "vector.npy", np.zeros(784))
    np.save(folder / "nan.npy", np.full((5, 784), np.nan))
    np.save(folder / "narrow.npy", np.zeros((5, 10)))
    np.savez(folder / "two.npz", a=np.zeros((3, 784)), b=np.zeros((3, 784)))
    (folder / "empty.csv").write_text("")


BAD_COMMANDS = {
    "missing data file": ["encode", "-m", "{model}", "{dir}/absent.npy", "-o", "{dir}/o.npy"],
    "garbage .npy": ["encode", "-m", "{model}", "{dir}/garbage.npy", "-o", "{dir}/o.npy"],
    "truncated .npy": ["anomaly", "-m", "{model}", "{dir}/truncated.npy"],
    "pickled .npy": ["anomaly", "-m", "{model}", "{dir}/object.npy"],
    "1-D array": ["anomaly", "-m", "{model}", "{dir}/vector.npy"],
    "NaN values": ["train", "{dir}/nan.npy", "-o", "{dir}/m.npz"],
    "wrong feature count": ["encode", "-m", "{model}", "{dir}/narrow.npy", "-o", "{dir}/o.npy"],
    "text in a CSV": ["train", "{dir}/text.csv", "-o", "{dir}/m.npz"],
    "empty CSV": ["train", "{dir}/empty.csv", "-o", "{dir}/m.npz"],
    "ambiguous .npz": ["anomaly", "-m", "{model}", "{dir}/two.npz"],
    "unknown .npz key": ["anomaly", "-m", "{model}", "{dir}/two.npz:c"],
    "model that is not a model": ["anomaly", "-m", "{dir}/garbage.npy", "{dir}/narrow.npy"],
    "model file missing": ["encode", "-m", "{dir}/absent.npz", "{dir}/narrow.npy", "-o", "{dir}/o.npy"],
    "unknown output type": ["encode", "-m", "{model}", "{dir}/narrow.npy", "-o", "{dir}/o.json"],
    "output folder missing": ["encode", "-m", "{model}", "{dir}/narrow.npy", "-o", "{dir}/nowhere/o.npy"],
    "labels of the wrong length": ["knn", "{dir}/narrow.npy", "{dir}/narrow.npy", "--train-labels", "{dir}/narrow.npy"],
    "BCE on unscaled data": ["train", "{dir}/narrow.npy", "-o", "{dir}/m.npz", "--loss", "bce", "--scale", "none"]
                            + ["--epochs", "1"],
    "unknown activation": ["train", "{data}", "-o", "{dir}/m.npz", "--activation", "swish", "--epochs", "1"],
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_bad_input_gives_one_line_and_status_1(case, files, trained_model, tmp_path, capsys):
    _bad_inputs(tmp_path)
    np.save(tmp_path / "narrow.npy", np.zeros((5, 10)) + (case == "BCE on unscaled data") * 3.5)
    argv = [part.format(dir=tmp_path, model=trained_model, data=files / "test.npy") for part in BAD_COMMANDS[case]]
    status, out, err = run(argv, capsys)
    assert status == 1, (case, out, err)
    assert err.startswith(f"npae {argv[0]}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "m.npz").exists()


def test_usage_errors_and_help(capsys):
    assert run(["train"], capsys)[0] == 2                               # DATA and -o missing
    assert run([], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2
    for command in ("reproduce", "data", "train", "encode", "knn", "anomaly"):
        status, out, _ = run([command, "--help"], capsys)
        assert status == 0 and out.startswith(f"usage: npae {command}")
    status, out, _ = run(["--help"], capsys)
    assert status == 0 and "npae reproduce --quick" in out


def test_python_dash_m_npae(tmp_path):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(npae.__file__))]
                                                                + [os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "npae", "--version"], capture_output=True, text=True,
                            env=environment, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"npae {npae.__version__}"
