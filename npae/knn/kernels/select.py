"""Top-k selection kernels for k-nearest neighbours (used by :mod:`npae.knn`).

Five pairs, each a plain-NumPy reference with its Numba kernel directly below:

``merge_candidates``
    Folds one block of GEMM products ``q . t`` into the running ``m`` smallest keys
    ``|t|^2 - 2 q . t`` of every query (the high-dimension path).
``rerank_exact``
    Recomputes the squared distances of those ``m`` candidates in float64, straight from the
    coordinates, and keeps the ``k`` smallest (the cure for the GEMM identity's cancellation).
``kdtree_search``
    Low dimension: exact float64 distances computed on the fly, leaf by leaf, skipping every
    box of a KD-tree that cannot hold a better neighbour.  A tree with a single leaf is the plain
    direct scan over all training points.
``provisional_candidates``, ``finish_queries``
    The two selections of the lower-bound search (:mod:`npae.knn.lower_bounds`; its other
    kernels are in :mod:`npae.knn.kernels.bounds`): each query's p smallest screening keys, and,
    from the candidates' fast distances, its final k nearest by exact distance.

The kernels of the two GEMM-based searches release the GIL (``release_gil=True``): both run blocks of
queries on two threads at once (:mod:`npae.knn.gemm`, :mod:`npae.knn.lower_bounds`).

Selection rule, shared by every function here: the ``k`` smallest ``(value, training index)``
pairs in lexicographic order, so a tie in value goes to the lower training index (as scikit-learn).

Why selection is O(n) per query and never sorts a row: the kernels keep the ``k`` best so far in a
small sorted array and compare each new value with the worst of them, ``best[k-1]``.  Almost every
value loses that one comparison; a winner is inserted by shifting at most ``k`` entries
(:func:`insert_sorted_numba`, the one insertion every kernel here uses).  For points in random
order the i-th point wins with probability ``k/i``, so a row of ``n`` values costs ``n``
comparisons plus about ``k ln(n/k)`` insertions (k = 15, n = 60000: ~125), against ``n log n`` for
a sort.  The NumPy references get the same O(n) from ``np.partition`` (introselect), then restore
the tie rule, which partitioning does not keep.

Exact squared distance, the one definition every path agrees on: coordinates converted to
float64 and ``sum_f (t_f - q_f)^2`` accumulated in feature order, f = 0, 1, ..., D-1.  The
kernels keep that order (Numba does not reorder or fuse float operations without ``fastmath``),
so the GEMM path and the KD-tree path return bit-identical distances.
"""
import numpy as np

from ...kernels._jit import kernel_pair, numba_kernel


def smallest_per_row(values, k):
    """Column positions of the ``k`` smallest entries of each row, ordered by (value, position).

    values (Q, n) -> positions (Q, k), int64.  O(n) per row: ``np.partition`` finds the k-th
    smallest value by introselect without sorting; entries below it are all kept, and of the
    entries equal to it only the leftmost ones that still fit (``np.partition`` would pick
    arbitrary ones).  Only the ``k`` winners are sorted.
    """
    n_rows = values.shape[0]
    kth_value = np.partition(values, k - 1, axis=1)[:, k - 1 : k]  # (Q, 1)
    below = values < kth_value  # (Q, n)
    tied = values == kth_value  # (Q, n)
    room_for_ties = k - below.sum(axis=1, keepdims=True)  # (Q, 1), at least 1
    keep = below | (tied & (np.cumsum(tied, axis=1) <= room_for_ties))  # exactly k per row
    positions = np.nonzero(keep)[1].reshape(n_rows, k)  # ascending within each row
    # stable: equal values keep ascending position
    order = np.argsort(np.take_along_axis(values, positions, axis=1), axis=1, kind="stable")
    return np.take_along_axis(positions, order, axis=1)


