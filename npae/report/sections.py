"""One function per experiment: its result dict in, a Markdown section and its figures out.

Each ``<name>(result, figures)`` returns a :class:`Section`: the Markdown text and the paper's claims
checked against this run (:class:`Check`, with the verdict logic in ``claims``), which the report
gathers into its summary table.  ``figures`` is a :class:`FigureFolder`.  The result dicts are those
documented in each experiment's ``run`` (``npae.experiments``).  The Markdown uses only what
``npae.report.html`` renders: headings, paragraphs, tables, images, lists, code spans, emphasis, links,
notices and code blocks.
"""
import math
import os
from typing import NamedTuple

import numpy as np

from ..experiments.convolutional import QUIET_SECONDS_PER_STEP
from ..experiments.knn import BOUNDS as KNN_BOUNDS
from ..experiments.pytorch_reference import MEASURED as PYTORCH_CURVES, SETUP as PYTORCH_SETUP
from ..progress import counted, format_seconds
from . import claims, figures as plots
from .claims import Check
from .markdown import number, percent, ratio, seconds, signed_percent, table

__all__ = ["Check", "Section", "FigureFolder", "reconstruction", "knn", "dimensionality", "anomaly", "denoising",
           "pca", "compression", "training_curves"]


class Section(NamedTuple):
    markdown: str
    checks: list


class FigureFolder:
    """Where the PNG files go (``<out>/figures/``) and how the report links to them."""

    def __init__(self, out_dir):
        self.directory = os.path.join(out_dir, "figures")
        os.makedirs(self.directory, exist_ok=True)
        self.written = []

    def path(self, name):
        """(file path to write, Markdown link target) for figure ``name`` (without extension)."""
        path = os.path.join(self.directory, f"{name}.png")
        self.written.append(path)
        return path, f"figures/{name}.png"


def _image(link, alt):
    return f"![{alt}]({link})"


def _epochs_text(result):
    return counted(result["epochs"], "epoch")


# ------------------------------------------------------------------------------------------------
# 1. Reconstructions

def reconstruction(result, figures):
    rows = result["rows"]
    compared = any(row["pytorch"] for row in rows)
    headers = ["model", "epochs", "test BCE", "test MSE", "read as another digit", "training"]
    if compared:
        headers[3:3], headers[5:5] = ["PyTorch BCE"], ["PyTorch MSE"]
    table_rows = []
    for row in rows:
        cells = [f"784-{row['latent_size']}-784, {row['loss'].upper()}", row["epochs"], f"{row['test_bce']:.4f}",
                 f"{row['test_mse']:.5f}", percent(row["misread"], 1), seconds(row["seconds"])]
        if compared:
            pytorch = row["pytorch"]
            cells[3:3] = [f"{pytorch['bce']:.4f}" if pytorch else "n/a"]
            cells[5:5] = [f"{pytorch['mse']:.5f}" if pytorch else "n/a"]
        table_rows.append(cells)
    path, link = figures.path("reconstructions")
    image_rows = [("original", result["images"])] + list(result["reconstructions"].items())
    plots.image_rows(path, image_rows, "Ten test digits and their reconstructions: better with larger q",
                     column_titles=[str(label) for label in result["image_labels"]])

    if compared:
        reference = (f"The paper shows the images only; the PyTorch columns are {PYTORCH_SETUP}, after as many "
                     "epochs as npae's models (`python -m npae.experiments.pytorch_reference` measures them again; "
                     "*n/a*: not measured).")
    else:
        reference = (f"The paper shows the images only.  PyTorch's reference numbers, measured on the full 60,000 "
                     f"training images, are left out: this run's models learned from {result['n_train']:,} images, "
                     "so the two would not be comparable.")
    text = [
        "## 1. Reconstructions (paper figures 4-8)",
        "",
        f"The paper's FFA 784-q-784 (Dense(q, ReLU), Dense(784, sigmoid)), Adam, batch size 256, "
        f"{_epochs_text(result)} on {result['n_train']:,} MNIST training images; BCE and MSE per pixel (pixels in "
        f"[0, 1]) on the {result['n_test']:,} test images.  A perfect reconstruction would have BCE "
        f"{result['bce_floor']:.4f}, not 0 (see *Training curves*).  {reference}",
        "",
        table(headers, table_rows),
        "",
        f"*Read as another digit*: a kNN classifier (k = 7) on the raw training pixels labels the "
        f"reconstructions of the first {result['n_checked']:,} test images; the share whose label is not "
        f"the true digit.  The originals themselves: {percent(result['misread_originals'], 1)} (the kNN's own "
        "error, the floor of this measure).  The paper: with q = 8 some digits come back as another digit.",
        "",
        _image(link, "test digits and their reconstructions"),
        "",
    ]
    text += _error_maps(result["extremes"], figures) + [""] + _codes(result["codes"], result, figures)

    bce = [row for row in rows if row["loss"] == "bce"]
    mse_row = next(row for row in rows if row["loss"] == "mse")
    bce_same_q = next(row for row in bce if row["latent_size"] == mse_row["latent_size"])
    checks = [
        claims.reconstructions_improve({row["latent_size"]: row["test_mse"] for row in bce}),
        claims.some_digits_misread(bce[0]["misread"], result["misread_originals"], result["n_checked"],
                                   bce[0]["latent_size"]),
        claims.both_losses_train(mse_row["test_mse"], bce_same_q["test_mse"], result["mean_image_mse"],
                                 mse_row["latent_size"]),
    ]
    return Section("\n".join(text), checks)


def _error_maps(extremes, figures):
    path, link = figures.path("reconstruction-errors")
    count, latent_size = extremes["count"], extremes["latent_size"]
    plots.error_maps(path, extremes, f"Where the q = {latent_size} FFA fails: its {count} best and {count} worst "
                                     "test reconstructions")
    return [
        f"**Where it fails.**  The {count} best and the {count} worst reconstructions of the q = {latent_size} "
        f"model, by reconstruction error (RE, MSE per pixel; the median test digit has "
        f"{extremes['median_error']:.4f}), with the per-pixel squared error (x - x~)^2 below each: bright pixels "
        "are the ones the decoder got wrong, one colour scale for all ten.",
        "",
        _image(link, "best and worst reconstructions with their per-pixel squared error"),
    ]


