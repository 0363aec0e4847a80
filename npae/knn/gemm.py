"""Brute force through the GEMM identity, certified exact (see :class:`npae.knn.KNNClassifier`, "The GEMM path")."""
import numpy as np

from .. import _backend
from ..kernels.workers import WORKERS, in_blocks
from .checks import check_squared_norms, checked_queries, distance_overflow
from .kernels.select import merge_candidates, rerank_exact

# The GEMM path keeps k + EXTRA_CANDIDATES candidates per query for the exact re-ranking.
EXTRA_CANDIDATES = 8
# Training points per GEMM block: large enough for BLAS to run near its peak, small enough that
# a block of products is still in cache when the selection kernel reads it.
GEMM_TRAIN_BLOCK = 4096
# At most this many queries per block (beyond it the blocks only grow, they are not faster).
MAX_QUERY_BLOCK = 1024
# From WORKERS times this many queries on, blocks of queries run on WORKERS threads at once (one per core,
# npae.kernels.workers.in_blocks), each with a one-thread BLAS and its own products buffer: the selection
# kernels run on both cores too, not only the products, and a core taken by another program delays one
# block instead of every product (OpenBLAS' threads wait for each other at the end of each product).
MIN_WORKER_QUERIES = 256


def worker_blocks(n_queries, query_block, workers):
    """(start, stop) blocks of at most ``query_block`` queries and of equal sizes (but the last), their
    count rounded up to a multiple of ``workers`` so that no worker idles while another finishes a last
    block (2,000 queries in blocks of up to 697 on 2 workers: 4 blocks of 500, not 697, 697, 606)."""
    n_blocks = -(-n_queries // query_block)
    n_blocks = workers * -(-n_blocks // workers)
    size = -(-n_queries // n_blocks)
    return [(first, min(first + size, n_queries)) for first in range(0, n_queries, size)]


def run_blocks(blocks, work, workers):
    """work(index, start, stop, slot) for every (start, stop) block: on the worker threads when ``workers`` > 1
    (:func:`npae.kernels.workers.in_blocks`, one BLAS thread each), else one after the other here."""
    if workers > 1:
        in_blocks(blocks, work)
    else:
        for index, (start, stop) in enumerate(blocks):
            work(index, start, stop, 0)


def gemm_block_shape(budget, dtype, n_samples, n_queries, n_features, n_candidates, query_itemsize):
    """(queries, training points) per GEMM block such that the working memory fits ``budget`` bytes.

    Per query of a block: a row of products, the query itself (as given, cast, and the bool array of
    the finite check), and its candidates; with the NumPy reference, also ``merge_candidates_numpy``'s
    temporaries, ~40 bytes per entry of its (Q, m + T) arrays.  Training blocks shrink from
    ``GEMM_TRAIN_BLOCK`` (by halves, down to 64) before a budget is declared too small.
    """
    itemsize = np.dtype(dtype).itemsize
    train_block = min(n_samples, GEMM_TRAIN_BLOCK)
    while True:
        per_query = (
            train_block * itemsize  # the row of products
            + n_features * (query_itemsize + itemsize + 1)  # the query as given, cast, finite check
            + n_candidates * (itemsize + 8 + 8 + 8 + 8)  # keys, indices, exact distances, re-rank
        )
        if not _backend.jit_enabled():
            per_query += (n_candidates + train_block) * 40
        if per_query <= budget or train_block <= 64:
            break
        train_block //= 2
    if per_query > budget:
        raise ValueError(
            f"memory_budget={budget} bytes is too small: one query needs {per_query} bytes "
            f"with {n_samples} training points of {n_features} features"
        )
    return int(min(n_queries, MAX_QUERY_BLOCK, budget // per_query)), train_block



# Centre the products' inputs when the data sit this many times farther from the origin than from their
# mean (see GemmSearch): the certificate's slack grows with the squared norms, not with the distances.
CENTRE_ABOVE = 4.0


class GemmSearch:
    """Brute force through the GEMM identity, certified exact (see :class:`KNNClassifier`, "The GEMM path").

    train (n, D) of the model's dtype, kept by reference.  ``search(x, rows, ...)`` writes the squared
    distances and indices of the k nearest of the queries x[rows].

    Offset data.  The certificate's slack is (2D + 8) u (|q| + max |t|)^2: pixels + 1000 have norms
    near 28,000 and a slack near 3e5, against k-th distances of ~20, so no number of candidates
    could certify a query and each went through every retry (red-team finding 6: 200 queries in 50 s
    instead of 0.07 s).  Distances do not change under translation, so when max |t| exceeds
    CENTRE_ABOVE times max |t - c| (c the training mean, in the dtype) the products are computed
    from t' = fl(t - c) and q' = fl(q - c), a centred copy of the training set.  Each rounding of
    the centring moves a coordinate by at most u |t_f - c_f|, so |q' - t'| is within
    E = u / (1 - u) (|q'| + |t'|) of |q - t|, and the certificate subtracts E (below); the exact
    re-ranking still reads the original coordinates, so the distances are the same bits.
    """

    def __init__(self, train, k, budget, train_sq_norms=None):
        n_samples, n_features = train.shape
        self.train, self.k, self.budget, self.dtype = train, k, budget, train.dtype
        gemm_block_shape(budget, self.dtype, n_samples, 1, n_features, min(k + EXTRA_CANDIDATES, n_samples), 8)
        if train_sq_norms is None:
            train_sq_norms = np.einsum("ij,ij->i", train, train, dtype=np.float64)  # (n,)
        check_squared_norms(train_sq_norms, train)
        self.max_train_norm = float(np.sqrt(train_sq_norms.max()))  # of the original points (overflow checks)
        self.centre = None
        self.products_train, products_sq_norms = train, train_sq_norms  # what the GEMM multiplies
        centre = train.mean(axis=0, dtype=np.float64).astype(self.dtype)  # (D,)
        # |t - c|^2 = |t|^2 - 2 t.c + |c|^2, one matrix-vector product: enough to decide
        with np.errstate(over="ignore", invalid="ignore"):  # huge data: inf or NaN, and no centring
            centred_sq_norms = train_sq_norms - 2 * (train @ centre).astype(np.float64) + float(centre @ centre)
        if self.max_train_norm > CENTRE_ABOVE * np.sqrt(max(centred_sq_norms.max(), 0.0)):
            self.centre = centre
            self.products_train = train - centre  # (n, D), rounded to the dtype
            products_sq_norms = np.einsum("ij,ij->i", self.products_train, self.products_train, dtype=np.float64)
        self.max_products_norm = float(np.sqrt(products_sq_norms.max()))
        self.train_sq_norms = products_sq_norms.astype(self.dtype)
        self.train_sq_norms_float64 = products_sq_norms  # for the retries' float64 products

    def estimated_kth_sq_distances(self, queries, k):
        """The k-th smallest squared distance (T,) float64 from each of a few queries (T, D) to the training
        points, from one GEMM in the dtype and the selection of the k smallest keys |t'|^2 - 2 q' . t'
        (q', t' centred as in :meth:`search`), plus |q'|^2.

        Not certified: within the certificate's slack (2D + 8) u (|q'| + max |t'|)^2 of the true value, plus
        the centring's rounding.  For estimates only (the trial of :func:`npae.knn.lower_bounds.plan_search`),
        never for neighbours.  T small: the (T, n) products are held whole (64 x 60,000: 15 MB in float32).
        """
        products_queries = (queries if self.centre is None else queries - self.centre).astype(self.dtype)
        query_sq_norms = np.einsum("ij,ij->i", products_queries, products_queries, dtype=np.float64)
        keys = np.full((queries.shape[0], k), np.inf, self.dtype)
        merge_candidates(products_queries @ self.products_train.T, self.train_sq_norms, 0, keys,
                         np.full(keys.shape, -1, np.int64))
        return keys[:, -1].astype(np.float64) + query_sq_norms

    def search(self, x, rows, out_sq_distances, out_indices):
        """Propose by GEMM, re-rank exactly, certify; repeat with 4x the candidates for the uncertified.

        The retries multiply in float64 (2^-29 of float32's slack; twice the time per query, for the
        few queries that need it): when the slack itself exceeds the gap between the k-th distance and
        the next ones (one feature a million times larger than the others, say: red-team finding 6),
        more float32 candidates cannot certify, and every retry up to a full scan of n was taken.
        """
        n_samples, n_features = self.train.shape
        pending = np.asarray(rows)
        n_candidates = min(self.k + EXTRA_CANDIDATES, n_samples)
        products_dtype = self.dtype
        while pending.size:
            workers = WORKERS if pending.size >= WORKERS * MIN_WORKER_QUERIES else 1
            try:  # each worker's blocks within its share of the budget
                query_block, train_block = gemm_block_shape(self.budget // workers, products_dtype, n_samples,
                                                            pending.size, n_features, n_candidates, x.itemsize)
            except ValueError:
                if workers == 1:
                    raise
                workers = 1
                query_block, train_block = gemm_block_shape(self.budget, products_dtype, n_samples, pending.size,
                                                            n_features, n_candidates, x.itemsize)
            blocks = worker_blocks(pending.size, query_block, workers)
            buffers = [np.empty(query_block * train_block, products_dtype) for _ in range(workers)]
            uncertified = [pending[:0]] * len(blocks)

            def gemm_block(index, first, stop, slot):
                uncertified[index] = self._gemm_block(x, pending[first:stop], n_candidates, train_block, buffers[slot],
                                                      out_sq_distances, out_indices)

            run_blocks(blocks, gemm_block, workers)
            del buffers
            pending = np.concatenate(uncertified)
            n_candidates = min(4 * n_candidates, n_samples)
            products_dtype = np.dtype(np.float64)

    def _gemm_block(self, x, rows, n_candidates, train_block, products_buffer, out_sq_distances, out_indices):
        """Neighbours of the queries x[rows] from n_candidates proposals; returns the rows not certified exact.

        The products are computed in products_buffer's dtype: the model's, or float64 (a retry)."""
        n_samples, n_features = self.train.shape
        products_dtype = products_buffer.dtype
        queries = checked_queries(x, rows, self.dtype)  # (B, D)
        with np.errstate(over="ignore"):  # an overflow shows up as inf, which the tests below catch
            query_norms = np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64))  # (B,)
            distance_overflow(query_norms, self.max_train_norm, n_features)
            products_queries = queries if self.centre is None else queries - self.centre  # (B, D): q or q'
            query_sq_norms = np.einsum("ij,ij->i", products_queries, products_queries, dtype=np.float64)
        # Queries so far out that q . t could overflow the dtype: the products would be useless, so
        # their distances are computed directly, exactly (float32 data: never above float64's range).
        direct = ~((np.sqrt(query_sq_norms) + self.max_products_norm) ** 2 * 4 <= np.finfo(products_dtype).max)
        if n_candidates == n_samples:  # every point is a candidate: nothing to propose, nothing to certify
            direct[:] = True
        if direct.any():
            sq_distances = np.empty((np.count_nonzero(direct), self.k))
            indices = np.empty(sq_distances.shape, np.int64)
            rerank_exact(queries[direct], self.train,
                         np.broadcast_to(np.arange(n_samples), (sq_distances.shape[0], n_samples)),
                         sq_distances, indices)
            out_sq_distances[rows[direct]], out_indices[rows[direct]] = sq_distances, indices
            if direct.all():
                return rows[:0]
            rows, queries, query_sq_norms = rows[~direct], queries[~direct], query_sq_norms[~direct]
            products_queries = products_queries[~direct]
        sq_distances = np.empty((rows.size, self.k))
        indices = np.empty((rows.size, self.k), np.int64)
        keys = np.full((rows.size, n_candidates), np.inf, products_dtype)  # (B, m)
        candidates = np.full((rows.size, n_candidates), -1, np.int64)  # (B, m)
        train_sq_norms = self.train_sq_norms if products_dtype == self.dtype else self.train_sq_norms_float64
        products_queries = products_queries.astype(products_dtype, copy=False)
        for first in range(0, n_samples, train_block):
            train = self.products_train[first : first + train_block].astype(products_dtype, copy=False)  # (T, D)
            products = products_buffer[: rows.size * train.shape[0]].reshape(rows.size, train.shape[0])
            np.matmul(products_queries, train.T, out=products)  # (B, T): the BLAS call, ~all of the time
            merge_candidates(products, train_sq_norms[first : first + train.shape[0]], first, keys, candidates)
        rerank_exact(queries, self.train, candidates, sq_distances, indices)
        out_sq_distances[rows], out_indices[rows] = sq_distances, indices
        # The certificate.  Every key is within `slack` of |t|^2 - 2 q.t, with
        #     slack = (2 D + 8) u (|q| + max |t|)^2,   u = unit roundoff of the dtype,
        # a generous form of Higham's gamma_D bound for a D-term dot product (|error| <= D u |q| |t|)
        # plus the roundings of |t|^2 and of the subtraction.  A point left out has a key >= keys[:, -1],
        # so its squared distance is >= keys[:, -1] + |q|^2 - slack; the factor covers the rounding
        # of the float64 distances themselves.  Products and sums below the dtype's normal range
        # (data around 1e-24 in float32) are rounded to a fixed grid instead, at most half its step
        # each: the absolute term covers those (red-team finding 3).  With centred products, the
        # bound on |q' - t'| loses E on the way to |q - t| (see the class docstring).
        growth = (2 * n_features + 8) * np.finfo(products_dtype).eps / 2
        query_norms = np.sqrt(query_sq_norms)  # |q| or |q'|
        slack = (growth * (query_norms + self.max_products_norm) ** 2
                 + (2 * n_features + 8) * float(np.finfo(products_dtype).smallest_subnormal))
        lowest_excluded = keys[:, -1].astype(np.float64) + query_sq_norms - slack  # (B,)
        if self.centre is not None:
            unit = np.finfo(self.dtype).eps / 2  # the centring rounded in the model's dtype
            centring = unit / (1 - unit) * (query_norms + self.max_products_norm) * (1 + 2.0**-40)
            with np.errstate(invalid="ignore"):  # a NaN (an overflow) fails the test below, as it should
                lowest_excluded = np.maximum(np.sqrt(np.maximum(lowest_excluded, 0.0)) - centring, 0.0) ** 2
        excluded_bound = lowest_excluded * (1 - (2 * n_features + 8) * 2.0**-53)
        # `not >` rather than `<=`: a NaN bound (an overflow) must count as a failure
        return rows[~(excluded_bound > sq_distances[:, -1])]
