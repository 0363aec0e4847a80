"""Exact kNN on raw pixels from low-dimensional lower bounds: filter, then refine.

Brute force computes all n distances of a query in D = 784 dimensions.  This search computes a
cheap *lower bound* of each of them in d + 1 = 65 dimensions, and the real distance only for the few
points whose bound does not already rule them out (filter and refine: Korn et al. 1996, Seidl and
Kriegel 1998).  The answer is exactly brute force's.

The bound.  Take an orthonormal basis P (d, D) of d directions (PCA's first d components, mean mu).
Any w = x - mu splits into its coordinates z = P w and a residual r = w - P^T z orthogonal to them,
so by Pythagoras, for two points q and x,

    |q - x|^2 = |z_q - z_x|^2 + |r_q - r_x|^2  >=  |z_q - z_x|^2 + (|r_q| - |r_x|)^2

(the reverse triangle inequality on the residuals).  The right-hand side is the squared distance
between the *augmented vectors* a = (z, |r|): the bounds of all training points are one GEMM away,
like brute force, but in 65 dimensions instead of 784.  The next d2 principal coordinates zf
tighten it further for the points that survive: |r_q - r_x|^2 >= |zf_q - zf_x|^2 as well, so

    |q - x|^2  >=  |a_q - a_x|^2 + max(0, |zf_q - zf_x|^2 - (|r_q| - |r_x|)^2).

The search, for a block of queries (:mod:`npae.knn.kernels.bounds` has the kernels):

1. screen: the keys |a_x|^2 - 2 a_q . a_x (the bound minus |a_q|^2) of all n points by GEMM; each
   query keeps a buffer of candidates, the points with the smallest keys (starting from the key
   that a pilot sample of the training set predicts for the buffer's size);
2. provisional k-th distance: the 4k smallest keys meet the finer bound, and the k + 2 best by it
   get their raw distances.  Why this way, measured on MNIST (d = 48, k = 7): the k-th of these
   is the final k-th distance for 88 % of the queries and within 0.4 % of it for 90 %; taking the
   raw distances of the 2k smallest keys instead needed 20 raw distances per query instead of 15
   (Fashion-MNIST, d = 64: 98 against 78), of the k smallest keys, far more (their k-th distance
   is looser: twice the points pass the screen);
3. refine: every other candidate whose key exceeds what the provisional k-th distance allows is
   dropped unseen; the others (pairs, grouped by training point so that each point is read once)
   meet the finer bound, then the raw distance, each with its own early exit;
4. finish: from the k-th smallest raw distance, the canonical float64 distances of the few
   candidates that can still be among the k nearest, and the certificate: the buffer's limit
   (every point outside has a key at least that) must exceed what the final k-th distance allows.
   A query whose buffer was too small is screened again with four times the buffer (the band of
   keys above its first buffer only: the rest was dealt with), then, beyond MAX_BUFFER_FRACTION of
   the training set, by brute force.

Both cores.  Blocks of queries run on WORKERS threads at once (:func:`npae.kernels.workers.in_blocks`),
each through all four steps with a one-thread BLAS; the kernels release the GIL.  So the per-pair passes
run on both cores too, not only the screen's GEMM, and no product waits for OpenBLAS' second thread on a
core that another program holds.  The training set is projected the same way at fit.  Which thread takes
which block changes no neighbour and no distance (each block's search is exact on its own).

d, d2 and the buffer come from a trial at fit (:func:`plan_search`).  On MNIST (k = 7): d = 48,
d2 = 192, ~190 points pass the screen, ~15 of 60,000 need their 784-pixel distance (9 of them
provisional).  The screen runs in the data's dtype: in float64 it would double the largest single
cost of the search (the GEMM) to shrink a margin that moves V by 3e-6 relative.

Exactness in floating point.  The inequalities above hold for real numbers.  The search stays
exact because every test that drops a point has a margin covering every rounding on the way, so
a point is dropped only when its true squared distance provably exceeds V, a number above which no
point can be among the k nearest.  From the data to the tests (u = unit roundoff: 2^-24 for
float32, 2^-53 for float64; gamma_m = m u / (1 - m u), Higham's bound for m roundings in a chain):

(a) Augmented vectors.  z and |r| are computed in float64 (w = x - mu, z = P w, |r|^2 = |w|^2 -
    |z|^2), then rounded to the data's dtype.  P is orthonormal only up to eps = ||P P^T - I||
    (measured at fit: ~4e-7, from the fine rows stored in float32; 2e-11 for the screen's rows,
    kept in float64).  With the residual map
    R = I - P^T P, the map w -> (P w, R w) stretches by at most sqrt(isometry), isometry =
    (1 + 4 eps)(1 + eps (1 + eps)), and the reverse triangle inequality gives
        |a(q) - a(x)| <= sqrt(isometry) |q - x|         for the exact augmented vectors.
    The computed ones are within E_a (per point, :meth:`LowerBoundSearch._screen_errors`, ~1.2e-7
    |w| for float32: their rounding) of the exact ones; the fine coordinates, a float32 GEMM of
    x - c (c the mean rounded to the dtype), within E_f = (sqrt(d2) gamma_D + u) |x - c| (Higham's
    bound for each D-term dot product, plus the rounding of x - c; ~6e-3 on MNIST).
(b) The screen key in the data's dtype is within S_q = (K + 4) u (|a_q| + max |a_x|)^2 of its real
    value: K + 1 terms in one dot product (the squared norm |a_x|^2 rides along as the last
    coordinate, the query's -2 a_q exactly doubled), plus the rounding of |a_x|^2 to the dtype.
    So key - key_offset, with key_offset = S_q + (K + 4) 2^-53 |a_q|^2 - |a_q|^2, bounds
    |a_q - a_x|^2 from below; a point is out once  key > rho_a^2 + key_offset,
        rho_a = sqrt(isometry V) + E_a(q) + max E_a.
(c) The finer bound adds max(0, (1 - gamma_fine) fine - gap (1 + 2^-50)), fine the lane sums of
    squared fine-coordinate differences (within a factor 1 + gamma_fine, gamma_fine =
    gamma_{d2 / LANES + LANES + 3}) and gap the squared residual difference; its errors move the
    vector (z, max(|r| gap, |zf| difference)) by at most 2 (E_a(q) + max E_a) + E_f(q) + max E_f,
    so a point is out once the bound exceeds rho_f^2 (1 + 2^-40) with rho_f = sqrt(isometry V) + that.
(d) The raw *fast* distance (the data's dtype, LANES lanes) is within a factor 1 + gamma_fast of
    the true one, gamma_fast = gamma_{D / LANES + 2 LANES + 4}; its partial sums only grow, so a
    partial sum above V (1 + gamma_fast) puts the point out.
(e) The distance returned, the *canonical* one of :mod:`npae.knn.kernels.select` (float64, feature
    order), is within gamma_canonical = gamma_{D + 3}(2^-53) of the true one.  From the k-th
    smallest fast distance F_k found: U = F_k (1 + gamma_canonical) / (1 - gamma_fast) bounds the
    canonical k-th distance from above, and V = U / (1 - gamma_canonical): a point whose true
    distance exceeds V has a canonical one above U.  Every candidate with a fast distance at most
    V (1 + gamma_fast) gets its canonical distance, and the k smallest (distance, index) win.
Every threshold only shrinks as F_k does, so a test passed against an earlier, larger V is still
valid.  On MNIST the screen's margin moves rho_a^2 by 3e-6 relative to V, the finer bound's by
0.7 % (E_f, a worst-case bound of the float32 GEMM, dominates): with E_f = 0 (not exact; a
measurement only) the raw distances per query drop from 15.3 to 14.6, not worth a float64 GEMM of
the fine coordinates (+0.1 s at fit).  Queries so large that the screen could overflow (|q| ~ 1e19
in float32) skip it and get the exact answer of the brute-force fallback.
"""
import threading
import time