@numba_kernel(inline=True)
def insert_sorted_numba(values, indices, filled, value, index):
    """Insert (value, index) into the k best so far; returns how many entries are filled now.

    values (k,), indices (k,) int64: the first ``filled`` entries, ascending by (value, index).
    When all k are filled and (value, index) is not below the last entry, nothing changes (a
    value equal to the worst from a higher index loses the tie); otherwise the entries above it
    shift one place up (the last falls off when full) and it takes its place.  Inlined into every
    selection kernel of this module: the one sorted insertion they share.
    """
    k = values.shape[0]
    if filled == k and (value > values[k - 1] or (value == values[k - 1] and index >= indices[k - 1])):
        return filled
    slot = min(filled, k - 1)
    while slot > 0 and (values[slot - 1] > value or (values[slot - 1] == value and indices[slot - 1] > index)):
        values[slot] = values[slot - 1]
        indices[slot] = indices[slot - 1]
        slot -= 1
    values[slot] = value
    indices[slot] = index
    return min(filled + 1, k)


# ---------------------------------------------------------------------------------------------
# 1. GEMM products -> running m smallest keys
# ---------------------------------------------------------------------------------------------


def merge_candidates_numpy(products, train_sq_norms, first_index, candidate_keys, candidate_indices):
    """Merge one block of training points into the ``m`` best candidates of each query, in place.

    products            (Q, T)  q_i . t_j for the block of training points first_index .. first_index+T-1
    train_sq_norms      (T,)    |t_j|^2 of the same block, same dtype as products
    candidate_keys      (Q, m)  running smallest keys, ascending; start at +inf
    candidate_indices   (Q, m)  int64 training indices of those keys; start at -1

    The key of training point j for query i is  key_ij = |t_j|^2 - 2 q_i . t_j, which is the
    squared distance |q_i - t_j|^2 minus |q_i|^2, a constant per query that cannot change the
    ranking, so it is never added.  Computed in the products' dtype; ``2 * p`` is exact.

    Blocks must arrive in increasing training index, so the candidates (all from earlier blocks)
    precede the block and "smaller position" means "smaller training index" in the concatenation.
    """
    m = candidate_keys.shape[1]
    n_queries, block_size = products.shape
    keys = train_sq_norms - 2 * products  # (Q, T)
    block_indices = np.broadcast_to(first_index + np.arange(block_size), keys.shape)  # (Q, T)
    all_keys = np.concatenate([candidate_keys, keys], axis=1)  # (Q, m + T)
    all_indices = np.concatenate([candidate_indices, block_indices], axis=1)  # (Q, m + T)
    positions = smallest_per_row(all_keys, m)  # (Q, m)
    candidate_keys[:] = np.take_along_axis(all_keys, positions, axis=1)
    candidate_indices[:] = np.take_along_axis(all_indices, positions, axis=1)


@numba_kernel(release_gil=True)
def merge_candidates_numba(products, train_sq_norms, first_index, candidate_keys, candidate_indices):
    """Same contract as merge_candidates_numpy: one pass over the block, no (Q, T) temporaries.

    Shape: the row is scanned in chunks of 64.  A first, branch-free loop only asks "does any key
    of this chunk beat the current worst?"; LLVM vectorises it (a SIMD compare and OR).  Only a
    chunk that answers yes is scanned again with the scalar compare-and-insert loop.  Measured on
    a (32, 8192) float32 block held in cache, after the first blocks of a query: 0.26 ns per key
    instead of 1.2 ns for the plain scalar loop, whose branch and loop-carried ``worst`` stop
    vectorisation.  A new key equal to the worst is rejected (``<``, not ``<=``): it comes from a
    higher training index, and lexicographic order puts it after.
    """
    n_queries, block_size = products.shape
    m = candidate_keys.shape[1]
    chunk = 64
    for i in range(n_queries):
        row = products[i]
        best_keys = candidate_keys[i]
        best_indices = candidate_indices[i]
        worst = best_keys[m - 1]
        for start in range(0, block_size, chunk):
            stop = min(start + chunk, block_size)
            # 1-D slices: with 2-D indexing Numba keeps index arithmetic that blocks vectorisation
            chunk_products = row[start:stop]
            chunk_norms = train_sq_norms[start:stop]
            any_better = False
            for j in range(stop - start):
                # p + p doubles exactly in the array's dtype; a literal 2 would promote to float64
                any_better |= chunk_norms[j] - (chunk_products[j] + chunk_products[j]) < worst
            if not any_better:
                continue
            for j in range(stop - start):
                key = chunk_norms[j] - (chunk_products[j] + chunk_products[j])
                if key < worst:
                    insert_sorted_numba(best_keys, best_indices, m, key, first_index + start + j)
                    worst = best_keys[m - 1]


