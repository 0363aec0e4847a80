"""Section 10 of the report: autoencoders that find anomalies in time series (``npae.experiments.timeseries``).

``timeseries(result, figures)`` returns the Markdown (two tables, the text around them) and the check the
issue sets (on the UCR series, an autoencoder's top point within the anomaly +- 100); the figures are each
series with every detector's score curve, threshold and the labelled anomalies shaded, and the
reconstructions of a normal and an anomalous window.
"""
import numpy as np

from .claims import Check
from .markdown import number, percent, seconds, table

UCR_SERIES = "ucr-anomaly-135"
SERIES_TITLES = {"ucr-anomaly-135": "UCR anomaly archive, series 135 (InternalBleeding16)",
                 "gutentag-ecg": "GutenTAG synthetic ECG (3 anomalies)"}
SET_TITLES = {"gunpoint": "GunPoint", "italy-power-demand": "ItalyPowerDemand"}
METHOD_TITLES = {"dense": "Dense AE", "conv1d": "Conv1D AE", "lstm": "LSTM AE", "pca": "PCA",
                 "discord": "matrix-profile discord"}
RULE_TITLES = {"max": "F1, max rule", "std": "F1, mean + 1 std", "contamination": "F1, top 1 %"}
COLORS = {"dense": "tab:blue", "conv1d": "tab:orange", "lstm": "tab:green", "pca": "tab:purple",
          "discord": "tab:gray"}


def series_table(rows):
    """The table of part 1 as printed in the report: one row per series and detector."""
    headers = ["series", "detector", "top point", "UCR rule (+- 100)", "ROC AUC", "average precision",
               *RULE_TITLES.values(), "fit + score"]
    lines = []
    for row in rows:
        lines.append([row["series"], METHOD_TITLES.get(row["method"], row["method"]), row["top"],
                      "**yes**" if row["hit"] else "no", number(row["roc_auc"], 3), number(row["average_precision"], 3),
                      *(number(row["f1"][rule], 3) for rule in RULE_TITLES),
                      seconds(row["fit_seconds"] + row["score_seconds"])])
    return table(headers, lines, align="ll" + "r" * (len(headers) - 2))


def one_class_table(rows):
    headers = ["data set", "model", "series length", "training series (class 1)", "accuracy", "precision (normal)",
               "recall (normal)", "ROC AUC (class 2 vs 1)", "epochs"]
    return table(headers, [[SET_TITLES.get(row["set"], row["set"]), METHOD_TITLES.get(row["method"], row["method"]),
                            row["length"], row["n_train"], percent(row["accuracy"], 1), percent(row["precision"], 1),
                            percent(row["recall"], 1), number(row["roc_auc"], 3), row["epochs"] or "-"]
                           for row in rows], align="ll" + "r" * (len(headers) - 2))


def _score_figure(path, entry, title):
    from .figures import new_figure

    methods = list(entry["scores"])
    test = entry["test"]
    with new_figure(path, 12, 1.6 * (len(methods) + 1)) as figure:
        axes = figure.subplots(len(methods) + 1, 1, sharex=True)
        for axis in axes:
            for first, last in entry["anomalies"]:
                axis.axvspan(first, last, color="tab:red", alpha=0.25, linewidth=0)
        axes[0].plot(test, color="black", linewidth=0.6)
        axes[0].set_ylabel("value")
        axes[0].set_title(title)
        for axis, method in zip(axes[1:], methods):
            scores = entry["scores"][method]
            axis.plot(scores, color=COLORS.get(method, "tab:blue"), linewidth=0.7)
            axis.axhline(entry["thresholds"][method], color="black", linestyle="--", linewidth=0.8)
            top = int(np.argmax(scores))
            axis.plot([top], [scores[top]], "v", color="tab:red", markersize=7)
            axis.set_ylabel(METHOD_TITLES.get(method, method), fontsize=8)
            if scores.max() > 20 * max(np.median(scores), 1e-12):
                axis.set_yscale("log")
        axes[-1].set_xlabel("point of the test series (shaded: labelled anomaly; dashed: max-rule threshold; "
                            "triangle: top-scored point)")


def _reconstruction_figure(path, series_entries):
    from .figures import new_figure

    with new_figure(path, 11, 2.6 * len(series_entries)) as figure:
        axes = np.atleast_2d(figure.subplots(len(series_entries), 2, squeeze=False))
        for row, entry in zip(axes, series_entries):
            parts = entry["reconstructions"]
            for axis, start, window, rebuilt, kind in zip(row, parts["starts"], parts["windows"],
                                                          parts["reconstructions"], ("normal", "anomalous")):
                points = np.arange(start, start + window.size)
                for first, last in entry["anomalies"]:
                    if first <= points[-1] and last >= points[0]:
                        axis.axvspan(max(first, points[0]), min(last, points[-1]), color="tab:red", alpha=0.25,
                                     linewidth=0)
                axis.plot(points, window, color="black", linewidth=1, label="series")
                axis.plot(points, rebuilt, color=COLORS.get(entry["reconstruction_model"]), linewidth=1,
                          label=f"{METHOD_TITLES[entry['reconstruction_model']]} reconstruction")
                axis.set_title(f"{entry['name']}: a {kind} window (points {start}..{points[-1]})", fontsize=9)
                axis.legend(fontsize=7, loc="upper right")