import numpy as np

from .. import _backend
from .._validation import check_array_in_range
from ..kernels import blas
from ..kernels.workers import WORKERS
from ..pca import PCA
from .gemm import MIN_WORKER_QUERIES, run_blocks, worker_blocks
from .kernels.bounds import LANES, group_by_point, refine_pairs, screen_candidates
from .kernels.select import finish_queries, merge_candidates, provisional_candidates

# Rows of the training set that fit the PCA, evenly spaced (no random numbers): the bound is exact
# for any orthonormal basis, the sample only decides how well it prunes.  MNIST: 2,048 rows prune
# as well as all 60,000 (candidates passing the screen at d = 64: 119 against 116).
PCA_SAMPLE = 2048
# The fine coordinates are tested LEVEL_STEP at a time (refine_pairs).
LEVEL_STEP = 64
# The trial at fit (plan_search) chooses among these screen dimensions d and fine dimensions d2.
SCREEN_CHOICES = (48, 64, 96, 128)
FINE_CHOICES = (64, 128, 192)
TRIAL_SAMPLE = 2048
TRIAL_QUERIES = 64
# The trial starts with every PRE_TRIAL_STEP-th of its queries, and stops there when they predict the bounds
# to cost CLEARLY_HOPELESS times brute force or more (MNIST predicts 0.2x, Fashion-MNIST 0.43x, an isotropic
# 300-d Gaussian set far above 1x).
PRE_TRIAL_STEP = 8
CLEARLY_HOPELESS = 2.0
# Without a trial (tiny training sets, or a test that fixes them):
SCREEN_DIMENSIONS = 64
FINE_DIMENSIONS = 192
# Candidates buffered per query in the first round; a query whose buffer turns out too small is
# searched again with four times as many, and by brute force beyond MAX_BUFFER_FRACTION * n.
BUFFER_CAPACITY = 1024
MAX_BUFFER_FRACTION = 1 / 4
# Training points of the pilot sample that sets each query's first limit.
PILOT_SAMPLE = 2048
# The provisional k-th distance: the PROVISIONAL_FACTOR * k smallest keys meet the finer bound, and
# the k + PROVISIONAL_EXTRA best by it get their raw distances.
PROVISIONAL_FACTOR = 4
PROVISIONAL_EXTRA = 2
TRAIN_BLOCK = 4096
MAX_QUERY_BLOCK = 1024
PROJECTION_BLOCK = 2048


# The stages of a search whose seconds ``stage_seconds`` adds up, summed over the worker threads.
STAGES = ("screen", "threshold", "survivors", "refine", "finish", "fallback")


# The trial's cost model: seconds per unit of work on the 2-core machine of benchmarks/bench_knn.py
# (2 BLAS threads; MNIST, 10,000 x 60,000, k = 7), each from the run named in the comment.
SCREEN_GEMM_SECONDS = 1.4e-11  # per key and screen vector entry (d + 2): 0.55 s for 6e8 keys of 66 entries
SCREEN_SCAN_SECONDS = 2.5e-10  # per key, screen_candidates with few candidates: 0.15 s for 6e8 keys
APPEND_SECONDS = 2.0e-8  # per candidate appended to a buffer (~capacity / 2 per query)
LEVEL_SECONDS = 5.0e-8  # per pair and fine level it enters, refine_pairs: ~50 ns per level pass
RAW_SECONDS = 5.0e-7  # per raw distance: 3 KB of pixels from memory, ~6 GB/s on one core here
BRUTE_FORCE_SECONDS = 1.0e-11  # per multiply-add of brute force: 4.7 s for 10,000 x 60,000 x 784
# auto uses the bounds when the trial predicts at most this fraction of brute force's time per query.
PAYS_BELOW = 0.6
# A block of queries needing more raw distances than this fraction of n sends every later query to
# brute force: a raw distance costs RAW_SECONDS, brute force n D BRUTE_FORCE_SECONDS per query (1/64).
# (Not below HOPELESS_MIN_SAMPLES training points, where k + 2 provisional distances alone pass it.)
HOPELESS_RAW_FRACTION = BRUTE_FORCE_SECONDS * 784 / RAW_SECONDS
HOPELESS_MIN_SAMPLES = 10000
# Likewise when more than this fraction of all (query, point) pairs of a block pass the screen.
HOPELESS_PASS_FRACTION = 1 / 8


