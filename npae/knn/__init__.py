"""Exact k-nearest neighbours: the paper's raw-pixel vs latent-feature comparison (tables 1 and 2).

Read in this order:

``classifier``    :class:`KNNClassifier`, the estimator: the rules (scikit-learn's), the choice of search
``gemm``          brute force through the GEMM identity, with the certificate that makes it exact
``kdtree``        low dimension: a KD-tree, exact float64 distances only where a neighbour may be
``lower_bounds``  high dimension with structure: PCA lower bounds filter, raw distances refine
``checks``        what every search checks about its queries
``kernels``       the Numba kernels, each below the plain-NumPy reference it must match:
                  ``kernels.select`` (top-k selection, the exact distance, the sorted insertion),
                  ``kernels.bounds`` (the lower-bound search's screen and refine passes)

This subpackage was ``npae/knn.py``, ``npae/knn_bounds.py``, ``npae/kernels/select.py`` and
``npae/kernels/bounds.py``; those old module paths raise an ImportError naming the new place.
"""
from .classifier import ALGORITHMS, KNNClassifier, parse_memory_budget  # noqa: F401
from .gemm import EXTRA_CANDIDATES, GEMM_TRAIN_BLOCK, MAX_QUERY_BLOCK, GemmSearch  # noqa: F401
from .kdtree import KDTree, TreeSearch  # noqa: F401
from .lower_bounds import LowerBoundSearch  # noqa: F401

__all__ = ["KNNClassifier", "parse_memory_budget", "GemmSearch", "TreeSearch", "KDTree", "LowerBoundSearch"]
