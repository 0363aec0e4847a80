"""Experiment 10, beyond the paper: autoencoders that find anomalies in time series, against the baselines.

Part 1, labelled series (``npae.datasets.load_series``: the UCR anomaly archive's series 135 and GutenTAG's
synthetic ECG): each detector learns from the anomaly-free training part and scores every point of the test
part.  The detectors: the three window autoencoders of the tutorials (Dense, Conv1D, LSTM; see
``npae.timeseries.models``), PCA on the same windows, and the matrix-profile discord (distance of each
test subsequence to its nearest training subsequence).  Measures: the UCR archive's rule (is the top-scored
point within an anomaly +- 100 points?), ROC AUC and average precision of the point scores, and F1 of the
flags at each threshold rule (``npae.timeseries.detector``).

Part 2, TensorFlow's one-class protocol on two UCR classification sets (GunPoint, ItalyPowerDemand): train on
the training series of class 1 only (each series is one window), threshold = mean + 1 std of their
reconstruction errors; a test series is called "normal" when its error is below it.  Accuracy, precision and
recall of "normal" (as the tutorial prints them), and the ROC AUC of the error for telling class 2 apart.

Budget: the section must run in about a minute on 2 cores (20 s with ``quick``), so the models train for
few epochs on strided windows (``SETTINGS``), and test series are scored with windows every
``score_stride`` points; every result carries its settings, which the report prints.
"""
import time

import numpy as np

WINDOW = 128
AUTOENCODERS = ("dense", "conv1d", "lstm")
# quick -> settings.  Training windows start every base x factor points: the base per series, the factor per
# model (the LSTM runs 128 sequential steps per window, the Conv1D a dozen products: they get sparser windows).
SETTINGS = {
    False: {"epochs": {"dense": 30, "conv1d": 6, "lstm": 4}, "stride_base": {"ucr-anomaly-135": 1, "gutentag-ecg": 4},
            "stride_factor": {"dense": 1, "conv1d": 2, "lstm": 4}, "score_stride": 4,
            "one_class_epochs": {"dense": 100, "conv1d": 60, "lstm": 15}},
    True: {"epochs": {"dense": 10, "conv1d": 3, "lstm": 1}, "stride_base": {"ucr-anomaly-135": 1, "gutentag-ecg": 8},
           "stride_factor": {"dense": 1, "conv1d": 2, "lstm": 4}, "score_stride": 8,
           "one_class_epochs": {"dense": 30, "conv1d": 20, "lstm": 4}},
}
LEARNING_RATE = 3e-3   # Adam's; Keras' tutorial's 1e-3 needs its 50 epochs (measured: Conv1D, 4 epochs, UCR)
BATCH_SIZE = 32
ONE_CLASS_LSTM_MAX_LENGTH = 64  # GunPoint's 150 steps would take most of the section's time budget
PCA_COMPONENTS = 8
ONE_CLASS_SETS = ("gunpoint", "italy-power-demand")
NORMAL_CLASS = 1
N_STD = 1.0


def _detectors(name, settings, seed):
    """(method, kind, detector) for one series: the autoencoders, then the baselines."""
    from ..timeseries import DiscordDetector, SeriesAnomalyDetector, WindowPCA

    base, score_stride = settings["stride_base"][name], settings["score_stride"]
    for model in AUTOENCODERS:
        factor = settings["stride_factor"][model]
        yield model, "autoencoder", SeriesAnomalyDetector(
            window=WINDOW, model=model, epochs=settings["epochs"][model], batch_size=BATCH_SIZE,
            learning_rate=LEARNING_RATE, train_stride=base * factor, score_stride=score_stride, seed=seed)
    common = dict(window=WINDOW, train_stride=base, score_stride=score_stride)
    yield "pca", "baseline", WindowPCA(n_components=PCA_COMPONENTS, **common)
    yield "discord", "baseline", DiscordDetector(m=WINDOW)


