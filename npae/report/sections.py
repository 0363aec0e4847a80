"""One function per experiment: its result dict in, a Markdown section and its figures out.

Each ``<name>(result, figures)`` returns a :class:`Section`: the Markdown text and the paper's claims
checked against this run (:class:`Check`), which the report gathers into its summary table.
``figures`` is a :class:`FigureFolder`.  The result dicts are those documented in each experiment's
``run`` (``npae.experiments``).
"""
import os
from typing import NamedTuple

import numpy as np

from ..experiments.knn import BOUNDS as KNN_BOUNDS
from . import figures as plots
from .markdown import number, percent, ratio, seconds, table


class Check(NamedTuple):
    """A claim of the paper, what the paper reports, what this run measured, and whether it holds."""

    claim: str
    paper: str
    ours: str
    holds: object     # True, False, or None when there is nothing to decide


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
    return f"{result['epochs']} epoch{'s' if result['epochs'] != 1 else ''}"


# ------------------------------------------------------------------------------------------------
# 1. Reconstructions

def reconstruction(result, figures):
    rows = result["rows"]
    table_rows = []
    for row in rows:
        pytorch = row["pytorch"] or {}
        table_rows.append([f"784-{row['latent_size']}-784, {row['loss'].upper()}", row["epochs"],
                           number(row["test_bce"]), number(pytorch.get("bce")),
                           number(row["test_mse"]), number(pytorch.get("mse")),
                           percent(row["misread"], 1), seconds(row["seconds"])])
    path, link = figures.path("reconstructions")
    image_rows = [("original", result["images"])] + list(result["reconstructions"].items())
    plots.image_rows(path, image_rows, "Ten test digits and their reconstructions: better with larger q",
                     column_titles=[str(label) for label in result["image_labels"]])

    bce = [row for row in rows if row["loss"] == "bce"]
    improves = all(a["test_mse"] > b["test_mse"] for a, b in zip(bce, bce[1:]))
    mse_row = next(row for row in rows if row["loss"] == "mse")
    bce_same_q = next(row for row in bce if row["latent_size"] == mse_row["latent_size"])
    text = [
        "## 1. Reconstructions (paper figures 4-8)",
        "",
        f"The paper's FFA 784-q-784 (Dense(q, ReLU), Dense(784, sigmoid)), Adam, batch size 256, "
        f"{_epochs_text(result)} on {result['n_train']:,} MNIST training images; measured on the "
        f"{result['n_test']:,} test images.  The paper shows the images only; the reference numbers are "
        "PyTorch's from the planning notes (per pixel, pixels in [0, 1]).  They used PyTorch's default "
        "initialisation (uniform, +-1/sqrt(fan_in)).  With Glorot uniform, Keras' default and npae's, the "
        "same PyTorch model reaches 0.0726 BCE and 0.00373 MSE at q = 64 (measured by the npae team; "
        "with PyTorch's default initialisation, 0.0785 and 0.00555; benchmarks/bench_train.py reruns the "
        "Glorot comparison).",
        "",
        table(["model", "epochs", "test BCE", "PyTorch BCE", "test MSE", "PyTorch MSE",
               "read as another digit", "training"], table_rows),
        "",
        f"*Read as another digit*: a kNN classifier (k = 7) on the raw training pixels labels the "
        f"reconstructions of the first {result['n_checked']:,} test images; the share whose label is not "
        f"the true digit.  The originals themselves: {percent(result['misread_originals'], 1)} (the kNN's own "
        "error, the floor of this measure).  The paper: with q = 8 some digits come back as another digit.",
        "",
        _image(link, "test digits and their reconstructions"),
    ]
    checks = [
        Check("reconstructions improve with q (8, 16, 64)", "figures 4-6",
              " > ".join(f"{row['test_mse']:.4f}" for row in bce) + " test MSE", improves),
        Check("with q = 8 some digits come back as another digit", "figure 4 (a 4 as a 9)",
              f"{percent(bce[0]['misread'], 1)} read as another digit "
              f"(originals {percent(result['misread_originals'], 1)})",
              bce[0]["misread"] > result["misread_originals"]),
        Check(f"BCE and MSE both train the q = {mse_row['latent_size']} FFA (test MSE within 25 %)", "figures 7-8",
              f"test MSE {mse_row['test_mse']:.4f} (MSE) vs {bce_same_q['test_mse']:.4f} (BCE)",
              mse_row["test_mse"] < 1.25 * bce_same_q["test_mse"]),
    ]
    return Section("\n".join(text), checks)


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
        "784-pixel distance (`npae.knn_bounds`; its PCA is fitted inside and timed).  "
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
                f"{ratio(row['speedup'])} faster", row["same_as_brute_force"] == sizes[row["dataset"]]["n_test"]))
        if row["features"] != "latent":
            continue
        gap = 100 * (base["accuracy"] - row["accuracy"])
        paper = row["paper"] or {}
        paper_gap = (base["paper"]["accuracy"] - paper["accuracy"]) if paper and base["paper"] else None
        checks.append(Check(
            f"{DATASET_TITLES[row['dataset']]}: kNN on {row['dimension']} latent features is within a few points "
            "of raw pixels (at most 10)", f"{paper_gap:.1f} points" if paper_gap is not None else "",
            f"{gap:.1f} points", gap <= 10))
        slowest_latent = max(row["times"])  # the speed-up holds for the least favourable run too
        checks.append(Check(
            f"{DATASET_TITLES[row['dataset']]}, R^{row['dimension']}: ... at a large speed-up (at least 10x, "
            "median of the runs; the slowest run gives the number in brackets)",
            ratio(base["paper"]["seconds"] / paper["seconds"]) if paper and base["paper"] else "",
            f"{ratio(row['speedup'])} ({ratio(min(base['times']) / slowest_latent)})", row["speedup"] >= 10))
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
    plots.dimensionality_figure(path, result, f"m = {m} uniform points in [0, 1]^d: no neighbourhood is local")
    text = [
        "## 3. The curse of dimensionality (paper table 3)",
        "",
        f"m = {m} points uniform in [0, 1]^d.  A cube of side l holds m l^d of them on average, so the cube "
        "expected to hold one point has side **l = (1/m)^(1/d)**.  Beside the formula, a simulation "
        f"({result['trials']} draws of the m points): the points actually inside a randomly placed cube of side "
        "l (the formula says 1); the side of the smallest cube at a corner of [0, 1]^d that holds a point "
        "(its median is (ln 2 / m)^(1/d), a little below l, because the cube expected to hold one point holds "
        "none 37 % of the time); the points in a cube of side 1/10 (formula m / 10^d); and the ratio of the "
        "nearest to the farthest distance from a random point, which tends to 1: in high dimension all "
        "points are about equally far away.",
        "",
        table(["d", "l = (1/m)^(1/d)", "paper", "points in a cube of side l (simulated)",
               "smallest cube, median: theory", "simulated", "points in a cube of side 0.1: m/10^d",
               "simulated", "nearest / farthest distance"], table_rows),
        "",
        "The paper prints 0.003 for d = 2; (1/1000)^(1/2) = 0.032 (a typo in the paper).",
        "",
        _image(link, "side of the cube against the dimension"),
    ]
    tolerance = 3 / np.sqrt(result["trials"])   # three standard errors of a mean of Poisson(1) counts
    agree = all(abs(row["mean_count"] - 1) <= tolerance and abs(row["median_smallest_side"] - row["median_theory"])
                <= 0.05 for row in rows)
    big = [row for row in rows if row["d"] >= 100]
    checks = [
        Check("the simulation agrees with l = (1/m)^(1/d)", "table 3 (formula only)",
              "counts " + ", ".join(f"{row['mean_count']:.2f}" for row in rows) + " (formula: 1)", agree),
        Check("in high dimension the cube holding one point spans almost the whole axis", "0.93 at d = 100",
              ", ".join(f"{row['formula']:.2f} at d = {row['d']}" for row in big),
              all(row["formula"] > 0.9 for row in big) if big else None),
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
                         f"{shoe['rank']} of {n_scored:,}")
    paper_ratio = paper["shoe_error"] / paper["second_error"] if {"shoe_error", "second_error"} <= set(paper) else None
    main_rows = [
        [f"RE of the shoe ({shoe['name']}, Fashion-MNIST test image {shoe['fashion_index']})",
         paper.get("shoe_error", ""), f"{shoe['error']:.4f}"],
        [f"its rank among the {n_scored:,} images", "1", shoe["rank"]],
        ["largest RE of a digit (the second largest in the paper)", paper.get("second_error", ""),
         f"{digit['error']:.4f}"],
        ["shoe RE / largest digit RE", f"{paper_ratio:.1f}" if paper_ratio else "",
         f"{shoe['error'] / digit['error']:.1f}"],
    ]
    shoe_rows = [[f"{item['name']} (test image {item['fashion_index']})", f"{item['error']:.4f}", item["rank"],
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
        table(["shoe", "RE", "rank", "RE / largest digit RE"], shoe_rows),
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
                   + [f"{error:.4f} (rank {rank})" for error, rank in zip(entry["shoe_errors"], entry["shoe_ranks"])]
                   for entry in per_model]),
            "",
        ]
    text += [
        f"Beyond the paper: {injection['n_injected']} Fashion-MNIST test images (any class) hidden among the "
        "digits, ranked by RE.  The paper suggests several models for stability: the ensemble rows average or "
        "take the maximum of their REs; PCA with as many components is the linear baseline.  Precision at n: "
        f"the share of true anomalies among the {injection['n_injected']} largest scores.",
        "",
        table(["method", "ROC AUC", "average precision", "precision at n"], injection_rows),
    ]
    checks = [
        Check("the shoe has the largest RE of all", f"rank 1, RE {paper.get('shoe_error', '?')}",
              f"rank {shoe['rank']} of {n_scored:,}, RE {shoe['error']:.4f}", shoe["rank"] == 1),
        Check("the largest RE of a digit is far below the shoe's (at most half)",
              f"{paper.get('second_error', '?')}, about a third",
              f"{digit['error']:.4f}, {digit['error'] / shoe['error']:.2f} of the shoe's",
              digit["error"] <= 0.5 * shoe["error"]),
    ]
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
    denoised = by_name.get("denoised", result["rows"][-1])
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
    baselines = [row for row in result["rows"] if row is not denoised]
    checks = [Check("the denoising autoencoder returns clean digits (lower error than its input)",
                    "figure 12 (by eye)",
                    f"MSE {result['mse_noisy']:.4f} -> {result['mse_denoised']:.4f}",
                    all(result["mse_denoised"] < row["mse"] for row in baselines))]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 6. PCA

