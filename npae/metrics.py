"""Scores for the applications of the autoencoder: ranking quality, image quality, subspace distance.

Four small functions, each with its formula, written in NumPy so that a reader can check them by hand:

- :func:`roc_auc_score`: area under the ROC curve, from ranks (the Mann-Whitney U statistic);
- :func:`average_precision_score`: area under the precision-recall curve, as a step sum;
- :func:`psnr`: peak signal-to-noise ratio of a reconstruction, in decibels;
- :func:`principal_angles`: the angles between two subspaces of R^d, given by spanning columns.

The first two agree with scikit-learn's functions of the same name (including how tied scores are
treated); the tests use scikit-learn as the oracle when it is installed.
"""
import numpy as np

from ._validation import is_real_number

__all__ = ["roc_auc_score", "average_precision_score", "psnr", "principal_angles", "rankdata"]


def _check_labels_and_scores(y_true, scores):
    """Validate a binary labelling and its scores; return (bool array, float64 array), both shaped (N,)."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores)
    if y_true.ndim != 1 or scores.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D, got shapes {y_true.shape} and {scores.shape}")
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true and scores must have the same length, got {y_true.shape[0]} and {scores.shape[0]}")
    if y_true.dtype.kind not in "biuf" or scores.dtype.kind not in "biuf":
        raise ValueError(f"y_true and scores must be numeric, got dtypes {y_true.dtype} and {scores.dtype}")
    if not np.all((y_true == 0) | (y_true == 1)):
        raise ValueError("y_true must hold only 0 (normal) and 1 (anomaly / positive)")
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite (no NaN or inf)")
    positive = y_true == 1
    if positive.all() or not positive.any():
        raise ValueError("y_true must contain both classes (0 and 1); the score is undefined otherwise")
    return positive, scores


def rankdata(values):
    """Ranks 1..N of ``values`` (N,), tied values sharing the mean of their ranks ("average" method).

    Example: [10, 20, 20, 30] -> [1, 2.5, 2.5, 4].  Same result as ``scipy.stats.rankdata``.
    """
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # A tie group runs from one "new value" position to the next; its members get the mean of the
    # 1-based positions it covers, i.e. (first + last) / 2.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]                      # exclusive
    group_rank = (starts + 1 + ends) / 2.0                      # mean of starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def roc_auc_score(y_true, scores):
    """Area under the ROC curve: the probability that a random anomaly scores above a random normal point.

    With P positives (``y_true == 1``), N negatives and R_i the rank of score i among all P + N scores
    (ties get the mean of their ranks, see :func:`rankdata`)::

        AUC = ( sum_{i positive} R_i  -  P (P + 1) / 2 ) / (P N)

    This is the Mann-Whitney U statistic divided by P N.  A tied (positive, negative) pair counts 1/2,
    which is what the trapezoidal area under scikit-learn's ROC curve gives, so the two agree.

    Shapes: y_true (M,) of 0/1, scores (M,) where larger means "more likely positive".
    Returns a float in [0, 1]; 0.5 is chance, 1 is a perfect ranking.
    """
    positive, scores = _check_labels_and_scores(y_true, scores)
    n_positive = int(positive.sum())
    n_negative = positive.size - n_positive
    rank_sum = rankdata(scores)[positive].sum()
    return float((rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative))


def average_precision_score(y_true, scores):
    """Average precision: the precision-recall curve summarised as a step sum (no interpolation).

    Sort the scores in decreasing order and cut after each *distinct* score value t_k (tied scores are
    flagged together, so they enter one step).  With TP_k, FP_k the counts above the k-th cut::

        P_k = TP_k / (TP_k + FP_k)        R_k = TP_k / P        R_0 = 0
        AP  = sum_k (R_k - R_{k-1}) P_k

    This is scikit-learn's definition (not the trapezoidal area, which is optimistic).  A random
    ranking gets about P / M; a perfect one gets 1.

    Shapes: y_true (M,) of 0/1, scores (M,) where larger means "more likely positive".
    """
    positive, scores = _check_labels_and_scores(y_true, scores)
    order = np.argsort(-scores, kind="stable")                  # decreasing score
    sorted_scores = scores[order]
    sorted_positive = positive[order]
    # Index of the last element of each tie group: a cut can only fall between distinct values.
    cut = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), scores.size - 1]
    true_positives = np.cumsum(sorted_positive)[cut]            # TP_k
    flagged = cut + 1                                           # TP_k + FP_k
    precision = true_positives / flagged
    recall = true_positives / true_positives[-1]
    recall_step = np.diff(recall, prepend=0.0)                  # R_k - R_{k-1}
    return float(np.sum(recall_step * precision))


def psnr(reference, reconstruction, data_range=1.0):
    """Peak signal-to-noise ratio in decibels: ``PSNR = 10 log10(data_range^2 / MSE)``.

    ``MSE`` is the mean of ``(reference - reconstruction)^2`` over *all* elements (every pixel of every
    image), and ``data_range`` is the largest possible pixel value minus the smallest (1 for pixels
    scaled to [0, 1], 255 for uint8).  Each halving of the RMS error adds about 6.02 dB.  Identical
    inputs give ``inf``.

    Shapes: any two arrays of the same shape.
    """
    reference = np.asarray(reference, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    if reference.shape != reconstruction.shape:
        raise ValueError(f"reference and reconstruction must have the same shape, got "
                         f"{reference.shape} and {reconstruction.shape}")
    if reference.size == 0:
        raise ValueError("reference is empty")
    if not (is_real_number(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    mse = np.mean((reference - reconstruction) ** 2)
    if not np.isfinite(mse):
        raise ValueError("reference and reconstruction must be finite (no NaN or inf)")
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def _orthonormal_basis(matrix, argument):
    """An orthonormal basis (d, r) of the column span of ``matrix`` (d, k), r = its numerical rank."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{argument} must be a non-empty 2-D array (d, k) of spanning columns, "
                         f"got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{argument} must be finite (no NaN or inf)")
    # SVD rather than QR: it also tells the rank, so dependent columns cannot invent a dimension.
    left, singular_values, _ = np.linalg.svd(matrix, full_matrices=False)
    tolerance = max(matrix.shape) * np.finfo(np.float64).eps * (singular_values[0] if singular_values.size else 0)
    rank = int(np.sum(singular_values > tolerance))
    if rank == 0:
        raise ValueError(f"{argument} spans no subspace (all columns are zero)")
    return left[:, :rank]


