"""The report's figures, drawn with matplotlib's object-oriented API on the Agg canvas.

No pyplot: each figure is a ``matplotlib.figure.Figure`` attached to a ``FigureCanvasAgg``, written to
a PNG (atomically: a temporary file, then a rename) and cleared.  pyplot would keep every figure alive
in its global list until ``plt.close`` (and warn after 20); this way nothing outlives its function,
and no display is ever needed.  matplotlib is imported on the first figure only, so ``npae --help``
stays fast.

Conventions, so that every figure reads at a glance: a title that states the finding, labelled axes
with units, our results in colour, the paper's values in black (crosses, or lines of distinct styles,
labelled "paper"), other references (PyTorch) dashed in the colour of the npae curve they match.
"""
from contextlib import contextmanager

import numpy as np

from .._files import atomic_open

DPI = 110
PAPER_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1}
PAPER_STYLES = [PAPER_STYLE, {"color": "black", "linestyle": ":", "linewidth": 1.6},
                {"color": "black", "linestyle": "-.", "linewidth": 1}]   # several paper lines on one axis
FLOOR_STYLE = {"color": "0.45", "linestyle": (0, (1, 3)), "linewidth": 1.4}
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
        with atomic_open(path) as stream:
            figure.savefig(stream, format="png")
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
    """One panel per entry of ``panels``, a list of dicts:

    title, ylabel : strings
    curves : ``{label: {"loss": [...], "val_loss": [...], "validation": "test" | "validation"}}``:
        training loss dotted, validation loss solid, one colour per model
    references : ``{label: [values per epoch]}``, drawn dashed in the colour of ``curves[label]``, for as
        many epochs as that curve has
    floor : ``(value, text)`` or None: the lowest value the loss can take, a grey dotted line
    lines : ``[(value, text)]``: other levels to compare with (a published final loss), dashed black lines
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    columns = min(2, len(panels))
    rows = (len(panels) + columns - 1) // columns
    with new_figure(path, 5.6 * columns, 4.6 * rows + 0.4) as figure:
        figure.suptitle(title)
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax, panel in zip(axes, panels):
            for index, (label, curve) in enumerate(panel["curves"].items()):
                color = f"C{index}"
                epochs = np.arange(1, len(curve["loss"]) + 1)
                ax.plot(epochs, curve["loss"], color=color, linestyle=":", linewidth=1.2)
                if curve.get("val_loss"):
                    ax.plot(epochs, curve["val_loss"], color=color, marker="." if len(epochs) < 10 else None,
                            label=f"{label} ({curve.get('validation', 'test')})")
                reference = (panel.get("references", {}).get(label) or [])[:len(epochs)]   # as many epochs
                if reference:
                    ax.plot(epochs[:len(reference)], reference, color=color, linestyle="--", linewidth=1, alpha=0.8)
            if panel.get("floor"):
                value, text = panel["floor"]
                ax.axhline(value, **FLOOR_STYLE)
                ax.annotate(text, (1, value), xytext=(2, 3), textcoords="offset points", fontsize=8, color="0.3")
            last_epoch = max((len(curve["loss"]) for curve in panel["curves"].values()), default=1)
            for value, text in panel.get("lines", []):
                ax.axhline(value, **PAPER_STYLE)
                ax.annotate(text, (last_epoch, value), xytext=(0, 2), textcoords="offset points", fontsize=8,
                            ha="right", va="bottom")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(panel["title"], fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(panel["ylabel"])
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            handles, _ = ax.get_legend_handles_labels()
            handles.append(Line2D([], [], color="0.3", linestyle=":", label="dotted: training loss"))
            if panel.get("references"):
                handles.append(Line2D([], [], color="0.3", linestyle="--", label="dashed: PyTorch, same set-up"))
            # Below the axes: inside, it would hide curves or the floor's label.
            ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))


def error_maps(path, extremes, title):
    """Originals, reconstructions and per-pixel squared errors of the best and worst reconstructions.

    extremes : dict with ``images``, ``reconstructions``, ``squared_errors`` (n, side^2), ``errors`` (n,) the
    MSE of each, ``labels`` (n,), ``count`` (the first ``count`` are the best, the rest the worst)
    """
    images, count = extremes["images"], extremes["count"]
    n_columns = len(images)
    largest = float(np.max(extremes["squared_errors"]))
    with new_figure(path, 1.0 * n_columns + 2.2, 4.3) as figure:
        figure.suptitle(title)
        axes = figure.subplots(3, n_columns, squeeze=False)
        shown = None
        for column in range(n_columns):
            rank = column + 1 if column < count else column - count + 1
            kind = "best" if column < count else "worst"
            axes[0, column].set_title(f"{kind} {rank}\ndigit {extremes['labels'][column]}, "
                                      f"RE {extremes['errors'][column]:.4f}", fontsize=7)
            for row, (picture, colours, top) in enumerate(((images[column], "gray", 1.0),
                                                           (extremes["reconstructions"][column], "gray", 1.0),
                                                           (extremes["squared_errors"][column], "magma", largest))):
                ax = axes[row, column]
                image = ax.imshow(np.clip(_as_square(picture), 0, top), cmap=colours, vmin=0, vmax=top)
                shown = image if row == 2 else shown
                ax.set_xticks([])
                ax.set_yticks([])
        for row, label in enumerate(("original", "reconstruction", "squared error")):
            axes[row, 0].set_ylabel(label, fontsize=8)
        figure.colorbar(shown, ax=axes[2, :].tolist(), shrink=0.9, label="(x - x~)^2")


def code_scatter(path, panels, labels, title):
    """One scatter per ``panels`` entry (``name``, ``codes`` (N, 2), ``knn_accuracy``), points coloured by
    ``labels`` (N,), digits 0-9, one legend for all."""
    from matplotlib.lines import Line2D

    labels = np.asarray(labels)
    size = float(np.clip(20_000 / max(len(labels), 1), 2, 12))    # points: small for 10,000, larger for fewer
    with new_figure(path, 4.2 * len(panels), 4.6) as figure:
        figure.suptitle(title)
        for ax, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
            codes = np.asarray(panel["codes"])
            ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=size, alpha=0.6,
                       linewidths=0, rasterized=True)
            ax.set_title(f"{panel['name']}\nkNN on the 2 numbers: {100 * panel['knn_accuracy']:.1f} %", fontsize=9)
            ax.set_xlabel("code 1")
            ax.set_ylabel("code 2")
        from matplotlib import colormaps

        colours = colormaps["tab10"]
        handles = [Line2D([], [], marker="o", linestyle="", color=colours(digit), label=str(digit))
                   for digit in range(10)]
        figure.legend(handles=handles, loc="outside right center", title="digit", fontsize=8)


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
        _legend_below(figure, side_ax)   # inside the axes it would sit on the curve
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
        for (key, text), style in zip((("shoe_error", "paper: the shoe"), ("second_error", "paper: second largest")),
                                      PAPER_STYLES):
            if key in paper:
                ax.axvline(paper[key], label=f"{text}: {paper[key]}", **style)
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


def grouped_bars(path, groups, title, ylabel, references=None):
    """Bars side by side within each group: ``groups`` maps a group label to ``[(bar label, value)]`` (the
    same bar labels in the same order in every group, one colour each); ``references`` maps
    ``(group, bar label)`` to the paper's value, drawn as a black cross on that bar."""
    references = references or {}
    with new_figure(path, 6.4, 4.0) as figure:
        ax = figure.subplots()
        ax.set_title(title)
        labels = list(groups)
        bar_labels = [label for label, _ in groups[labels[0]]]
        width = 0.8 / len(bar_labels)
        for index, bar_label in enumerate(bar_labels):
            positions = [group + (index - (len(bar_labels) - 1) / 2) * width for group in range(len(labels))]
            values = [dict(groups[label]).get(bar_label, np.nan) for label in labels]
            ax.bar(positions, values, width * 0.95, color=f"C{index}", label=bar_label)
            for position, label in zip(positions, labels):
                if (label, bar_label) in references:
                    ax.scatter([position], [references[(label, bar_label)]], **PAPER_MARKER)
        if references:
            ax.scatter([], [], label="paper's notebook (30 epochs, Keras)", **PAPER_MARKER)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
        _legend_below(figure, ax)        # inside the axes it would hide the tallest bars