def _reconstructions(detector, series, scores):
    """A normal and an anomalous window of the test part, with the detector's reconstructions."""
    first, last = series.anomalies[0]
    anomalous = int(np.clip((first + last) // 2 - WINDOW // 2, 0, series.test.size - WINDOW))
    candidates = np.arange(0, series.test.size - WINDOW, WINDOW // 2)
    far = [s for s in candidates if all(s + WINDOW < a - WINDOW or s > b + WINDOW for a, b in series.anomalies)]
    normal = int(far[len(far) // 2])
    windows, rebuilt = detector.reconstruct(series.test, starts=[normal, anomalous])
    return {"starts": [normal, anomalous], "windows": windows[:, :, 0], "reconstructions": rebuilt[:, :, 0]}


def _series_part(names, settings, seed, data_dir, progress):
    from ..datasets import load_series
    from ..datasets.errors import DataNotFoundError
    from ..timeseries.evaluation import point_metrics, ucr_hit

    rows, series_results, missing = [], [], []
    for name in names:
        try:
            series = load_series(name, data_dir)
        except DataNotFoundError as error:
            missing.append({"name": name, "reason": str(error).splitlines()[0]})
            continue
        entry = {"name": name, "source": series.source, "test": series.test.astype(np.float32),
                 "anomalies": series.anomalies, "n_train": series.train.size, "scores": {}, "thresholds": {}}
        best = None
        for method, kind, detector in _detectors(name, settings, seed):
            started = time.perf_counter()
            detector.fit(series.train)
            fitted = time.perf_counter()
            scores = detector.decision_function(series.test)
            scored = time.perf_counter()
            hit, top = ucr_hit(scores, series.anomalies)
            metrics = point_metrics(scores, series.labels, detector.thresholds_)
            rows.append({"series": name, "method": method, "kind": kind, "hit": hit, "top": top, **metrics,
                         "fit_seconds": fitted - started, "score_seconds": scored - fitted,
                         "epochs": settings["epochs"].get(method),
                         "train_stride": getattr(detector, "train_stride", None)})
            entry["scores"][method] = scores.astype(np.float32)
            entry["thresholds"][method] = detector.thresholds_["max"]
            if kind == "autoencoder" and (best is None or metrics["average_precision"] > best[0]):
                best = (metrics["average_precision"], method, detector, scores)
            if progress is not None:
                progress.line(f"  {name}, {method}: top point {top} ({'within' if hit else 'outside'} the anomaly "
                              f"+- 100), AP {metrics['average_precision']:.3f}, {scored - started:.1f} s")
        entry["reconstruction_model"] = best[1]
        entry["reconstructions"] = _reconstructions(best[2], series, best[3])
        series_results.append(entry)
    return rows, series_results, missing


def _one_class_scores(method, x_normal, x_test, epochs, seed):
    """Reconstruction errors (mean square per series) of the training series of the normal class and of
    the test series, under a model trained on the former (each series one window (L, 1))."""
    if method == "pca":
        from ..pca import PCA

        pca = PCA(PCA_COMPONENTS).fit(x_normal)
        return pca.reconstruction_error(x_normal), pca.reconstruction_error(x_test)
    from ..timeseries.models import build_model

    model = build_model(method, x_normal.shape[1], 1, seed=seed, learning_rate=LEARNING_RATE)
    model.fit(x_normal[:, :, None].astype(np.float32), epochs=epochs, batch_size=BATCH_SIZE, verbose=0)

    def errors(x):
        rebuilt = model.predict(x[:, :, None].astype(np.float32))[:, :, 0]
        return ((rebuilt - x) ** 2).mean(axis=1)

    return errors(x_normal), errors(x_test)


def _one_class_part(names, settings, seed, data_dir):
    from ..datasets import load_ucr_classification
    from ..datasets.errors import DataNotFoundError
    from ..metrics import roc_auc_score

    rows, missing = [], []
    for name in names:
        try:
            (x_train, y_train), (x_test, y_test) = load_ucr_classification(name, data_dir)
        except DataNotFoundError as error:
            missing.append({"name": name, "reason": str(error).splitlines()[0]})
            continue
        x_normal = x_train[y_train == NORMAL_CLASS]
        normal = y_test == NORMAL_CLASS
        length = x_train.shape[1]
        methods = [m for m in AUTOENCODERS if (m != "conv1d" or length % 4 == 0)
                   and (m != "lstm" or length <= ONE_CLASS_LSTM_MAX_LENGTH)] + ["pca"]
        for method in methods:
            started = time.perf_counter()
            train_errors, test_errors = _one_class_scores(method, x_normal, x_test,
                                                          settings["one_class_epochs"].get(method), seed)
            threshold = float(train_errors.mean() + N_STD * train_errors.std())
            predicted_normal = test_errors < threshold
            true_normal = np.sum(predicted_normal & normal)
            rows.append({"set": name, "method": method, "length": x_train.shape[1], "n_train": len(x_normal),
                         "n_test": len(y_test), "threshold": threshold,
                         "accuracy": float(np.mean(predicted_normal == normal)),
                         "precision": float(true_normal / max(predicted_normal.sum(), 1)),
                         "recall": float(true_normal / max(normal.sum(), 1)),
                         "roc_auc": roc_auc_score((~normal).astype(np.int64), test_errors),
                         "epochs": settings["one_class_epochs"].get(method),
                         "seconds": time.perf_counter() - started})
    return rows, missing


def run(data=None, *, quick=False, seed=0, progress=None, data_dir=None):
    """Both parts; returns a dict.

    Keys: ``quick``, ``epochs`` (per autoencoder), ``settings``, ``window``; ``rows`` (one per series and
    method: series, method, kind, hit, top, roc_auc, average_precision, f1 {rule: F1}, fit_seconds,
    score_seconds, epochs); ``series`` (per series: name, source, test (T,), anomalies, scores {method: (T,)},
    thresholds {method: the "max" rule's}, reconstruction_model, reconstructions {starts, windows,
    reconstructions}); ``one_class`` (one row per set and method: accuracy, precision, recall, roc_auc,
    threshold...); ``missing`` (data sets not found, and why); ``seconds`` (wall clock: series, one_class,
    total; and cpu, the process's CPU time, all threads: less sensitive than the wall clock to a busy machine).
    ``data`` is not used (the series are found like MNIST: ``data_dir``, NPAE_DATA, ...; see
    npae.datasets.timeseries).
    """
    from ..datasets.timeseries import SERIES

    settings = SETTINGS[bool(quick)]
    started, cpu_started = time.perf_counter(), time.process_time()
    rows, series_results, missing = _series_part(list(SERIES), settings, seed, data_dir, progress)
    part_one = time.perf_counter()
    one_class, missing_sets = _one_class_part(ONE_CLASS_SETS, settings, seed, data_dir)
    return {"quick": bool(quick), "epochs": dict(settings["epochs"]), "settings": settings, "window": WINDOW,
            "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE,
            "rows": rows, "series": series_results, "one_class": one_class, "missing": missing + missing_sets,
            "seconds": {"series": part_one - started, "one_class": time.perf_counter() - part_one,
                        "total": time.perf_counter() - started, "cpu": time.process_time() - cpu_started}}
