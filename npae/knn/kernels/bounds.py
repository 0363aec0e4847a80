"""Filter-and-refine kernels for exact kNN by lower bounds (the search is :mod:`npae.knn.lower_bounds`).

Three pairs, each a plain-NumPy reference with its Numba kernel directly below, in the order the
search calls them for a block of queries:

``screen_candidates``
    one block of screening keys (GEMM output) -> each query's *candidate buffer*: the training
    points whose key is below the query's limit; a full buffer keeps about half and lowers its limit;
``group_by_point``
    the (query, candidate) pairs still to be checked -> grouped by training point, in index order;
``refine_pairs``
    each pair through finer lower bounds, then the raw fast distance, each test against its query's
    threshold; pairs of one training point share one read of its coordinates and of its pixels
    (with an infinite threshold and no raw distances: the provisional candidates' finer bounds;
    with no levels: their raw distances).

Between the screen and the refinement the search picks its provisional candidates, and after it
finishes each query; both are selections, in :mod:`npae.knn.kernels.select`
(``provisional_candidates``, ``finish_queries``).

The kernels that the search calls release the GIL (``release_gil=True``): blocks of queries run on two
threads at once (:mod:`npae.knn.lower_bounds`, "Both cores").

Keys, fast distances, bounds and thresholds are defined in :mod:`npae.knn.lower_bounds`, with the proof
that every test drops only points that cannot be neighbours.  Timings are those of
``benchmarks/bench_knn.py`` (MNIST, 60,000 x 784, k = 7) on the 2-core machine of the README.
"""
import numpy as np

from ...kernels._jit import LazyNumbaFunction, kernel_pair, numba_kernel

# A full buffer keeps the entries below the median of this many evenly spaced samples of it.
COMPACTION_SAMPLES = 32
# Running sums of the fast distances and finer bounds: one AVX-512 register of float32.
LANES = 16
# The raw fast distance tests its partial sum every EXIT_STRIDE features.
EXIT_STRIDE = 128


# ---------------------------------------------------------------------------------------------
# Shared definitions: a prefetch hint, lane totals, the fast distance
# ---------------------------------------------------------------------------------------------


class _PrefetchHint(LazyNumbaFunction):
    """``prefetch(address)`` inside a kernel: ask the CPU to start loading the 64-byte cache line at
    ``address`` (an integer: ``array.ctypes.data`` plus a byte offset) and go on without waiting.

    It changes no result, only when memory is read.  The sweeps of refine_pairs read training
    points a few hundred bytes apart in increasing order, which the hardware's own prefetcher does
    not foresee: hinted PREFETCH_AHEAD pairs early, a level pass over MNIST pairs took 67 ns per
    pair instead of 95 ns.  Numba has no prefetch of its own; this is LLVM's ``llvm.prefetch``
    intrinsic (read, keep in all cache levels), built on first use like every kernel.
    """

    def __init__(self):
        super().__init__(lambda address: None)
        self.__name__ = self.__qualname__ = "prefetch"
        self.__module__ = __name__

    @property
    def compiled(self):
        if self._compiled is None:
            from llvmlite import ir
            from numba import types
            from numba.core import cgutils
            from numba.extending import intrinsic

            @intrinsic
            def prefetch(typing_context, address):
                def codegen(context, builder, signature, arguments):
                    byte_pointer = ir.IntType(8).as_pointer()
                    function_type = ir.FunctionType(ir.VoidType(), [byte_pointer] + [ir.IntType(32)] * 3)
                    function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0i8")
                    pointer = builder.inttoptr(arguments[0], byte_pointer)
                    read, keep_everywhere, data = (ir.Constant(ir.IntType(32), value) for value in (0, 3, 1))
                    builder.call(function, [pointer, read, keep_everywhere, data])
                    return context.get_dummy_value()
                return types.void(types.intp), codegen

            self._compiled = prefetch
        return self._compiled


prefetch = _PrefetchHint()
# How many pairs ahead refine_pairs_numba hints the memory it will read.
PREFETCH_AHEAD = 8