def _legend_below(figure, ax):
    """The legend of ``ax`` under the figure, outside every axes: it can hide no data."""
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=min(len(handles), 3))


# ------------------------------------------------------------------------------------------------
# Beyond the paper: the variational autoencoder's pictures

MOSAIC_GAP = 2  # white pixels between the tiles of a mosaic


def _mosaic(images, rows, columns, gap=MOSAIC_GAP):
    """``rows * columns`` flattened square images of side s (in row order) as one array of
    (rows (s + gap) - gap, columns (s + gap) - gap) pixels, white between the tiles."""
    images = np.asarray(images, dtype=np.float32).reshape(rows * columns, -1)
    side = int(round(np.sqrt(images.shape[1])))
    mosaic = np.ones((rows * (side + gap) - gap, columns * (side + gap) - gap), dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = row * (side + gap), column * (side + gap)
        mosaic[top:top + side, left:left + side] = np.clip(image.reshape(side, side), 0, 1)
    return mosaic


def image_grid(path, images, rows, columns, title, axis_values=None, axis_label=None):
    """``rows x columns`` images (flattened, pixels in [0, 1]) as one mosaic, e.g. samples of a generative
    model.  ``axis_values`` (columns,) labels the columns and (reversed) the rows: a latent grid's z values."""
    size = 0.42 * max(rows, columns) + 1.2
    with new_figure(path, size, size + 0.3) as figure:
        figure.suptitle(title)
        ax = figure.subplots()
        ax.imshow(_mosaic(images, rows, columns), cmap="gray", vmin=0, vmax=1)
        if axis_values is None:
            ax.set_xticks([])
            ax.set_yticks([])
            return
        side = int(round(np.sqrt(np.asarray(images).reshape(rows * columns, -1).shape[1])))
        ticks = np.arange(columns) * (side + MOSAIC_GAP) + (side - 1) / 2          # tile centres
        labels = [f"{value:.1f}" for value in axis_values]
        ax.set_xticks(ticks[::2], labels[::2], fontsize=7)
        ax.set_yticks(ticks[::2], labels[::-1][::2], fontsize=7)
        ax.set_xlabel(f"{axis_label} 1")
        ax.set_ylabel(f"{axis_label} 2")


def latent_scatter(path, codes, labels, title):
    """2-D codes (N, 2) as points coloured by their label (N,): how a latent space sorts the digits."""
    with new_figure(path, 6.6, 5.6) as figure:
        figure.suptitle(title)
        ax = figure.subplots()
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6,
                            vmin=-0.5, vmax=9.5, rasterized=True)
        colorbar = figure.colorbar(points, ax=ax, ticks=range(10))
        colorbar.set_label("digit")
        ax.set_xlabel("mu_1")
        ax.set_ylabel("mu_2")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