def _codes(codes, result, figures):
    path, link = figures.path("codes-2d")
    panels = codes["panels"]
    plots.code_scatter(path, panels, codes["labels"],
                       f"The {len(codes['labels']):,} test digits mapped to 2 numbers, coloured by digit")
    best = max(panels, key=lambda panel: panel["knn_accuracy"])
    return [
        f"**Two numbers per digit.**  With q = 2 the code of a digit is a point in the plane, so the map the "
        f"encoder learned can be drawn.  Three maps of the test digits: PCA's first two components, the paper's FFA "
        f"with q = 2, and a deeper 784-64-2-64-784 (both trained for {_epochs_text(result)}, with a linear code: "
        "with ReLU at the bottleneck, every negative code becomes 0 and many digits collapse onto the two axes).  "
        "A kNN (k = 7) fitted on the training digits' codes measures how well each map keeps the digits apart:",
        "",
        table(["map to R^2", "kNN accuracy on the 2 codes", "test MSE"],
              [[panel["name"], percent(panel["knn_accuracy"], 1), f"{panel['test_mse']:.4f}"] for panel in panels]),
        "",
        f"In this run the map that keeps the digits apart best: {best['name']} "
        f"({percent(best['knn_accuracy'], 1)}).  The codes of a one-layer encoder with a linear code "
        "are a linear projection of the images onto a plane, as PCA's are (only its decoder is non-linear); "
        "the hidden layer of the deeper encoder lets it bend the map.",
        "",
        _image(link, "2-D codes of the test digits coloured by digit"),
    ]


# ------------------------------------------------------------------------------------------------
# 2. kNN

DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
ALGORITHMS = {"gemm": "brute force (matrix product)", "lower_bounds": "lower bounds, then exact distances",
              "kdtree": "KD-tree", "direct": "scan"}


def _knn_label(row):
    return f"{DATASET_TITLES[row['dataset']]}, {row['features']}, R^{row['dimension']}"


def _knn_time(row):
    """The median time with its spread and number of runs: "0.081 s (±0.004 s, 5 runs)"."""
    runs = len(row.get("times", [row["seconds"]]))
    if runs == 1:
        return f"{seconds(row['seconds'])} (1 run)"
    return f"{seconds(row['seconds'])} (spread {seconds(row['spread'])}, {runs} runs)"


def _knn_table_row(row, raw_row):
    """One line of tables 1 and 2: ours beside the paper's (``raw_row``: the brute-force raw-pixel row of that data set)."""
    paper, raw_paper = row["paper"] or {}, raw_row["paper"] or {}
    is_raw = row is raw_row
    paper_speedup = raw_paper["seconds"] / paper["seconds"] if paper and raw_paper and not is_raw else None
    if not paper:
        paper_seconds = ""
    elif paper["seconds"] >= 100:
        paper_seconds = f"about {paper['seconds']:.0f} s"
    else:
        paper_seconds = f"{paper['seconds']} s"
    return [_knn_label(row), percent(row["accuracy"]), f"{paper['accuracy']} %" if paper else "beyond the paper",
            f"{paper['notebook']} %" if paper.get("notebook") else "", _knn_time(row), paper_seconds,
            "1x" if is_raw else ratio(row["speedup"]), ratio(paper_speedup) if paper_speedup else "",
            "" if row["features"] in ("raw pixels", KNN_BOUNDS) else seconds(row["encode_seconds"]),
            ALGORITHMS.get(row["algorithm"], row["algorithm"])]


def knn(result, figures):
    rows = result["rows"]
    raw = {row["dataset"]: row for row in rows if row["features"] == "raw pixels"}
    table_rows = [_knn_table_row(row, raw[row["dataset"]]) for row in rows]
    path, link = figures.path("knn")
    plots.knn_figure(path, [dict(row, label=_knn_label(row), accuracy=100 * row["accuracy"]) for row in rows],
                     f"kNN (k = {result['neighbours']}): latent features trade accuracy for time; lower bounds "
                     "keep the raw pixels' accuracy")
    sizes = result["sizes"]
    subset = (f" **Only the first {result['test_size']:,} test images are scored (quick run).**"
              if result.get("test_size") else "")
    bounds_rows = [row for row in rows if row["features"] == KNN_BOUNDS]
    text = [
        "## 2. kNN on latent features (paper tables 1 and 2)",
        "",
        f"k-nearest neighbours, k = {result['neighbours']}, Euclidean distance, uniform votes, fitted on "
        + ", ".join(f"{sizes[name]['n_train']:,} {DATASET_TITLES[name]} training images" for name in sizes)
        + "; accuracy on "
        + ", ".join(f"{sizes[name]['n_test']:,} {DATASET_TITLES[name]} test images" for name in sizes)
        + f".{subset}  Latent features: the paper's FFA 784-q-784 ({_epochs_text(result)}).  "
        "*Running time* is fit plus predict, as in the paper: the median of several runs (their spread, "
        "max - min, beside it), brute force on raw pixels once; encoding the images is the second-last column.",
        "",
        table(["data, features", "accuracy", "paper", "paper's notebook", "fit + predict", "paper (Colab)",
               "speed-up", "paper speed-up", "encoding", "search"], table_rows),
        "",
        "Why the speed-ups are smaller than the paper's: the paper timed scikit-learn on Colab (about 1000 s "
        "for raw pixels); npae's brute force turns the distances into one matrix product (BLAS) and re-ranks "
        "the candidates exactly, so it is hundreds of times faster than that, while the latent-feature search "
        "has less to gain (last column: the search npae used).",
        "",
        f"The rows *{KNN_BOUNDS}* remove the paper's trade-off instead of taking it: the same 784 pixels and "
        "exactly the same neighbours, but most distances are never computed.  A lower bound of every "
        "distance comes from 64 or so principal coordinates and the norm of what they leave out "
        "(|q - x|^2 >= |z_q - z_x|^2 + (|r_q| - |r_x|)^2, by Pythagoras), one matrix product in ~65 "
        "dimensions instead of 784; only the few points whose bound is below the k-th distance get their "
        "784-pixel distance (`npae.knn.lower_bounds`; its PCA is fitted inside and timed).  "
        + " ".join(f"{DATASET_TITLES[row['dataset']]}: {row['same_as_brute_force']:,} of "
                   f"{sizes[row['dataset']]['n_test']:,} predictions equal brute force's." for row in bounds_rows)
        + f"  Numba's compile (or cache load) was paid before timing: {seconds(result['warm_up_seconds'])}.",
        "",
        _image(link, "kNN accuracy and running time"),
    ]
    checks = []
    for row in rows:
        base = raw[row["dataset"]]
        if row["features"] == KNN_BOUNDS:
            checks.append(Check(
                f"{DATASET_TITLES[row['dataset']]}: beyond the paper, the exact raw-pixel kNN with lower bounds "
                "predicts exactly as brute force", "",
                f"{row['same_as_brute_force']:,}/{sizes[row['dataset']]['n_test']:,} identical, "
                + _speed_text(row["speedup"]), row["same_as_brute_force"] == sizes[row["dataset"]]["n_test"]))
        if row["features"] != "latent":
            continue
        gap = 100 * (base["accuracy"] - row["accuracy"])
        paper = row["paper"] or {}
        paper_gap = (base["paper"]["accuracy"] - paper["accuracy"]) if paper and base["paper"] else None
        checks.append(Check(
            f"{DATASET_TITLES[row['dataset']]}: kNN on {row['dimension']} latent features is within a few points "
            "of raw pixels (at most 10)", f"{paper_gap:.1f} points" if paper_gap is not None else "",
            f"{gap:.1f} points", gap <= 10, needs_full_data=True))
        slowest_latent = max(row["times"])  # the speed-up holds for the least favourable run too
        checks.append(Check(
            f"{DATASET_TITLES[row['dataset']]}: kNN on {row['dimension']} latent features runs at a large speed-up "
            "over raw pixels (at least 10x, median of the runs; the slowest run gives the number in brackets)",
            ratio(base["paper"]["seconds"] / paper["seconds"]) if paper and base["paper"] else "",
            f"{ratio(row['speedup'])} ({ratio(min(base['times']) / slowest_latent)})", row["speedup"] >= 10,
            needs_full_data=True))
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 3. Curse of dimensionality

