"""The kNN searches' Numba kernels, each pair a plain-NumPy reference with its kernel directly below.

``select``  top-k selection (GEMM candidates, exact re-ranking, the KD-tree scan, the lower-bound
            search's provisional candidates and final k), the exact float64 distance every path
            agrees on, and the one sorted insertion all of them use
``bounds``  the lower-bound search's passes: screen the keys into candidate buffers, group pairs by
            training point, refine them through finer bounds and raw distances

Importing a module registers its pairs in :data:`npae.kernels.REGISTRY`, beside the engine's.
"""
from . import bounds, select  # noqa: F401