def pca(result, figures):
    rows = result["rows"]
    path, link = figures.path("pca")
    latent_sizes = [row["latent_size"] for row in rows]
    plots.line_figure(path, latent_sizes, {"PCA (best linear)": [row["pca_mse"] for row in rows],
                                           "autoencoder 784-q-784": [row["autoencoder_mse"] for row in rows]},
                      "Test reconstruction error against the number of features q", "q (latent features)",
                      "test MSE per pixel (log)", log_y=True, log_x=True)
    linear = result["linear"]
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
        _image(link, "reconstruction error against q"),
        "",
        f"A *linear* autoencoder (identity activations, MSE, centred inputs, q = {linear['latent_size']}) learns "
        "PCA's subspace: its reconstruction error and the principal angles between its decoder's span and "
        "PCA's first q components:",
        "",
        table(["", "value"], align="lr", rows=[
            ["linear autoencoder, test MSE (centred data)", f"{linear['linear_autoencoder_mse']:.5f}"],
            ["PCA, test MSE", f"{linear['pca_mse']:.5f}"],
            ["largest principal angle", f"{linear['max_angle_degrees']:.2f} degrees"],
            ["median principal angle", f"{float(np.median(linear['angles_degrees'])):.2f} degrees"]]),
    ]
    close = linear["linear_autoencoder_mse"] <= 1.1 * linear["pca_mse"]
    checks = [Check("a linear autoencoder trained with MSE does what PCA does", "section 3.5 (no number)",
                    f"MSE {linear['linear_autoencoder_mse']:.5f} vs PCA {linear['pca_mse']:.5f}, largest angle "
                    f"{linear['max_angle_degrees']:.1f} degrees", close)]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# 7. Compression

