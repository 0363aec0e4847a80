"""Flatten and Reshape: the same numbers, another per-sample shape (so that a convolutional encoder can end
in a dense code, and a dense code can feed a convolutional decoder).  No parameters, no arithmetic.

Both keep the batch axis and reorder nothing: values are read and written in C order, which for
channels-last images (N, H, W, C) is Keras' order, so a Keras Flatten -> Dense weight matrix loads as is.
"""
import numpy as np

from .base import Layer


def _as_array(x, layer):
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{layer!r} takes a non-empty batch (N, ...) with at least one axis after the batch "
                         f"axis, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _new_unless_fitting(layer, view):
    """The view itself inside fit (the next layer only reads it), a copy otherwise."""
    return view if layer._reuse_buffers else view.copy()


class Flatten(Layer):
    """x (N, d_1, ..., d_k)  ->  a (N, d_1 ... d_k).   Backward: dL/dx = dL/da reshaped to x's shape.

    Inside ``fit`` forward returns a view of its input and backward one of the gradient (no copy, see
    Layer.buffer); called directly, both return new arrays, as every layer does."""

    def __init__(self):
        self._kept = None

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        x = _as_array(x, self)
        if training:
            self._kept = x.shape
        return _new_unless_fitting(self, x.reshape(x.shape[0], -1))

    def backward(self, grad_output):
        if self._kept is None:
            raise RuntimeError("Flatten: backward called before a training forward")
        grad_output = np.asarray(grad_output)
        if grad_output.shape != (self._kept[0], int(np.prod(self._kept[1:]))):
            raise ValueError(f"Flatten: grad_output has shape {grad_output.shape}, expected "
                             f"{(self._kept[0], int(np.prod(self._kept[1:])))}")
        return _new_unless_fitting(self, np.ascontiguousarray(grad_output).reshape(self._kept))


class Reshape(Layer):
    """x (N, ...)  ->  a (N, *shape), the same N values per sample (e.g. (784,) -> (28, 28, 1)).

    Backward: dL/dx = dL/da reshaped to x's shape.  ``shape`` is per sample, without the batch axis,
    as Keras' ``Reshape(target_shape)``; its product must equal the input's per-sample size."""

    def __init__(self, shape):
        values = tuple(shape) if isinstance(shape, (tuple, list)) else None
        if not values or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1
                             for v in values):
            raise ValueError(f"shape must be a non-empty tuple of positive integers (per sample, without the batch "
                             f"axis), got {shape!r}")
        self.shape = tuple(int(v) for v in values)
        self._kept = None

    def get_config(self):
        return {"shape": list(self.shape)}

    def output_shape(self, input_shape):
        if int(np.prod(input_shape)) != int(np.prod(self.shape)):
            raise ValueError(f"{self!r} cannot reshape per-sample shape {tuple(input_shape)} "
                             f"({int(np.prod(input_shape))} values) to {self.shape} ({int(np.prod(self.shape))} values)")
        return self.shape

    def forward(self, x, training=False):
        x = _as_array(x, self)
        self.output_shape(x.shape[1:])
        if training:
            self._kept = x.shape
        return _new_unless_fitting(self, x.reshape((x.shape[0],) + self.shape))

    def backward(self, grad_output):
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        grad_output = np.asarray(grad_output)
        if grad_output.shape != (self._kept[0],) + self.shape:
            raise ValueError(f"{self!r}: grad_output has shape {grad_output.shape}, expected "
                             f"{(self._kept[0],) + self.shape}")
        return _new_unless_fitting(self, np.ascontiguousarray(grad_output).reshape(self._kept))