def _check(rows):
    ucr = [row for row in rows if row["series"] == UCR_SERIES and row["kind"] == "autoencoder"]
    if not ucr:
        return Check("An autoencoder's top point lies within the UCR anomaly +- 100 points", "the UCR archive's rule",
                     "the UCR series was not found", None)
    ours = "; ".join(f"{METHOD_TITLES[row['method']]}: point {row['top']} ({'within' if row['hit'] else 'outside'})"
                     for row in ucr)
    return Check("An autoencoder's top point lies within the UCR anomaly +- 100 points",
                 "the UCR archive's rule (anomaly 4187..4198)", ours, any(row["hit"] for row in ucr))


def timeseries(result, figures):
    from .sections import Section, _image

    settings = result["settings"]
    epochs = ", ".join(f"{METHOD_TITLES[m]} {e}" for m, e in result["epochs"].items())
    text = ["## 10. Beyond the paper: anomalies in time series", "",
            "The application of autoencoders most used outside images: learn what a normal signal looks like, then "
            "flag what the model cannot rebuild.  Each detector learns from the anomaly-free training part of a "
            "labelled series and gives every point of the test part a score (`npae.timeseries`): the three "
            "window autoencoders of the tutorials (TensorFlow's Dense ECG model, Keras' Conv1D / Conv1DTranspose "
            "model, the Keras blog's LSTM sequence autoencoder; `npae.timeseries.models`), judged against PCA on the "
            "same windows and the matrix-profile discord (each test subsequence's distance to its nearest "
            "training subsequence), the strong baseline of the UCR anomaly archive.",
            "",
            f"Set-up: windows of {result['window']} points, z-scored with the training part's mean and standard "
            "deviation; a point's score is its squared reconstruction error divided by the mean training error at "
            "the same position of a window, averaged over the windows that cover it.  To keep this section near a "
            f"minute on 2 cores ({'QUICK run: ' if result['quick'] else ''}epochs: {epochs}; Adam, learning rate "
            f"{result['learning_rate']:g}, batch {result['batch_size']}), the models train on windows starting every "
            + ", ".join(f"{base} x ({', '.join(f'{m} {f}' for m, f in settings['stride_factor'].items())}) points "
                        f"on {name}" for name, base in settings["stride_base"].items())
            + f", and the test part is scored with windows every {settings['score_stride']} points.  These are far "
            "fewer epochs than the tutorials' 50: the LSTM in particular is undertrained here (its 128 sequential "
            "steps per window make it the slowest model by far; see `benchmarks/bench_timeseries.py`).",
            "",
            "Measures: the UCR archive's rule (right when the single top-scored point lies within a labelled anomaly "
            "widened by 100 points each side), ROC AUC and average precision of the point scores against the point "
            "labels, and F1 of the flagged points at each threshold rule, set on the training part's scores: the "
            "largest (Keras' tutorial), mean + 1 standard deviation (TensorFlow's), and the top 1 % (PyOD's "
            "contamination).", ""]
    for missing in result["missing"]:
        text += [f"**{missing['name']} not found**, left out: {missing['reason']}", ""]
    text += [series_table(result["rows"]), ""]
    for entry in result["series"]:
        path, link = figures.path(f"timeseries-{entry['name']}")
        _score_figure(path, entry, f"{SERIES_TITLES.get(entry['name'], entry['name'])}: test part and each "
                                   "detector's score")
        text += [f"{SERIES_TITLES.get(entry['name'], entry['name'])} (data: {entry['source']}; "
                 f"{entry['n_train']:,} training points):", "", _image(link, f"scores on {entry['name']}"), ""]
    if result["series"]:
        path, link = figures.path("timeseries-reconstructions")
        _reconstruction_figure(path, result["series"])
        text += ["Reconstructions by the autoencoder with the best average precision on each series: a normal window "
                 "is rebuilt closely; in the anomalous one the model draws the normal shape it learnt, and the "
                 "difference is the score.", "", _image(link, "reconstructions"), ""]
    if result["one_class"]:
        text += ["**TensorFlow's one-class protocol** (\"Intro to Autoencoders\", ECG part) on two UCR "
                 "classification sets: train on the training series of class 1 only (each series one window), "
                 "threshold = mean + 1 standard deviation of their reconstruction errors; a test series is "
                 "\"normal\" when its error is below it.  Accuracy, precision and recall of \"normal\", as the "
                 "tutorial "
                 "prints them, and the ROC AUC of the error for telling class 2 from class 1.  Conv1D needs a length "
                 "divisible by 4 (not GunPoint's 150); the LSTM runs on ItalyPowerDemand's 24 steps only.", "",
                 one_class_table(result["one_class"]), ""]
    timing = result["seconds"]
    text.append(f"Run time: {seconds(timing['total'])} ({seconds(timing['series'])} for the labelled series, "
                f"{seconds(timing['one_class'])} for the one-class part)"
                + (f"; CPU time of the process, all its threads: {seconds(timing['cpu'])} (on a busy machine the "
                   "wall clock can be several times longer)." if "cpu" in timing else "."))
    return Section("\n".join(text), [_check(result["rows"])])
