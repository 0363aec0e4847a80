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
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npae
from npae.cli import main
from npae.datasets import load_mnist
from npae.experiments import EXPERIMENTS

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
    assert all(row[3] in ("yes", "**NO**", "not shown", "not shown: sample") for row in summary[1:])
    # the sample rule (npae.report.claims): the shoe among 10,000 digits, the FFA against the convolutional
    # model need the full data; the same search done two ways does not
    assert {row[3] for row in summary[1:] if row[0].startswith(("4.", "8."))} == {"not shown: sample"}
    assert {row[3] for row in summary[1:] if "with lower bounds" in row[0]} <= {"yes", "**NO**"}
    machine = _tables(report[report.index("## Machine"):])
    assert [row[0] for row in machine[1][1:]][:2] == ["data", "reference models"]
    assert set(EXPERIMENTS) <= {row[0] for row in machine[1]}


EXPECTED_FIRST_COLUMNS = {
    "reconstruction": [["784-8-784, BCE", "784-16-784, BCE", "784-64-784, BCE", "784-16-784, MSE"],
                       ["PCA, 2 components", "FFA 784-2-784", "deeper FFA 784-64-2-64-784"]],
    "knn": [["MNIST, raw pixels, R^784", "MNIST, raw pixels, exact, with lower bounds, R^784", "MNIST, latent, R^8",
             "MNIST, PCA, R^8", "Fashion-MNIST, raw pixels, R^784",
             "Fashion-MNIST, raw pixels, exact, with lower bounds, R^784", "Fashion-MNIST, latent, R^8",
             "Fashion-MNIST, latent, R^16"]],
    "dimensionality": [["2", "10", "100", "1000"]],
    "anomaly": [None, ["sandal (test image 8)", "sneaker (test image 9)", "ankle boot (test image 0)"], ["0", "1"],
                None],
    "denoising": [["noisy", "noisy, clipped to [0, 1]", "denoised"]],
    "pca": [["8", "16", "32", "64"], None],
    "compression": [[q for q in ("8", "16", "32", "64") for _ in range(3)], ["8", "16", "32", "64"]] + [None] * 4,
    "convolutional": [["convolutional (paper's)", "FFA 784-32-784"],
                      ["reconstruction", "reconstruction", "denoising", "denoising"]],
    "beyond": [["plain", "sparse (activity_l1 = 0.0001)"], ["`re`", "`bce`"] * 3 + ["`elbo`"]],
    "timeseries": [["ucr-anomaly-135"] * 5],   # offline: the embedded UCR series only (no one-class table)
}
FIGURES = {"reconstruction": ["reconstructions", "reconstruction-errors", "codes-2d"], "knn": ["knn"],
           "dimensionality": ["dimensionality"], "anomaly": ["anomaly"], "denoising": ["denoising"], "pca": ["pca"],
           "compression": ["compression"] + [f"compression-{name}{data}" for data in ("", "-fashion-mnist")
                                             for name in ("curve", "curve-files", "side-by-side")],
           "convolutional": ["convolutional-denoising", "convolutional-comparison"],
           "beyond": ["vae-loss-curves", "vae-samples", "vae-reconstructions", "vae-latent-scatter", "vae-manifold"],
           "timeseries": ["timeseries-ucr-anomaly-135", "timeseries-reconstructions"]}


EXPECTED_FIRST_COLUMNS["dictionary"] = [["16 in 32", "16 in 32", "32 in 16", "32 in 16"],
                                        ["16 in 32", "16 in 32", "MNIST codes (q = 64)", "MNIST codes (q = 64)"], None]
FIGURES["dictionary"] = ["dictionary_cosines", "dictionary_dead_latents", "dictionary_features",
                         "dictionary_frequencies"]


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
    assert "Data: MNIST: 60,000 training + 10,000 test images from NPAE_DATA" in report
    rows = {row[0]: float(row[1]) for row in _tables(_section(report, 5))[0][1:]}
    assert rows["denoised"] < rows["noisy, clipped to [0, 1]"] < rows["noisy"]
    err = capsys.readouterr().err      # (on a busy machine a NOTICE says so: npae.report.machine)
    assert "EMBEDDED SAMPLE" not in err and "NOTICE: using the embedded" not in err


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
    assert model.sizes == [784, 8] and model.loss.name == "bce"       # 0..255 pixels were scaled to [0, 1]
    status, out, err = run(["train", files / "table.csv", "-o", files / "table-model.npz", "--epochs", "2",
                            "--validation-split", "0.2"], capsys)
    assert status == 0
    assert "6-3-6" in out and "MSE" in out and "values used as they are" in out
    assert "train: 2 epochs in " in err and "val_loss" in err          # not a terminal: one summary line
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
    assert out.count(f"accuracy {100 * accuracy:.2f} %") == 1
    status, out, _ = run(["knn", files / "train.npy", files / "test.npy", "--train-labels", files / "train_labels.npy",
                          "-m", trained_model, "-k", "3", "-o", files / "predicted.csv"], capsys)
    assert status == 0 and "R^8" in out and "accuracy" not in out
    assert np.loadtxt(files / "predicted.csv", skiprows=1).shape == (200,)


