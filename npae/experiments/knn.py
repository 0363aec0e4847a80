"""Experiment 2 (paper tables 1 and 2): kNN on raw pixels against kNN on latent features.

A k-nearest-neighbours classifier (k = 7, Euclidean distance, uniform votes) is fitted on the 60,000
training images and scored on the 10,000 test images, once on the 784 raw pixels and once on the q
latent features h = g(x) of the paper's FFA 784-q-784 (q = 8; also 16 for Fashion-MNIST).  The point:
a factor of hundreds in running time for a few points of accuracy.  "Running time" is, as in the
paper, fitting plus predicting the test set; encoding the images is timed on its own.

Beyond the paper: the raw pixels a second time, exactly but with lower bounds
(``algorithm="lower_bounds"``, :mod:`npae.knn.lower_bounds`): the raw-pixel accuracy, the same
predictions as brute force, at a fraction of its time, which removes the paper's trade-off; and an
MNIST row with the 8 leading principal components (PCA) instead of the autoencoder's 8 features,
the linear baseline.  ``quick=True`` scores the first 1,000 test images only.

Timings are medians of RUNS runs, with their spread (max - min), as in ``benchmarks/``: a run of
0.1 s on a busy machine can take twice as long, and a speed-up is a ratio of two such times.  The
raw-pixel brute force (5 s a run on the full data) runs once; the others, cheaper, more often.
"""
import time

import numpy as np

from ..knn import KNNClassifier
from ..pca import PCA
from ..progress import format_seconds
from ._common import epochs_for, get_data
from .reconstruction import train_reference_model

NEIGHBOURS = 7
QUICK_TEST_SIZE = 1000
QUERY_CHUNK = 1000          # queries per progress update: small enough for a lively ETA
# Runs per row (median and spread reported): brute force on raw pixels once (5 s), the rest more often.
RUNS = {"raw pixels": 1, "raw pixels, exact, with lower bounds": 3, "latent": 5, "PCA": 5}
QUICK_RUNS = {"raw pixels": 3, "raw pixels, exact, with lower bounds": 3, "latent": 5, "PCA": 5}
BOUNDS = "raw pixels, exact, with lower bounds"

# (data set, features, dimension): accuracy in %, seconds on Colab, accuracy the notebooks printed.
PAPER = {
    ("mnist", "raw pixels", 784): {"accuracy": 96.4, "seconds": 1000.0, "notebook": None},
    ("mnist", "latent", 8): {"accuracy": 89.0, "seconds": 1.1, "notebook": 89.56},
    ("fashion_mnist", "raw pixels", 784): {"accuracy": 85.4, "seconds": 1040.0, "notebook": 85.4},
    ("fashion_mnist", "latent", 8): {"accuracy": 79.9, "seconds": 1.2, "notebook": 79.14},
    ("fashion_mnist", "latent", 16): {"accuracy": 83.6, "seconds": 3.0, "notebook": 83.72},
}
LATENT_SIZES = {"mnist": (8,), "fashion_mnist": (8, 16)}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def timed_knn(train, train_labels, test, test_labels=None, *, k=NEIGHBOURS, algorithm="auto", progress=None,
              label="kNN"):
    """Fit kNN on ``train`` and predict ``test`` in chunks; returns (accuracy, seconds, predictions, algorithm).

    ``seconds`` is fit plus predict, the paper's "running time"; ``accuracy`` is None without
    ``test_labels``; ``algorithm`` is the search the classifier used ("gemm", "lower_bounds",
    "kdtree").  Chunking only serves the progress line: every query is searched on its own, so the
    predictions do not depend on it.
    """
    started = time.perf_counter()
    classifier = KNNClassifier(k=k, algorithm=algorithm).fit(train, train_labels)
    predictions = np.empty(test.shape[0], dtype=classifier.classes_.dtype)
    for start in range(0, test.shape[0], QUERY_CHUNK):
        stop = min(start + QUERY_CHUNK, test.shape[0])
        predictions[start:stop] = classifier.predict(test[start:stop])
        if progress is not None and test.shape[0] > QUERY_CHUNK:
            elapsed = time.perf_counter() - started
            progress.update(f"{label}: {stop:,}/{test.shape[0]:,} queries, {format_seconds(elapsed)}, "
                            f"ETA {format_seconds(elapsed / stop * (test.shape[0] - stop))}",
                            final=stop == test.shape[0])
    seconds = time.perf_counter() - started
    accuracy = None if test_labels is None else float(np.mean(predictions == test_labels))
    if progress is not None:
        progress.finish(f"{label}: " + (f"accuracy {100 * accuracy:.2f} % " if accuracy is not None else "")
                        + f"in {format_seconds(seconds)}")
    return accuracy, seconds, predictions, classifier.algorithm_


def repeated_knn(train, train_labels, test, test_labels, *, runs, algorithm="auto", progress=None, label="kNN"):
    """timed_knn ``runs`` times (the progress line on the first only); a dict with the accuracy, the
    median ``seconds``, every run's ``times``, their ``spread`` (max - min), the ``algorithm`` and
    the ``predictions`` (the same in every run: the search is exact and deterministic)."""
    times, predictions = [], None
    for run_number in range(runs):
        accuracy, seconds, run_predictions, used = timed_knn(
            train, train_labels, test, test_labels, algorithm=algorithm,
            progress=progress if run_number == 0 else None, label=label)
        if predictions is not None and not np.array_equal(predictions, run_predictions):
            raise RuntimeError(f"{label}: two runs predicted differently")  # cannot happen: exact search
        times.append(seconds)
        predictions = run_predictions
    return {"accuracy": accuracy, "seconds": float(np.median(times)), "times": times,
            "spread": float(max(times) - min(times)), "algorithm": used, "predictions": predictions}


