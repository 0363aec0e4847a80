"""Moved: the kNN code has its own subpackage, :mod:`npae.knn` (so that ``npae.kernels`` is the engine's kernels)."""
raise ImportError("npae.kernels.select moved to npae.knn.kernels.select (the kNN selection kernels); import it from there")
