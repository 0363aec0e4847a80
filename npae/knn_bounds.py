"""Moved: the kNN code has its own subpackage, :mod:`npae.knn` (so that ``npae.kernels`` is the engine's kernels)."""
raise ImportError("npae.knn_bounds moved to npae.knn.lower_bounds (the lower-bound search); import it from there")