def test_results_that_overflow_are_one_error_line_and_no_file(tmp_path, capsys):
    model = npae.Autoencoder([6, 3], seed=0)
    weights = model.get_weights()
    weights[0][...] = 3e38  # finite, and a model file takes them; their products with the data are not
    model.set_weights(weights)
    model.save(tmp_path / "huge.npz")
    np.save(tmp_path / "x.npy", np.ones((4, 6), np.float32))
    status, _, err = run(["encode", "-m", tmp_path / "huge.npz", tmp_path / "x.npy", "-o", tmp_path / "codes.npy"],
                         capsys)
    assert status == 1 and "hold NaN or infinity" in _one_error_line(err, "encode") and "Warning" not in err
    assert not (tmp_path / "codes.npy").exists()


def test_knn_scales_training_and_test_data_alike(files, capsys):
    # One value of 0.5 in the test file: "auto" alone would divide the training set by 255, not the test set.
    test = np.load(files / "test.npy").astype(np.float32)
    test[0, 0] = 0.5
    np.save(files / "test_not_pixels.npy", test)
    arguments = ["knn", files / "train.npy", files / "test_not_pixels.npy", "--train-labels",
                 files / "train_labels.npy"]
    status, _, err = run(arguments, capsys)
    assert status == 1 and "cannot be scaled alike" in err and "--scale 255" in err
    status, out, _ = run(arguments + ["--scale", "255"], capsys)
    assert status == 0 and "divided by 255" in out


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


