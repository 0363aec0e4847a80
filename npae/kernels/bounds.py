"""Moved: the kNN code has its own subpackage, :mod:`npae.knn` (so that ``npae.kernels`` is the engine's kernels)."""
raise ImportError("npae.kernels.bounds moved to npae.knn.kernels.bounds (the lower-bound search's kernels); import it from there")
