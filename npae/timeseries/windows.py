"""Cutting a series into windows, and turning per-window values back into one score per point.

A series is (T,) or (T, C) (T points, C channels).  A window of length w starting at point s holds the
points s .. s + w - 1; with a stride r the windows start at 0, r, 2r, ...  Point t is then covered by every
window whose start s satisfies s <= t <= s + w - 1.

Scores per point.  An autoencoder reconstructs whole windows, so each point gets one squared error per
window that covers it (w of them with stride 1, each seen at another position of the window).  They
become one score by

    "mean" (the default)  the average over the covering windows: every window's opinion counts, so one
                          badly reconstructed edge of a window (the first and last points of a window have
                          the least context) does not make a point anomalous by itself; the score is
                          smooth and ranks points well (ROC AUC, average precision);
    "max"                 the largest: a point is as anomalous as the worst window that contains it (more
                          sensitive, noisier: a spike spreads its score over the whole window);
    "min"                 the smallest: a point is anomalous only if every window covering it is, Keras'
                          tutorial's rule ("data i is an anomaly if samples (i - timesteps + 1) to (i) are").
"""
import numpy as np

from .._validation import check_positive_int

REDUCTIONS = ("mean", "max", "min")


def as_series(series, argument="series"):
    """``series`` as a float64 (T, C) array (a (T,) series becomes (T, 1)); ValueError if it is not one."""
    array = np.asarray(series)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{argument} must hold real numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{argument} must have shape (T,) or (T, C) with T, C >= 1, got {np.shape(series)}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{argument} must be finite (no NaN or infinity)")
    return array


def window_starts(length, window, stride=1):
    """The first point of each window: 0, r, 2r, ... and always T - w last, so that every point is covered."""
    window, stride = check_positive_int(window, "window"), check_positive_int(stride, "stride")
    if window > length:
        raise ValueError(f"window={window} is longer than the series ({length} points)")
    starts = np.arange(0, length - window + 1, stride)
    if starts[-1] != length - window:
        starts = np.r_[starts, length - window]
    return starts


def sliding_windows(series, window, stride=1):
    """Windows of ``series`` (T,) or (T, C): a new array (N, w, C) with N = len(window_starts(T, w, r))."""
    series = as_series(series)
    starts = window_starts(series.shape[0], window, stride)
    return np.lib.stride_tricks.sliding_window_view(series, window, axis=0)[starts].transpose(0, 2, 1).copy()


def points_from_windows(values, length, stride=1, reduce="mean"):
    """One score per point (T,) from ``values`` (N, w): values[n, j] belongs to point starts[n] + j.

    ``values`` are per-window, per-position numbers (e.g. the squared reconstruction error of each point
    of each window); for one number per window, e (N,), pass ``np.repeat(e[:, None], w, axis=1)``.
    ``reduce``: "mean", "max" or "min" over the covering windows (module docstring).
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be (windows, window length), got shape {values.shape}")
    count, window = values.shape
    starts = window_starts(length, window, stride)
    if starts.size != count:
        raise ValueError(f"values has {count} windows; a series of {length} points cut into windows of {window} "
                         f"with stride {stride} has {starts.size}")
    if reduce == "mean":
        sums, counts = np.zeros(length), np.zeros(length)
        for j in range(window):                     # position j of every window at once
            np.add.at(sums, starts + j, values[:, j])
            np.add.at(counts, starts + j, 1)
        return sums / counts
    combine, fill = (np.maximum, -np.inf) if reduce == "max" else (np.minimum, np.inf)
    scores = np.full(length, fill)
    for j in range(window):
        combine.at(scores, starts + j, values[:, j])
    return scores


def centered_points(values, length, window):
    """One score per point (T,) from one value per window (stride 1, N = T - w + 1): the value of the
    window *centred* on the point (windows that would start before 0 or end after T - 1 are clipped to the
    first or last).  How a discord's distance profile becomes a point score whose maximum lies in the
    middle of the most unusual subsequence, not at its start."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size != length - window + 1:
        raise ValueError(f"values must be (T - w + 1,) = ({length - window + 1},), got shape {values.shape}")
    starts = np.clip(np.arange(length) - window // 2, 0, values.size - 1)
    return values[starts]
