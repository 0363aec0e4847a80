"""Flatten and Reshape: the same numbers, another per-sample shape (so that a convolutional encoder can end
in a dense code, and a dense code can feed a convolutional decoder).  No parameters, no arithmetic.

Both keep the batch axis and reorder nothing: values are read and written in C order, which for
channels-last images (N, H, W, C) is Keras' order, so a Keras Flatten -> Dense weight matrix loads as is.
"""
import math

import numpy as np

from .base import Layer


class Flatten(Layer):
    """x (N, d_1, ..., d_k)  ->  a (N, d_1 ... d_k).   Backward: dL/dx = dL/da reshaped to x's shape.

    Inside ``fit`` forward returns a view of its input and backward one of the gradient (no copy, see
    Layer.buffer); called directly, both return new arrays, as every layer does."""

    def _forward(self, x):                                   # x (N, d_1, ..., d_k)
        self.keep(input_shape=x.shape)
        return x.reshape(x.shape[0], -1)                     # (N, d_1 ... d_k)

    def _backward(self, grad_a):                             # grad_a (N, d_1 ... d_k)
        return grad_a.reshape(self.kept.input_shape)         # (N, d_1, ..., d_k)

    def output_shape(self, input_shape):
        if not input_shape:
            raise ValueError(f"{self!r} takes a batch (N, ...) with at least one axis after the batch axis")
        return (math.prod(input_shape),)  # Python integers: no int64 wrap-around


class Reshape(Layer):
    """x (N, ...)  ->  a (N, *shape), the same N values per sample (e.g. (784,) -> (28, 28, 1)).

    Backward: dL/dx = dL/da reshaped to x's shape.  ``shape`` is per sample, without the batch axis,
    as Keras' ``Reshape(target_shape)``; its product must equal the input's per-sample size."""

    def _forward(self, x):                                   # x (N, ...)
        self.keep(input_shape=x.shape)
        return x.reshape((x.shape[0],) + self.shape)         # (N, *shape)

    def _backward(self, grad_a):                             # grad_a (N, *shape)
        return grad_a.reshape(self.kept.input_shape)         # (N, ...)

    def __init__(self, shape):
        values = tuple(shape) if isinstance(shape, (tuple, list)) else None
        if not values or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1
                             for v in values):
            raise ValueError(f"shape must be a non-empty tuple of positive integers (per sample, without the batch "
                             f"axis), got {shape!r}")
        self.shape = tuple(int(v) for v in values)

    def get_config(self):
        return {"shape": list(self.shape)}

    def output_shape(self, input_shape):
        if math.prod(input_shape) != math.prod(self.shape):  # Python integers: no int64 wrap-around
            raise ValueError(f"{self!r} cannot reshape per-sample shape {tuple(input_shape)} "
                             f"({math.prod(input_shape)} values) to {self.shape} ({math.prod(self.shape)} values)")
        return self.shape
