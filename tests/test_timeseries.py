"""npae.timeseries (windows, point scores, the discord, the detectors, the UCR rule), the series loader and the
embedded sample, experiment 10 and its report section.  Small synthetic series where possible: seconds."""
import lzma
import os

import numpy as np
import pytest

import npae
from npae.datasets import load_series, load_ucr_classification
from npae.datasets.errors import CorruptFileError, DataNotFoundError
from npae.datasets.timeseries import CHECKSUMS, TIMESERIES_SAMPLE_DIR
from npae.timeseries import (DiscordDetector, SeriesAnomalyDetector, WindowPCA, matrix_profile, points_from_windows,
                             sliding_windows, ucr_hit)
from npae.timeseries.discord import matrix_profile_numba, matrix_profile_numpy
from npae.timeseries.evaluation import f1_score, point_metrics
from npae.timeseries.windows import centered_points, window_starts

DATA = os.environ.get("NPAE_DATA")
needs_data = pytest.mark.skipif(not DATA or not os.path.isdir(os.path.join(DATA or "", "timeseries")),
                                reason="NPAE_DATA has no timeseries/ folder")


def _sine_with_bump(length=1200, anomaly=(700, 719), seed=0):
    """A noisy sine (period 50) whose points in ``anomaly`` carry a square bump."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    series = np.sin(2 * np.pi * t / 50) + 0.05 * rng.standard_normal(length)
    labels = np.zeros(length, np.uint8)
    if anomaly:
        series[anomaly[0]:anomaly[1] + 1] += 1.5
        labels[anomaly[0]:anomaly[1] + 1] = 1
    return series, labels


# ------------------------------------------------------------------------------------------- windows
def test_windows_cover_every_point_and_come_back():
    series = np.arange(10.0)
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]         # the last window ends at T - 1
    windows = sliding_windows(series, 4, 3)
    assert windows.shape == (3, 4, 1)
    np.testing.assert_array_equal(windows[1, :, 0], [3, 4, 5, 6])
    two_channels = sliding_windows(np.stack([series, -series], axis=1), 4)
    assert two_channels.shape == (7, 4, 2) and two_channels[2, 0, 1] == -2
    # each window's value j is its point's own value: every reduction returns the series itself
    values = sliding_windows(series, 4, 2)[:, :, 0]
    for reduce in ("mean", "max", "min"):
        np.testing.assert_allclose(points_from_windows(values, 10, 2, reduce), series)


def test_point_reductions_by_hand():
    # T = 5, w = 3, stride 1: windows [0..2], [1..3], [2..4]; point 2 is covered by all three
    values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    np.testing.assert_allclose(points_from_windows(values, 5), [1, 3, 5, 7, 9])         # mean of (3, 5, 7) = 5
    np.testing.assert_allclose(points_from_windows(values, 5, reduce="max"), [1, 4, 7, 8, 9])
    np.testing.assert_allclose(points_from_windows(values, 5, reduce="min"), [1, 2, 3, 6, 9])
    np.testing.assert_allclose(centered_points(np.array([10.0, 20.0, 30.0]), 5, 3), [10, 10, 20, 30, 30])


@pytest.mark.parametrize("bad, message", [(np.zeros((3, 2, 2)), "shape"), (np.array([1.0, np.nan]), "finite"),
                                          (np.array(["a"]), "real numbers"), (np.zeros(0), "shape")])
def test_bad_series_are_value_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        sliding_windows(bad, 1)


def test_window_longer_than_series_and_bad_reduce():
    with pytest.raises(ValueError, match="longer than the series"):
        sliding_windows(np.zeros(5), 6)
    with pytest.raises(ValueError, match="reduce"):
        points_from_windows(np.zeros((2, 4)), 5, reduce="median")
    with pytest.raises(ValueError, match="windows"):
        points_from_windows(np.zeros((3, 4)), 5)


# ------------------------------------------------------------------------------------------- discord
@pytest.mark.parametrize("length, m", [(300, 20), (257, 7)])
def test_matrix_profile_kernel_equals_reference_and_brute_force(length, m):
    rng = np.random.default_rng(length)
    x = np.cumsum(rng.standard_normal(length))
    reference_series = np.cumsum(rng.standard_normal(length // 2))
    for other, exclusion in ((x, m), (reference_series, 0)):
        expected = matrix_profile_numpy(x, m, other, exclusion)
        np.testing.assert_allclose(matrix_profile_numba(x, m, other, exclusion), expected, rtol=0,
                                   atol=1e-8 * expected.max())
    # brute force, straight from the definition: z-normalise, Euclidean distance, non-overlapping neighbours
    windows = np.lib.stride_tricks.sliding_window_view(x, m)
    z = (windows - windows.mean(axis=1, keepdims=True)) / windows.std(axis=1, keepdims=True)
    distances = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
    index = np.arange(len(z))
    distances[np.abs(index[:, None] - index[None, :]) < m] = np.inf
    np.testing.assert_allclose(matrix_profile(x, m), distances.min(axis=1), rtol=1e-7)


def test_matrix_profile_constant_subsequences_and_jit_switch():
    x = np.r_[np.zeros(40), np.sin(np.arange(60) / 3.0)]
    with npae._backend.jit(False):
        reference = matrix_profile(x, 10)
    np.testing.assert_allclose(matrix_profile(x, 10), reference, atol=1e-9)
    assert reference[0] == 0.0                     # a flat window next to (non-overlapping) flat windows
    with pytest.raises(ValueError, match="m must be"):
        matrix_profile(x, 2)
    with pytest.raises(ValueError, match="univariate"):
        matrix_profile(np.zeros((50, 2)), 5)


def test_discord_finds_the_bump():
    series, labels = _sine_with_bump()
    detector = DiscordDetector(m=50).fit(series[:500])
    hit, top = ucr_hit(detector.decision_function(series), [(700, 719)])
    assert hit and 650 <= top <= 770


# ------------------------------------------------------------------------------------------- detectors
def test_ucr_rule_and_f1_by_hand():
    scores = np.zeros(1000)
    scores[450] = 1.0
    assert ucr_hit(scores, [(551, 560)]) == (False, 450)
    assert ucr_hit(scores, [(550, 560)]) == (True, 450)               # 550 - 100 = 450: inside, inclusive
    assert f1_score([0, 1, 1, 0], [0, 1, 0, 1]) == pytest.approx(0.5)  # TP 1, FP 1, FN 1
    assert f1_score([0, 0], [0, 0]) == 0.0
    metrics = point_metrics(np.arange(4.0), [0, 0, 1, 1], {"max": 2.5})
    assert metrics["roc_auc"] == 1.0 and metrics["f1"]["max"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("model", ["dense", "conv1d", "lstm"])
def test_each_autoencoder_detector_puts_its_top_score_on_the_bump(model):
    series, labels = _sine_with_bump()
    epochs = {"dense": 40, "conv1d": 15, "lstm": 6}[model]
    detector = SeriesAnomalyDetector(window=48, model=model, epochs=epochs, batch_size=16, learning_rate=3e-3,
                                     train_stride={"dense": 1, "conv1d": 2, "lstm": 4}[model], score_stride=2, seed=0)
    detector.fit(series[:600])
    scores = detector.decision_function(series)
    assert scores.shape == (1200,) and scores.dtype == np.float64
    hit, top = ucr_hit(scores, [(700, 719)], margin=48)
    assert hit, (model, top)
    flags = detector.predict(series)
    assert set(np.unique(flags)) <= {0, 1} and flags[700:720].any()
    assert detector.decision_scores_.shape == (600,) and detector.labels_.shape == (600,)


def test_threshold_rules_and_pyod_attributes():
    series, _ = _sine_with_bump(anomaly=None)
    detectors = [WindowPCA(window=50, n_components=4, threshold=rule, contamination=0.05).fit(series)
                 for rule in ("max", "std", "contamination")]
    scores = detectors[0].decision_scores_
    assert detectors[0].threshold_ == scores.max()
    assert detectors[1].threshold_ == pytest.approx(scores.mean() + scores.std())
    assert detectors[2].threshold_ == pytest.approx(np.quantile(scores, 0.95))
    assert detectors[2].labels_.mean() == pytest.approx(0.05, abs=0.002)
    assert detectors[0].labels_.sum() == 0                             # nothing above its own maximum
    assert detectors[0].thresholds_ == detectors[1].thresholds_ == detectors[2].thresholds_


def test_estimator_contract_and_clear_errors():
    detector = SeriesAnomalyDetector(window=32, model="dense", epochs=1)
    assert detector.get_params()["window"] == 32 and detector._estimator_type == "outlier_detector"
    assert "SeriesAnomalyDetector(" in repr(detector.set_params(epochs=2)) and detector.epochs == 2
    with pytest.raises(npae._estimator.NotFittedError):
        detector.decision_function(np.zeros(100))
    with pytest.raises(ValueError, match="multiple of 4"):
        SeriesAnomalyDetector(window=30, model="conv1d").fit(np.random.default_rng(0).standard_normal(200))
    with pytest.raises(ValueError, match="model must be"):
        SeriesAnomalyDetector(window=32, model="gru").fit(np.zeros(200))
    with pytest.raises(ValueError, match="threshold must be"):
        SeriesAnomalyDetector(window=32, threshold="p99").fit(np.zeros(200))
    with pytest.raises(ValueError, match="contamination"):
        WindowPCA(window=32, contamination=0.7).fit(np.zeros(200))
    fitted = WindowPCA(window=16, n_components=2).fit(np.random.default_rng(0).standard_normal((100, 2)))
    with pytest.raises(ValueError, match="channel"):
        fitted.decision_function(np.zeros(100))


def test_a_model_of_your_own_and_reconstructions_in_series_units():
    series, _ = _sine_with_bump(length=400, anomaly=None)
    model = npae.Sequential([npae.Flatten(), npae.Dense(20, 4, activation="tanh", rng=0), npae.Dense(4, 20, rng=1),
                             npae.Reshape((20, 1))], input_shape=(20, 1), seed=0)
    detector = SeriesAnomalyDetector(window=20, model=model, epochs=2, batch_size=32).fit(10 + 3 * series)
    assert detector.model_ is model
    windows, rebuilt = detector.reconstruct(10 + 3 * series, starts=[0, 100])
    np.testing.assert_allclose(windows[1, :, 0], 10 + 3 * series[100:120])
    assert rebuilt.shape == (2, 20, 1) and abs(rebuilt.mean() - 10) < 3


# ------------------------------------------------------------------------------------------- data
def test_embedded_sample_is_the_ucr_series():
    series = load_series("ucr-anomaly-135", sample=True)
    assert series.source == "embedded sample"
    assert series.train.shape == (1200,) and series.test.shape == (7501,)
    assert series.anomalies == [(4187, 4198)]
    np.testing.assert_array_equal(series.test[:1200], series.train)
    sample_bytes = sum(path.stat().st_size for path in TIMESERIES_SAMPLE_DIR.parent.rglob("*")
                       if path.is_file() and "__pycache__" not in path.parts)
    assert sample_bytes < 2_000_000


@needs_data
def test_full_copies_load_verified_and_equal_the_sample():
    full = load_series("ucr-anomaly-135")
    sample = load_series("ucr-anomaly-135", sample=True)
    np.testing.assert_array_equal(full.test, sample.test)
    ecg = load_series("gutentag-ecg")
    assert ecg.anomalies == [(1560, 1659), (6600, 6699), (6940, 7039)] and ecg.train.shape == (10000,)
    (x_train, y_train), (x_test, y_test) = load_ucr_classification("gunpoint")
    assert x_train.shape == (50, 150) and x_test.shape == (150, 150) and set(y_train) == {1, 2}
    (x_train, _), (x_test, _) = load_ucr_classification("italy-power-demand")
    assert x_train.shape == (67, 24) and x_test.shape == (1029, 24)


def test_missing_and_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.delenv("NPAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError, match="gutentag-ecg"):
        load_series("gutentag-ecg", tmp_path)
    with pytest.raises(ValueError, match="name must be"):
        load_series("nab", tmp_path)
    assert load_series("ucr-anomaly-135", tmp_path).source == "embedded sample"     # the fallback
    with pytest.raises(DataNotFoundError):
        load_series("ucr-anomaly-135", tmp_path, sample=False)
    folder = tmp_path / "timeseries" / "ucr-anomaly-135"
    folder.mkdir(parents=True)
    for part in ("train", "test"):
        text = lzma.decompress((TIMESERIES_SAMPLE_DIR / f"ucr-anomaly-135-{part}.csv.xz").read_bytes())
        (folder / f"{part}.csv").write_bytes(text)
    assert load_series("ucr-anomaly-135", tmp_path).source.startswith("data_dir")
    (folder / "test.csv").write_bytes(text.replace(b"63.73215", b"63.73216"))  # one digit changed
    with pytest.raises(CorruptFileError, match="SHA-256"):
        load_series("ucr-anomaly-135", tmp_path)
    with open(folder / "test.csv", "r+b") as stream:          # 5 GB, sparse: refused from its size, unread
        stream.truncate(5 << 30)
    with pytest.raises(CorruptFileError, match="far more than"):
        load_series("ucr-anomaly-135", tmp_path)
    assert len(CHECKSUMS) == 9


# ------------------------------------------------------------------------------------------- section
def _fake_result():
    rng = np.random.default_rng(0)
    scores = {method: rng.random(600).astype(np.float32) for method in ("dense", "conv1d", "lstm", "pca", "discord")}
    scores["conv1d"][305] = 5.0
    rows = [{"series": "ucr-anomaly-135", "method": m, "kind": "baseline" if m in ("pca", "discord") else "autoencoder",
             "hit": m == "conv1d", "top": int(np.argmax(s)), "roc_auc": 0.9, "average_precision": 0.5,
             "f1": {"max": 0.5, "std": 0.1, "contamination": 0.2}, "fit_seconds": 1.0, "score_seconds": 0.5,
             "epochs": 3} for m, s in scores.items()]
    window = np.sin(np.arange(128) / 5.0)
    entry = {"name": "ucr-anomaly-135", "source": "embedded sample", "test": rng.random(600).astype(np.float32),
             "anomalies": [(300, 310)], "n_train": 200, "scores": scores, "thresholds": {m: 0.9 for m in scores},
             "reconstruction_model": "conv1d",
             "reconstructions": {"starts": [0, 250], "windows": np.stack([window, window]),
                                 "reconstructions": np.stack([window, 0 * window])}}
    one_class = [{"set": "gunpoint", "method": "dense", "length": 150, "n_train": 24, "n_test": 150, "threshold": 0.2,
                  "accuracy": 0.8, "precision": 0.75, "recall": 0.9, "roc_auc": 0.88, "epochs": 30, "seconds": 0.1}]
    return {"quick": True, "epochs": {"dense": 10, "conv1d": 3, "lstm": 1}, "window": 128, "learning_rate": 3e-3,
            "batch_size": 32, "settings": {"stride_base": {"ucr-anomaly-135": 1}, "score_stride": 8,
                                           "stride_factor": {"dense": 1, "conv1d": 2, "lstm": 4}},
            "rows": rows, "series": [entry], "one_class": one_class,
            "missing": [{"name": "gutentag-ecg", "reason": "not found"}],
            "seconds": {"series": 3.0, "one_class": 0.5, "total": 3.5}}


def test_report_section_tables_figures_and_check(tmp_path):
    from npae.report import sections

    section = sections.timeseries(_fake_result(), sections.FigureFolder(str(tmp_path)))
    markdown = section.markdown
    assert markdown.startswith("## 10. Beyond the paper: anomalies in time series")
    assert "| ucr-anomaly-135 | Conv1D AE | 305 | **yes** |" in markdown
    assert "| GunPoint | Dense AE | 150 | 24 | 80.0 % |" in markdown
    assert "gutentag-ecg not found" in markdown and "QUICK run" in markdown
    for name in ("timeseries-ucr-anomaly-135", "timeseries-reconstructions"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 10_000
    [check] = section.checks
    assert check.holds is True and "Conv1D AE: point 305 (within)" in check.ours


def test_experiment_is_registered_and_runs_on_a_small_series(monkeypatch):
    from npae.experiments import EXPERIMENTS, load
    from npae.experiments import timeseries as experiment

    assert EXPERIMENTS["timeseries"].number == 10 and load("timeseries") is experiment
    tiny = {"epochs": {"dense": 2, "conv1d": 1, "lstm": 1}, "stride_base": {"ucr-anomaly-135": 16},
            "stride_factor": {"dense": 1, "conv1d": 1, "lstm": 2}, "score_stride": 32,
            "one_class_epochs": {"dense": 1, "conv1d": 1, "lstm": 1}}
    monkeypatch.setattr(experiment, "SETTINGS", {True: tiny, False: tiny})
    rows, series, missing = experiment._series_part(["ucr-anomaly-135"], tiny, 0, None, None)
    assert [row["method"] for row in rows] == ["dense", "conv1d", "lstm", "pca", "discord"]
    assert series[0]["scores"]["discord"].shape == (7501,) and not missing
    assert any(row["hit"] for row in rows if row["kind"] == "baseline")   # the discord finds it, untrained