def _hostile_files(folder, trained_model):
    import json
    import zipfile

    np.save(folder / "complex.npy", np.zeros((3, 4), complex))
    np.save(folder / "strings.npy", np.array([["a", "b"]] * 3))
    np.save(folder / "records.npy", np.zeros(3, dtype=[("a", "f4"), ("b", "f4")]))
    np.save(folder / "dates.npy", np.zeros((3, 4), "M8[s]"))
    np.save(folder / "array-not-model.npy", np.zeros((3, 4)))
    np.savez_compressed(folder / "data.npz", x=np.random.default_rng(0).random((50, 784)))
    damaged = bytearray((folder / "data.npz").read_bytes())
    damaged[100:180] = bytes(80)
    (folder / "bad-deflate.npz").write_bytes(damaged)
    (folder / "folder.npy").mkdir()
    with zipfile.ZipFile(trained_model) as source, \
            zipfile.ZipFile(folder / "bad-model.npz", "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
    damaged = bytearray((folder / "bad-model.npz").read_bytes())
    damaged[2000:2100] = bytes(100)
    (folder / "bad-model.npz").write_bytes(damaged)
    with zipfile.ZipFile(trained_model) as source, zipfile.ZipFile(folder / "deep-model.npz", "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name in ("config.npy", "architecture.npy"):  # the architecture JSON of format 1 or 2
                buffer = __import__("io").BytesIO()
                np.save(buffer, np.array("[" * 50000 + "]" * 50000))
                content = buffer.getvalue()
            target.writestr(name, content)
    np.savez(folder / "foreign-model.npz", __format__=np.array(json.dumps({"format": "npae.autoencoder",
                                                                          "version": 1})),
             config=np.array(json.dumps({"sizes": "many"})))




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
    "complex data": ["train", "{dir}/complex.npy", "-o", "{dir}/m.npz"],
    "string data": ["train", "{dir}/strings.npy", "-o", "{dir}/m.npz"],
    "structured data": ["train", "{dir}/records.npy", "-o", "{dir}/m.npz"],
    "datetime data": ["train", "{dir}/dates.npy", "-o", "{dir}/m.npz"],
    "damaged deflate data": ["anomaly", "-m", "{model}", "{dir}/bad-deflate.npz"],
    "folder as data": ["anomaly", "-m", "{model}", "{dir}/folder.npy"],
    "array as model": ["encode", "-m", "{dir}/array-not-model.npy", "{data}", "-o", "{dir}/o.npy"],
    "damaged deflate model": ["encode", "-m", "{dir}/bad-model.npz", "{data}", "-o", "{dir}/o.npy"],
    "deeply nested model JSON": ["encode", "-m", "{dir}/deep-model.npz", "{data}", "-o", "{dir}/o.npy"],
    "model with a foreign config": ["anomaly", "-m", "{dir}/foreign-model.npz", "{data}"],
    "folder as model": ["anomaly", "-m", "{dir}", "{data}"],
    "folder as labels": ["knn", "{data}", "{data}", "--train-labels", "{dir}/folder.npy"],
    "complex labels": ["knn", "{dir}/complex.npy", "{dir}/complex.npy", "--train-labels", "{dir}/complex.npy"],
    "hidden sizes not numbers": ["train", "{data}", "-o", "{dir}/m.npz", "--hidden", "64,,8"],
    "output is a folder": ["encode", "-m", "{model}", "{data}", "-o", "{dir}/folder.npy"],
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_bad_input_gives_one_line_and_status_1(case, files, trained_model, tmp_path, capsys):
    _bad_inputs(tmp_path)
    _hostile_files(tmp_path, trained_model)
    np.save(tmp_path / "narrow.npy", np.zeros((5, 10)) + (case == "BCE on unscaled data") * 3.5)
    argv = [part.format(dir=tmp_path, model=trained_model, data=files / "test.npy") for part in BAD_COMMANDS[case]]
    status, out, err = run(argv, capsys)
    assert status == 1, (case, out, err)
    assert err.startswith(f"npae {argv[0]}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "m.npz").exists()


def test_usage_errors_and_help(capsys):
    assert run(["train"], capsys)[0] == 2                               # DATA and -o missing
    assert run([], capsys)[0] == 2
    assert run(["frobnicate"], capsys)[0] == 2
    for command in ("reproduce", "data", "train", "encode", "knn", "anomaly", "compress", "decompress"):
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


# ------------------------------------------------------------------------------------------------
# Hardening: outputs checked before the work, never written over an input, strict CSV, bounded memory

def _one_error_line(err, command):
    assert err.startswith(f"npae {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder in which nothing can be created.  chmod does not stop root, so root gets /sys (sysfs
    refuses new files to everyone)."""
    if os.geteuid() == 0:
        if not os.path.isdir("/sys"):
            pytest.skip("running as root without /sys: no folder is read-only for root here")
        yield "/sys"
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield str(folder)
    folder.chmod(0o755)


@pytest.mark.parametrize("place", ["missing folder", "a folder", "read-only folder"])
def test_train_checks_its_output_before_any_epoch(place, files, tmp_path, read_only_folder, capsys):
    (tmp_path / "model.npz").mkdir()
    output = {"missing folder": tmp_path / "nowhere" / "model.npz", "a folder": tmp_path / "model.npz",
              "read-only folder": os.path.join(read_only_folder, "model.npz")}[place]
    status, out, err = run(["train", files / "train.npy", "-o", output, "--epochs", "1"], capsys)
    assert status == 1 and out == ""                                # not even the "training ..." line
    assert "epoch" not in _one_error_line(err, "train")
    assert {"missing folder": "does not exist", "a folder": "is a folder",
            "read-only folder": "cannot write in the folder"}[place] in err


def test_every_command_checks_its_output_first(files, trained_model, read_only_folder, capsys):
    output = os.path.join(read_only_folder, "out.npy")
    for argv in (["encode", "-m", trained_model, files / "test.npy", "-o", output],
                 ["knn", files / "train.npy", files / "test.npy", "--train-labels", files / "train_labels.npy",
                  "-o", output],
                 ["anomaly", "-m", trained_model, files / "test.npy", "-o", output]):
        status, out, err = run(argv, capsys)
        assert status == 1 and out == "" and "cannot write in the folder" in _one_error_line(err, argv[0])


def test_reproduce_checks_its_report_folder_before_the_work(tmp_path, read_only_folder, monkeypatch, capsys):
    _isolate_from_data(monkeypatch, tmp_path)
    for out, problem in [(os.path.join(read_only_folder, "report"), "cannot create the folder"),
                         (tmp_path / "a-file", "is not a folder")]:
        (tmp_path / "a-file").write_text("")
        status, _, err = run(["reproduce", "--quick", "--offline", "--only", "dimensionality", "--out", out], capsys)
        assert status == 1 and problem in _one_error_line(err, "reproduce")
        assert "npae reproduce (QUICK run)" not in err                   # the run never started


def test_no_command_writes_over_its_own_input(files, trained_model, tmp_path, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.load(files / "test.npy"))
    os.link(data, tmp_path / "hard-link.npy")
    labels = tmp_path / "labels.npy"
    np.save(labels, np.load(files / "train_labels.npy"))
    npz = tmp_path / "data.npz"
    np.savez(npz, x=np.load(files / "test.npy"))
    model = tmp_path / "model.npz"
    model.write_bytes(trained_model.read_bytes())
    before = {path: path.read_bytes() for path in (data, labels, npz, model)}
    other_spelling = tmp_path / "sub" / ".." / "x.npy"
    (tmp_path / "sub").mkdir()
    cases = [["encode", "-m", model, data, "-o", data],
             ["encode", "-m", model, data, "-o", other_spelling],
             ["encode", "-m", model, data, "-o", tmp_path / "hard-link.npy"],
             ["knn", files / "train.npy", data, "--train-labels", labels, "-o", labels],
             ["anomaly", "-m", model, data, "-o", data],
             ["train", npz, "-o", npz, "--epochs", "1"],
             ["train", f"{npz}:x", "-o", npz, "--epochs", "1"],
             ["train", data, "-o", model, "--epochs", "1", "--latent", "8"]]
    for argv in cases[:-1]:
        status, out, err = run(argv, capsys)
        assert status == 1 and "never writes over its own input" in _one_error_line(err, argv[0]), argv
    # A model file is an output of train, not an input: replacing it is what -o asks for.
    assert run(cases[-1], capsys)[0] == 0
    del before[model]
    assert all(path.read_bytes() == content for path, content in before.items())


CSV_CASES = {
    "damaged first row": ("1,2,x,4\n5,6,7,8\n", "line 1: value 3 of 4 ('x') is not a number"),
    "comment": ("1,2,3,4\n5,6,7,8\n1,2 # the rest,3,4\n", "line 3 holds '#'"),
    "ragged row": ("1,2,3,4\n5,6,7,8\n\n1,2,3\n", "line 4 has 3 values, but line 1 has 4"),
    "empty value": ("a,b,c,d\n1,2,3,4\n5,,7,8\n", "line 3: value 2 of 4 is empty"),
    "NaN": ("1,2,3,4\n5,NaN,7,8\n", "line 2: value 2 of 4 ('NaN') is not a finite number (NaN or infinity)"),
    "infinity": ("1,2,3,4\n5,6,-inf,8\n", "line 2: value 3 of 4 ('-inf') is not a finite number"),
    "beyond float64": ("1,2,3,4\n5,6,1e999,8\n", "beyond the range of 64-bit floats"),
    "beyond float32": ("1,2,3,4\n5,6,1e300,8\n", "beyond float32's range"),
    "semicolons": ("1;2;3;4\n5;6;7;8\n", "separate numbers with commas, not semicolons"),
    "text": ("a,b\nx,y\n", "line 2: value 1 of 2 ('x') is not a number"),
    "header only": ("a,b,c\n", "column names on line 1 but no data"),
    "not UTF-8": (b"\xff\xfe1\x002\x00", "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_csv_problems_name_the_line_an_editor_shows(case, tmp_path, capsys):
    content, message = CSV_CASES[case]
    path = tmp_path / "data.csv"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    status, out, err = run(["train", path, "-o", tmp_path / "m.npz", "--epochs", "1"], capsys)
    assert status == 1 and out == ""
    assert message in _one_error_line(err, "train")
    assert not (tmp_path / "m.npz").exists()


def test_a_csv_header_is_dropped_only_when_it_holds_no_number_and_the_output_says_so(tmp_path, capsys):
    path = tmp_path / "table.csv"
    path.write_text("\ufeffwidth,height,depth\r\n1.5,2,3\r\n4,5,6.25\r\n\r\n7,8,9\r\n")   # BOM, CRLF, blank line
    status, out, _ = run(["train", path, "-o", tmp_path / "m.npz", "--epochs", "1"], capsys)
    assert status == 0
    assert "on 3 rows" in out and f"line 1 of {path} taken as column names (width,height,depth)" in out
    path.write_text("# width,height\n1,2\n3,4\n")                   # np.savetxt's header style
    status, out, _ = run(["train", path, "-o", tmp_path / "m.npz", "--epochs", "1"], capsys)
    assert status == 0 and "on 2 rows" in out and "taken as column names (# width,height)" in out
    path.write_text("0,1,2\n1.5,2,3\n4,5,6\n")                     # pandas' to_csv of unnamed columns
    status, out, _ = run(["train", path, "-o", tmp_path / "m.npz", "--epochs", "1"], capsys)
    assert status == 0 and "on 2 rows" in out and "column numbers 0..2, as pandas writes them" in out
    path.write_text("1,2\n3,4\n")
    status, out, _ = run(["train", path, "-o", tmp_path / "m.npz", "--epochs", "1"], capsys)
    assert status == 0 and "on 2 rows" in out and "column names" not in out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="0123456789.,-+eE#\n\r naif;\t\"_", max_size=60))
def test_the_csv_reader_returns_finite_rows_or_a_value_error(text, tmp_path):
    from npae.userfiles import as_rows, read_array

    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    try:
        rows = as_rows(read_array(str(path)), "fuzz")
    except ValueError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert rows.ndim == 2 and rows.dtype == np.float32 and np.isfinite(rows).all()
    data_lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]
    assert rows.shape[0] in (len(data_lines), len(data_lines) - 1)   # minus a line of column names


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=300), extension=st.sampled_from([".npy", ".npz"]))
def test_damaged_npy_and_npz_files_give_a_value_error(tail, extension, tmp_path):
    from npae.userfiles import read_array

    path = tmp_path / f"fuzz{extension}"
    valid = tmp_path / f"valid{extension}"
    (np.save if extension == ".npy" else np.savez_compressed)(valid, np.arange(12.0).reshape(3, 4))
    good = valid.read_bytes()
    cut = len(tail) % len(good)
    path.write_bytes(good[:cut] + tail)                             # a valid start, then anything
    try:
        array = read_array(str(path))
    except ValueError as error:
        assert str(path) in str(error)
        return
    assert array.dtype.kind in "biuf"


def test_a_header_declaring_more_data_than_the_file_holds_is_refused_before_reading(tmp_path, capsys):
    import io as _io
    header = _io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**6)})
    (tmp_path / "liar.npy").write_bytes(header.getvalue() + bytes(1000))
    import zipfile
    with zipfile.ZipFile(tmp_path / "liar.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header.getvalue() + bytes(1000))
    model = tmp_path / "m.npz"
    npae.Autoencoder([4, 2], seed=0).save(model)
    for name in ("liar.npy", "liar.npz"):
        status, _, err = run(["anomaly", "-m", model, tmp_path / name], capsys)
        assert status == 1
        expected = ("truncated or damaged: its header declares float64 (10000000, 1000000)" if name == "liar.npy" else
                    "its header declares 80000000000000 bytes of float64 (10000000, 1000000), the archive holds 1000")
        assert expected in _one_error_line(err, "anomaly")   # .npz: npae._npz's wording


def _run_with_memory_limit(arguments, limit=8 * 2**30):
    """``python -m npae ARGUMENTS`` in a child whose address space is capped: should a memory guard ever
    fail, the child gets a MemoryError instead of the whole (shared) machine meeting the OOM killer."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run([sys.executable, "-m", "npae", *arguments], capture_output=True, text=True,
                          preexec_fn=cap, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(npae.__file__))))


