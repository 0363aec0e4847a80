"""The report's figures, drawn with matplotlib's object-oriented API on the Agg canvas.

No pyplot: each figure is a ``matplotlib.figure.Figure`` attached to a ``FigureCanvasAgg``, written to
a PNG (atomically: a temporary file, then a rename) and cleared.  pyplot would keep every figure alive
in its global list until ``plt.close`` (and warn after 20); this way nothing outlives its function,
and no display is ever needed.  matplotlib is imported on the first figure only, so ``npae --help``
stays fast.

Conventions, so that every figure reads at a glance: a title that states the finding, labelled axes
with units, our results in colour, the paper's values in black (crosses or dashed lines, labelled
"paper").
"""
from contextlib import contextmanager

import numpy as np

from ..io import atomic_write

DPI = 110
PAPER_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1}
PAPER_MARKER = {"color": "black", "marker": "x", "s": 60, "zorder": 5, "linewidths": 2}


@contextmanager
def new_figure(path, width, height):
    """Yield an empty Figure; on exit write it to ``path`` as a PNG and release it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    try:
        yield figure
        atomic_write(path, lambda stream: figure.savefig(stream, format="png"))
    finally:
        figure.clear()


def _as_square(image):
    """A flattened image (n,) as (side, side) for imshow."""
    side = int(round(np.sqrt(image.size)))
    return np.asarray(image, dtype=np.float32).reshape(side, side)


def image_rows(path, rows, title, column_titles=None):
    """A grid of images: one row per ``(label, images (n, side^2))`` pair, pixels in [0, 1] (clipped)."""
    n_columns = max(len(images) for _, images in rows)
    with new_figure(path, 1.0 * n_columns + 1.4, 1.05 * len(rows) + 0.5) as figure:
        figure.suptitle(title)
        axes = figure.subplots(len(rows), n_columns, squeeze=False)
        for row, (label, images) in enumerate(rows):
            for column in range(n_columns):
                ax = axes[row, column]
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if column < len(images):
                    ax.imshow(np.clip(_as_square(images[column]), 0, 1), cmap="gray", vmin=0, vmax=1)
                if column == 0:
                    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
                if row == 0 and column_titles is not None and column < len(column_titles):
                    ax.set_title(column_titles[column], fontsize=9)


def training_curves(path, panels, title):
    """One panel per loss: ``panels`` maps a y-axis label to ``(curves, references)``, with curves
    ``{label: {"loss": [...], "val_loss": [...]}}`` and references ``[(value, text)]`` drawn as dashed
    lines.  Training loss dashed, validation loss solid, one colour per model."""
    from matplotlib.ticker import MaxNLocator

    with new_figure(path, 5.2 * len(panels), 5.0) as figure:
        figure.suptitle(title)
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (ylabel, (curves, references)) in zip(axes, panels.items()):
            for index, (label, curve) in enumerate(curves.items()):
                color = f"C{index}"
                epochs = np.arange(1, len(curve["loss"]) + 1)
                ax.plot(epochs, curve["loss"], color=color, linestyle=":", linewidth=1.2)
                if curve.get("val_loss"):
                    ax.plot(epochs, curve["val_loss"], color=color, marker="." if len(epochs) < 10 else None,
                            label=f"{label} (test)")
            last_epoch = max((len(curve["loss"]) for curve in curves.values()), default=1)
            for value, text in references:
                ax.axhline(value, **PAPER_STYLE)
                ax.annotate(text, (last_epoch, value), xytext=(0, 2), textcoords="offset points", fontsize=8,
                            ha="right", va="bottom")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            # Below the axes: inside, it would hide curves or the reference labels.
            ax.legend(fontsize=7, title="solid: test, dotted: training", title_fontsize=7, ncol=2,
                      loc="upper center", bbox_to_anchor=(0.5, -0.18))


def knn_figure(path, rows, title):
    """Accuracy and running time of each kNN row, as dots (``label``, ``accuracy`` %, ``seconds`` median,
    ``times`` of every run, ``features``, ``paper`` values).

    Dots, not bars: on the time panel's log axis a bar's length would depend on where the axis starts,
    and the accuracy axis runs from 0 to 100 % so that it does not magnify a few points into a gulf.
    The line through a time dot spans the fastest to the slowest run.  Gridlines stay behind the data.
    """
    labels = [row["label"] for row in rows]
    positions = np.arange(len(rows))
    bounds = np.array(["lower bounds" in row["features"] for row in rows])
    with new_figure(path, 10.5, 0.45 * len(rows) + 1.8) as figure:
        figure.suptitle(title)
        accuracy_ax, time_ax = figure.subplots(1, 2, sharey=True)
        for ax in (accuracy_ax, time_ax):
            ax.set_axisbelow(True)
            ax.grid(axis="x", alpha=0.3, which="both")
        for mask, style in ((~bounds, {"color": "C0", "marker": "o", "label": "npae, this machine (median of the runs)"}),
                            (bounds, {"color": "C2", "marker": "D", "label": "npae, exact with lower bounds"})):
            if not mask.any():
                continue
            accuracy_ax.scatter([row["accuracy"] for row, chosen in zip(rows, mask) if chosen], positions[mask],
                                s=40, zorder=3, **style)
            time_ax.scatter([row["seconds"] for row, chosen in zip(rows, mask) if chosen], positions[mask],
                            s=40, zorder=3, **style)
        for number, (position, row) in enumerate(zip(positions, rows)):
            times = row.get("times") or [row["seconds"]]
            time_ax.plot([min(times), max(times)], [position, position], color="0.4", linewidth=1.5, zorder=2,
                         label="fastest to slowest run" if number == 0 else None)
        for ax, key in ((accuracy_ax, "accuracy"), (time_ax, "seconds")):
            paper = [(position, row["paper"][key]) for position, row in zip(positions, rows) if row["paper"]]
            if paper:
                ax.scatter([value for _, value in paper], [position for position, _ in paper],
                           label="paper (Colab)", **PAPER_MARKER)
        accuracy_ax.set_xlim(0, 100)
        accuracy_ax.set_xlabel("test accuracy (%)")
        time_ax.set_xscale("log")
        time_ax.set_xlabel("fit + predict (s, log scale)")
        accuracy_ax.set_yticks(positions, labels)
        accuracy_ax.invert_yaxis()
        handles, legend_labels = time_ax.get_legend_handles_labels()
        figure.legend(handles, legend_labels, fontsize=8, loc="outside lower center", ncol=len(handles))


def dimensionality_figure(path, result, title):
    """Side l of a cube holding one of m points against d, and the nearest/farthest distance ratio."""
    rows = result["rows"]
    d = [row["d"] for row in rows]
    with new_figure(path, 10.0, 4.0) as figure:
        figure.suptitle(title)
        side_ax, ratio_ax = figure.subplots(1, 2)
        side_ax.plot(result["curve"]["d"], result["curve"]["formula"], color="C0",
                     label=f"formula (1/m)^(1/d), m = {result['m']}")
        side_ax.plot(d, [row["median_smallest_side"] for row in rows], "o", color="C1",
                     label=f"simulated: smallest cube holding a point (median of {result['trials']})")
        paper = [(row["d"], row["paper"]) for row in rows if row["paper"] is not None]
        if paper:
            side_ax.scatter(*zip(*paper), label="paper, table 3", **PAPER_MARKER)
        side_ax.set_xscale("log")
        side_ax.set_xlabel("dimension d")
        side_ax.set_ylabel("side l of the cube")
        side_ax.set_ylim(0, 1.05)
        side_ax.grid(alpha=0.3, which="both")
        side_ax.legend(fontsize=8, loc="lower right")
        ratio_ax.plot(d, [row["distance_ratio"] for row in rows], "o-", color="C2")
        ratio_ax.set_xscale("log")
        ratio_ax.set_ylim(0, 1.05)
        ratio_ax.set_xlabel("dimension d")
        ratio_ax.set_ylabel("nearest / farthest distance")
        ratio_ax.set_title("from a random point to the m points: all alike in high d", fontsize=9)
        ratio_ax.grid(alpha=0.3, which="both")


def anomaly_figure(path, shoe, digit, all_errors, paper, title):
    """Top: the shoe, its reconstruction, the digit with the largest RE, its reconstruction.
    Bottom: histogram of all the REs (log counts) with the shoe, that digit and the paper's values marked.

    shoe, digit : dicts with ``image``, ``reconstruction``, ``error`` (and ``name`` for the shoe)
    all_errors : (N,) every RE scored, the shoe's included
    paper : {"shoe_error": ..., "second_error": ...}
    """
    with new_figure(path, 10.0, 6.4) as figure:
        figure.suptitle(title)
        top, bottom = figure.subfigures(2, 1, height_ratios=[1, 1.25])
        panels = [(shoe["image"], f"{shoe.get('name', 'shoe')}\n(Fashion-MNIST)"),
                  (shoe["reconstruction"], f"its reconstruction\nRE {shoe['error']:.4f}"),
                  (digit["image"], "digit with the largest RE"),
                  (digit["reconstruction"], f"its reconstruction\nRE {digit['error']:.4f}")]
        for ax, (image, text) in zip(top.subplots(1, 4), panels):
            ax.imshow(np.clip(_as_square(image), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(text, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = bottom.subplots()
        upper = max(np.max(all_errors), paper.get("shoe_error", 0)) * 1.05
        ax.hist(all_errors, bins=np.linspace(0, upper, 120), color="C0", log=True)
        ax.axvline(shoe["error"], color="C3", linewidth=2, label=f"the {shoe.get('name', 'shoe')}: {shoe['error']:.4f}")
        ax.axvline(digit["error"], color="C1", linewidth=1.5, label=f"largest digit RE: {digit['error']:.4f}")
        for key, text in (("shoe_error", "paper: the shoe"), ("second_error", "paper: second largest")):
            if key in paper:
                ax.axvline(paper[key], label=f"{text}: {paper[key]}", **PAPER_STYLE)
        ax.set_xlabel("reconstruction error (MSE per pixel)")
        ax.set_ylabel("number of images (log)")
        ax.set_title(f"all {len(all_errors):,} reconstruction errors", fontsize=9)
        ax.legend(fontsize=8)


def line_figure(path, x, series, title, xlabel, ylabel, log_y=False, log_x=False, references=()):
    """Lines with markers: ``series`` maps a label to y values (aligned with ``x``); ``references`` are
    ``(value, text)`` dashed horizontal lines (the paper's values)."""
    with new_figure(path, 6.0, 4.0) as figure:
        ax = figure.subplots()
        ax.set_title(title)
        for index, (label, values) in enumerate(series.items()):
            ax.plot(x, values, marker="o", color=f"C{index}", label=label)
        for value, text in references:
            ax.axhline(value, label=text, **PAPER_STYLE)
        if log_y:
            ax.set_yscale("log")
        if log_x:
            ax.set_xscale("log", base=2)
            ax.set_xticks(x, [str(value) for value in x])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)


def tradeoff_figure(path, series, title, xlabel, ylabel):
    """One line per entry of ``series``: ``label -> (x values, y values, point labels)``, x on a log scale.
    Shows a trade-off (e.g. bytes per image against quality), each point annotated with its label."""
    with new_figure(path, 6.4, 4.2) as figure:
        ax = figure.subplots()
        ax.set_title(title)
        for index, (label, (x, y, point_labels)) in enumerate(series.items()):
            ax.plot(x, y, marker="o", color=f"C{index}", label=label)
            for x_value, y_value, text in zip(x, y, point_labels):
                ax.annotate(text, (x_value, y_value), xytext=(4, -10), textcoords="offset points", fontsize=7,
                            color=f"C{index}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