def plan_search(train, mean, components, k, estimated_kth_sq_distances):
    """The trial: screen dimensions d, fine dimensions d2 and buffer capacity for these data; and costs.

    train (n, D); mean (D,) and components (d_max, D) float64, the PCA of the search;
    estimated_kth_sq_distances: (queries (T, D), m) -> their m-th smallest squared distances (T,) to the
    training points (:meth:`npae.knn.gemm.GemmSearch.estimated_kth_sq_distances`).  Returns a
    dict: screen_dimensions, fine_dimensions, capacity, the predicted seconds per query of the chosen
    search and of brute force, and how many trial queries priced it.

    TRIAL_QUERIES training points (evenly spaced, so no random numbers) play the queries: their
    k-th distances (the (k+1)-th, they find themselves) by brute force against all n points;
    then, on a sample of TRIAL_SAMPLE training points, how many pass the screen of each d in
    SCREEN_CHOICES, how many levels of each d2 in FINE_CHOICES they enter and how many reach the raw
    distance; scaled to n, priced with the cost model above (SCREEN_GEMM_SECONDS ...).  The
    cheapest (d, d2) wins.  Its buffer holds twice the 90th percentile of the screen's survivors: the
    other 10 % of the queries, whose buffers overflow, are screened again (priced in).  Every
    PRE_TRIAL_STEP-th trial query goes first: when they price the bounds at CLEARLY_HOPELESS times brute
    force or more, that is the plan (auto then falls back to brute force after 1/8 of the trial); otherwise
    the other trial queries get their distances (one GEMM for the pre-trial's, one for the others) and all
    of them price the plan.  It changes no result, only the time; 0.17-0.19 s on MNIST (60,000 images).

    On MNIST it picks d = 48, d2 = 192, a buffer of 896 (predicted: 188 screen survivors and 26 raw
    distances per query, 95 us; d = 64: 100 us); on Fashion-MNIST, where the k-th distance is small
    against what the residuals leave, d = 128 or 96 (predicted 202 us each; d = 64: 237 us).  The
    predictions are rough (the costs above, sampled counts): they rank the choices, no more.  With 16
    trial queries instead of 64 the Fashion-MNIST estimates swung by 2x between samples.
    """
    n_samples, n_features = train.shape
    d_max = components.shape[0]
    screen_choices = [d for d in SCREEN_CHOICES if d <= d_max and d < n_features] or [min(d_max, SCREEN_DIMENSIONS)]
    step = max(1, n_samples // min(n_samples, TRIAL_SAMPLE))
    sample_rows = np.arange(step // 2, n_samples, step)[:TRIAL_SAMPLE]
    all_positions = np.unique(np.linspace(0, sample_rows.size - 1, min(TRIAL_QUERIES, sample_rows.size))
                              .astype(np.int64))
    centred = train[sample_rows].astype(np.float64) - mean
    z = centred @ components.T  # (S, d_max)
    cumulative = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(z * z, axis=1)], axis=1)
    sq_norms = np.einsum("ij,ij->i", centred, centred)
    scale = (n_samples - 1) / max(1, sample_rows.size - 1)
    brute_force_seconds = n_samples * n_features * BRUTE_FORCE_SECONDS

    def kth_distances(query_positions):
        """The trial queries' k-th squared distances (the (k+1)-th: they find themselves), from one GEMM in the
        dtype against all n points (brute force's products, centred when the data are offset: float32
        products of pixels + 1000 cancel every digit, and the plan then saw no survivors and sized the
        buffers for none).  Estimates: rounding moves them by ~1e-4 relative on MNIST, which changes no
        choice.  A float64 brute force, in blocks, took 0.45 s here (one core, busy machine); float32
        distances, then np.partition of the (T, n) array, 0.25 s; the top-k selection of brute force over
        the float32 keys, ~0.1 s."""
        return estimated_kth_sq_distances(train[sample_rows[query_positions]], min(k + 1, n_samples))  # (T,)

    def cheapest(query_positions, limits):
        """The cheapest (d, d2) for the trial queries sample_rows[query_positions], whose k-th squared
        distances are ``limits`` (T,), priced as above."""
        not_self = np.ones((query_positions.size, sample_rows.size), np.bool_)
        not_self[np.arange(query_positions.size), query_positions] = False
        zq = z[query_positions]
        best = None
        for d in screen_choices:
            residual = np.sqrt(np.maximum(sq_norms - cumulative[:, d], 0.0))
            gap = (residual[query_positions, None] - residual[None, :]) ** 2  # (T, S)
            bound = cumulative[query_positions, d][:, None] + cumulative[None, :, d] - 2 * zq[:, :d] @ z[:, :d].T + gap
            alive = (bound <= limits[:, None]) & not_self
            screen_survivors = alive.sum(axis=1) * scale  # per trial query
            fine = np.zeros_like(bound)
            level_visits = 0.0
            fine_choices = [0] + [f for f in FINE_CHOICES if d + f <= d_max]
            for d2 in range(0, max(fine_choices) + 1, LEVEL_STEP):
                if d2 in fine_choices:  # the search that stops here
                    capacity = max(64 * int(np.ceil(2 * np.percentile(screen_survivors, 90) / 64)), 4 * k)
                    screen_seconds = n_samples * ((d + 2) * SCREEN_GEMM_SECONDS + SCREEN_SCAN_SECONDS)
                    second_round = np.mean(screen_survivors > capacity / 2)  # their buffers overflow: screened again
                    raw = alive.sum() * scale / query_positions.size + 2 * k
                    seconds = (screen_seconds * (1 + second_round) + capacity / 2 * APPEND_SECONDS
                               + level_visits / query_positions.size * LEVEL_SECONDS + raw * RAW_SECONDS)
                    if best is None or seconds < best["seconds"]:
                        best = {"screen_dimensions": d, "fine_dimensions": d2, "seconds": seconds,
                                "screen_survivors": float(screen_survivors.mean()), "raw_distances": float(raw),
                                "capacity": int(min(capacity, 8192)), "brute_force_seconds": brute_force_seconds,
                                "trial_queries": int(query_positions.size)}
                if d2 == max(fine_choices):
                    break
                level_visits += alive.sum() * scale  # the survivors enter the next level
                segment = slice(d + d2, d + d2 + LEVEL_STEP)
                fine += (cumulative[query_positions, segment.stop][:, None]
                         - cumulative[query_positions, segment.start][:, None]
                         + (cumulative[None, :, segment.stop] - cumulative[None, :, segment.start])
                         - 2 * zq[:, segment] @ z[:, segment].T)
                alive &= bound + np.maximum(0.0, fine - gap) <= limits[:, None]
        return best

    # First every PRE_TRIAL_STEP-th trial query alone: data where the bounds clearly cannot pay (nothing to
    # prune) are told in 1/8 of the trial, and auto's detour before brute force stays short.
    pre_trial = np.zeros(all_positions.size, np.bool_)
    pre_trial[::PRE_TRIAL_STEP] = True
    limits = np.empty(all_positions.size)
    limits[pre_trial] = kth_distances(all_positions[pre_trial])
    with blas.single_threaded():  # small products (64 x 2048 x d): a second thread only waits (kernels.blas)
        plan = cheapest(all_positions[pre_trial], limits[pre_trial])
    if plan["seconds"] < CLEARLY_HOPELESS * brute_force_seconds:
        limits[~pre_trial] = kth_distances(all_positions[~pre_trial])
        with blas.single_threaded():
            plan = cheapest(all_positions, limits)
    return plan