def test_a_file_larger_than_the_memory_is_refused_before_reading(tmp_path):
    from npae._memory import available_bytes

    available = available_bytes()
    if available is None:
        pytest.skip("this system does not report its free memory")
    import io as _io
    rows = available // (8 * 1000) + 1                              # float64 rows of 1000 values: > available
    header = _io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (rows, 1000)})
    path = tmp_path / "huge.npy"
    with open(path, "wb") as stream:
        stream.write(header.getvalue())
    os.truncate(path, len(header.getvalue()) + rows * 8000)         # a sparse file: no disk space used
    if os.stat(path).st_blocks * 512 > 10**8:
        path.unlink()
        pytest.skip("this file system does not make sparse files")
    result = _run_with_memory_limit(["train", str(path), "-o", str(tmp_path / "m.npz")])
    assert result.returncode == 1
    assert "of memory to read and convert to float32, but only" in _one_error_line(result.stderr, "train")


def test_float64_data_beyond_float32_range_says_so():
    model = npae.Autoencoder([4, 2], loss="mse", output_activation="identity", seed=0)
    with pytest.raises(ValueError, match=r"x holds values beyond float32's range \(largest magnitude 1e\+300"):
        model.fit(np.full((3, 4), 1e300), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        model.fit(np.full((3, 4), np.inf), epochs=1, verbose=0)


def test_the_memory_estimate_counts_the_model_parameters():
    from npae.cli import training_memory

    sizes = [784, 128, 16]
    parameters, needed = training_memory(sizes, 256)
    assert parameters == sum(weight.size for weight in npae.Autoencoder(sizes, seed=0).get_weights())
    assert needed >= 16 * parameters                                 # weights, gradients, two Adam moments


def test_train_refuses_a_model_too_large_for_the_memory_before_building_it(files, tmp_path):
    result = _run_with_memory_limit(["train", str(files / "train.npy"), "-o", str(tmp_path / "m.npz"),
                                     "--hidden", "100000000"])
    assert result.returncode == 1 and result.stdout == ""
    assert "the model 784-100000000-64-100000000-784 has 169,800,000,848 parameters and needs about" \
        in _one_error_line(result.stderr, "train")
    assert "of memory is available" in result.stderr


def test_knn_prints_its_result_once_and_in_order(files):
    """stdout and stderr through one pipe, as a user sees them in a log."""
    result = subprocess.run([sys.executable, "-m", "npae", "knn", str(files / "train.npy"), str(files / "test.npy"),
                             "--train-labels", str(files / "train_labels.npy"),
                             "--test-labels", str(files / "test_labels.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(npae.__file__))))
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].count("accuracy") == 1, lines
    assert "200 test rows against 1,000 training rows" in lines[0]


def test_counts_have_thousands_separators_and_the_right_plural(files, tmp_path, capsys):
    status, out, _ = run(["train", files / "train.npy", "-o", tmp_path / "m.npz", "--epochs", "1", "--latent", "4"],
                         capsys)
    assert status == 0 and "on 1,000 rows" in out and out.splitlines()[0].endswith(", 1 epoch")
    status, out, _ = run(["train", files / "train.npy", "-o", tmp_path / "m.npz", "--epochs", "2", "--latent", "4"],
                         capsys)
    assert out.splitlines()[0].endswith(", 2 epochs")


def test_encode_reconstruct_says_the_scale_and_can_scale_back(files, trained_model, tmp_path, capsys):
    pixels = np.load(files / "test.npy")
    status, out, _ = run(["encode", "-m", trained_model, files / "test.npy", "-o", tmp_path / "r.npy", "--reconstruct"],
                         capsys)
    assert status == 0 and "in [0, 1], the model's scale, not the input's 0..255" in out and "--scale-back" in out
    unit = np.load(tmp_path / "r.npy")
    assert unit.min() >= 0 and unit.max() <= 1
    status, out, _ = run(["encode", "-m", trained_model, files / "test.npy", "-o", tmp_path / "b.npy", "--reconstruct",
                          "--scale-back"], capsys)
    assert status == 0 and "on the input's scale 0..255" in out
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), unit * 255, rtol=1e-6)
    assert np.load(tmp_path / "b.npy").max() > 1 and pixels.max() > 1


# ------------------------------------------------------------------------------------------------
# npae data export

def test_data_export_offline_writes_the_sample_says_so_and_never_overwrites(tmp_path, monkeypatch, capsys):
    _isolate_from_data(monkeypatch, tmp_path)
    out = tmp_path / "exported"
    status, stdout, err = run(["data", "export", "mnist", "--format", "csv", "-o", out, "--offline"], capsys)
    assert status == 0
    assert "NOTICE: using the embedded mnist sample" in err
    (x_train, y_train), (x_test, y_test) = load_mnist(sample=True, normalize=False)
    images = np.loadtxt(out / "mnist-sample-train-images.csv", delimiter=",", skiprows=1, dtype=np.uint8)
    np.testing.assert_array_equal(images, x_train)
    np.testing.assert_array_equal(np.loadtxt(out / "mnist-sample-test-labels.csv", skiprows=1, dtype=np.uint8),
                                  y_test)
    assert "wrote " + str(out / "mnist-sample-train-images.csv") + ": 6,000 x 784" in stdout
    before = (out / "mnist-sample-test-labels.csv").read_bytes()
    (out / "mnist-sample-test-labels.csv").write_text("mine\n")
    status, _, err = run(["data", "export", "mnist", "--format", "csv", "-o", out, "--offline"], capsys)
    assert status == 1 and "already exist" in _one_error_line(err, "data export") and "--force" in err
    assert (out / "mnist-sample-test-labels.csv").read_text() == "mine\n"
    assert run(["data", "export", "mnist", "--format", "csv", "-o", out, "--offline", "--force"], capsys)[0] == 0
    assert (out / "mnist-sample-test-labels.csv").read_bytes() == before
    # The exported files are what the other commands read, column names and all.
    status, stdout, _ = run(["knn", out / "mnist-sample-train-images.csv", out / "mnist-sample-test-images.csv",
                             "--train-labels", out / "mnist-sample-train-labels.csv",
                             "--test-labels", out / "mnist-sample-test-labels.csv", "-k", "3"], capsys)
    assert status == 0 and "1,000 test rows against 6,000 training rows" in stdout


def test_data_export_npy_of_the_sample_and_its_errors(tmp_path, read_only_folder, capsys):
    status, _, err = run(["data", "export", "fashion-mnist", "--sample", "-o", tmp_path], capsys)
    assert status == 0 and "NOTICE" not in err                        # asked for: no notice
    (_, _), (x_test, y_test) = npae.datasets.load_fashion_mnist(sample=True, normalize=False)
    exported = np.load(tmp_path / "fashion-mnist-sample-test-images.npy")
    assert exported.dtype == np.uint8 and exported.shape == (1000, 784)
    np.testing.assert_array_equal(exported, x_test)
    np.testing.assert_array_equal(np.load(tmp_path / "fashion-mnist-sample-test-labels.npy"), y_test)
    (tmp_path / "file").write_text("")
    for folder, problem in [(tmp_path / "file", "is not a folder"),
                            (os.path.join(read_only_folder, "data"), "cannot create the folder")]:
        status, _, err = run(["data", "export", "mnist", "--sample", "-o", folder], capsys)
        assert status == 1 and problem in _one_error_line(err, "data export")
    assert run(["data", "export", "cifar"], capsys)[0] == 2
    # --force with one target a folder: refused before any file is replaced, not after three of four
    (tmp_path / "fashion-mnist-sample-train-labels.npy").unlink()
    (tmp_path / "fashion-mnist-sample-train-labels.npy").mkdir()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npy") if p.is_file()}
    assert len(before) == 3
    status, _, err = run(["data", "export", "fashion-mnist", "--sample", "-o", tmp_path, "--force"], capsys)
    assert status == 1 and "is a folder" in _one_error_line(err, "data export")
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npy") if p.is_file()} == before


@pytest.mark.skipif(not os.environ.get("NPAE_DATA"), reason="NPAE_DATA is not set")
def test_data_export_of_the_full_data(tmp_path, capsys):
    status, out, err = run(["data", "export", "fashion-mnist", "-o", tmp_path], capsys)
    assert status == 0 and "NOTICE" not in err
    assert np.load(tmp_path / "fashion-mnist-train-images.npy").shape == (60000, 784)
    assert "npae train " + str(tmp_path / "fashion-mnist-train-images.npy") in out


# ------------------------------------------------------------------------------------------------
# Option values argparse refuses (status 2), and a reader that goes away

BAD_OPTIONS = [["train", "{data}", "-o", "{dir}/m.npz", "--noise", "nan"],
               ["train", "{data}", "-o", "{dir}/m.npz", "--noise", "-0.5"],
               ["train", "{data}", "-o", "{dir}/m.npz", "--validation-split", "inf"],
               ["train", "{data}", "-o", "{dir}/m.npz", "--seed", "-1"],
               ["anomaly", "-m", "{model}", "{data}", "--contamination", "0.7"],
               ["anomaly", "-m", "{model}", "{data}", "--contamination", "nan"],
               ["anomaly", "-m", "{model}", "{data}", "--threshold", "inf"],
               ["reproduce", "--seed", "x"]]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(argv[-2:]) for argv in BAD_OPTIONS])