def dimensionality(result, figures):
    rows = result["rows"]
    m = result["m"]
    table_rows = [[row["d"], f"{row['formula']:.3f}", "" if row["paper"] is None else f"{row['paper']}",
                   f"{row['mean_count']:.2f}", f"{row['median_theory']:.3f}", f"{row['median_smallest_side']:.3f}",
                   f"1e{row['tenth_formula_log10']:+.0f}" if row["tenth_formula_log10"] < -3
                   else f"{10 ** row['tenth_formula_log10']:g}", f"{row['mean_count_tenth']:.2f}",
                   f"{row['distance_ratio']:.3f}"] for row in rows]
    path, link = figures.path("dimensionality")
    plots.dimensionality_figure(path, result, f"m = {m:,} uniform points in [0, 1]^d: no neighbourhood is local")
    text = [
        "## 3. The curse of dimensionality (paper table 3)",
        "",
        f"m = {m:,} points uniform in [0, 1]^d.  A cube of side l holds m l^d of them on average, so the cube "
        "expected to hold one point has side **l = (1/m)^(1/d)**.  Beside the formula, a simulation "
        f"({counted(result['trials'], 'draw')} of the m points): the points actually inside a randomly placed cube "
        "of side l (the formula says 1); the side of the smallest cube at a corner of [0, 1]^d that holds a point "
        "(its median is (ln 2 / m)^(1/d), a little below l, because the cube expected to hold one point holds "
        "none 37 % of the time); the points in a cube of side 1/10 (formula m / 10^d); and the ratio of the "
        "nearest to the farthest distance from a random point, which tends to 1: in high dimension all "
        "points are about equally far away.",
        "",
        table(["d", "l = (1/m)^(1/d)", "paper", "points in a cube of side l (simulated)",
               "smallest cube's median side: theory", "smallest cube's median side: simulated",
               "points in a cube of side 0.1: m/10^d", "points in a cube of side 0.1: simulated",
               "nearest / farthest distance (simulated)"], table_rows),
        "",
        "The paper prints 0.003 for d = 2; (1/1000)^(1/2) = 0.032 (a typo in the paper).",
        "",
        _image(link, "side of the cube against the dimension"),
    ]
    checks = [
        claims.simulation_agrees([row["mean_count"] for row in rows], [row["median_smallest_side"] for row in rows],
                                 [row["median_theory"] for row in rows], result["trials"]),
        claims.cube_spans_the_axis(rows),
    ]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 4. Anomaly detection

def _paper_shoe(shoes):
    """The shoe of the paper (Fashion-MNIST test image 0, an ankle boot), else the last one listed."""
    return next((shoe for shoe in shoes if shoe.get("fashion_index") == 0), shoes[-1])


def anomaly(result, figures):
    shoe = _paper_shoe(result["shoes"])
    digit = result["largest_digit"]
    digit_errors = np.asarray(result["digit_errors"])
    n_scored = digit_errors.size + 1
    paper = result.get("paper", {})
    path, link = figures.path("anomaly")
    plots.anomaly_figure(path, shoe, digit, np.append(digit_errors, shoe["error"]), paper,
                         f"An FFA 784-{result['latent_size']}-784 trained on digits: the {shoe['name']} ranks "
                         f"{shoe['rank']:,} of {n_scored:,}")
    # One ratio, one direction, one rounding, everywhere: the shoe's RE over the largest digit RE.
    paper_ratio = paper["shoe_error"] / paper["second_error"] if {"shoe_error", "second_error"} <= set(paper) else None
    main_rows = [
        [f"RE of the shoe ({shoe['name']}, Fashion-MNIST test image {shoe['fashion_index']})",
         paper.get("shoe_error", ""), f"{shoe['error']:.4f}"],
        [f"its rank among the {n_scored:,} images", "1", f"{shoe['rank']:,}"],
        ["largest RE of a digit (the second largest in the paper)", paper.get("second_error", ""),
         f"{digit['error']:.4f}"],
        ["shoe RE / largest digit RE", f"{paper_ratio:.2f}" if paper_ratio else "",
         f"{shoe['ratio_to_largest_digit']:.2f}"],
    ]
    shoe_rows = [[f"{item['name']} (test image {item['fashion_index']})", f"{item['error']:.4f}", f"{item['rank']:,}",
                  f"{item['ratio_to_largest_digit']:.2f}"] for item in result["shoes"]]
    all_shoes = result["all_shoes"]
    injection = result["injection"]
    injection_rows = [[row["method"], f"{row['roc_auc']:.4f}", f"{row['average_precision']:.4f}",
                       percent(row["precision_at_n"], 1)] for row in injection["rows"]]
    text = [
        "## 4. Anomaly detection (paper figures 9-11)",
        "",
        f"FFA 784-{result['latent_size']}-784, {_epochs_text(result)}, trained on {result['n_train']:,} MNIST "
        f"training images.  One shoe from Fashion-MNIST is appended to the {digit_errors.size:,} MNIST test "
        "digits; the reconstruction error (RE, MSE per pixel) of every image is computed and ranked.",
        "",
        table(["", "paper", "this run"], main_rows),
        "",
        _image(link, "the shoe, the digit with the largest RE, and the histogram of all REs"),
        "",
        "One shoe could be lucky, so the first sandal, sneaker and ankle boot of the test set were scored too, "
        f"and all {all_shoes['count']:,} shoes: {percent(all_shoes['fraction_first'], 1)} of them have a larger "
        f"RE than every digit (smallest shoe RE {all_shoes['min_error']:.4f}, median {all_shoes['median_error']:.4f}).",
        "",
        table(["shoe", "RE", "rank", "shoe RE / largest digit RE"], shoe_rows),
        "",
    ]
    per_model = result.get("shoes_per_model")
    if isinstance(per_model, list) and len(per_model) > 1:
        names = [item["name"] for item in result["shoes"]]
        text += [
            "Model stability (paper section 3.3.1): the same test under each model of the ensemble (same "
            "set-up, other seeds): RE and rank of each shoe among the digits.",
            "",
            table(["seed", "largest digit RE"] + names,
                  [[entry["seed"], f"{entry['largest_digit_error']:.4f}"]
                   + [f"{error:.4f} (rank {rank:,})" for error, rank in zip(entry["shoe_errors"], entry["shoe_ranks"])]
                   for entry in per_model]),
            "",
        ]
    text += [
        f"Beyond the paper: {injection['n_injected']:,} Fashion-MNIST test images (any class) hidden among the "
        "digits, ranked by RE.  The paper suggests several models for stability: the ensemble rows average or "
        "take the maximum of their REs; PCA with as many components is the linear baseline.  Precision at n: "
        f"the share of true anomalies among the {injection['n_injected']:,} largest scores.",
        "",
        table(["method", "ROC AUC", "average precision", "precision at n"], injection_rows),
    ]
    checks = [
        claims.shoe_ranks_first(shoe["rank"], n_scored, shoe["error"], paper.get("shoe_error", "?")),
    ]
    if paper_ratio:
        checks.append(claims.shoe_far_above_digits(shoe["ratio_to_largest_digit"], paper_ratio))
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 5. Denoising