def principal_angles(a, b, degrees=False):
    """Principal angles 0 <= theta_1 <= ... <= theta_r <= pi/2 between span(a) and span(b), in R^d.

    ``a`` (d, k) and ``b`` (d, l) hold spanning vectors as *columns* (pass ``pca.components_.T``, or a
    linear decoder's weights transposed).  With orthonormal bases Q_a, Q_b (r = min of the two ranks)::

        cos theta_i = sigma_i(Q_a^T Q_b)                 (singular values, largest first)
        sin theta_i = sigma_i(Q_b - Q_a Q_a^T Q_b)       (when rank a >= rank b)

    All angles zero means one subspace contains the other.  arccos loses precision near 0 (cos is
    flat there: an angle of 1e-8 has cos = 1 - 5e-17, which rounds to 1), so angles whose cosine
    exceeds 1/sqrt(2) are taken from the sine formula instead (Bjorck & Golub, 1973; the same rule
    as ``scipy.linalg.subspace_angles``, which returns the same angles in decreasing order).

    Returns an array (r,) in radians (or degrees if ``degrees=True``), increasing.
    """
    basis_a = _orthonormal_basis(a, "a")
    basis_b = _orthonormal_basis(b, "b")
    if basis_a.shape[0] != basis_b.shape[0]:
        raise ValueError(f"a and b must live in the same space: a has {basis_a.shape[0]} rows, "
                         f"b has {basis_b.shape[0]}")
    if basis_a.shape[1] < basis_b.shape[1]:
        basis_a, basis_b = basis_b, basis_a                     # the sine formula needs rank a >= rank b
    overlap = basis_a.T @ basis_b                               # (r_a, r_b)
    cosines = np.clip(np.linalg.svd(overlap, compute_uv=False), 0.0, 1.0)           # decreasing
    residual = basis_b - basis_a @ overlap                      # part of span(b) outside span(a)
    sines = np.clip(np.linalg.svd(residual, compute_uv=False), 0.0, 1.0)[::-1]      # increasing
    angles = np.where(cosines ** 2 > 0.5, np.arcsin(sines), np.arccos(cosines))
    return np.degrees(angles) if degrees else angles