def _gamma(terms, unit_roundoff):
    """Higham's gamma_m = m u / (1 - m u): the relative error bound of m roundings in a chain."""
    return terms * unit_roundoff / (1 - terms * unit_roundoff)


class LowerBoundSearch:
    """Exact k nearest neighbours of raw points by PCA lower bounds (see the module docstring).

    train (n, D), float32 or float64, C-contiguous, finite: kept by reference.  Built by
    :class:`npae.knn.KNNClassifier` for ``algorithm="lower_bounds"``; ``brute_force``, the
    :class:`npae.knn.gemm.GemmSearch` of the same training set: its ``search`` is the exact fallback
    (``self.fallback``) for the queries that the bounds cannot settle, its estimated distances serve
    the trial.  ``screen_dimensions``, ``fine_dimensions``, ``capacity``: fixed choices
    (tests); by default the trial (:func:`plan_search`, kept in ``plan``) makes them.  ``hopeless``:
    the trial found the bounds no cheaper than brute force, which then answers every query.

    State (MNIST, d = 48, d2 = 192): the screen vectors (n, d + 2), the fine coordinates (L, n, 64)
    and the residual norms, 59 MB beside the 188 MB of the training set.
    """

    def __init__(self, train, k, budget, brute_force, screen_dimensions=None, fine_dimensions=None, capacity=None):
        n_samples, n_features = train.shape
        self.train, self.k, self.budget, self.fallback = train, k, budget, brute_force.search
        self.max_norm = brute_force.max_train_norm  # max |x| (the queries' overflow test)
        self.dtype = train.dtype
        self.unit = np.finfo(self.dtype).eps / 2
        # -- the basis: PCA of an evenly spaced sample, in float64
        sample_rows = np.unique(np.linspace(0, n_samples - 1, min(n_samples, PCA_SAMPLE)).astype(np.int64))
        sample = train[sample_rows].astype(np.float64)
        d_max = min(max(SCREEN_CHOICES) + max(FINE_CHOICES), n_features, sample.shape[0])
        if sample.shape[0] >= 2:
            # One BLAS thread: the PCA's eigh of the (D, D) covariance is a long chain of small BLAS
            # calls, each waiting for the slower thread.  MNIST, 784 x 784, while other programs kept
            # the 2 cores busy: 0.13 s on one thread, 4-7 s on two (on a quiet machine ~0.1 s either way).
            with blas.single_threaded():
                pca = PCA(n_components=d_max).fit(sample)
            mean, components = pca.mean_, pca.components_
        else:  # a single training point: no directions, the bound is the residual norm alone
            mean, components = sample[0], np.zeros((0, n_features))
        self.plan = None
        if screen_dimensions is None and n_samples >= 4 * TRIAL_QUERIES and components.shape[0] >= 2:
            self.plan = plan_search(train, mean, components, k, brute_force.estimated_kth_sq_distances)
            screen_dimensions, fine_dimensions = self.plan["screen_dimensions"], self.plan["fine_dimensions"]
            capacity = self.plan["capacity"] if capacity is None else capacity
        # When the trial predicts the bounds to cost as much as brute force (data without a
        # low-dimensional structure), every query goes to brute force at once: nothing is projected.
        self.hopeless = self.plan is not None and self.plan["seconds"] >= self.plan["brute_force_seconds"]
        if self.hopeless:
            return
        screen_dimensions = SCREEN_DIMENSIONS if screen_dimensions is None else screen_dimensions
        fine_dimensions = FINE_DIMENSIONS if fine_dimensions is None else fine_dimensions
        capacity = BUFFER_CAPACITY if capacity is None else capacity
        screen_dimensions = max(1, min(screen_dimensions, n_features - 1 if n_features > 1 else 1))
        fine_dimensions = min(fine_dimensions, n_features - screen_dimensions)
        fine_dimensions -= fine_dimensions % LEVEL_STEP
        components = components[:screen_dimensions + fine_dimensions]
        basis = np.zeros((screen_dimensions + fine_dimensions, n_features))
        basis[:components.shape[0]] = components  # directions beyond the data's rank stay zero
        self.mean = mean
        self.fine_centre = mean.astype(self.dtype)  # the fine coordinates' origin (see _fine_coordinates)
        self.screen_basis = basis[:screen_dimensions]  # (d, D) float64
        self.fine_basis = basis[screen_dimensions:].astype(self.dtype)  # (d2, D), the dtype of the GEMM
        self.screen_dimensions, self.fine_dimensions = screen_dimensions, fine_dimensions
        # (a): eps = ||P P^T - I|| over the rows actually used (Frobenius >= spectral), plus the
        # rounding of the Gram matrix itself
        used = np.vstack([self.screen_basis, self.fine_basis.astype(np.float64)])
        gram = used @ used.T - np.eye(used.shape[0])
        zero_rows = ~np.any(used != 0, axis=1)
        gram[zero_rows] = 0.0
        gram[:, zero_rows] = 0.0  # a zero row is no direction; it adds nothing to any bound
        rounding = used.shape[0] * _gamma(n_features + 2, 2.0**-53)
        self.eps = float(np.sqrt(np.sum(gram * gram))) + rounding
        screen_gram = gram[:screen_dimensions, :screen_dimensions]
        self.screen_eps = float(np.sqrt(np.sum(screen_gram * screen_gram))) + rounding  # the residuals use P1 only
        self.isometry = (1 + 4 * self.eps) * (1 + self.eps * (1 + self.eps))
        # -- the training points' vectors
        self.screen_vectors, self.residuals, screen_errors, centred_norms, self.fine = self._project_training_set(train)
        self.max_screen_error = float(screen_errors.max())
        self.max_fine_error = float(self._fine_errors(centred_norms).max())
        self.max_screen_norm = float(np.sqrt(self.screen_vectors[:, -1].astype(np.float64).max()))
        self.pilot = self.screen_vectors[np.unique(np.linspace(0, n_samples - 1, min(n_samples, PILOT_SAMPLE))
                                                   .astype(np.int64))]
        self.capacity = int(min(max(capacity, 4 * k), n_samples + 1))
        self.max_capacity = int(max(self.capacity, min(n_samples, MAX_BUFFER_FRACTION * n_samples)))
        self.n_provisional = int(min(PROVISIONAL_FACTOR * k, n_samples))
        self.n_provisional_raw = int(min(k + PROVISIONAL_EXTRA, self.n_provisional))
        self.gamma_fast = _gamma(n_features // LANES + 2 * LANES + 4, self.unit)
        self.gamma_canonical = _gamma(n_features + 3, 2.0**-53)
        self.gamma_fine = _gamma(fine_dimensions // LANES + LANES + 3, self.unit) + _gamma(LANES + 4, 2.0**-53)

    def pays(self):
        """Whether the trial predicts this search to take at most PAYS_BELOW of brute force's time (auto's
        choice; False without a trial: tiny training sets)."""
        return self.plan is not None and self.plan["seconds"] <= PAYS_BELOW * self.plan["brute_force_seconds"]

    # -- projections ---------------------------------------------------------------------------

    def _screen_vectors(self, x, for_queries):
        """Screen vectors of the rows of x (m, D), in blocks of PROJECTION_BLOCK rows.

        Training rows: (a, |a|^2), queries: (-2 a, 1), so that their product is the key
        |a_x|^2 - 2 a_q . a_x; a = (z, |r|) rounded to the dtype.  Returns the vectors (m, d + 2) in
        the dtype, the residual norms |r| (m,) float64 (as rounded), the errors E_a (m,) of (a) and the
        norms |w| (m,) (for E_f).
        """
        n_rows = x.shape[0]
        outputs = (np.empty((n_rows, self.screen_dimensions + 2), self.dtype), np.empty(n_rows), np.empty(n_rows),
                   np.empty(n_rows))
        for start in range(0, n_rows, PROJECTION_BLOCK):
            rows = slice(start, min(start + PROJECTION_BLOCK, n_rows))
            self._screen_block(x[rows], for_queries, *(output[rows] for output in outputs))
        return outputs

    def _screen_block(self, x, for_queries, vectors, residuals, errors, centred_norms):
        """_screen_vectors of one block of rows x (B, D), written into the four outputs' rows (B, ...)."""
        d = self.screen_dimensions
        centred = x.astype(np.float64)
        centred -= self.mean  # one rounding per entry
        z = centred @ self.screen_basis.T  # (B, d)
        sq_norms = np.einsum("ij,ij->i", centred, centred)  # |w|^2
        vectors[:, :d] = z
        vectors[:, d] = np.sqrt(np.maximum(sq_norms - np.einsum("ij,ij->i", z, z), 0.0))
        residuals[:] = vectors[:, d]  # the rounded value, as the GEMM sees it
        centred_norms[:] = np.sqrt(sq_norms)
        errors[:] = self._screen_errors(centred_norms, residuals)
        if for_queries:
            vectors[:, :d + 1] *= -2  # exact: a power of two
            vectors[:, d + 1] = 1
        else:
            rounded = vectors[:, :d + 1].astype(np.float64)  # |a|^2 of the rounded vector, in float64
            vectors[:, d + 1] = np.einsum("ij,ij->i", rounded, rounded)

    def _screen_errors(self, norms, residuals):
        """E_a of (a): how far the computed, rounded augmented vectors can be from the exact ones.

        norms (m,) |w| as computed; residuals (m,) the computed residual norms.  With u = 2^-53,
        D features, d screen coordinates and eps the defect of the screen's rows alone:
            lambda = 1.01 (u (1 + eps) + sqrt(d) gamma_D)               coordinates: |z^ - z| <= lambda |w|
            kappa  = 1.1 (eps (1 + eps) + (D + d + 8) u (1 + eps + lambda)^2 + 3 lambda)
                                                     squared residual: |r^2 computed - |R w|^2| <= kappa |w|^2
            residual error <= min(sqrt(kappa) |w|, kappa |w|^2 / r)      (|a - b| = |a^2 - b^2| / (a + b))
            rounding to the dtype (unit u_c) <= 2 u_c (1 + eps + lambda + sqrt(kappa)) |w|
        """
        unit, eps = 2.0**-53, self.screen_eps
        n_features, d = self.screen_basis.shape[1], self.screen_dimensions
        norms = norms * (1 + 4 * unit)  # |w| from the computed |w^|
        lam = 1.01 * (unit * (1 + eps) + np.sqrt(d) * _gamma(n_features, unit))
        kappa = 1.1 * (eps * (1 + eps) + (n_features + d + 8) * unit * (1 + eps + lam) ** 2 + 3 * lam)
        by_quotient = np.divide(kappa * norms**2, residuals, out=np.full_like(norms, np.inf), where=residuals > 0)
        residual_error = np.minimum(np.sqrt(kappa) * norms, by_quotient)
        rounding = 2 * self.unit * (1 + eps + lam + np.sqrt(kappa)) * norms
        return (lam * norms + residual_error + rounding) * (1 + 1e-6)

    def _fine_coordinates(self, x):
        """Fine coordinates of the rows of x (m, D), level by level: (L, m, LEVEL_STEP) in the dtype.

        GEMMs of x - c (c the mean in the dtype: only differences of coordinates are used, so any
        origin is exact, and this one keeps the rounding bound E_f proportional to |x - mu| rather
        than |x|: pixels + 1000 would have a margin 1,000 times wider), one block of rows at a time,
        each block then dealt out to the levels, so that each level is one contiguous array (see
        refine_pairs_numba).  A separate GEMM per level, 32 columns wide, ran 1.5x slower.
        """
        fine = np.empty((self.fine_dimensions // LEVEL_STEP, x.shape[0], LEVEL_STEP), self.dtype)
        for start in range(0, x.shape[0], PROJECTION_BLOCK):
            stop = min(start + PROJECTION_BLOCK, x.shape[0])
            self._fine_block(x[start:stop], fine[:, start:stop])
        return fine

    def _fine_block(self, x, fine):
        """_fine_coordinates of one block of rows x (B, D), written into fine (L, B, LEVEL_STEP)."""
        block = (x - self.fine_centre) @ self.fine_basis.T  # (B, d2)
        fine[:] = block.reshape(x.shape[0], fine.shape[0], LEVEL_STEP).transpose(1, 0, 2)

    def _project_training_set(self, train):
        """The training points' screen vectors, residual norms, errors E_a, norms |w| and fine coordinates:
        _screen_vectors and _fine_coordinates, one block of PROJECTION_BLOCK rows at a time on the WORKERS
        threads (each a one-thread BLAS), so that the NumPy passes (conversion to float64, centring, norms)
        run on both cores as well as the products."""
        n_samples = train.shape[0]
        screen = (np.empty((n_samples, self.screen_dimensions + 2), self.dtype), np.empty(n_samples),
                  np.empty(n_samples), np.empty(n_samples))
        fine = np.empty((self.fine_dimensions // LEVEL_STEP, n_samples, LEVEL_STEP), self.dtype)

        def project(index, start, stop, slot):
            self._screen_block(train[start:stop], False, *(output[start:stop] for output in screen))
            self._fine_block(train[start:stop], fine[:, start:stop])

        blocks = [(start, min(start + PROJECTION_BLOCK, n_samples)) for start in range(0, n_samples, PROJECTION_BLOCK)]
        run_blocks(blocks, project, WORKERS)
        return screen + (fine,)

    def _fine_errors(self, centred_norms):
        """E_f of (a) from |w| = |x - mu| (m,): (sqrt(d2) gamma_D + u) |x - c| (1 + eps), the float32 GEMM's
        bound on the fine coordinates (each a D-term dot product with a row of norm <= sqrt(1 + eps)) plus
        the rounding of x - c (u |x - c|); |x - c| <= |w| + u |mu|, c being mu rounded. (m,)"""
        norms = (centred_norms + self.unit * float(np.sqrt(self.mean @ self.mean))) * (1 + 1e-6)
        n_features = self.screen_basis.shape[1]
        return (np.sqrt(self.fine_dimensions) * _gamma(n_features + 2, self.unit) + self.unit) * (1 + self.eps) * norms

    # -- search --------------------------------------------------------------------------------

    def block_shape(self, n_queries, capacity, query_itemsize, workers=1):
        """(queries, training points) per block so that the working memory of ``workers`` blocks at once fits
        the budget; (0, 0) when it cannot for several workers (the caller then runs one)."""
        itemsize = self.dtype.itemsize
        n_samples, n_features = self.train.shape
        budget = self.budget // workers
        train_block = min(n_samples, TRAIN_BLOCK)
        while True:
            per_query = (max(train_block, self.pilot.shape[0]) * itemsize  # keys (or the pilot's products)
                         + capacity * (itemsize + 8 + 1)  # the buffer and its mask
                         + capacity * 160  # pairs: rows, points, keys, order, results, the kernel's packed state
                         + n_features * (query_itemsize + itemsize + 1 + 8)  # as given, cast, check, float64
                         + (self.screen_dimensions + self.fine_dimensions) * 24 + 512)
            if not _backend.jit_enabled():  # the NumPy references hold (Q, T) and (pairs, W) temporaries
                per_query += train_block * 3 * itemsize + capacity * (8 * LEVEL_STEP + 320)
            if per_query <= budget or train_block <= 64:
                break
            train_block //= 2
        fixed = 16 * n_samples + 4096  # group_by_point's counts
        if per_query + fixed > budget:
            if workers > 1:
                return 0, 0
            raise ValueError(f"memory_budget={self.budget} bytes is too small: one query needs {per_query + fixed} "
                             f"bytes with {n_samples} training points of {n_features} features")
        return int(min(n_queries, MAX_QUERY_BLOCK, (budget - fixed) // per_query)), train_block

    def search(self, x, out_sq_distances, out_indices):
        """k nearest of each row of x (Q, D) into out_sq_distances (Q, k) float64 (squared) and out_indices.

        Returns the raw (D-dimensional) distances computed per query (Q,) int64: provisional and
        refined ones of every round, and n for a query settled by brute force.
        """
        n_queries, n_samples = x.shape[0], self.train.shape[0]
        work = np.zeros(n_queries, np.int64)
        pending = np.arange(n_queries)
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)  # where the time went (benchmarks/bench_knn.py)
        self._time_lock = threading.Lock()
        if self.hopeless:
            self._brute_force(x, pending, out_sq_distances, out_indices, work)
            return work
        # what a round leaves to the next, per query (see _search_block)
        state = {"limits": np.full(n_queries, np.nan), "real_limits": np.full(n_queries, np.inf),
                 "floors": np.full(n_queries, -np.inf), "carried": {}}
        capacity = self.capacity
        while pending.size:
            if capacity > self.max_capacity:
                self._brute_force(x, pending, out_sq_distances, out_indices, work)
                break
            # blocks of queries on WORKERS threads at once, as in GemmSearch.search: here every stage, not
            # only the screen's GEMM, runs on both cores
            workers = WORKERS if pending.size >= WORKERS * MIN_WORKER_QUERIES else 1
            query_block, train_block = self.block_shape(pending.size, capacity, x.itemsize, workers)
            if query_block == 0:
                workers = 1
                query_block, train_block = self.block_shape(pending.size, capacity, x.itemsize)
            blocks = worker_blocks(pending.size, query_block, workers)
            uncertified = [pending[:0]] * len(blocks)
            to_brute_force = []  # blocks of rows for brute force, after the round (one fallback, all threads)

            def search_block(index, first, stop, slot):
                block_rows = pending[first:stop]
                if self.hopeless:  # an earlier block found the bounds useless here: brute force
                    to_brute_force.append(block_rows)
                    return
                uncertified[index] = self._search_block(x, block_rows, state, capacity, train_block,
                                                        out_sq_distances, out_indices, work, to_brute_force)
                # Margins so wide that nothing is pruned (one feature a million times the others: the
                # finer bounds' rounding bound grows with |x|, red-team finding 6): the raw distances
                # cost more than brute force.  The trial at fit cannot see it (it prices exact bounds).
                if n_samples >= HOPELESS_MIN_SAMPLES and work[block_rows].mean() > n_samples * HOPELESS_RAW_FRACTION:
                    self.hopeless = True

            run_blocks(blocks, search_block, workers)
            if to_brute_force:
                self._brute_force(x, np.concatenate(to_brute_force), out_sq_distances, out_indices, work)
            pending = np.concatenate(uncertified)
            capacity = min(4 * capacity, self.max_capacity) if capacity < self.max_capacity else self.max_capacity + 1
        return work

    def _brute_force(self, x, rows, out_sq_distances, out_indices, work):
        """The exact fallback for the queries x[rows]: brute force, n raw distances each in ``work``."""
        lap = time.perf_counter()
        self.fallback(x, rows, out_sq_distances, out_indices)
        work[rows] = self.train.shape[0]
        self._add_time("fallback", lap)

    def _search_block(self, x, rows, state, capacity, train_block, out_sq_distances, out_indices, work, to_brute_force):
        """Screen, refine and finish the queries x[rows] (all in the same round); returns the rows not certified
        and appends those that need brute force to the list ``to_brute_force``.  Called on several threads at
        once, for disjoint blocks of rows: it writes only those rows of the arrays it shares.

        ``state`` holds, per query, what an earlier round leaves to this one: "limits" (its key
        threshold: the buffer's limit now; NaN in the first round), "real_limits" (its V), "floors"
        (its buffer's limit: every point with a key below was dealt with) and "carried" (query ->
        (points, fast distances) of its close calls).  A later round screens again, but refines only
        the band of keys from the floor up, minus twice the key slack S_q: the same point's key may
        differ by up to 2 S_q between two GEMMs of different shapes.
        """
        n_samples = self.train.shape[0]
        k = self.k
        queries = check_array_in_range(x[rows], "x", dtype=self.dtype)  # (B, D)
        with np.errstate(over="ignore"):  # an overflow (inf) is what the test below looks for
            query_norms = np.sqrt(np.einsum("ij,ij->i", queries, queries).astype(np.float64))
        # so far out that the screen's products could overflow: brute force, exactly (a float32 norm
        # is within a few units of 1e-7 of the true one: the factor 4 covers it many times over)
        overflow = ~((query_norms + self.max_norm) ** 2 * 4 <= np.finfo(self.dtype).max)
        if overflow.any():
            to_brute_force.append(rows[overflow])
            rows, queries = rows[~overflow], queries[~overflow]
            if rows.size == 0:
                return rows
        n_block = rows.size
        lap = time.perf_counter()
        first_round = np.isnan(state["limits"][rows[0]])
        screen_vectors, query_residuals, screen_errors, query_centred_norms = self._screen_vectors(
            queries, for_queries=True)
        query_fine = self._fine_coordinates(queries)  # (L, B, W)
        fine_errors = self._fine_errors(query_centred_norms)
        doubled = screen_vectors[:, :-1].astype(np.float64)  # -2 a_q
        query_sq = np.einsum("ij,ij->i", doubled, doubled) / 4
        n_terms = self.screen_dimensions + 1
        slack = (n_terms + 4) * self.unit * (np.sqrt(query_sq) + self.max_screen_norm) ** 2
        key_offset = slack + (n_terms + 4) * 2.0**-53 * query_sq - query_sq
        screen_radius = screen_errors + self.max_screen_error
        fine_radius = 2 * screen_radius + fine_errors + self.max_fine_error
        # 1. screen
        buffer_keys = np.empty((n_block, capacity), self.dtype)
        buffer_indices = np.empty((n_block, capacity), np.int64)
        counts = np.zeros(n_block, np.int64)
        block_limits = self._first_limits(screen_vectors, state["limits"][rows], capacity)
        keys = np.empty(n_block * train_block, self.dtype)
        for first in range(0, n_samples, train_block):
            stop = min(first + train_block, n_samples)
            block_keys = keys[:n_block * (stop - first)].reshape(n_block, stop - first)
            np.matmul(screen_vectors, self.screen_vectors[first:stop].T, out=block_keys)
            screen_candidates(block_keys, first, buffer_keys, buffer_indices, counts, block_limits)
        del keys
        valid = np.arange(capacity) < counts[:, None]
        lap = self._add_time("screen", lap)
        # 2. provisional k-th distance (first round): the finer bounds of the 4k smallest keys, then
        # the raw distances of the k + 2 best by them
        if first_round:
            positions = np.empty((n_block, self.n_provisional), np.int64)
            provisional_candidates(buffer_keys, counts, positions)
            chosen = positions >= 0
            chosen_rows, chosen_slots = np.nonzero(chosen)
            unbounded = np.zeros((n_block, 4))
            unbounded[:, 0] = key_offset
            unbounded[:, 1:3] = np.inf
            unbounded[:, 3] = 1 - self.gamma_fine
            fine_bounds = np.full(positions.shape, np.inf)
            fine_bounds[chosen_rows, chosen_slots] = self._refine(
                queries, query_fine, query_residuals, self.fine, chosen_rows,
                buffer_indices[chosen_rows, positions[chosen]], buffer_keys[chosen_rows, positions[chosen]],
                unbounded, compute_raw=False)[2]
            best = np.argsort(fine_bounds, axis=1, kind="stable")[:, :self.n_provisional_raw]
            best_positions = np.take_along_axis(positions, best, axis=1)
            chosen = best_positions >= 0
            chosen_rows = np.nonzero(chosen)[0]
            chosen_points = buffer_indices[chosen_rows, best_positions[chosen]]
            chosen_fast = self._refine(queries, query_fine[:0], query_residuals, self.fine[:0], chosen_rows,
                                       chosen_points, buffer_keys[chosen_rows, best_positions[chosen]], unbounded)[0]
            provisional_fast = np.full(best_positions.shape, np.inf, self.dtype)
            provisional_fast[chosen] = chosen_fast
            fast_kth = np.partition(provisional_fast, k - 1, axis=1)[:, k - 1] if best_positions.shape[1] >= k \
                else np.full(n_block, np.inf)
            real_limit = self._real_limit(fast_kth)
            excluded = np.zeros((n_block, capacity), np.bool_)
            excluded[chosen_rows, best_positions[chosen]] = True
        else:  # the candidates of earlier rounds: their close calls, and V
            carried = [state["carried"][row] for row in rows]
            chosen_rows = np.repeat(np.arange(n_block), [points.size for points, _ in carried])
            chosen_points = np.concatenate([points for points, _ in carried])
            chosen_fast = np.concatenate([fast for _, fast in carried]).astype(self.dtype)
            real_limit = state["real_limits"][rows]
            floors = state["floors"][rows] - 2 * slack
            excluded = valid & ~(buffer_keys >= floors[:, None])  # dealt with by an earlier round
        rho_screen = np.sqrt(self.isometry * real_limit) + screen_radius
        rho_fine = np.sqrt(self.isometry * real_limit) + fine_radius
        thresholds = np.empty((n_block, 4))
        thresholds[:, 0] = key_offset
        thresholds[:, 1] = rho_fine * rho_fine * (1 + 2.0**-40)
        thresholds[:, 2] = real_limit * (1 + self.gamma_fast)
        thresholds[:, 3] = 1 - self.gamma_fine
        lap = self._add_time("threshold", lap)
        # 3. refine the other candidates whose keys pass
        passing = valid & ~excluded & (buffer_keys <= (rho_screen * rho_screen + key_offset)[:, None])
        if n_samples >= HOPELESS_MIN_SAMPLES and np.count_nonzero(passing) > n_block * n_samples * HOPELESS_PASS_FRACTION:
            # the screen ruled out almost nothing (margins wider than the gaps between distances):
            # brute force for this block and every later one, before the refinement's bill
            self.hopeless = True
            to_brute_force.append(rows)
            return rows[:0]
        pair_rows, pair_positions = np.nonzero(passing)  # row-major: grouped by query
        if not first_round:  # a carried candidate is not refined again
            carried_codes = np.sort(chosen_points + n_samples * chosen_rows)
            codes = buffer_indices[pair_rows, pair_positions] + n_samples * pair_rows
            found = np.minimum(np.searchsorted(carried_codes, codes), max(carried_codes.size - 1, 0))
            new = ~(carried_codes[found] == codes) if carried_codes.size else np.ones(codes.size, np.bool_)
            pair_rows, pair_positions = pair_rows[new], pair_positions[new]
        pair_points = buffer_indices[pair_rows, pair_positions]
        pair_keys = buffer_keys[pair_rows, pair_positions]
        lap = self._add_time("survivors", lap)
        pair_fast, pair_raw, _ = self._refine(queries, query_fine, query_residuals, self.fine, pair_rows,
                                              pair_points, pair_keys, thresholds)
        lap = self._add_time("refine", lap)
        # 4. finish: every query's candidates (provisional or carried first, then its pairs) in one CSR list
        n_chosen = np.bincount(chosen_rows, minlength=n_block)
        n_pairs = np.bincount(pair_rows, minlength=n_block)
        starts = np.zeros(n_block + 1, np.int64)
        np.cumsum(n_chosen + n_pairs, out=starts[1:])
        candidate_points = np.empty(starts[-1], np.int64)
        candidate_fast = np.empty(starts[-1], self.dtype)
        for row_list, points, fast, before in ((chosen_rows, chosen_points, chosen_fast, 0 * n_chosen),
                                               (pair_rows, pair_points, pair_fast, n_chosen)):
            group_starts = np.zeros(n_block + 1, np.int64)
            np.cumsum(np.bincount(row_list, minlength=n_block), out=group_starts[1:])
            destinations = starts[row_list] + before[row_list] + np.arange(row_list.size) - group_starts[row_list]
            candidate_points[destinations] = points
            candidate_fast[destinations] = fast
        sq_distances = np.empty((n_block, k))
        indices = np.empty((n_block, k), np.int64)
        final_limits = np.empty(n_block)
        canonical_work = np.empty(n_block, np.int64)
        finish_queries(queries, self.train, starts, candidate_points, candidate_fast,
                       np.array([self.gamma_fast, self.gamma_canonical]), sq_distances, indices, final_limits,
                       canonical_work)
        # the certificate: every point outside the buffer has a key >= its limit, which must exceed
        # the key threshold of the final V
        rho = np.sqrt(self.isometry * final_limits) + screen_radius
        key_thresholds = rho * rho + key_offset
        certified = block_limits.astype(np.float64) > key_thresholds
        work[rows] += (n_chosen if first_round else 0) + np.bincount(pair_rows, weights=pair_raw,
                                                                     minlength=n_block).astype(np.int64)
        out_sq_distances[rows[certified]] = sq_distances[certified]
        out_indices[rows[certified]] = indices[certified]
        state["limits"][rows] = key_thresholds
        state["real_limits"][rows] = final_limits
        state["floors"][rows] = block_limits
        candidate_rows = np.repeat(np.arange(n_block), np.diff(starts))
        close = candidate_fast <= (final_limits * (1 + self.gamma_fast))[candidate_rows]
        for r in np.flatnonzero(~certified):
            segment = slice(starts[r], starts[r + 1])
            keep = close[segment]
            state["carried"][rows[r]] = (candidate_points[segment][keep], candidate_fast[segment][keep])
        self._add_time("finish", lap)
        return rows[~certified]

    def _add_time(self, stage, since):
        """Add the seconds since ``since`` to ``stage_seconds[stage]``; returns now.  (Thread-seconds: with two
        workers a stage's seconds add up over both, up to twice the wall-clock time.)"""
        now = time.perf_counter()
        with self._time_lock:
            self.stage_seconds[stage] += now - since
        return now

    def _refine(self, queries, query_fine, query_residuals, train_fine, rows, points, keys, thresholds,
                compute_raw=True):
        """refine_pairs on the pairs (rows, points, keys), read grouped by training point; returns their
        fast distances, whether their raw distance was started and their last bounds, in the pairs' order."""
        order = np.empty(points.size, np.int64)
        group_by_point(points, self.train.shape[0], order)
        grouped = (np.empty(points.size, self.dtype), np.empty(points.size, np.bool_), np.empty(points.size))
        refine_pairs(queries, self.train, query_fine, train_fine, query_residuals, self.residuals, rows[order],
                     points[order], keys[order], thresholds, compute_raw, *grouped)
        results = tuple(np.empty_like(values) for values in grouped)
        for result, values in zip(results, grouped):
            result[order] = values
        return results

    def _real_limit(self, fast_kth):
        """V of (e) from the k-th smallest fast distances (any shape; +inf stays +inf)."""
        upper = fast_kth.astype(np.float64) * (1 + self.gamma_canonical) / (1 - self.gamma_fast)
        return upper / (1 - self.gamma_canonical)

    def _first_limits(self, screen_vectors, known, capacity):
        """Each query's first buffer limit, in the dtype.

        In a second round, ``known`` holds the key threshold of the first round: the smallest number
        above it (every key that can matter gets in).  In the first round (NaN), the pilot sample of
        training points predicts the key of the capacity/2-th candidate: its m-th smallest pilot key,
        m = capacity/2 * pilot size / n.  Any limit keeps the search exact (a point left out has a
        key >= the limit, which the certificate checks); a good one only saves appending candidates
        that a compaction would drop again.
        """
        limits = np.empty(screen_vectors.shape[0], self.dtype)
        first = np.isnan(known)
        if (~first).any():
            limits[~first] = _limits_above(known[~first], self.dtype)
        if first.any():
            if capacity > self.train.shape[0]:  # the buffer holds every point: no limit needed
                limits[first] = np.inf
            else:
                m = int(np.clip(round(capacity / 2 * self.pilot.shape[0] / self.train.shape[0]), 1,
                                self.pilot.shape[0]))
                query_vectors = screen_vectors[first, :-1] * self.dtype.type(-0.5)  # a_q, exactly
                products = query_vectors @ self.pilot[:, :-1].T  # (B', S): a_q . a_x
                smallest = np.full((query_vectors.shape[0], m), np.inf, self.dtype)
                merge_candidates(products, self.pilot[:, -1], 0, smallest, np.full(smallest.shape, -1, np.int64))
                limits[first] = np.nextafter(smallest[:, -1], self.dtype.type(np.inf))
        return limits


def _limits_above(thresholds, dtype):
    """The smallest numbers of ``dtype`` above each float64 threshold: key < limit <=> key <= threshold."""
    limits = thresholds.astype(dtype)
    below = ~(limits.astype(np.float64) > thresholds)
    limits[below] = np.nextafter(limits[below], dtype.type(np.inf))
    return limits