def _warm_up(x_train, y_train, latent_size):
    """Pay Numba's compile (or cache load) of every search path before anything is timed; seconds taken."""
    started = time.perf_counter()
    for features, algorithm in ((x_train[:500], "gemm"), (x_train[:3000], "lower_bounds"),
                                (x_train[:500, :latent_size], "auto")):
        KNNClassifier(k=NEIGHBOURS, algorithm=algorithm).fit(features, y_train[:features.shape[0]]).predict(
            features[:5])
    return time.perf_counter() - started


def _timing(result):
    """The fields of a table row from repeated_knn's result (the predictions stay out of the report)."""
    return {key: result[key] for key in ("accuracy", "seconds", "times", "spread", "algorithm")}


def run(data=None, *, quick=False, seed=0, models=None, fashion_models=None, progress=None, test_size=None):
    """Tables 1 and 2, plus a PCA row.

    models : ``{q: Autoencoder}`` trained on MNIST with the paper's set-up (q = 8 is used);
    fashion_models : the same for Fashion-MNIST (q = 8, 16).  Missing ones are trained here.
    test_size : score the first ``test_size`` test images (default all; 1,000 when quick).

    Returns ``rows`` (one per line of the tables: dataset, features ("raw pixels" is brute force;
    BOUNDS the same pixels with lower bounds, with same_as_brute_force: how many of its predictions
    equal brute force's), dimension, accuracy, seconds (median), times (every run), spread (max -
    min), encode_seconds, speedup against the brute-force raw-pixel row of the same data set,
    algorithm, paper {accuracy, seconds, notebook} or None), ``n_train``/``n_test``
    per data set, ``warm_up_seconds``, ``models`` (the Fashion-MNIST ones, to share), ``epochs``,
    ``seconds``.
    """
    models = {"mnist": dict(models or {}), "fashion_mnist": dict(fashion_models or {})}
    if test_size is None and quick:
        test_size = QUICK_TEST_SIZE
    rows, sizes, timings = [], {}, {}
    warm_up_seconds = None
    for name in ("mnist", "fashion_mnist"):
        (x_train, y_train), (x_test, y_test) = get_data(data, name)
        x_test, y_test = x_test[:test_size], y_test[:test_size]
        sizes[name] = {"n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0])}
        if warm_up_seconds is None:
            warm_up_seconds = _warm_up(x_train, y_train, min(LATENT_SIZES[name]))

        started = time.perf_counter()
        for q in LATENT_SIZES[name]:
            if q not in models[name]:
                models[name][q] = train_reference_model(x_train, q, quick=quick, seed=seed, validation_data=x_test,
                                                        progress=progress, label=f"{TITLES[name]} FFA 784-{q}-784")
        timings[f"{name} training"] = time.perf_counter() - started

        started = time.perf_counter()
        title = TITLES[name]
        runs = QUICK_RUNS if quick else RUNS
        raw = repeated_knn(x_train, y_train, x_test, y_test, runs=runs["raw pixels"], algorithm="gemm",
                           progress=progress, label=f"{title} kNN on raw pixels (brute force)")
        rows.append({"dataset": name, "features": "raw pixels", "dimension": int(x_train.shape[1]),
                     "encode_seconds": 0.0, "speedup": 1.0, **_timing(raw)})
        bounds = repeated_knn(x_train, y_train, x_test, y_test, runs=runs[BOUNDS], algorithm="lower_bounds",
                              progress=progress, label=f"{title} kNN on raw pixels (lower bounds)")
        rows.append({"dataset": name, "features": BOUNDS, "dimension": int(x_train.shape[1]),
                     "encode_seconds": 0.0, "speedup": raw["seconds"] / bounds["seconds"],
                     "same_as_brute_force": int(np.sum(bounds["predictions"] == raw["predictions"])), **_timing(bounds)})
        encoders = [("latent", q, models[name][q].encode) for q in LATENT_SIZES[name]]
        if name == "mnist":
            pca = PCA(min(LATENT_SIZES[name])).fit(x_train)
            encoders.append(("PCA", pca.n_components, pca.transform))
        for features, dimension, encode in encoders:
            encode_started = time.perf_counter()
            train_features, test_features = encode(x_train), encode(x_test)
            encode_seconds = time.perf_counter() - encode_started
            latent = repeated_knn(train_features, y_train, test_features, y_test, runs=runs[features])
            rows.append({"dataset": name, "features": features, "dimension": int(dimension),
                         "encode_seconds": encode_seconds, "speedup": raw["seconds"] / latent["seconds"],
                         **_timing(latent)})
        timings[f"{name} kNN"] = time.perf_counter() - started
    for row in rows:
        row["paper"] = PAPER.get((row["dataset"], row["features"], row["dimension"]))
    return {"epochs": epochs_for(quick), "seed": seed, "rows": rows, "sizes": sizes, "test_size": test_size,
            "neighbours": NEIGHBOURS,
            "warm_up_seconds": warm_up_seconds, "models": models["fashion_mnist"], "seconds": timings}
