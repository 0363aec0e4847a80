"""What the interpretability field reports about a sparse dictionary (npae.TopKSparseAutoencoder or any other).

On any data:

    l0(codes)                       mean number of active latents per row (> 0)
    feature_frequencies(codes)      (n,) fraction of rows on which each latent is active
    dead_fraction(codes)            fraction of latents active on no row at all
    normalized_mse(x, x_hat)        ||x - x_hat||^2 / ||x - mean(x)||^2 (summed over rows and values): 0 perfect,
                                    1 no better than always predicting the mean (Gao et al. 2024, section 2.1)
    explained_variance(x, x_hat)    1 - normalized_mse

On synthetic data whose true feature directions F (m, D) are known, for a learned dictionary W (n, D):

    cosine_similarities(W, F)       (n, m) cosines between every learned and every true direction
    mean_max_cosine(W, F)           mean over true features of the best cosine any learned one reaches
                                    (several true features may pick the same learned one)
    matching_score(W, F)            mean cosine of the best one-to-one matching (each learned direction used
                                    once), found exactly by the Hungarian algorithm
    mcc(W, F)                       the same matching on |cosine|, SAELens' "MCC" (``sae_lens.synthetic``'s
                                    ``mean_correlation_coefficient``: optimal matching of the absolute cosine
                                    similarities, then their mean)

The matching is :func:`optimal_assignment`, written here (no SciPy): the O(n^2 m) shortest-augmenting-path
form of the Hungarian algorithm with row and column potentials (Kuhn 1955, Munkres 1957; this formulation
as in Jonker & Volgenant 1987), checked in the tests against every permutation of small matrices.
"""
import numpy as np

__all__ = ["l0", "feature_frequencies", "dead_fraction", "normalized_mse", "explained_variance",
           "cosine_similarities", "optimal_assignment", "mean_max_cosine", "matching_score", "mcc"]


def _matrix(values, argument):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{argument} must be a non-empty 2-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{argument} contains NaN or infinity")
    return array


def l0(codes):
    """Mean number of latents > 0 per row of codes (M, n)."""
    return float(np.mean(np.sum(_matrix(codes, "codes") > 0, axis=1)))


def feature_frequencies(codes):
    """(n,) the fraction of the M rows of codes (M, n) on which each latent is > 0."""
    return np.mean(_matrix(codes, "codes") > 0, axis=0)


def dead_fraction(codes):
    """The fraction of latents that are > 0 on none of the rows of codes (M, n)."""
    return float(np.mean(feature_frequencies(codes) == 0))


def normalized_mse(x, reconstruction):
    """sum (x - x_hat)^2 / sum (x - mean_rows(x))^2 over every value of x (M, D)."""
    x, reconstruction = _matrix(x, "x"), _matrix(reconstruction, "reconstruction")
    if x.shape != reconstruction.shape:
        raise ValueError(f"reconstruction has shape {reconstruction.shape}, expected x's {x.shape}")
    baseline = np.sum(np.square(x - x.mean(axis=0)))
    if baseline == 0:
        raise ValueError("x has no variance: the normalised MSE is undefined")
    return float(np.sum(np.square(x - reconstruction)) / baseline)


def explained_variance(x, reconstruction):
    """1 - normalized_mse(x, reconstruction): the share of x's variance the reconstruction accounts for."""
    return 1.0 - normalized_mse(x, reconstruction)


def cosine_similarities(a, b):
    """(n, m): cos(a_i, b_j) for the rows of a (n, D) and b (m, D); a zero row has cosine 0 with everything."""
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have rows of the same length, got {a.shape[1]} and {b.shape[1]}")

    def unit(rows):
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-300)

    return unit(a) @ unit(b).T


def optimal_assignment(cost):
    """The one-to-one matching of minimum total cost: ``(rows, columns)``, index arrays of length min(n, m),
    row ``rows[i]`` matched to column ``columns[i]``, for cost (n, m) (as SciPy's ``linear_sum_assignment``).

    Hungarian algorithm, shortest augmenting paths: rows join one at a time; potentials u (rows) and v
    (columns) keep every reduced cost c_ij - u_i - v_j >= 0 and 0 on the matched pairs, which proves the
    final matching optimal (linear programming duality).  Each new row grows a tree of tight edges,
    Dijkstra-like on reduced costs, until it reaches a free column, then flips the path.  O(n^2 m).
    """
    cost = _matrix(cost, "cost")
    if cost.shape[0] > cost.shape[1]:          # more rows than columns: match the columns instead
        columns, rows = optimal_assignment(cost.T)
        order = np.argsort(rows)
        return rows[order], columns[order]
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)    # potentials; index 0 is a virtual row/column
    row_of_column = np.zeros(m + 1, dtype=np.int64)   # 1-based row matched to column j, 0 = free
    way = np.zeros(m + 1, dtype=np.int64)              # the previous column on the augmenting path
    for row in range(1, n + 1):
        row_of_column[0] = row
        column = 0
        shortest = np.full(m + 1, np.inf)      # reduced distance from the new row to each column
        visited = np.zeros(m + 1, dtype=bool)
        while True:
            visited[column] = True
            current_row = row_of_column[column]
            free = ~visited[1:]
            reduced = cost[current_row - 1] - u[current_row] - v[1:]            # (m,)
            better = free & (reduced < shortest[1:])
            shortest[1:][better] = reduced[better]
            way[1:][better] = column
            candidates = np.where(free, shortest[1:], np.inf)
            next_column = int(np.argmin(candidates)) + 1
            delta = candidates[next_column - 1]
            # raise the tree's potentials by delta: its edges stay tight, one more becomes tight
            u[row_of_column[visited]] += delta
            v[visited] -= delta
            shortest[~visited] -= delta
            column = next_column
            if row_of_column[column] == 0:     # a free column: augment along the path
                break
        while column:
            previous = way[column]
            row_of_column[column] = row_of_column[previous]
            column = previous
    matched = np.nonzero(row_of_column[1:])[0]
    rows = row_of_column[1:][matched] - 1
    order = np.argsort(rows)
    return rows[order], matched[order]


def mean_max_cosine(learned, true):
    """Mean over the true features (rows of ``true``) of the largest cosine any learned direction has with it."""
    return float(np.mean(np.max(cosine_similarities(learned, true), axis=0)))


def _matched_mean(similarity):
    rows, columns = optimal_assignment(-similarity)   # maximise the total similarity
    return float(np.mean(similarity[rows, columns]))


def matching_score(learned, true):
    """Mean cosine of the one-to-one matching of learned to true directions that maximises the total cosine."""
    return _matched_mean(cosine_similarities(learned, true))


def mcc(learned, true):
    """SAELens' MCC: the mean |cosine| of the one-to-one matching that maximises the total |cosine|."""
    return _matched_mean(np.abs(cosine_similarities(learned, true)))