def test_bad_option_values_are_usage_errors(argv, files, trained_model, tmp_path, capsys):
    argv = [part.format(dir=tmp_path, model=trained_model, data=files / "test.npy") for part in argv]
    status, _, err = run(argv, capsys)
    assert status == 2 and f"argument {argv[-2]}" in err and "Traceback" not in err


def test_a_closed_pipe_ends_the_command_quietly(files, trained_model):
    """``npae anomaly ... | head -1``: once the reader is gone, no traceback about the broken pipe."""
    (x_train, _), _ = load_mnist(sample=True)
    data = files / "many.npy"
    np.save(data, x_train)                                           # 6,000 lines of output: more than a pipe holds
    process = subprocess.Popen([sys.executable, "-m", "npae", "anomaly", "-m", str(trained_model), str(data),
                                "--top", "6000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(npae.__file__))))
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=300)
    assert "Traceback" not in stderr and "Broken pipe" not in stderr, stderr


# ------------------------------------------------------------------------------------------------
# The newcomer's gaps (issue 25, item 8): anomaly --score, labels given to train, what --help promises

def test_anomaly_score_bce_is_the_reconstructions_binary_cross_entropy(files, trained_model, capsys):
    from npae.anomaly import SCORES, score_samples
    from npae.cli import SCORE_COLUMNS, SCORE_NAMES

    assert tuple(SCORE_NAMES) == tuple(SCORE_COLUMNS) == SCORES
    model = npae.load(trained_model)
    expected = score_samples(model, np.load(files / "test.npy") / np.float32(255), score="bce")
    status, out, _ = run(["anomaly", files / "test.npy", "-m", trained_model, "--score", "bce", "--top", "2",
                          "-o", files / "bce.csv"], capsys)
    assert status == 0 and "reconstruction BCE of 200 rows" in out and "(row index: reconstruction BCE)" in out
    assert (files / "bce.csv").read_text().splitlines()[0] == "reconstruction_bce"
    np.testing.assert_allclose(np.loadtxt(files / "bce.csv", skiprows=1), expected, rtol=1e-6)
    status, _, err = run(["anomaly", files / "test.npy", "-m", trained_model, "--score", "elbo"], capsys)
    assert status == 1 and "needs an npae.VariationalAutoencoder" in _one_error_line(err, "anomaly")


def test_train_refuses_a_labels_file_and_names_the_images_file(tmp_path, capsys):
    (_, labels), _ = load_mnist(sample=True, normalize=False)
    np.savetxt(tmp_path / "mnist-train-labels.csv", labels[:300], fmt="%d", header="label", comments="")
    np.savetxt(tmp_path / "mnist-train-images.csv", np.zeros((3, 784)), fmt="%d")
    status, _, err = run(["train", tmp_path / "mnist-train-labels.csv", "-o", tmp_path / "m.npz"], capsys)
    line = _one_error_line(err, "train")
    assert status == 1 and "holds one value per row (300 rows; class labels?)" in line
    assert "npae train " + str(tmp_path / "mnist-train-images.csv") in line
    assert not (tmp_path / "m.npz").exists()


def test_help_says_what_data_info_exits_with_and_what_reproduce_writes(capsys):
    status, out, _ = run(["data", "info", "--help"], capsys)
    assert status == 0 and "Exit status: 0 when both data sets are found and verified, 1 when" in " ".join(out.split())
    status, out, _ = run(["reproduce", "--help"], capsys)
    assert status == 0 and "DIR/report.html" in out and "open it in a browser" in " ".join(out.split())
    status, out, _ = run(["anomaly", "--help"], capsys)
    assert status == 0 and "--score {re,bce,elbo}" in out


def test_data_export_names_the_file_of_the_readmes_next_command(tmp_path, monkeypatch, capsys):
    """The README: `npae data export mnist --format csv -o data`, then `npae train data/mnist-train-images.csv
    -o model.npz`; offline (the embedded sample) the file is mnist-sample-train-images.csv, and the printed next
    command names it."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "`npae train data/mnist-train-images.csv -o model.npz`" in readme and "mnist-sample-train-images.csv" in readme
    _isolate_from_data(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(["data", "export", "mnist", "--format", "csv", "-o", "data", "--offline"], capsys)
    assert status == 0
    assert "next, for example:  npae train " + os.path.join("data", "mnist-sample-train-images.csv") + " -o model.npz" in out
