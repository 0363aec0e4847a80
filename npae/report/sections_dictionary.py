"""Report section of experiment 11 (``npae.experiments.dictionary``): TopK sparse dictionaries, and their figures.

``dictionary(result, figures)`` returns the Section; the four figures are drawn here (matplotlib's object
API through ``npae.report.figures.new_figure``, as every figure of the report).
"""
import numpy as np

from ..dictionary_metrics import optimal_assignment
from ..experiments.dictionary import FIRING_PROBABILITY, MAGNITUDE_MEAN, MAGNITUDE_STD
from ..progress import counted
from .claims import Check
from .figures import MOSAIC_GAP, _mosaic, new_figure
from .markdown import percent, seconds, table

MATCHING_TARGET = 0.99     # the target for 16 features in 32 dimensions (a PyTorch TopK SAE: about 0.999)
DECISIVE_LATENTS = 5       # fewer dead latents apart than this, with and without AuxK, decides nothing
GAO_AUXK = "Gao et al. 2024, A.2: far fewer dead latents (large dictionaries on GPT activations)"


# ------------------------------------------------------------------ figures
def cosine_figure(path, cosines, title):
    """One heatmap per case: |cos| between the true features (columns) and the learned directions (rows),
    the learned ones put in the order of their optimal matching, unmatched ones below."""
    with new_figure(path, 4.2 * len(cosines) + 0.6, 4.4) as figure:
        figure.suptitle(title)
        axes = figure.subplots(1, len(cosines), squeeze=False)[0]
        for ax, (name, similarity) in zip(axes, cosines.items()):
            magnitude = np.abs(similarity)                           # (n learned, m true)
            rows, columns = optimal_assignment(-magnitude)
            matched = rows[np.argsort(columns)]
            order = np.concatenate([matched, np.setdiff1d(np.arange(magnitude.shape[0]), matched)])
            image = ax.imshow(magnitude[order], cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("true feature")
            ax.set_ylabel("learned latent (matched first)")
        figure.colorbar(image, ax=list(axes), label="|cosine|", shrink=0.8)


def dead_latent_figure(path, panels, title):
    """Panels of curves: the share of dead latents after each epoch, with and without AuxK."""
    with new_figure(path, 5.0 * len(panels), 3.8) as figure:
        figure.suptitle(title)
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (panel_title, curves) in zip(axes, panels.items()):
            for index, (label, values) in enumerate(curves.items()):
                ax.plot(np.arange(1, len(values) + 1), 100 * np.asarray(values), marker="o", color=f"C{index}",
                        label=label)
            ax.set_title(panel_title, fontsize=10)
            ax.set_xticks(np.arange(1, max(len(values) for values in curves.values()) + 1))
            ax.set_xlabel("epoch")
            ax.set_ylabel("dead latents (%)")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)


def feature_figure(path, pictures, title):
    """One column per feature: the stroke it adds (red adds ink, blue removes it), then its top test images.
    Two mosaics (one image each, ``figures._mosaic``), not one axis per tile: 60 axes take seconds to lay out."""
    strokes, images = pictures["strokes"], pictures["top_images"]        # (F, 784), (F, T, 784)
    n_features, n_images = images.shape[:2]
    limit = max(float(np.abs(strokes).max()), 1e-6)
    stroke_mosaic = _mosaic(0.5 + strokes / (2 * limit), 1, n_features)  # [-limit, limit] -> [0, 1]
    stroke_mosaic[_mosaic(np.zeros_like(strokes), 1, n_features) == 1] = 0.5   # white gaps in "bwr"
    image_mosaic = _mosaic(images.transpose(1, 0, 2), n_images, n_features)    # row r: each feature's r-th image
    side = 28
    centres = np.arange(n_features) * (side + MOSAIC_GAP) + (side - 1) / 2
    with new_figure(path, 0.75 * n_features + 1.0, 0.75 * (n_images + 1) + 1.1) as figure:
        figure.suptitle(title)
        top, bottom = figure.subplots(2, 1, height_ratios=[1, n_images])
        top.imshow(stroke_mosaic, cmap="bwr", vmin=0, vmax=1)
        top.set_xticks(centres, [f"#{j}" for j in pictures["features"]], fontsize=8)
        top.xaxis.tick_top()
        top.set_yticks([])
        top.set_ylabel("stroke", fontsize=8)
        bottom.imshow(image_mosaic, cmap="gray", vmin=0, vmax=1)
        bottom.set_xticks([])
        bottom.set_yticks([])
        bottom.set_ylabel("most activating test images", fontsize=8)


