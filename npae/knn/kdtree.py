"""Low dimension: a KD-tree; exact float64 distances, computed only where a better neighbour may be."""
import numpy as np

from .. import _backend
from .._validation import check_array
from .checks import checked_queries, distance_overflow
from .gemm import MAX_QUERY_BLOCK
from .kernels.select import kdtree_search

# Leaves hold between KDTREE_LEAF_SIZE and 2 * KDTREE_LEAF_SIZE - 1 points (scikit-learn: 30).
KDTREE_LEAF_SIZE = 32


class KDTree:
    """A median-split KD-tree in flat arrays, the layout :func:`npae.knn.kernels.select.kdtree_search` reads.

    Nodes are numbered in heap order: the root is 0 and the children of node v are 2v+1 and 2v+2;
    all leaves sit on the last of ``n_levels`` levels.  Each node owns the contiguous column range
    ``[node_start[v], node_end[v])`` of ``points_t`` (D, n), the training points reordered so that
    every subtree is contiguous, stored transposed in float64 so that a leaf's distances vectorise.
    ``point_indices[c]`` is the training index of column c.  A node splits at the median of its
    widest feature (largest max - min), so the tree is balanced and has about n / leaf_size leaves;
    ``node_lower`` / ``node_upper`` (N, D) are the bounding boxes of the nodes' points.

    Build: O(n log n) (an O(n) ``np.argpartition`` per level), about 30 ms for 60,000 x 8.
    """

    def __init__(self, points, leaf_size):
        n_points, n_features = points.shape
        n_levels = 1
        while n_points >> n_levels >= leaf_size:  # children one level down would still be full
            n_levels += 1
        n_nodes = 2**n_levels - 1
        node_start = np.zeros(n_nodes, np.int64)
        node_end = np.zeros(n_nodes, np.int64)
        node_end[0] = n_points
        order = np.arange(n_points)
        work = points.astype(np.float64)  # (n, D), reordered along with `order`
        for level in range(n_levels - 1):
            nodes = np.arange(2**level - 1, 2 ** (level + 1) - 1)
            starts, ends = node_start[nodes], node_end[nodes]
            # every node of the level is a contiguous slice of `work`: one reduceat measures all spreads
            spread = np.maximum.reduceat(work, starts, axis=0) - np.minimum.reduceat(work, starts, axis=0)
            split_features = np.argmax(spread, axis=1)  # (nodes,)
            middles = (starts + ends) // 2
            for start, middle, end, feature in zip(starts, middles, ends, split_features):
                # O(n) selection, not a sort: the smaller half goes left, the larger right
                permutation = np.argpartition(work[start:end, feature], middle - start)
                order[start:end] = order[start:end][permutation]
                work[start:end] = work[start:end][permutation]
            node_start[2 * nodes + 1], node_end[2 * nodes + 1] = starts, middles
            node_start[2 * nodes + 2], node_end[2 * nodes + 2] = middles, ends
        node_lower = np.empty((n_nodes, n_features))
        node_upper = np.empty((n_nodes, n_features))
        leaves = np.arange(n_nodes // 2, n_nodes)
        node_lower[leaves] = np.minimum.reduceat(work, node_start[leaves], axis=0)
        node_upper[leaves] = np.maximum.reduceat(work, node_start[leaves], axis=0)
        for level in range(n_levels - 2, -1, -1):  # a parent's box is the union of its children's
            nodes = np.arange(2**level - 1, 2 ** (level + 1) - 1)
            node_lower[nodes] = np.minimum(node_lower[2 * nodes + 1], node_lower[2 * nodes + 2])
            node_upper[nodes] = np.maximum(node_upper[2 * nodes + 1], node_upper[2 * nodes + 2])
        self.n_levels = n_levels
        self.points_t = np.ascontiguousarray(work.T)  # (D, n)
        self.point_indices = order
        self.node_start, self.node_end = node_start, node_end
        self.node_lower, self.node_upper = node_lower, node_upper

    def search(self, queries, out_sq_distances, out_indices):
        """k nearest points of each query (Q, D) into out_sq_distances (Q, k), out_indices (Q, k)."""
        kdtree_search(
            queries, self.points_t, self.point_indices, self.node_start, self.node_end,
            self.node_lower, self.node_upper, out_sq_distances, out_indices,
        )



class TreeSearch:
    """The KD-tree search (``leaf_size = n + 1``: a single leaf, the direct scan), in query blocks."""

    def __init__(self, train, k, budget, leaf_size):
        check_array(train, "x")  # finite values
        self.tree = KDTree(train, leaf_size)
        self.k, self.budget, self.dtype = k, budget, train.dtype
        self.n_samples, self.n_features = train.shape
        self.max_train_norm = float(np.sqrt(np.einsum("ij,ij->i", self.tree.points_t.T, self.tree.points_t.T).max()))

    def search(self, x, rows, out_sq_distances, out_indices):
        # the NumPy reference holds a few (block, n) float64 arrays; the kernel needs almost nothing
        per_query = self.n_features * (x.itemsize + self.dtype.itemsize + 1)
        if not _backend.jit_enabled():
            per_query += 48 * self.n_samples
        block = int(min(MAX_QUERY_BLOCK, max(1, self.budget // per_query)))
        for start in range(0, rows.size, block):
            block_rows = rows[start:start + block]
            queries = checked_queries(x, block_rows, self.dtype)
            with np.errstate(over="ignore"):
                query_norms = np.sqrt(np.einsum("ij,ij->i", queries, queries, dtype=np.float64))
            distance_overflow(query_norms, self.max_train_norm, self.n_features)
            sq_distances = np.empty((block_rows.size, self.k))
            indices = np.empty((block_rows.size, self.k), np.int64)
            self.tree.search(queries, sq_distances, indices)
            out_sq_distances[block_rows], out_indices[block_rows] = sq_distances, indices
