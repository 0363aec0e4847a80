"""Reusable scratch buffers for the training loop.

A float32 (256, 784) array is 0.8 MB; the C allocator hands such sizes out with ``mmap`` and every fresh
page faults on first touch, which cost more than the arithmetic done on it.  So each layer keeps its
buffers between steps and only reallocates when the batch shape changes (the last, shorter batch of an
epoch gets its own entry, so the two shapes do not evict each other).
"""
import numpy as np


class Workspace:
    """A small cache of arrays keyed by (name, shape, dtype)."""

    def __init__(self):
        self._buffers = {}

    def get(self, name, shape, dtype):
        key = (name, shape, np.dtype(dtype))
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = np.empty(shape, dtype=dtype)
            self._buffers[key] = buffer
        return buffer

    def clear(self):
        self._buffers.clear()