def denoising(result, figures):
    path, link = figures.path("denoising")
    examples = result["examples"]
    plots.image_rows(path, [("noisy input", examples["noisy"]), ("clean", examples["clean"]),
                            ("denoised", examples["denoised"])],
                     f"Denoising: x + {result['noise']} N(0, 1) in, clean digits out")
    rows = [[row["input"], f"{row['mse']:.4f}", f"{row['psnr']:.1f} dB"] for row in result["rows"]]
    by_name = {row["input"]: row for row in result["rows"]}
    text = [
        "## 5. Denoising (paper figure 12)",
        "",
        f"Inputs x + {result['noise']} N(0, 1) per pixel (not clipped), clean targets; FFA "
        f"784-{result['latent_size']}-784, BCE, Adam, batch size {result['batch_size']}, {_epochs_text(result)}, "
        "20 % of the training images held out for validation.  Error against the clean test images:",
        "",
        table(["input", "MSE per pixel", "PSNR"], rows),
        "",
        _image(link, "noisy, clean and denoised test digits"),
    ]
    checks = [claims.denoiser_cleans(by_name["denoised"]["mse"], by_name["noisy"]["mse"],
                                     by_name["noisy, clipped to [0, 1]"]["mse"])]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 6. PCA

def _pca_against_autoencoder(rows, result):
    """What the first table shows, in words; when PCA wins, why (the autoencoder's training was short)."""
    pca_wins = [row["latent_size"] for row in rows if row["pca_mse"] < row["autoencoder_mse"]]
    steps = -(-result["n_train"] // 256) * result["epochs"]
    if not pca_wins:
        largest = rows[-1]
        return (f"The non-linear autoencoder reconstructs better than PCA at every q (at q = {largest['latent_size']}: "
                f"{largest['autoencoder_mse']:.5f} against {largest['pca_mse']:.5f}): its ReLU code and sigmoid "
                "output are not confined to a linear subspace.")
    where = "every q" if len(pca_wins) == len(rows) else "q = " + ", ".join(map(str, pca_wins))
    paper_steps = -(-60_000 // 256) * 30
    return (f"In this run PCA reconstructs better than the autoencoder at {where}.  That is a matter of training, "
            f"not of the method: PCA's answer is exact (one eigen-decomposition of the {result['n_train']:,} training "
            f"images), while the autoencoder approaches its own optimum by gradient descent, here "
            f"{counted(result['epochs'], 'epoch')} over {result['n_train']:,} images: {steps:,} Adam steps, "
            f"{percent(steps / paper_steps, 0)} of the paper's {paper_steps:,} (60,000 images, 30 epochs).  With so "
            "few images and epochs it stops far from that optimum; the paper's set-up is where the two compare.")


def pca(result, figures):
    rows = result["rows"]
    path, link = figures.path("pca")
    latent_sizes = [row["latent_size"] for row in rows]
    plots.line_figure(path, latent_sizes, {"PCA (best linear)": [row["pca_mse"] for row in rows],
                                           "autoencoder 784-q-784": [row["autoencoder_mse"] for row in rows]},
                      "Test reconstruction error against the number of features q", "q (latent features)",
                      "test MSE per pixel (log)", log_y=True, log_x=True)
    linear = result["linear"]
    q = linear["latent_size"]
    table_rows = [[row["latent_size"], f"{row['pca_mse']:.5f}", f"{row['autoencoder_mse']:.5f}",
                   percent(row["pca_explained_variance"], 1)] for row in rows]
    text = [
        "## 6. Dimensionality reduction and PCA (paper section 3.5)",
        "",
        f"Test reconstruction MSE per pixel of PCA (the best linear rank-q reconstruction) and of the paper's "
        f"non-linear FFA 784-q-784 ({_epochs_text(result)}):",
        "",
        table(["q", "PCA", "autoencoder", "variance explained by PCA"], table_rows),
        "",
        _pca_against_autoencoder(rows, result),
        "",
        _image(link, "reconstruction error against q"),
        "",
        f"A *linear* autoencoder (identity activations, MSE, centred inputs, q = {q}) learns PCA's subspace at its "
        "optimum.  How close this one came: its error beside PCA's, and the principal angles between its "
        "decoder's span and PCA's first q components.  The angle can only be read once training is close to the "
        f"optimum: an autoencoder whose training error is e above PCA's may be up to asin(sqrt(e / (l_{q} - "
        f"l_{q + 1}))) from PCA's subspace, where l_i is the i-th variance of the training images (the last row).",
        "",
        table(["", "value"], align="lr", rows=[
            ["linear autoencoder, test MSE (centred data)", f"{linear['linear_autoencoder_mse']:.5f}"],
            ["PCA, test MSE", f"{linear['pca_mse']:.5f}"],
            ["largest principal angle", f"{linear['max_angle_degrees']:.2f} degrees"],
            ["median principal angle", f"{float(np.median(linear['angles_degrees'])):.2f} degrees"],
            ["training error above PCA's, per image (e)", f"{linear['train_excess']:.4g}"],
            [f"l_{q} - l_{q + 1}", f"{linear['eigenvalue_gap']:.4g}"],
            ["largest angle that e allows", f"{linear['angle_allowed_degrees']:.1f} degrees"]]),
    ]
    checks = [claims.linear_autoencoder_learns_pca(linear["max_angle_degrees"], linear["angle_allowed_degrees"],
                                                   linear["train_excess"], linear["eigenvalue_gap"], q)]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 7. Compression: npae/report/sections_compression.py (imported at the end of this module)

# ------------------------------------------------------------------------------------------------
# 9. Beyond the paper

def _beyond_sparse(result):
    blog = result["keras_blog"]
    rows = [[f"{row['model']} (activity_l1 = {row['activity_l1']:g})" if row["activity_l1"] else row["model"],
             f"{row['mean_code']:.2f}", f"{blog['mean_code_sparse' if row['activity_l1'] else 'mean_code_plain']:.2f}",
             percent(row["zero_fraction"], 1), percent(row["dead_units"], 0), f"{row['bce']:.4f}"]
            for row in result["rows"]]
    plain, sparse = (next(row for row in result["rows"] if row["model"] == name) for name in ("plain", "sparse"))
    text = [
        "### 9.1 A sparse autoencoder (the Keras blog)",
        "",
        f"FFA 784-{result['latent_size']}-784 (ReLU code, sigmoid output, BCE, Adam, batch 256), "
        f"{_epochs_text(result)} on {result['n_train']:,} MNIST training images (the blog: {blog['epochs']} "
        f"epochs), with and without an L1 penalty on the code: activity_l1 = {result['activity_l1']:g} times "
        "the sum of |h| over the code units, averaged over the batch (Keras' `l1(10e-5)`).  Measured on the "
        f"{result['n_test']:,} test images; the BCE is the reconstruction's, without the penalty.",
        "",
        table(["model", "mean code value", f"Keras blog ({blog['epochs']} epochs)", "code values at 0",
               "units never active", "test BCE per pixel"], rows),
    ]
    check = Check("Keras blog: an L1 activity penalty makes the code sparser",
                  f"mean code value {blog['mean_code_sparse']} against {blog['mean_code_plain']} ({blog['epochs']} "
                  "epochs)", f"{sparse['mean_code']:.2f} against {plain['mean_code']:.2f} ({_epochs_text(result)})",
                  sparse["mean_code"] < plain["mean_code"])
    return text, check


def _beyond_variational(result, figures):
    vae, flat, anchor = result["pytorch"], result["keras"], result["anchor"]
    history = vae["history"]
    curves = {"negative ELBO (nats per image, log)": ("loss", "val_loss", [(anchor["test_loss"],
                                                      f"PyTorch's example, {anchor['epochs']} epochs: "
                                                      f"{anchor['test_loss']}")]),
              "reconstruction term -log p(x|z) (log)": ("reconstruction", "val_reconstruction", []),
              "KL term (log)": ("kl", "val_kl", [])}
    panels = [{"title": label.split(" (")[0], "ylabel": label,
               "curves": {"VAE 784-400-20": {"loss": history[train], "val_loss": history.get(test, []),
                                             "validation": "test"}}, "lines": references}
              for label, (train, test, references) in curves.items()]
    curves_path, curves_link = figures.path("vae-loss-curves")
    plots.training_curves(curves_path, panels, "VAE 784-400-20: the two terms of the loss, training and test")
    samples_path, samples_link = figures.path("vae-samples")
    plots.image_grid(samples_path, vae["samples"], 8, 8, "64 samples: z ~ N(0, I), decoded")
    rows_path, rows_link = figures.path("vae-reconstructions")
    plots.image_rows(rows_path, [("original", vae["originals"]), ("VAE 784-400-20", vae["reconstructions"])],
                     "Test digits and their reconstructions decode(mu(x))")
    scatter_path, scatter_link = figures.path("vae-latent-scatter")
    plots.latent_scatter(scatter_path, flat["codes"], flat["labels"],
                         f"VAE 784-256-2: mu(x) of the {len(flat['labels']):,} test digits")
    grid = flat["manifold"]
    manifold_path, manifold_link = figures.path("vae-manifold")
    plots.image_grid(manifold_path, grid.reshape(-1, grid.shape[-1]), grid.shape[0], grid.shape[1],
                     f"VAE 784-256-2: decoded {grid.shape[0]} x {grid.shape[1]} grid of the prior's quantiles",
                     axis_values=flat["quantiles"], axis_label="z")
    difference = vae["test_loss"] / anchor["test_loss"] - 1
    same_set_up = vae["epochs"] == anchor["epochs"]
    text = [
        "### 9.2 A variational autoencoder (PyTorch's examples/vae, the Keras blog)",
        "",
        f"`npae.VariationalAutoencoder([784, 400, 20])` with PyTorch's example set-up (ReLU, Adam 1e-3, batch "
        f"{anchor['batch_size']}, PyTorch's default initialisation), {_epochs_text(vae)}"
        + ("" if same_set_up else f" (the example: {anchor['epochs']})") + ".  Loss: the negative ELBO per image, "
        "BCE summed over the 784 pixels plus KL(q(z|x) || N(0, I)), with sigma = exp(0.5 log_var).",
        "",
        f"**Test loss {vae['test_loss']:.2f} nats per image** (reconstruction {vae['test_reconstruction']:.2f} + "
        f"KL {vae['test_kl']:.2f}) against **{anchor['test_loss']}** for PyTorch's example after "
        f"{anchor['epochs']} epochs (measured when npae's VAE was written): {signed_percent(difference)}.  "
        f"{seconds(vae['seconds_per_epoch'])} an epoch here (median).  `python benchmarks/bench_vae.py` trains "
        "PyTorch's example beside npae's, interleaved, and prints both losses and epoch times.",
        "",
        _image(curves_link, "VAE loss curves: negative ELBO, reconstruction and KL terms"),
        "",
        _image(samples_link, "64 samples from the prior"),
        " ",
        _image(rows_link, "test digits and their reconstructions"),
        "",
        f"The Keras blog's 2-D VAE, 784-256-2, {_epochs_text(flat)} (the blog: "
        f"{result['keras_blog']['epochs']}); test loss {flat['test_loss']:.1f} nats per image.  Left: the "
        "test digits' codes mu(x), coloured by digit.  Right: the decoder's images of a 20 x 20 grid of "
        "latent points evenly spaced in the prior's quantiles (z = Phi^-1(p), p = 0.05 .. 0.95).",
        "",
        _image(scatter_link, "2-D latent space") + " " + _image(manifold_link, "the manifold of decoded images"),
    ]
    check = Check(f"PyTorch's examples/vae: test loss after {anchor['epochs']} epochs (npae within 1 %)",
                  f"{anchor['test_loss']} nats", f"{vae['test_loss']:.2f} nats ({_epochs_text(vae)}, "
                  f"{signed_percent(difference)})", abs(difference) <= 0.01 if same_set_up else None,
                  needs_full_data=True)
    return text, check


def _speed_text(speedup):
    """'2.2x faster' or, below 1 (small quick-run sets, where the bounds' fit costs more than it saves),
    '1.4x slower': never '0.7x faster'."""
    if speedup is None or not math.isfinite(speedup) or speedup <= 0:
        return "speed not measured"
    return f"{ratio(1 / speedup)} slower" if speedup < 1 else f"{ratio(speedup)} faster"


def _beyond_scores(result):
    target = result["target"]
    kinds = list(result["rows"][0]["by_shoe_type"])
    rows = [[f"`{row['score']}`", row["model"], percent(row["shoes_above_every_digit"], 1)]
            + [percent(row["by_shoe_type"][kind], 1) for kind in kinds]
            + [f"{row['roc_auc']:.5f}", f"{row['average_precision']:.4f}", row["paper_shoe_rank"]]
            for row in result["rows"]]
    best = max(result["rows"], key=lambda row: (row["shoes_above_every_digit"], row["roc_auc"]))
    met = best["shoes_above_every_digit"] >= target["shoes_above_every_digit"] and best["roc_auc"] >= target["roc_auc"]
    per_type = ", ".join(f"{kind} {percent(share, 1)}" for kind, share in best["by_shoe_type"].items())
    text = [
        "### 9.3 Anomaly scores that catch the sandals (`npae.anomaly.SCORES`)",
        "",
        f"The paper's test made harder: each of the {result['n_shoes']:,} Fashion-MNIST test shoes against all "
        f"{result['n_digits']:,} MNIST test digits.  A shoe counts when its score is above every digit's.  ROC "
        f"AUC and average precision: {result['n_injected']} Fashion-MNIST test images of any class (1 %) "
        f"injected among the digits.  Last column: the rank of the paper's shoe (Fashion-MNIST test image "
        f"{result['paper_shoe_index']}) among the {result['n_digits'] + 1:,} images.  FFAs: {_epochs_text(result)}; "
        f"the VAE is section 9.2's ({_epochs_text({'epochs': result['vae_epochs']})}).  Scores: `re` the paper's "
        "reconstruction error (MSE per pixel), `bce` the reconstruction's binary cross-entropy summed over the "
        "pixels (-log p(x | x~) under Bernoulli pixels), `elbo` the VAE's negative ELBO.",
        "",
        table(["score", "model", "shoes above every digit"] + kinds + ["ROC AUC", "average precision",
                                                                       "rank of the paper's shoe"], rows),
        "",
        f"Best: `{best['score']}` on the {best['model']}, {percent(best['shoes_above_every_digit'], 1)} of the "
        f"shoes above every digit ({per_type}),"
        f" ROC AUC {best['roc_auc']:.5f}.  Why `bce` can beat `re`: per pixel, BCE(x, p) = H(x) + KL(x || p); a "
        "thin grey sandal has a small squared error but a large entropy H, which no digit-trained model "
        "explains away, while digits are nearly black and white.",
    ]
    by_key = {(row["score"], row["model"]): row for row in result["rows"]}
    small, large = by_key.get(("bce", "FFA 784-64-784")), by_key.get(("bce", "FFA 784-128-784"))
    if small and large and large["shoes_above_every_digit"] > small["shoes_above_every_digit"]:
        text[-1] += (f"  A larger code helps (`bce`: q = 128 {percent(large['shoes_above_every_digit'], 1)}, q = 64 "
                     f"{percent(small['shoes_above_every_digit'], 1)}): it rebuilds the digits better without "
                     "learning shoes, so the digits' largest score falls below more shoes.")
    paper_score = by_key.get(("re", "FFA 784-64-784"))
    baseline = (f"; the paper's `re` on its FFA 784-64-784: {percent(paper_score['shoes_above_every_digit'], 1)}"
                if paper_score else "")
    check = Check(f"target: >= {percent(target['shoes_above_every_digit'], 0)} of the shoes above every digit, "
                  f"ROC AUC >= {target['roc_auc']}", "beyond the paper (it scores one shoe)",
                  f"{percent(best['shoes_above_every_digit'], 1)}, ROC AUC {best['roc_auc']:.5f} "
                  f"(`{best['score']}`, {best['model']}){baseline}", met, needs_full_data=True)
    return text, check


def beyond(result, figures):
    sparse_text, sparse_check = _beyond_sparse(result["sparse"])
    vae_text, vae_check = _beyond_variational(result["variational"], figures)
    scores_text, scores_check = _beyond_scores(result["anomaly_scores"])
    timings = ", ".join(f"{part} {seconds(value)}" for part, value in result["seconds"].items())
    text = [
        "## 9. Beyond the paper: sparse and variational autoencoders, anomaly scores",
        "",
        "The paper stops at the plain, denoising and convolutional autoencoders.  The material people learn "
        "autoencoders from goes on (the Keras blog's \"Building autoencoders in Keras\", PyTorch's examples/vae); "
        "here are its sparse and variational autoencoders, built from npae's layers and trained by the same "
        "`fit`, and what they add to the paper's anomaly test.  "
        + ("QUICK run: every model below trains for a fraction of its set-up's epochs (stated beside each "
           "number).  " if result.get("quick") else "")
        + f"Time: {timings}.",
        "",
    ] + sparse_text + [""] + vae_text + [""] + scores_text
    return Section("\n".join(text), [sparse_check, vae_check, scores_check])


# ------------------------------------------------------------------------------------------------
# Training curves of every model that kept them

def _history(model):
    history = model.history_.history if getattr(model, "history_", None) is not None else None
    return dict(history, validation="test") if history and history.get("loss") else None


# ------------------------------------------------------------------------------------------------
# 8. Beyond feed-forward (paper section 4)

def _convolutional_setup_text(setup):
    return (f"{setup['name']} set-up: the first {setup['training_images']:,} MNIST training images, the last "
            f"{setup['validation_images']:,} of them held out for validation, {setup['epochs']} "
            f"epoch{'s' if setup['epochs'] != 1 else ''}, batch {setup['batch_size']}")


def _convolutional_cost(result, setup):
    """What the notebook's full set-up costs: a stable estimate (a quiet machine's measured step) and this run's."""
    if setup["full"]:
        took = format_seconds(result["seconds"]["convolutional denoiser"])
        return f"This is the notebook's full set-up; it took {took} for the convolutional denoiser."
    quiet = result.get("full_run_quiet_estimate_seconds")
    text = ("The notebook's full set-up for the convolutional models (60,000 images, 48,000 for training, 30 "
            "epochs) is `npae reproduce --only convolutional --full-convolutional`: ")
    if quiet:
        text += (f"about {quiet / 60:.0f} minutes on a quiet 2-core machine ({result['full_run_steps']:,} training "
                 f"steps at the {QUIET_SECONDS_PER_STEP:.2f} s that `benchmarks/bench_conv.py` measured there, plus "
                 "the validation passes)")
    text += (f"; at this run's speed ({result['seconds_per_step']:.2f} s per step in its last epoch, validation "
             f"included; see the load average below) about {result['full_run_estimate_seconds'] / 60:.0f} minutes, "
             "for the convolutional denoiser.")
    seconds_of = result["seconds"]
    if seconds_of.get("convolutional denoiser") and seconds_of.get("small-code comparison") is not None:
        share = seconds_of["small-code comparison"] / seconds_of["convolutional denoiser"]
        text += (f"  The small-code comparison (its two convolutional models and their FFAs, trained with the same "
                 f"set-up) adds about {share:.0%} of that, its share of this run's time.")
    return text


def convolutional(result, figures):
    setup = result["setup"]
    setup_text = _convolutional_setup_text(setup)
    ffa_setup = result.get("ffa_setup", setup)
    equal_training = result.get("equal_training", True)
    conv, ffa = result["paper_rows"]
    paper = result["paper"]
    rows = [[conv["model"], "Conv2D 64, Conv2D 32, Conv2DTranspose 32, Conv2DTranspose 64, Conv2D 1 (3x3)",
             f"{conv['parameters']:,}", f"{conv['code_size']:,}", setup["name"], f"{conv['val_bce']:.4f}",
             f"{paper['convolutional']:.4f}", f"{conv['test_bce']:.4f}" if "test_bce" in conv else "n/a"],
            [ffa["model"], "Dense 32, Dense 784", f"{ffa['parameters']:,}", f"{ffa['code_size']:,}", ffa_setup["name"],
             f"{ffa['val_bce']:.4f}", f"{paper['ffa']:.4f}", f"{ffa['test_bce']:.4f}" if "test_bce" in ffa else "n/a"]]
    path, link = figures.path("convolutional-denoising")
    images = result["figure"]
    plots.image_rows(path, [("noisy input", images["noisy"]), ("clean", images["clean"]),   # figure 12's order
                            (ffa["model"], images["ffa"]), ("convolutional", images["convolutional"])],
                     f"Figure 13: noisy test digits, denoised by the FFA ({ffa_setup['name']} set-up) and by the "
                     f"convolutional model ({setup['name']} set-up)")
    small = result["small_rows"]
    small_rows = [[row["task"], row["model"], f"{row['code_size']:,}", f"{row['parameters']:,}", f"{row['val_bce']:.4f}"]
                  for row in small]
    bars_path, bars_link = figures.path("convolutional-comparison")
    groups = {"denoising, paper's models": [("convolutional", conv["val_bce"]), ("FFA", ffa["val_bce"])]}
    for task in ("reconstruction", "denoising"):
        pair = [row for row in small if row["task"] == task]
        groups[f"{task}, code of 128"] = [("convolutional", pair[0]["val_bce"]), ("FFA", pair[1]["val_bce"])]
    plots.grouped_bars(bars_path, groups, "Validation BCE: convolutional against feed-forward (lower is better)",
                       "validation BCE per pixel",
                       references={("denoising, paper's models", "convolutional"): paper["convolutional"],
                                   ("denoising, paper's models", "FFA"): paper["ffa"]})
    verdicts = []
    for task in ("reconstruction", "denoising"):
        pair = {("conv" if row["model"].startswith("conv") else "ffa"): row for row in small if row["task"] == task}
        better = "convolutional" if pair["conv"]["val_bce"] < pair["ffa"]["val_bce"] else "FFA"
        verdicts.append(f"{task}: the {better} model is better (validation BCE: convolutional "
                        f"{pair['conv']['val_bce']:.4f}, FFA {pair['ffa']['val_bce']:.4f})")
    if equal_training:
        trained = f"**Both models of the paper's comparison come from the {setup_text}**."
    else:
        trained = (f"**The convolutional models come from the {setup_text}; the FFA 784-32-784 from the "
                   f"{_convolutional_setup_text(ffa_setup)}** (it costs seconds, so it is trained as section 5's "
                   "denoiser is: the comparison is never against an untrained baseline).  The convolutional model "
                   "trained less: if it still denoises better, its handicap only makes the result stronger; if not, "
                   "this run cannot decide.")
    text = [
        "## 8. Beyond feed-forward: convolutional autoencoders (paper section 4, figure 13)",
        "",
        f"The companion notebook's task: inputs x + {setup['noise']} N(0, 1) (not clipped), clean targets, Adam, "
        "binary cross-entropy; the convolutional model uses he_uniform initialisation and max_norm(2.0) on every "
        f"kernel.  {trained}  Validation BCE: each model on the last 20 % of its own training images, as the "
        f"notebook; test BCE: both on the same {result.get('test_images', 0):,} noisy test images against the clean "
        "originals, the fair yardstick.  The notebook's numbers are from its full set-up (48,000 training images, "
        "30 epochs, Keras).  " + _convolutional_cost(result, setup),
        "",
        table(["model", "layers", "parameters", "code (numbers)", "set-up", "validation BCE, this run",
               "notebook (full set-up)", "test BCE, this run"], rows, align="llrrlrrr"),
        "",
        _image(link, "noisy inputs, clean originals, FFA outputs, convolutional outputs"),
        "",
        "### Beyond the paper: an equally small code",
        "",
        f"The paper notes that the convolutional model's \"bottleneck\" holds 24 x 24 x 32 = {conv['code_size']:,} "
        f"numbers, {conv['code_size'] / 784:.1f} times the 784 pixels: it need not compress at all.  Here a "
        "convolutional autoencoder with max pooling down to a code of 4 x 4 x 8 = 128 numbers (the Keras blog's) "
        "against the FFA 784-128-784, both trained alike (" + setup_text + "), without noise and with it:",
        "",
        table(["task", "model", "code (numbers)", "parameters", f"validation BCE ({setup['name']})"], small_rows,
              align="llrrr"),
        "",
        "In this run, " + "; ".join(verdicts) + f".  The convolutional model has {small[0]['parameters']:,} "
        f"parameters, the FFA {small[1]['parameters']:,}.",
        "",
        _image(bars_link, "validation BCE of the convolutional and feed-forward models"),
    ]
    conv_score, ffa_score = (conv.get("test_bce", conv["val_bce"]), ffa.get("test_bce", ffa["val_bce"]))
    checks = [claims.convolutional_denoises_better(conv_score, ffa_score, equal_training, paper["convolutional"],
                                                   paper["ffa"])]
    return Section("\n".join(text), checks)


PYTORCH_REFERENCES = [(0.0782, "PyTorch q=64, 30 epochs, default init: 0.0782"),
                      (0.2005, "PyTorch q=8, 30 epochs, default init: 0.2005")]


def training_curves(results, figures, *, models=None, bce_floors=None, compare_pytorch=False):
    """The curves of every model that kept its history, one panel per data set and loss (None when no
    model did).  ``models``: the runner's shared reference FFAs {q: model} (validated on the MNIST test
    images); ``bce_floors``: {data set key: BCE of a perfect reconstruction of its test images};
    ``compare_pytorch``: draw PyTorch's curves (``pytorch_reference``: measured on the full data only)."""
    bce_floors = bce_floors or {}
    mnist_bce, mnist_mse, fashion, denoised = {}, {}, {}, {}
    bce_references, mse_references = {}, {}       # PyTorch's curves of the MNIST models, by curve label
    reconstruction = results.get("reconstruction")
    shared = dict(models or {})
    if reconstruction:
        shared.update(reconstruction["models"])
    for q, model in sorted(shared.items()):
        if _history(model):
            mnist_bce[f"q={q}"] = _history(model)
            bce_references[f"q={q}"] = PYTORCH_CURVES.get((q, "bce"), {}).get("bce")
    if reconstruction:
        for row in reconstruction["rows"]:
            if row["loss"] == "mse":
                mnist_mse[row["label"]] = dict(reconstruction["curves"][row["label"]], validation="test")
                mse_references[row["label"]] = PYTORCH_CURVES.get((row["latent_size"], "mse"), {}).get("mse")
        for panel in reconstruction["codes"]["panels"]:
            if panel["curves"]:
                mnist_bce[f"{panel['name']}, linear code"] = dict(panel["curves"], validation="test")
    if "knn" in results:
        for q, model in sorted(results["knn"]["models"].items()):
            if _history(model):
                fashion[f"q={q}"] = _history(model)
    if "denoising" in results:
        result = results["denoising"]
        denoised[f"q={result['latent_size']}, noisy inputs"] = {"loss": result["loss"], "val_loss": result["val_loss"],
                                                                "validation": "validation"}
    if not (mnist_bce or mnist_mse or fashion or denoised):
        return None

    def drawn(references):
        return {label: curve for label, curve in references.items() if curve} if compare_pytorch else {}

    def floor(value):
        return (value, f"floor: the targets' entropy, {value:.4f}") if value is not None else None

    panels = []
    for title, curves, ylabel, lowest, references in (
            ("MNIST, BCE", mnist_bce, "BCE per pixel (log)", floor(bce_floors.get("mnist")), drawn(bce_references)),
            ("MNIST, MSE", mnist_mse, "MSE per pixel (log)", None, drawn(mse_references)),
            ("Fashion-MNIST, BCE", fashion, "BCE per pixel (log)", floor(bce_floors.get("fashion_mnist")), {}),
            ("MNIST denoising, BCE", denoised, "BCE per pixel (log)",
             floor(results["denoising"].get("val_bce_floor")) if denoised else None, {})):
        if curves:
            panels.append({"title": title, "curves": curves, "ylabel": ylabel, "floor": lowest,
                           "references": references})
    path, link = figures.path("training-curves")
    plots.training_curves(path, panels, "Loss per epoch of every model trained (solid: measured on held-out images)")
    text = ["## Training curves", "",
            "Every model that kept its history: the training loss (dotted) and the loss on held-out images (solid): "
            "the test images, except for the denoiser, which is measured on the 20 % of the training images held "
            "out for validation."]
    if any(panel["references"] for panel in panels):
        text[-1] += f"  Dashed, in the colour of the npae model it matches: {PYTORCH_SETUP}, as in section 1."
    floors = {name: value for name, value in bce_floors.items() if value is not None}
    if floors:
        text += ["", "**Why the BCE never reaches 0.**  For a target pixel x in [0, 1], the BCE of a prediction p, "
                 "-[x log p + (1 - x) log(1 - p)], is smallest at p = x, where it equals the pixel's own entropy "
                 "-[x log x + (1 - x) log(1 - x)]: 0 only for pixels exactly 0 or 1.  Averaged over the test images "
                 "that floor is " + ", ".join(f"**{value:.4f}** for {DATASET_TITLES.get(name, name)}"
                                              for name, value in floors.items())
                 + (" (the grey dotted lines; the denoiser's, over its validation targets: "
                    f"{results['denoising']['val_bce_floor']:.4f})" if denoised else " (the grey dotted lines)")
                 + ".  MNIST's strokes are nearly black and white, so its floor is low"
                 + ("; Fashion-MNIST's clothes are grey levels, which no reconstruction can make cheaper, so its BCE "
                    "stays high however good the model" if "fashion_mnist" in floors else "")
                 + ".  The distance to the floor is what measures a model."]
    text += ["", _image(link, "training curves")]
    return "\n".join(text)

from .sections_compression import compression  # noqa: E402,F401  (section 7, in its own module)
from .sections_timeseries import timeseries  # noqa: E402,F401  (section 10, in its own module)
from .sections_dictionary import dictionary  # noqa: E402,F401  (experiment 11)