merge_candidates = kernel_pair(merge_candidates_numpy, merge_candidates_numba)


# ---------------------------------------------------------------------------------------------
# 2. m candidates -> k nearest by exact float64 distance
# ---------------------------------------------------------------------------------------------


def rerank_exact_numpy(queries, train, candidate_indices, out_sq_distances, out_indices):
    """Exact squared distances of each query's candidates; keep the k nearest, in place.

    queries             (Q, D)  float32 or float64
    train               (n, D)  training points, any float dtype
    candidate_indices   (Q, m)  distinct training indices per query, any order, m >= k
    out_sq_distances    (Q, k)  float64, written: sum_f (t_f - q_f)^2 in float64, feature order
    out_indices         (Q, k)  int64, written; rows ordered by (distance, index)
    """
    n_features = queries.shape[1]
    sq_distances = np.zeros(candidate_indices.shape)  # (Q, m) float64
    for feature in range(n_features):  # one feature at a time: the kernel's summation order
        difference = train[candidate_indices, feature].astype(np.float64) - queries[:, feature, None]
        sq_distances += difference * difference
    k = out_indices.shape[1]
    order = np.lexsort((candidate_indices, sq_distances), axis=1)[:, :k]  # m is small: sort it
    out_sq_distances[:] = np.take_along_axis(sq_distances, order, axis=1)
    out_indices[:] = np.take_along_axis(candidate_indices, order, axis=1)


@numba_kernel(release_gil=True)
def rerank_exact_numba(queries, train, candidate_indices, out_sq_distances, out_indices):
    """Same contract as rerank_exact_numpy.

    Shape: features outer, candidates inner, so the m running sums are independent and the CPU
    overlaps their additions; with candidates outer, each sum is a chain of D dependent float64
    additions (4 cycles each, ~3,000 cycles per candidate at D = 784).
    """
    n_queries, n_features = queries.shape
    n_candidates = candidate_indices.shape[1]
    k = out_indices.shape[1]
    sq_distances = np.empty(n_candidates)
    for i in range(n_queries):
        sq_distances[:] = 0.0
        for feature in range(n_features):
            query_value = np.float64(queries[i, feature])
            for c in range(n_candidates):
                difference = np.float64(train[candidate_indices[i, c], feature]) - query_value
                sq_distances[c] += difference * difference
        best_distances = out_sq_distances[i]
        best_indices = out_indices[i]
        best_distances[:] = np.inf
        best_indices[:] = np.iinfo(np.int64).max
        filled = 0
        for c in range(n_candidates):
            filled = insert_sorted_numba(best_distances, best_indices, filled, sq_distances[c], candidate_indices[i, c])


rerank_exact = kernel_pair(rerank_exact_numpy, rerank_exact_numba)


# ---------------------------------------------------------------------------------------------
# 3. Low dimension: exact distances on the fly, pruned by a KD-tree
# ---------------------------------------------------------------------------------------------


