"""The matrix-profile discord: the subsequence farthest from its nearest non-overlapping neighbour.

For a series x (T,) and a subsequence length m, let S_i = x[i : i + m] (i = 0 .. n - 1, n = T - m + 1),
each z-normalised (minus its mean mu_i, divided by its standard deviation sigma_i).  Their Euclidean
distance needs only the dot product QT_ij = S_i . S_j of the raw subsequences (Mueen's formula):

    d_ij = sqrt(2 m (1 - rho_ij)),     rho_ij = (QT_ij - m mu_i mu_j) / (m sigma_i sigma_j)   (a correlation)

The matrix profile is P_i = min_j d_ij over the j whose subsequence does not overlap S_i (|i - j| >= m;
with a ``reference`` series instead, over all of its subsequences: an AB-join, "how far is each test
subsequence from anything seen in training").  The discord is argmax_i P_i: the subsequence least like
any other (Yeh et al., "Matrix Profile I", ICDM 2016; Wu and Keogh 2021 call it the strong baseline of
the UCR anomaly archive).  A constant subsequence (sigma = 0) has rho = 1 with another constant one and
0 with anything else.

Two implementations compute the same profile:

* :func:`matrix_profile_numpy`, the reference: QT for a block of rows at a time as one matrix product
  (BLAS), then the formula, masking the overlapping pairs;  O(n^2 m) arithmetic, O(block n) memory.
* :func:`matrix_profile_numba`, the kernel (STOMP, Zhu et al. 2016): along each diagonal j = i + k,
  QT_{i+1, j+1} = QT_ij - x_i x_j + x_{i+m} x_{j+m}, so each cell costs O(1) instead of O(m);
  O(n^2) arithmetic, O(n) memory.  The diagonal update accumulates rounding, so QT is recomputed from
  scratch every REFRESH cells.  The two agree to 1e-8 of the profile's largest value on random series (a
  test pins it), not bitwise; on the UCR series 135 (values ~63, some windows nearly flat) measured 1.5e-10
  (self-join) and 3.2e-6 (AB-join against its training part): QT - m mu_i mu_j cancels most digits when
  sigma is small against mu, and the two compute QT in different orders.  Same discord either way.
"""
import numpy as np

from ..kernels._jit import kernel_pair, numba_kernel
from .windows import as_series

ROW_BLOCK = 512  # rows of QT computed at a time by the reference (memory: ROW_BLOCK n float64)
REFRESH = 1024   # the kernel recomputes QT from scratch every REFRESH cells of a diagonal (cost: m / REFRESH)


def _statistics(x, m):
    """Mean and standard deviation of every subsequence of length m (n,), each from its own m values
    (running sums would lose digits to cancellation on a series far from 0, such as the UCR's ~63)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, m)
    return windows.mean(axis=1), windows.std(axis=1)


def _correlation_to_distance(rho, m):
    return np.sqrt(np.maximum(2.0 * m * (1.0 - rho), 0.0))


def matrix_profile_numpy(x, m, reference, exclusion):
    """P (n,): see the module docstring.  ``reference``: the series subsequences are compared with (x
    itself for a self-join); ``exclusion``: pairs with |i - j| < exclusion are skipped (0 for an AB-join)."""
    windows = np.lib.stride_tricks.sliding_window_view(x, m)
    others = np.lib.stride_tricks.sliding_window_view(reference, m)
    mean, std = _statistics(x, m)
    other_mean, other_std = _statistics(reference, m)
    profile = np.full(windows.shape[0], np.inf)
    columns = np.arange(others.shape[0])
    for start in range(0, windows.shape[0], ROW_BLOCK):
        rows = slice(start, min(start + ROW_BLOCK, windows.shape[0]))
        qt = windows[rows] @ others.T                                              # (block, n_ref)
        scale = m * np.outer(std[rows], other_std)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = (qt - m * np.outer(mean[rows], other_mean)) / scale
        both_constant = (std[rows, None] == 0) & (other_std[None, :] == 0)
        rho = np.where(scale > 0, rho, np.where(both_constant, 1.0, 0.0))
        distance = _correlation_to_distance(np.minimum(rho, 1.0), m)
        if exclusion:
            overlapping = np.abs(np.arange(rows.start, rows.stop)[:, None] - columns[None, :]) < exclusion
            distance[overlapping] = np.inf
        profile[rows] = distance.min(axis=1)
    return profile


@numba_kernel
def _window_statistics(values, m):
    """The kernel's _statistics: two passes over each window (mean, then the squared deviations)."""
    count = values.shape[0] - m + 1
    means, stds = np.empty(count), np.empty(count)
    for i in range(count):
        total = 0.0
        for t in range(m):
            total += values[i + t]
        means[i] = total / m
        squares = 0.0
        for t in range(m):
            squares += (values[i + t] - means[i]) ** 2
        stds[i] = np.sqrt(squares / m)
    return means, stds