def frequency_figure(path, frequencies, title):
    """Histograms of log10(frequency) of the live latents, one per model; the dead ones are counted in the legend."""
    with new_figure(path, 6.0, 3.8) as figure:
        ax = figure.subplots()
        ax.set_title(title)
        every = np.concatenate([np.asarray(values)[np.asarray(values) > 0] for values in frequencies.values()])
        bins = np.linspace(np.log10(every.min()), np.log10(every.max()), 31)
        for index, (label, values) in enumerate(frequencies.items()):
            values = np.asarray(values)
            live = values[values > 0]
            ax.hist(np.log10(live), bins=bins, color=f"C{index}", alpha=0.55,
                    label=f"{label}: {live.size} live latents, {values.size - live.size} never active")
        ax.set_xlabel("log10(fraction of test images on which the latent is active)")
        ax.set_ylabel("latents")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


# ------------------------------------------------------------------ text
def _auxk_label(row):
    return "AuxK" if row["auxk"] else "no AuxK"


def _synthetic_table(rows):
    return table(["data", "latents, k", "AuxK", "matching score", "MCC (SAELens)", "mean max cosine", "L0",
                  "dead (test)", "dead (training)", "normalised MSE"],
                 [[row["case"], f"{row['n_latents']}, {row['k']}", "1/32" if row["auxk"] else "off",
                   f"{row['matching_score']:.4f}", f"{row['mcc']:.4f}", f"{row['mean_max_cosine']:.4f}",
                   f"{row['l0']:.2f}", percent(row["dead_fraction"], 1), percent(row["training_dead"], 1),
                   f"{row['normalized_mse']:.4f}"] for row in rows], align="lllrrrrrrr")


def _auxk_verdict(without, with_auxk, where, n_latents):
    """The paper's claim about AuxK, tested on one pair of runs; a difference of fewer than
    ``DECISIVE_LATENTS`` latents decides nothing (one seed, one run each)."""
    before, after = without["dead_fraction"], with_auxk["dead_fraction"]
    ours = (f"{percent(after, 1)} with AuxK against {percent(before, 1)} without (never active on the test "
            "rows)")
    difference = round(abs(before - after) * n_latents)
    if difference < DECISIVE_LATENTS:
        return Check(f"AuxK leaves fewer dead latents ({where})", GAO_AUXK,
                     f"{ours}: {difference} of {n_latents} latents apart, too few to tell", None)
    return Check(f"AuxK leaves fewer dead latents ({where})", GAO_AUXK, ours, after < before)