def kdtree_search_numpy(
    queries, points_t, point_indices, node_start, node_end, node_lower, node_upper,
    out_sq_distances, out_indices,
):
    """k nearest training points of each query by exact float64 distance, in place.

    queries         (Q, D)       float32 or float64
    points_t        (D, n)       float64 training points, transposed, in tree order
    point_indices   (n,)         int64 training index of each column of points_t
    node_start/end  (N,)         int64 column range [start, end) of each node; N = 2^L - 1 nodes
                                 in heap order (children of node v are 2v+1 and 2v+2)
    node_lower/upper (N, D)      float64 bounding box of each node's points
    out_sq_distances (Q, k)      float64, written;  out_indices (Q, k) int64, written

    The reference ignores the tree: it computes all Q x n distances (same feature order as the
    kernel) and selects.  The tree only decides which distances the kernel may skip, never their
    values, so both return the same arrays.
    """
    n_features = queries.shape[1]
    sq_distances = np.zeros((queries.shape[0], points_t.shape[1]))  # (Q, n), tree order
    for feature in range(n_features):
        difference = points_t[feature] - queries[:, feature, None].astype(np.float64)  # (Q, n)
        sq_distances += difference * difference
    by_index = np.empty_like(sq_distances)
    by_index[:, point_indices] = sq_distances  # training order, so position == training index
    k = out_indices.shape[1]
    out_indices[:] = smallest_per_row(by_index, k)
    out_sq_distances[:] = np.take_along_axis(by_index, out_indices, axis=1)


@numba_kernel
def kdtree_search_numba(
    queries, points_t, point_indices, node_start, node_end, node_lower, node_upper,
    out_sq_distances, out_indices,
):
    """Same contract as kdtree_search_numpy: depth-first search with a KD-tree, exact and pruned.

    For each query, the nodes wait on an explicit stack with the squared distance from the query
    to their bounding box, a lower bound on the distance to any point inside.  A node whose bound
    exceeds the current k-th distance is skipped; otherwise a leaf's points are scanned (exact
    distances, insertion into the k best) and an internal node pushes its two children, nearer
    box on top, so the k best tighten early and prune more.  Skipping is exact: for a point in a
    box, each |t_f - q_f| >= the box's gap on f, and float64 rounding of subtraction, squaring
    and an in-order sum is monotone, so the computed bound never exceeds the computed distance
    (a bound equal to the k-th distance is not skipped: it may hide a tie with a lower index).

    Shape: a leaf is scanned in chunks of 256 points, feature by feature over the transposed
    points, which vectorises (the 1-D slices matter: with 2-D indexing the loop stays scalar,
    2.3 s against 0.30 s for a float32 scan of 8-dim MNIST).  Measured on 8-dim PCA features of
    MNIST (60,000 x 10,000, k = 7, one thread): 0.10 s with leaves of 32-63 points (~2,500
    distances per query, 4 % of the pairs) plus 0.03 s to build the tree; one leaf, the plain
    direct scan: 0.8 s; scikit-learn's KD-tree, build and search: 0.50 s.
    """
    n_queries, n_features = queries.shape
    n_nodes = node_start.shape[0]
    first_leaf = n_nodes // 2
    k = out_indices.shape[1]
    chunk = 256
    chunk_distances = np.empty(chunk)
    query = np.empty(n_features)
    depth = 1
    while (1 << depth) - 1 < n_nodes:
        depth += 1
    stack_nodes = np.empty(depth + 1, np.int64)  # popping one node pushes at most two: depth + 1
    stack_bounds = np.empty(depth + 1)
    for i in range(n_queries):
        for feature in range(n_features):
            query[feature] = queries[i, feature]
        best_distances = out_sq_distances[i]
        best_indices = out_indices[i]
        best_distances[:] = np.inf
        best_indices[:] = np.iinfo(np.int64).max
        worst = np.inf
        stack_nodes[0] = 0
        stack_bounds[0] = 0.0
        top = 1
        while top > 0:
            top -= 1
            node = stack_nodes[top]
            if stack_bounds[top] > worst:
                continue
            if node < first_leaf:
                left = 2 * node + 1
                left_bound = 0.0
                right_bound = 0.0
                for feature in range(n_features):
                    value = query[feature]
                    gap = max(node_lower[left, feature] - value, value - node_upper[left, feature], 0.0)
                    left_bound += gap * gap
                    gap = max(node_lower[left + 1, feature] - value, value - node_upper[left + 1, feature], 0.0)
                    right_bound += gap * gap
                if left_bound <= right_bound:  # push the farther child first: the nearer pops next
                    stack_nodes[top], stack_bounds[top] = left + 1, right_bound
                    stack_nodes[top + 1], stack_bounds[top + 1] = left, left_bound
                else:
                    stack_nodes[top], stack_bounds[top] = left, left_bound
                    stack_nodes[top + 1], stack_bounds[top + 1] = left + 1, right_bound
                top += 2
                continue
            for start in range(node_start[node], node_end[node], chunk):
                stop = min(start + chunk, node_end[node])
                width = stop - start
                chunk_distances[:width] = 0.0
                for feature in range(n_features):
                    coordinates = points_t[feature, start:stop]
                    value = query[feature]
                    for j in range(width):
                        difference = coordinates[j] - value
                        chunk_distances[j] += difference * difference
                for j in range(width):
                    if chunk_distances[j] <= worst:  # the rare candidate (the insertion checks the tie)
                        insert_sorted_numba(best_distances, best_indices, k, chunk_distances[j], point_indices[start + j])
                        worst = best_distances[k - 1]