def lane_totals_numpy(lanes):
    """Sums of LANES running sums, (m, LANES) -> (m,), in the order every kernel uses: a tree,
    lane l + 8 into lane l, then l + 4, l + 2, l + 1 (4 dependent additions instead of 15)."""
    width = lanes.shape[1]
    while width > 1:
        width //= 2
        lanes = lanes[:, :width] + lanes[:, width:2 * width]
    return lanes[:, 0]


def fast_sq_distances_numpy(query, rows):
    """Raw squared distances from ``query`` (D,) to ``rows`` (m, D) in the data's dtype, (m,).

    The summation order every kernel uses: LANES running sums, feature f going to lane f % LANES,
    then the lanes added by lane_totals_numpy, then the last D % LANES features one by one.
    """
    n_features = query.shape[0]
    vector_end = n_features - n_features % LANES
    squares = rows - query
    squares *= squares  # (m, D), each rounded to the dtype like the kernels' d * d
    lanes = np.zeros((rows.shape[0], LANES), rows.dtype)
    for start in range(0, vector_end, LANES):
        lanes += squares[:, start:start + LANES]
    total = lane_totals_numpy(lanes)
    for feature in range(vector_end, n_features):
        total += squares[:, feature]
    return total


@numba_kernel(inline=True)
def lane_total_numba(lanes):
    """lane_totals_numpy for one row of LANES = 16 running sums, written out and inlined into its
    callers: a real call cost 30 % of a level pass of refine_pairs_numba."""
    return (((lanes[0] + lanes[8]) + (lanes[4] + lanes[12])) + ((lanes[2] + lanes[10]) + (lanes[6] + lanes[14]))) \
        + (((lanes[1] + lanes[9]) + (lanes[5] + lanes[13])) + ((lanes[3] + lanes[11]) + (lanes[7] + lanes[15])))


@numba_kernel(inline=True)
def add_squared_differences_numba(first, second, start, stop, lanes):
    """lanes[l] += (first[f] - second[f])^2 for f in start .. stop - 1, f - start = l modulo the lane
    count (start and stop multiples of it; every array of the same dtype).

    The lane count is read from ``lanes`` at run time on purpose: LLVM vectorises a lane loop of
    unknown length into one AVX-512 operation, while a literal 16 gets unrolled into scalar code
    (MNIST rows from cache: 60 ns against 200 ns).  The 1-D slices matter as in kdtree_search_numba.
    """
    n_lanes = lanes.shape[0]
    for chunk in range(start, stop, n_lanes):
        first_part = first[chunk:chunk + n_lanes]
        second_part = second[chunk:chunk + n_lanes]
        for lane in range(n_lanes):
            difference = first_part[lane] - second_part[lane]
            lanes[lane] += difference * difference


@numba_kernel(inline=True)
def fast_sq_distance_numba(query, row, limit, lanes):
    """fast_sq_distances_numpy for one row, or +inf as soon as a partial sum exceeds ``limit``.

    ``lanes`` is a scratch array of LANES entries of the data's dtype.  The partial sum is tested
    every EXIT_STRIDE features: partial sums only grow (the terms are >= 0 and rounding is
    monotone), so one above ``limit`` means the full one is above it too.
    """
    n_features = query.shape[0]
    vector_end = n_features - n_features % lanes.shape[0]
    lanes[:] = 0
    for start in range(0, vector_end, EXIT_STRIDE):
        add_squared_differences_numba(row, query, start, min(start + EXIT_STRIDE, vector_end), lanes)
        if start + EXIT_STRIDE < vector_end and lane_total_numba(lanes) > limit:
            return np.inf
    total = lane_total_numba(lanes)
    for feature in range(vector_end, n_features):
        difference = row[feature] - query[feature]
        total += difference * difference
    return total


# ---------------------------------------------------------------------------------------------
# 1. screening keys -> candidate buffers
# ---------------------------------------------------------------------------------------------