def dictionary(result, figures):
    synthetic, mnist = result["synthetic"], result["mnist"]
    rows, wide_rows = synthetic["rows"], synthetic["wide_rows"]
    plain = [row for row in rows if row["n_features"] <= row["dimensions"]]
    best_plain = min(row["matching_score"] for row in plain)

    path, cosines_link = figures.path("dictionary_cosines")
    scores = {row["case"]: row["matching_score"] for row in rows if row["auxk"]}
    cosine_figure(path, synthetic["cosines"], "Learned against true feature directions, matching score "
                  + ", ".join(f"{score:.3f} ({case})" for case, score in scores.items()))
    wide = {_auxk_label(row): row for row in wide_rows}
    mnist_rows = {_auxk_label(row): row for row in mnist["rows"]}
    path, dead_link = figures.path("dictionary_dead_latents")
    dead_latent_figure(path, {
        f"synthetic 16 in 32, {wide_rows[0]['n_latents']} latents, k = {wide_rows[0]['k']}": {
            label: synthetic["dead_curves"][label] for label in ("no AuxK", "AuxK")},
        f"MNIST codes, {mnist['n_latents']} latents, k = {mnist['k']}": {
            label: row["dead_by_epoch"] for label, row in mnist_rows.items()},
    }, "Dead latents during training, with and without AuxK")
    pictures = mnist["pictures"]
    path, features_link = figures.path("dictionary_features")
    feature_figure(path, pictures, f"The {len(pictures['features'])} most frequent features of the 784-64-784 "
                   "code: the stroke each adds, and the test digits that activate it most")
    path, frequency_link = figures.path("dictionary_frequencies")
    frequency_figure(path, mnist["frequencies"], "How often each dictionary feature fires on the test codes")
    toy_change, mnist_change = (_dead_change(pair["no AuxK"], pair["AuxK"]) for pair in (wide, mnist_rows))

    bce = mnist["bce"]
    quick_note = ("QUICK run: fewer training rows and epochs (stated below); the numbers show the method, "
                  "not its best.  " if result.get("quick") else "")
    timings = ", ".join(f"{part} {seconds(value)}" for part, value in result["seconds"].items())
    text = [
        "## 11. Beyond the paper: sparse dictionaries (TopK autoencoders) and the features of npae's own model",
        "",
        "Where people meet autoencoders today is often interpretability: a *sparse autoencoder* trained on a "
        "network's activations, whose decoder rows form a dictionary of feature directions (Bricken et al. "
        "2023; Gao et al. 2024, \"Scaling and evaluating sparse autoencoders\", with code in "
        "openai/sparse_autoencoder; the SAELens library).  `npae.TopKSparseAutoencoder` follows Gao et al.'s "
        "recipe: a pre-encoder bias b_pre (at the data's geometric median), latents TopK(ReLU(W_enc (x - b_pre) "
        "+ b_enc)), unit-norm decoder rows (the gradient's parallel part removed before each Adam step, the "
        "rows renormalised after it), the decoder initialised as the encoder's transpose, the normalised MSE "
        "as the loss, and AuxK (alpha = 1/32) on the latents dead for "
        f"{result['dead_after']:,} training samples.  Adam, learning rate {result['learning_rate']:g}, batch "
        f"{result['batch_size']}.  {quick_note}Time: {timings}.",
        "",
        "### 11.1 Synthetic superposition: known features, recovered",
        "",
        f"As SAELens' toy benchmark: true unit feature directions, each firing with probability "
        f"{FIRING_PROBABILITY:g} with a magnitude max(0, N({MAGNITUDE_MEAN:g}, {MAGNITUDE_STD:g}^2)); "
        f"{synthetic['train_rows']:,} training rows, {counted(synthetic['epochs'], 'epoch')}, scored on "
        f"{synthetic['test_rows']:,} new rows.  *Matching score*: the mean cosine of the best one-to-one "
        "matching of learned to true directions (Hungarian algorithm); *MCC*: the same on |cosine|, as "
        "SAELens reports it; *mean max cosine*: each true feature's best cosine, without the one-to-one "
        "constraint.  k = 6 against a mean of 4 true features per row: with k = 4, TopK drops a feature on "
        "37 % of the rows and even the least-squares dictionary for the ideal codes scores only 0.994.",
        "",
        _synthetic_table(rows),
        "",
        f"![cosines between learned and true features]({cosines_link})",
        "",
        "With 32 features in 16 dimensions, 8 are active per row on average: no 16-dimensional point says "
        "which 8 of 32 nearly-orthogonal directions made it, and the dictionary finds mixtures instead.",
        "",
        "### 11.2 What AuxK changes in dead latents",
        "",
        f"A latent is dead when it has fired on none of the last {result['dead_after']:,} training samples "
        "(\"dead (training)\"); \"dead (test)\" counts the latents active on no test row.  On the toy data "
        f"a dictionary {wide_rows[0]['n_latents'] // wide_rows[0]['n_features']}x wider than its "
        f"{wide_rows[0]['n_features']} features, with and without AuxK; on MNIST's codes, the dictionary of 11.3:",
        "",
        table(["data", "latents, k", "AuxK", "dead (test)", "dead (training)", "ReLU input < 0 on every test row",
               "normalised MSE"],
              [[row["case"], f"{row['n_latents']}, {row['k']}", "1/32" if row["auxk"] else "off",
                percent(row["dead_fraction"], 1), percent(row["training_dead"], 1),
                percent(row["relu_dead_fraction"], 1), f"{row['normalized_mse']:.4f}"] for row in wide_rows]
              + [["MNIST codes (q = 64)", f"{mnist['n_latents']}, {mnist['k']}", "1/32" if row["auxk"] else "off",
                  percent(row["dead_fraction"], 1), percent(row["training_dead"], 1),
                  percent(row["relu_dead_fraction"], 1), f"{row['normalized_mse']:.4f}"]
                 for row in mnist["rows"]], align="lllrrrr"),
        "",
        f"![dead latents during training]({dead_link})",
        "",
        f"With AuxK the share of dead latents {toy_change} on the toy and {mnist_change} on MNIST's codes.  "
        "AuxK gives a dead latent a gradient again only where its ReLU input is positive and among the k_aux "
        "largest of the dead: it then learns to reconstruct what the live latents miss.  On MNIST's codes that "
        "residual holds structure no live latent covers, so a revived latent has something to fire for.  On "
        f"the toy, {wide_rows[0]['n_features']} true features leave little for {wide_rows[0]['n_latents']} "
        "latents to explain, and minimising the AuxK loss can as well push a dead latent's input below zero "
        "everywhere, beyond the reach of any gradient (the column \"ReLU input < 0 on every test row\").  "
        "Gao et al. report AuxK's effect for dictionaries of up to 16 million latents on GPT-4 activations, "
        "where there is always more to explain.",
        "",
        "### 11.3 The features of npae's own model",
        "",
        f"A dictionary of {mnist['n_latents']} latents, k = {mnist['k']}, on the 64-dimensional codes of the paper's "
        f"FFA 784-64-784 (the reference model, {counted(mnist['autoencoder_epochs'] or 0, 'epoch')}), trained "
        f"{counted(mnist['epochs'], 'epoch')} on {mnist['train_rows']:,} training images' codes, with AuxK.  "
        "Each feature j is decoded through the FFA's decoder f into the stroke it adds to a typical code, "
        "f(b_pre + s_j d_j) - f(b_pre), s_j its mean activation when active (red: ink added, blue: removed), "
        f"above the {pictures['top_images'].shape[1]} test digits that activate it most.  The frequencies are those "
        "of both dictionaries of 11.2, with and without AuxK.",
        "",
        f"![dictionary features]({features_link})",
        "",
        f"![feature frequencies]({frequency_link})",
        "",
        "*Loss recovered*: the test BCE per pixel when the SAE's reconstruction of each code is spliced into "
        "the FFA's decoder, between the original code's and a zero code's "
        "(BCE_zero - BCE_SAE) / (BCE_zero - BCE_original):",
        "",
        table(["code given to the decoder", "test BCE per pixel"],
              [["the FFA's own code", f"{bce['original']:.4f}"],
               [f"the SAE's reconstruction of it ({mnist['k']} of {mnist['n_latents']} features)",
                f"{bce['spliced']:.4f}"],
               ["zero", f"{bce['zero']:.4f}"],
               ["**loss recovered**", f"**{percent(mnist['loss_recovered'], 1)}**"]], align="lr"),
        "",
        f"Explained variance of the codes: {percent(1 - mnist_rows['AuxK']['normalized_mse'], 1)}; L0 = "
        f"{mnist_rows['AuxK']['l0']:.2f}; {percent(mnist_rows['AuxK']['dead_fraction'], 1)} of the latents never "
        "active on the test codes.",
    ]
    checks = [_undecided_if_quick(check, result.get("quick")) for check in (
        Check("TopK dictionary recovers 16 true features in 32 dimensions (matching score >= 0.99)",
              "SAELens toy benchmark; PyTorch TopK: about 0.999",
              ", ".join(f"{row['matching_score']:.4f} ({_auxk_label(row)})" for row in plain),
              best_plain >= MATCHING_TARGET),
        _auxk_verdict(wide["no AuxK"], wide["AuxK"], f"synthetic, {wide_rows[0]['n_latents']} latents",
                      wide_rows[0]["n_latents"]),
        _auxk_verdict(mnist_rows["no AuxK"], mnist_rows["AuxK"], "MNIST codes", mnist["n_latents"]),
    )]
    from .sections import Section  # here: sections.py imports this module at its end

    return Section("\n".join(text), checks)


def _undecided_if_quick(check, quick):
    """A claim that fails in a QUICK run is "not shown": a few hundred steps are too few to decide it."""
    if quick and check.holds is False:
        return check._replace(ours=f"{check.ours}; QUICK run: too few training steps to decide", holds=None)
    return check


def _dead_change(without, with_auxk):
    """"fell from 17.2 % to 0.4 %" (latents never active on the test rows), "rose from ...", or "stayed at ..."."""
    before, after = without["dead_fraction"], with_auxk["dead_fraction"]
    if after == before:
        return f"stayed at {percent(before, 1)}"
    return f"{'fell' if after < before else 'rose'} from {percent(before, 1)} to {percent(after, 1)}"