kdtree_search = kernel_pair(kdtree_search_numpy, kdtree_search_numba)


# ---------------------------------------------------------------------------------------------
# 4. lower-bound search: the most promising candidates -> a provisional k-th distance
# ---------------------------------------------------------------------------------------------


def provisional_candidates_numpy(buffer_keys, counts, out_positions):
    """Buffer positions of the p smallest keys of each row, by (key, position), in place.

    buffer_keys, counts     the buffers of screen_candidates
    out_positions (Q, p)    int64 positions; -1 where a buffer has fewer than p entries

    The search ranks them by their finer bounds (refine_pairs without raw distances), and the raw
    distances of the best k + 2 give the provisional k-th distance.
    """
    p = out_positions.shape[1]
    out_positions[:] = -1
    for i in range(buffer_keys.shape[0]):
        chosen = np.argsort(buffer_keys[i, :counts[i]], kind="stable")[:p]  # stable: ties by position
        out_positions[i, :chosen.size] = chosen


@numba_kernel(release_gil=True)
def provisional_candidates_numba(buffer_keys, counts, out_positions):
    """Same contract as provisional_candidates_numpy: insertion into a sorted array of p (p = 4k is
    small); a key equal to the p-th kept one comes later, so it loses the tie."""
    p = out_positions.shape[1]
    best_keys = np.empty(p, buffer_keys.dtype)
    for i in range(buffer_keys.shape[0]):
        keys = buffer_keys[i]
        positions = out_positions[i]
        n_kept = 0
        for c in range(counts[i]):
            n_kept = insert_sorted_numba(best_keys, positions, n_kept, keys[c], c)
        for slot in range(n_kept, p):
            positions[slot] = -1


provisional_candidates = kernel_pair(provisional_candidates_numpy, provisional_candidates_numba)


# ---------------------------------------------------------------------------------------------
# 5. lower-bound search, per query: the final threshold, the certificate, the canonical k nearest
# ---------------------------------------------------------------------------------------------


def canonical_sq_distances_numpy(query, rows):
    """The exact squared distance of :mod:`npae.knn.kernels.select`: float64, summed in feature order. (m,)"""
    sq_distances = np.zeros(rows.shape[0])
    for feature in range(query.shape[0]):
        difference = rows[:, feature].astype(np.float64) - np.float64(query[feature])
        sq_distances += difference * difference
    return sq_distances