def compaction_limit_numpy(buffer_keys):
    """(limit, keep_equal) for a full buffer (C,): its keys below ``limit`` survive, and those equal
    to it too when ``keep_equal``.

    limit = the median of COMPACTION_SAMPLES keys at evenly spaced positions (a deterministic
    estimate of the buffer's median without sorting it).  Entries equal to it are kept unless that
    would keep the whole buffer (many tied keys): then only those strictly below.
    """
    capacity = buffer_keys.shape[0]
    samples = np.sort(buffer_keys[(np.arange(COMPACTION_SAMPLES) * capacity) // COMPACTION_SAMPLES])
    limit = samples[COMPACTION_SAMPLES // 2 - 1]
    return limit, bool(np.count_nonzero(buffer_keys <= limit) < capacity)


def screen_candidates_numpy(keys, first_index, buffer_keys, buffer_indices, counts, limits):
    """Append one block's candidates to each query's buffer, in place; compact buffers that fill up.

    keys            (Q, T)  screening keys of the training points first_index .. first_index + T - 1
    buffer_keys     (Q, C)  keys of the candidates so far (the first counts[i] entries of row i)
    buffer_indices  (Q, C)  int64 training indices of those candidates, ascending in each row
    counts          (Q,)    int64 number of valid entries per row
    limits          (Q,)    keys' dtype: a point enters row i only if its key < limits[i]

    When row i becomes full it is compacted (:func:`compaction_limit_numpy`): the surviving
    entries keep their order and limits[i] drops to the compaction limit.  So at every moment a
    point that is not in the buffer has a key >= limits[i], which the certificate relies on.
    """
    n_queries, block_size = keys.shape
    capacity = buffer_keys.shape[1]
    for i in range(n_queries):
        start = 0  # first position of the block not yet offered to row i
        while start < block_size:
            positions = start + np.flatnonzero(keys[i, start:] < limits[i])
            room = capacity - counts[i]
            taken = positions[:room]
            buffer_keys[i, counts[i]:counts[i] + taken.size] = keys[i, taken]
            buffer_indices[i, counts[i]:counts[i] + taken.size] = first_index + taken
            counts[i] += taken.size
            if taken.size < room:
                break  # everything fitted: the row is done with this block
            # the row is full (the kernel compacts right after the append that fills it)
            limit, keep_equal = compaction_limit_numpy(buffer_keys[i])
            keep = buffer_keys[i] <= limit if keep_equal else buffer_keys[i] < limit
            kept = np.count_nonzero(keep)
            buffer_keys[i, :kept] = buffer_keys[i][keep]
            buffer_indices[i, :kept] = buffer_indices[i][keep]
            counts[i], limits[i] = kept, limit
            start = taken[-1] + 1


@numba_kernel
def compaction_limit_numba(buffer_keys):
    """Same contract as compaction_limit_numpy (a helper of screen_candidates_numba)."""
    capacity = buffer_keys.shape[0]
    samples = np.empty(COMPACTION_SAMPLES, buffer_keys.dtype)
    for s in range(COMPACTION_SAMPLES):
        samples[s] = buffer_keys[(s * capacity) // COMPACTION_SAMPLES]
    samples.sort()
    limit = samples[COMPACTION_SAMPLES // 2 - 1]
    at_most = 0
    for c in range(capacity):
        if buffer_keys[c] <= limit:
            at_most += 1
    return limit, at_most < capacity


# Lowest set bit of a 64-bit word by a de Bruijn sequence (Leiserson, Prokop and Randall 1998): the
# word m ^ (m - 1) (the lowest set bit and every bit below it) times DE_BRUIJN_64 has a distinct top
# 6 bits for each position, and DE_BRUIJN_POSITIONS maps them back.
DE_BRUIJN_64 = 0x03F79D71B4CB0A89
DE_BRUIJN_POSITIONS = np.array([
    0, 47, 1, 56, 48, 27, 2, 60, 57, 49, 41, 37, 28, 16, 3, 61, 54, 58, 35, 52, 50, 42, 21, 44, 38, 32, 29,
    23, 17, 11, 4, 62, 46, 55, 26, 59, 40, 36, 15, 53, 34, 51, 20, 43, 31, 22, 10, 45, 25, 39, 14, 33, 19,
    30, 9, 24, 13, 18, 8, 12, 7, 6, 5, 63], np.int64)


@numba_kernel(release_gil=True)
def screen_candidates_numba(keys, first_index, buffer_keys, buffer_indices, counts, limits):
    """Same contract as screen_candidates_numpy: one pass over the block, no temporaries.

    Shape: chunks of 64 keys.  A branch-free "does any key beat the limit?" loop, which LLVM
    vectorises (0.15 ns per key), rejects almost every chunk.  In the rest, a second vectorised loop
    packs the comparisons into a 64-bit mask, and only its set bits are visited (lowest bit first,
    by DE_BRUIJN_POSITIONS): a scalar compare-and-branch over the 64 keys cost ~50 ns per such chunk.
    MNIST, C = 512, 1,024 queries: 0.28 ns per key instead of 0.41.  Rare chunks, because the search
    starts each limit near the key of the ~C/2-th candidate (a pilot sample, :mod:`npae.knn.lower_bounds`):
    from +inf, the first thousands of keys of every query would be appended and compacted away.
    """
    n_queries, block_size = keys.shape
    capacity = buffer_keys.shape[1]
    chunk = 64
    one = np.uint64(1)
    for i in range(n_queries):
        row = keys[i]
        row_keys = buffer_keys[i]
        row_indices = buffer_indices[i]
        count = counts[i]
        limit = limits[i]
        for start in range(0, block_size, chunk):
            stop = min(start + chunk, block_size)
            chunk_keys = row[start:stop]
            any_better = False
            for j in range(stop - start):
                any_better |= chunk_keys[j] < limit
            if not any_better:
                continue
            mask = np.uint64(0)
            for j in range(stop - start):
                mask |= np.uint64(chunk_keys[j] < limit) << np.uint64(j)
            while mask != 0:
                j = DE_BRUIJN_POSITIONS[np.int64(((mask ^ (mask - one)) * np.uint64(DE_BRUIJN_64)) >> np.uint64(58))]
                mask &= mask - one
                key = chunk_keys[j]
                if not key < limit:
                    continue  # the limit has dropped since the mask was made (a compaction)
                row_keys[count] = key
                row_indices[count] = first_index + start + j
                count += 1
                if count == capacity:
                    limit, keep_equal = compaction_limit_numba(row_keys)
                    kept = 0
                    for c in range(capacity):
                        if row_keys[c] < limit or (keep_equal and row_keys[c] == limit):
                            row_keys[kept] = row_keys[c]
                            row_indices[kept] = row_indices[c]
                            kept += 1
                    count = kept
        counts[i] = count
        limits[i] = limit


screen_candidates = kernel_pair(screen_candidates_numpy, screen_candidates_numba)


# ---------------------------------------------------------------------------------------------
# 2. pairs -> grouped by training point
# ---------------------------------------------------------------------------------------------


def group_by_point_numpy(points, n_samples, out_order):
    """out_order (P,) int64: the pair numbers sorted by their training point, ties in pair order.

    points (P,) int64 in [0, n_samples).  Reading the pairs in this order reads each training point's
    data once per query block, and in address order.
    """
    out_order[:] = np.argsort(points, kind="stable")


@numba_kernel(release_gil=True)
def group_by_point_numba(points, n_samples, out_order):
    """Same contract as group_by_point_numpy, by counting sort: O(P + n), no comparison sort."""
    starts = np.zeros(n_samples + 1, np.int64)
    for p in range(points.shape[0]):
        starts[points[p] + 1] += 1
    for j in range(n_samples):
        starts[j + 1] += starts[j]
    for p in range(points.shape[0]):
        out_order[starts[points[p]]] = p
        starts[points[p]] += 1


group_by_point = kernel_pair(group_by_point_numpy, group_by_point_numba)


# ---------------------------------------------------------------------------------------------
# 3. pairs -> finer bounds, then raw fast distances
# ---------------------------------------------------------------------------------------------


def refine_pairs_numpy(queries, train, query_fine, train_fine, query_residuals, train_residuals,
                       pair_rows, pair_points, pair_keys, thresholds, compute_raw, out_fast, out_raw, out_bounds):
    """For each pair (query row r, training point t): its fast distance, or +inf when a bound rules it out.

    queries (Q, D), train (n, D)                    raw points
    query_fine (L, Q, W), train_fine (L, n, W)      fine principal coordinates, level by level: level l
                                                    holds coordinates d + l W .. d + (l + 1) W - 1
    query_residuals (Q,), train_residuals (n,)      float64 residual norms after the screen's d coordinates
    pair_rows, pair_points (P,) int64; pair_keys (P,)   the pairs and their screening keys
    thresholds (Q, 4) float64                       per query: key offset, bound threshold, fast threshold,
                                                    fine factor (npae.knn.lower_bounds, (c))
    compute_raw                                     False: the bounds only (no raw distance)
    out_fast (P,)                                   written: fast distance, or +inf if dropped (or not computed)
    out_raw (P,) bool                               written: whether the raw distance was started
    out_bounds (P,) float64                         written: the last bound computed (the screen bound
                                                    without levels): with an infinite bound threshold,
                                                    the bound after every level

    The bound after level l (npae.knn.lower_bounds, (c)), in float64:
        (key - key offset) + max(0, fine factor * fine_l - (residual_q - residual_t)^2 (1 + 2^-50)),
    fine_l = the sum over levels 0..l of each level's squared coordinate differences, summed in
    LANES lanes and totalled by lane_totals_numpy.  A pair is dropped at the first bound above the
    bound threshold, or when its fast distance exceeds the fast threshold.
    """
    n_levels, _, width = train_fine.shape
    key_offset, bound_threshold, fast_threshold, fine_factor = (thresholds[pair_rows, c] for c in range(4))
    gap = query_residuals[pair_rows] - train_residuals[pair_points]
    gap = gap * gap * (1 + 2.0**-50)
    screen_bound = pair_keys.astype(np.float64) - key_offset
    fine = np.zeros(pair_rows.size)
    alive = np.ones(pair_rows.size, np.bool_)
    out_bounds[:] = screen_bound
    for level in range(n_levels):
        squares = query_fine[level, pair_rows] - train_fine[level, pair_points]  # (P, W)
        squares *= squares
        lanes = np.zeros((pair_rows.size, LANES), squares.dtype)
        for start in range(0, width, LANES):
            lanes += squares[:, start:start + LANES]
        fine += lane_totals_numpy(lanes)
        bound = screen_bound + np.maximum(0.0, fine_factor * fine - gap)
        out_bounds[alive] = bound[alive]
        alive &= ~(bound > bound_threshold)
    out_raw[:] = alive & compute_raw
    out_fast[:] = np.inf
    for p in np.flatnonzero(alive & compute_raw):
        fast = fast_sq_distances_numpy(queries[pair_rows[p]], train[pair_points[p]][None, :])[0]
        out_fast[p] = fast if fast <= fast_threshold[p] else np.inf


@numba_kernel(release_gil=True)
def refine_pairs_numba(queries, train, query_fine, train_fine, query_residuals, train_residuals,
                       pair_rows, pair_points, pair_keys, thresholds, compute_raw, out_fast, out_raw, out_bounds):
    """Same contract as refine_pairs_numpy, level by level over the surviving pairs, then their raw distances.

    The caller passes the pairs grouped by training point (group_by_point).  Shape, and why:

    * one query block shares many training points (MNIST: ~120 candidates per query, ~42,000
      distinct points per 1,024 queries), and each level holds its W coordinates of all n points in
      one array (L, n, W): the first level, 7.7 MB for MNIST, stays in the L3 cache, and a pass over
      the surviving pairs, in point order, reads it front to back.  Most pairs stop at the first
      level (56 % on MNIST); the others meet the next level in the next pass;
    * each pass packs its survivors (row, point, screen bound, gap, sum so far) at the front of the
      arrays it reads, without a branch: the test is a coin toss for the CPU's branch predictor;
    * the next pairs' rows are hinted (prefetch), the lane totals are trees (4 dependent additions,
      not 15) written out in place (lane_total_numba, inlined).  Levels of W = 64 coordinates: 32
      tested more often than it saved (Fashion-MNIST pairs: 0.93 s against 0.81 s), 192 (one level)
      lost the early exit (0.89 s).  Measured on MNIST pairs, d2 = 192: 54 ns per pair over all its
      levels (1.3 levels each), against 112 ns for the same passes with branches, sequential totals,
      no hints and 32-wide levels, and ~150 ns for whole rows of 192 coordinates per pair;
    * pairs that pass every level compute their raw distance in point order too, with an early exit
      every EXIT_STRIDE features (the reference computes them in full: the outputs are the same).
    """
    n_levels, _, width = train_fine.shape
    n_pairs = pair_rows.shape[0]
    fine_lanes = np.zeros(LANES, train_fine.dtype)
    lanes = np.zeros(LANES, queries.dtype)
    # the survivors' state, packed at the front after every pass
    ids = np.arange(n_pairs)
    rows = pair_rows.copy()
    points = pair_points.copy()
    screen_bounds = np.empty(n_pairs)
    gaps = np.empty(n_pairs)
    fine = np.zeros(n_pairs)
    for p in range(n_pairs):
        out_fast[p] = np.inf
        out_raw[p] = False
        screen_bounds[p] = np.float64(pair_keys[p]) - thresholds[rows[p], 0]
        out_bounds[p] = screen_bounds[p]
        gap = query_residuals[rows[p]] - train_residuals[points[p]]
        gaps[p] = gap * gap * (1 + 2.0**-50)
    n_alive = n_pairs
    for level in range(n_levels):
        query_level = query_fine[level]
        train_level = train_fine[level]
        level_base = train_level.ctypes.data
        row_bytes = width * train_level.itemsize
        kept = 0
        for s in range(n_alive):
            if s + PREFETCH_AHEAD < n_alive:
                prefetch(level_base + points[s + PREFETCH_AHEAD] * row_bytes)
            r = rows[s]
            t = points[s]
            fine_lanes[:] = 0
            add_squared_differences_numba(query_level[r], train_level[t], 0, width, fine_lanes)
            total = fine[s] + lane_total_numba(fine_lanes)
            excess = thresholds[r, 3] * total - gaps[s]
            bound = screen_bounds[s] + max(0.0, excess)
            out_bounds[ids[s]] = bound
            survives = bound <= thresholds[r, 1]
            ids[kept] = ids[s]
            rows[kept] = r
            points[kept] = t
            screen_bounds[kept] = screen_bounds[s]
            gaps[kept] = gaps[s]
            fine[kept] = total
            kept += survives
        n_alive = kept
    if not compute_raw:
        return
    train_base = train.ctypes.data
    train_row_bytes = train.shape[1] * train.itemsize
    for s in range(n_alive):
        if s + PREFETCH_AHEAD < n_alive:
            ahead = train_base + points[s + PREFETCH_AHEAD] * train_row_bytes
            for line in range(49):  # the hardware streams the rest of the row
                prefetch(ahead + 64 * line)
        p = ids[s]
        r = rows[s]
        out_raw[p] = True
        limit = thresholds[r, 2]
        fast = fast_sq_distance_numba(queries[r], train[points[s]], limit, lanes)
        out_fast[p] = fast if fast <= limit else np.inf


refine_pairs = kernel_pair(refine_pairs_numpy, refine_pairs_numba)