@numba_kernel
def _update(profile, i, rho, m):
    distance = np.sqrt(max(2.0 * m * (1.0 - min(rho, 1.0)), 0.0))
    if distance < profile[i]:
        profile[i] = distance


@numba_kernel
def matrix_profile_numba(x, m, reference, exclusion):
    """STOMP along the diagonals (module docstring); the same contract as the reference."""
    n, n_ref = x.shape[0] - m + 1, reference.shape[0] - m + 1
    mean, std = _window_statistics(x, m)
    other_mean, other_std = _window_statistics(reference, m)
    profile = np.full(n, np.inf)
    self_join = exclusion > 0
    # diagonal k: pairs (i, i + k); a self-join visits k >= exclusion once and updates both ends
    first = exclusion if self_join else -(n - 1)
    for k in range(first, n_ref):
        i0 = 0 if k >= 0 else -k
        if i0 >= n or i0 + k >= n_ref:
            continue
        qt = 0.0
        i = i0
        while i < n and i + k < n_ref:
            j = i + k
            if (i - i0) % REFRESH == 0:  # recompute now and then: the update's rounding drifts along long diagonals
                qt = 0.0
                for t in range(m):
                    qt += x[i + t] * reference[j + t]
            else:
                qt += x[i + m - 1] * reference[j + m - 1] - x[i - 1] * reference[j - 1]
            scale = m * std[i] * other_std[j]
            if scale > 0:
                rho = (qt - m * mean[i] * other_mean[j]) / scale
            elif std[i] == 0 and other_std[j] == 0:
                rho = 1.0
            else:
                rho = 0.0
            _update(profile, i, rho, m)
            if self_join:
                _update(profile, j, rho, m)
            i += 1
    return profile


_matrix_profile = kernel_pair(matrix_profile_numpy, matrix_profile_numba, name="matrix_profile")


def matrix_profile(series, m, reference=None):
    """The matrix profile P (n,) of a univariate ``series`` (T,) for subsequences of length ``m``: a
    self-join (neighbours may not overlap: |i - j| >= m), or with ``reference`` (T_ref,) an AB-join
    against its subsequences.  Runs the Numba kernel, or the NumPy reference under ``NPAE_JIT=0``."""
    x = as_series(series)
    if x.shape[1] != 1:
        raise ValueError(f"the matrix profile here takes a univariate series, got {x.shape[1]} channels")
    m = int(m)
    if not 3 <= m <= x.shape[0] // 2:
        raise ValueError(f"m must be between 3 and half the series' length ({x.shape[0] // 2}), got {m}")
    if reference is None:
        return _matrix_profile(np.ascontiguousarray(x[:, 0]), m, np.ascontiguousarray(x[:, 0]), m)
    other = as_series(reference, "reference")
    if other.shape[1] != 1 or other.shape[0] < m:
        raise ValueError(f"reference must be a univariate series of at least m = {m} points, got {other.shape}")
    return _matrix_profile(np.ascontiguousarray(x[:, 0]), m, np.ascontiguousarray(other[:, 0]), 0)


def discord(series, m, reference=None):
    """(start, distance) of the top discord: argmax and max of :func:`matrix_profile`."""
    profile = matrix_profile(series, m, reference)
    start = int(np.argmax(profile))
    return start, float(profile[start])