def finish_queries_numpy(queries, train, candidate_starts, candidate_points, candidate_fast, constants,
                         out_sq_distances, out_indices, out_real_limits, out_work):
    """The k nearest of each query, exactly, from its candidates' fast distances; in place.

    candidate_starts (Q + 1,) int64     query r's candidates are candidate_starts[r] .. candidate_starts[r+1]-1
    candidate_points (N,) int64          their training points (distinct within a query)
    candidate_fast (N,)                  their fast distances (+inf: dropped)
    constants (2,) float64               gamma_fast, gamma_canonical
    out_sq_distances (Q, k) float64, out_indices (Q, k) int64   canonical distances by (distance, index);
                                         +inf / -1 where fewer than k candidates have a fast distance
    out_real_limits (Q,) float64         V: no point whose true squared distance exceeds it is a neighbour
    out_work (Q,) int64                  canonical distances computed

    From the k-th smallest fast distance F_k (npae.knn.lower_bounds, (d) and (e)):
        U = F_k (1 + gamma_canonical) / (1 - gamma_fast),  V = U / (1 - gamma_canonical),
    and the canonical distance is computed for every candidate whose fast distance is <= V (1 + gamma_fast).
    """
    k = out_indices.shape[1]
    gamma_fast, gamma_canonical = constants[0], constants[1]
    for r in range(queries.shape[0]):
        points = candidate_points[candidate_starts[r]:candidate_starts[r + 1]]
        fast = candidate_fast[candidate_starts[r]:candidate_starts[r + 1]]
        fast_kth = np.partition(fast, k - 1)[k - 1] if fast.size >= k else np.inf
        real_limit = np.float64(fast_kth) * (1 + gamma_canonical) / (1 - gamma_fast) / (1 - gamma_canonical)
        out_real_limits[r] = real_limit
        close = points[fast <= real_limit * (1 + gamma_fast)]
        out_work[r] = close.size
        if close.size < k:
            out_sq_distances[r], out_indices[r] = np.inf, -1
            continue
        canonical = canonical_sq_distances_numpy(queries[r], train[close])
        chosen = np.lexsort((close, canonical))[:k]
        out_sq_distances[r], out_indices[r] = canonical[chosen], close[chosen]


@numba_kernel(release_gil=True)
def finish_queries_numba(queries, train, candidate_starts, candidate_points, candidate_fast, constants,
                         out_sq_distances, out_indices, out_real_limits, out_work):
    """Same contract as finish_queries_numpy.

    Shape: F_k by insertion into a sorted array of k; the canonical distances of the close calls
    (usually exactly k) computed features outer, candidates inner, as rerank_exact_numba does, so
    that their float64 sums (784 dependent additions each) advance side by side.
    """
    n_queries, n_features = queries.shape
    k = out_indices.shape[1]
    gamma_fast, gamma_canonical = constants[0], constants[1]
    best_fast = np.empty(k, candidate_fast.dtype)
    best_positions = np.empty(k, np.int64)
    max_candidates = 0
    for r in range(n_queries):
        max_candidates = max(max_candidates, candidate_starts[r + 1] - candidate_starts[r])
    close = np.empty(max_candidates, np.int64)
    sums = np.empty(max_candidates)
    for r in range(n_queries):
        start, stop = candidate_starts[r], candidate_starts[r + 1]
        best_fast[:] = np.inf
        n_kept = 0
        for c in range(start, stop):
            n_kept = insert_sorted_numba(best_fast, best_positions, n_kept, candidate_fast[c], c)
        real_limit = np.float64(best_fast[k - 1]) * (1 + gamma_canonical) / (1 - gamma_fast) / (1 - gamma_canonical)
        out_real_limits[r] = real_limit
        fast_limit = real_limit * (1 + gamma_fast)
        n_close = 0
        for c in range(start, stop):
            if candidate_fast[c] <= fast_limit:
                close[n_close] = candidate_points[c]
                n_close += 1
        out_work[r] = n_close
        best_distances = out_sq_distances[r]
        best_indices = out_indices[r]
        best_distances[:] = np.inf
        best_indices[:] = -1
        if n_close < k:
            continue
        query = queries[r]
        sums[:n_close] = 0.0
        for feature in range(n_features):
            query_value = np.float64(query[feature])
            for c in range(n_close):
                difference = np.float64(train[close[c], feature]) - query_value
                sums[c] += difference * difference
        filled = 0
        for c in range(n_close):
            filled = insert_sorted_numba(best_distances, best_indices, filled, sums[c], close[c])


finish_queries = kernel_pair(finish_queries_numpy, finish_queries_numba)