def compression(result, figures):
    rows = result["rows"]
    path, link = figures.path("compression")
    storages = list(dict.fromkeys(row["storage"] for row in rows))
    latent_sizes = list(dict.fromkeys(row["latent_size"] for row in rows))
    by_key = {(row["latent_size"], row["storage"]): row for row in rows}
    series = {f"codes stored as {storage}": ([by_key[q, storage]["bytes_per_image"] for q in latent_sizes],
                                             [by_key[q, storage]["psnr"] for q in latent_sizes],
                                             [f"q={q}" for q in latent_sizes]) for storage in storages}
    plots.tradeoff_figure(path, series, "Decoded test images: quality against bytes per image (raw: 784)",
                          "bytes per image (log scale)", "PSNR (dB, higher is better)")
    table_rows = [[row["latent_size"], row["storage"], f"{row['bytes_per_image']:.2f}", ratio(row["ratio"]),
                   ratio(row["ratio_with_decoder"]), f"{row['mse']:.5f}", f"{row['psnr']:.1f} dB"] for row in rows]
    file_rows = [[entry["latent_size"], f"{entry['bytes']:,}", ratio(entry["ratio"]),
                  number(entry["max_difference_after_reload"], 2)] for entry in result["files"]]
    text = [
        "## 7. Compression (paper section 3.6)",
        "",
        f"The encoder turns each 784-byte test digit ({result['n_images']:,} of them) into q numbers; only the "
        "decoder can turn them back.  Ratio: 784 bytes of pixels against the bytes of the codes (with the "
        f"decoder's weights: a self-contained set).  Models: the paper's FFA, {_epochs_text(result)}.",
        "",
        table(["q", "stored as", "bytes per image", "ratio", "ratio with decoder", "MSE", "PSNR"], table_rows),
        "",
        "One file per q (uint8 codes of the whole test set plus the decoder), written and read back:",
        "",
        table(["q", "bytes on disk", "ratio", "largest pixel difference after reloading"], file_rows),
        "",
        _image(link, "PSNR against the code size"),
    ]
    best = max(rows, key=lambda row: row["ratio"])
    checks = [Check("the encoder is a lossy compressor", "784 bytes -> q numbers",
                    f"{ratio(best['ratio'])} smaller at q = {best['latent_size']} ({best['storage']}), "
                    f"PSNR {best['psnr']:.1f} dB", None)]
    return Section("\n".join(text), checks)


