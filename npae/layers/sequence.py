"""What a sequence autoencoder needs around its recurrent layers: RepeatVector and TimeDistributed.

The LSTM autoencoder of the Keras blog ("Building Autoencoders in Keras", sequence-to-sequence section)::

    LSTM(C, H)                              (B, T, C) -> (B, H)        the code: the last hidden state
    RepeatVector(T)                         (B, H) -> (B, T, H)        the code, once per time step
    LSTM(H, H, return_sequences=True)       (B, T, H) -> (B, T, H)
    TimeDistributed(Dense(H, C))            (B, T, H) -> (B, T, C)     one Dense, the same at every step

Keras 2+ applies a ``Dense`` to the last axis of a 3-D input directly; npae's Dense takes (B, D) only, so
that its formulas stay those of a matrix product, and ``TimeDistributed`` says explicitly what happens: the
wrapped layer sees the B T time steps as one batch of B T rows.
"""
import numpy as np

from .._validation import check_positive_int
from .base import Layer


def buffer_reuse_of(attribute):
    """A ``_reuse_buffers`` property for a layer that wraps another (``self.<attribute>``): ``fit`` switches
    buffer reuse on the layers of its model (see Layer.buffer); the wrapped layer follows."""

    def get(self):
        return getattr(self, attribute)._reuse_buffers

    def set(self, enabled):
        getattr(self, attribute)._reuse_buffers = enabled

    return property(get, set)


class RepeatVector(Layer):
    """Repeat a vector along a new time axis (Keras' ``RepeatVector(n)``).

    Forward:  a[b, t, :] = x[b, :]  for t < n          x (B, D)  ->  a (B, n, D)
    Backward: dL/dx[b, :] = sum_t dL/da[b, t, :]         (x was used n times: the n gradients add up)
    """

    def __init__(self, n):
        self.n = check_positive_int(n, "n")

    def get_config(self):
        return {"n": self.n}

    def output_shape(self, input_shape):
        if len(tuple(input_shape)) != 1:
            raise ValueError(f"{self!r} takes vectors, per-sample shape (features,), got {tuple(input_shape)}")
        return (self.n,) + tuple(input_shape)

    def _forward(self, x):                                 # x (B, D)
        output = self.buffer("output", (x.shape[0], self.n, x.shape[1]), x.dtype)
        output[...] = x[:, np.newaxis, :]
        return output                                      # (B, n, D)

    def _backward(self, grad_output):                      # (B, n, D)
        return grad_output.sum(axis=1) if self.need_input_grad else None   # (B, D)


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step (Keras' ``TimeDistributed(layer)``), with the same parameters.

    Forward:  a[b, t] = layer(x[b, t])             x (B, T, *d) -> a (B, T, *d'), computed as ``layer`` on
                                                   x reshaped to (B T, *d), one batch of B T rows
    Backward: dL/dx = layer.backward(dL/da as (B T, *d')) reshaped to (B, T, *d); the layer's gradients
              are summed over b and t (a parameter used B T times), which its own backward already does.

    ``layer``: any npae layer, or a saved entry ``{"class": name, "config": {...}}`` (how ``npae.load``
    rebuilds it).  Its parameters are this layer's: the same arrays.
    """

    def __init__(self, layer):
        if isinstance(layer, dict):
            from ..registry import layers_from_config

            layer = layers_from_config([layer], "layer")[0]
        if not isinstance(layer, Layer):
            raise ValueError(f"layer must be an npae layer, got {layer!r}")
        self.layer = layer
        self.dtype = getattr(layer, "dtype", None)

    _reuse_buffers = buffer_reuse_of("layer")

    def get_config(self):
        from ..registry import layers_config

        return {"layer": layers_config([self.layer])[0]}

    def __repr__(self):
        return f"TimeDistributed({self.layer!r})"

    def parameters(self):
        return self.layer.parameters()

    def gradients(self):
        return self.layer.gradients()

    def zero_grad(self):
        self.layer.zero_grad()

    def weights_to_penalize(self):
        return self.layer.weights_to_penalize()

    def apply_constraints(self):
        self.layer.apply_constraints()

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"{self!r} takes sequences, per-sample shape (time, ...), got {input_shape}")
        return (input_shape[0],) + tuple(self.layer.output_shape(input_shape[1:]))

    # forward/backward themselves, not _forward/_backward: the wrapped layer does its own bookkeeping.
    def forward(self, x, training=False):
        """a (B, T, *d') for x (B, T, *d): ``layer`` on the (B T, *d) rows."""
        x = self.check_input(x)                                          # (B, T, *d)
        batch, steps = x.shape[:2]
        output = self.layer.forward(x.reshape((batch * steps,) + x.shape[2:]), training=training)
        return output.reshape((batch, steps) + output.shape[1:])         # (B, T, *d')

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx (B, T, *d) for dL/da (B, T, *d'); the wrapped layer adds its parameters' gradients."""
        grad_output = np.asarray(grad_output)
        if grad_output.ndim < 2:
            raise ValueError(f"{self!r}: grad_output must be (batch, time, ...), got shape {grad_output.shape}")
        batch, steps = grad_output.shape[:2]
        grad_input = self.layer.backward(grad_output.reshape((batch * steps,) + grad_output.shape[2:]),
                                         need_input_grad=need_input_grad)
        return None if grad_input is None else grad_input.reshape((batch, steps) + grad_input.shape[1:])