# ------------------------------------------------------------------------------------------------
# Training curves of every model that kept them

PYTORCH_REFERENCES = [(0.0782, "PyTorch q=64, 30 epochs, default init: 0.0782"),
                      (0.2005, "PyTorch q=8, 30 epochs, default init: 0.2005")]


def training_curves(results, figures):
    """The curves of experiments 1, 2 and 5 in one figure (None when no experiment kept curves)."""
    bce, mse = {}, {}
    if "reconstruction" in results:
        for label, curve in results["reconstruction"]["curves"].items():
            (mse if "MSE" in label else bce)[f"MNIST {label}"] = curve
    if "knn" in results:
        for q, model in sorted(results["knn"]["models"].items()):
            history = model.history_.history if model.history_ is not None else None
            if history:
                bce[f"Fashion q={q}, BCE"] = history
    if "denoising" in results:
        bce[f"denoising q={results['denoising']['latent_size']}"] = results["denoising"]
    if not bce and not mse:
        return None
    panels = {}
    if bce:
        references = PYTORCH_REFERENCES if "reconstruction" in results else []
        panels["binary cross-entropy per pixel (log)"] = (bce, references)
    if mse:
        panels["MSE per pixel (log)"] = (mse, [])
    path, link = figures.path("training-curves")
    plots.training_curves(path, panels, "Training curves (denoising: validation on 20 % held-out noisy images)")
    return "\n".join(["## Training curves", "",
                      "Every model that kept its history.  Dashed black lines: PyTorch's final test BCE with the "
                      "paper's set-up (30 epochs) but PyTorch's default initialisation, from the planning notes "
                      "(see section 1: with Glorot initialisation PyTorch matches npae).", "", _image(link, "training curves")])
