"""The Dense (fully connected) layer and its tied twin: backprop in a page.

Read :mod:`npae.layers.base` first for the protocol every layer follows.
"""
import numpy as np

from .. import _backend
from ..activations import activation_config, get_activation
from ..initializers import get_initializer, initializer_config
from .base import Layer


def _check_size(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """Affine map followed by an activation:  z = x W + b,  a = f(z).

    Shapes:  x (B, D_in)   W (D_in, D_out)   b (D_out,)   z, a (B, D_out)

    Backward, given g = dL/da of shape (B, D_out):
        dL/dz = g * f'(z)       (B, D_out)   f' from the kept output a (see npae.activations)
        dL/dW += x^T dL/dz      (D_in, D_out)
        dL/db += sum_B dL/dz    (D_out,)
        dL/dx  = dL/dz W^T      (B, D_in)     <- returned
    The activation is fused into the layer, as Keras' ``Dense(units, activation=...)``: adding the bias
    and applying f is one pass over z (``npae.kernels.elementwise``), and so is f' times g plus the bias
    gradient.  A training forward keeps x, z and a.  Reference: Goodfellow et al., *Deep Learning*, 6.5.

    Parameters
    ----------
    in_features, out_features : int
    activation : name, config dict or Activation (copied), default "identity"
    init : "glorot_uniform" (default, Keras' choice), "he_uniform", "he_normal", "zeros", or a function
        (shape, rng, dtype) -> W.  The bias starts at 0.
    dtype : "float32" (default) or "float64"
    rng : numpy Generator or int seed, used for the initial weights.

    ``zero_grad`` does not write zeros: it marks dW and db as zero, and the next contribution is then
    *written* instead of added (the same numbers, one pass over the arrays fewer on every batch).
    """

    def __init__(self, in_features, out_features, activation="identity", init="glorot_uniform",
                 dtype="float32", rng=None):
        self.in_features = _check_size(in_features, "in_features")
        self.out_features = _check_size(out_features, "out_features")
        self.dtype = _backend.resolve_dtype(dtype)
        self.activation = get_activation(activation)
        self.init = init
        shape = (self.in_features, self.out_features)
        # The initialiser runs inside new_parameter: not at all when npae.load builds the layer (the file
        # holds the weights, and a custom initialiser is not stored in it: see get_config).
        self.W = self.new_parameter(shape, self.dtype, lambda: get_initializer(init)(
            shape, np.random.default_rng(rng), self.dtype))
        self.b = self.new_parameter((self.out_features,), self.dtype)
        self.dW = self.new_gradient(self.W)
        self.db = self.new_gradient(self.b)
        self._weight_gradient_is_zero = self._bias_gradient_is_zero = False
        self._kept = None  # (x, z, a) of the last training forward

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": activation_config(self.activation), "init": initializer_config(self.init),
                "dtype": self.dtype.name}

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation.name!r})"

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        self._write_pending_zeros()
        return [self.dW, self.db]

    def weights_to_penalize(self):
        return [(self.W, self.dW)]

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r} takes inputs of shape (batch, {self.in_features}), got per-sample shape "
                             f"{tuple(input_shape)}" + (" (add npae.Flatten() before it)" if len(input_shape) > 1
                                                        else ""))
        return (self.out_features,)

    # --- gradients, accumulated (see the class docstring for the pending zeros) ---------------------
    def zero_grad(self):
        self._weight_gradient_is_zero = self._bias_gradient_is_zero = True

    def _write_pending_zeros(self):
        if self._weight_gradient_is_zero:
            self.dW.fill(0)
            self._weight_gradient_is_zero = False
        if self._bias_gradient_is_zero:
            self.db.fill(0)
            self._bias_gradient_is_zero = False

    def add_to_weight_gradient(self, left, right):
        """dW += left @ right, a (D_in, D_out) product: this layer's own term, or a TiedDense's share."""
        if self._weight_gradient_is_zero:
            np.matmul(left, right, out=self.dW)
            self._weight_gradient_is_zero = False
            return
        contribution = self.buffer("weight_gradient_term", self.dW.shape, self.dtype)
        np.matmul(left, right, out=contribution)
        self.dW += contribution

    def _bias_gradient_accumulates(self):
        """False the first time after zero_grad (the kernel then writes db), True afterwards."""
        accumulate = not self._bias_gradient_is_zero
        self._bias_gradient_is_zero = False
        return accumulate

    # --- forward and backward ----------------------------------------------------------------------
    def _weights(self):
        """The matrix this layer multiplies by: W (D_in, D_out)."""
        return self.W

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self!r} takes x of shape (batch, {self.in_features}), got {x.shape}")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x, training=False):
        """a = f(x W + b), shape (B, D_out).  ``training=True`` keeps x, z and a for backward."""
        x = self._check_input(x)
        W = self._weights()
        z = self.buffer("output", (x.shape[0], W.shape[1]), self.dtype)
        np.matmul(x, W, out=z)  # (B, D_out)
        a = self.activation.apply_with_bias(z, self.b)
        if training:
            self._kept = (x, z, a)
        return a

    def backward(self, grad_output, need_input_grad=True):
        """Add dL/dW and dL/db for g = dL/da (B, D_out); return dL/dx (B, D_in).

        The first layer of a network is called with ``need_input_grad=False``: nobody needs dL/dx of the
        data, and skipping it saves one of the six matrix products of a training step.
        """
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        x, z, a = self._kept
        grad_output = np.asarray(grad_output)
        if grad_output.shape != a.shape:
            raise ValueError(f"{self!r}: grad_output has shape {grad_output.shape}, expected {a.shape} "
                             "(the shape of the last training forward's output)")
        grad_output = np.ascontiguousarray(grad_output, dtype=self.dtype)
        grad_z = self.buffer("grad_z", a.shape, self.dtype)
        grad_z = self.activation.backward_with_bias(z, a, grad_output, grad_z, self.db,
                                                    self._bias_gradient_accumulates())
        self._add_weight_gradient(x, grad_z)
        if not need_input_grad:
            return None
        W = self._weights()
        grad_input = self.buffer("grad_input", (grad_z.shape[0], W.shape[0]), self.dtype)
        np.matmul(grad_z, W.T, out=grad_input)  # (B, D_in)
        return grad_input

    def _add_weight_gradient(self, x, grad_z):
        self.add_to_weight_gradient(x.T, grad_z)  # dL/dW += x^T dL/dz  (D_in, D_out)


class TiedDense(Dense):
    """A decoder layer whose weight matrix is the transpose of an encoder layer's:  z = x W_enc^T + b.

    Shapes:  x (B, D_enc_out)   W_enc (D_enc_in, D_enc_out)   b (D_enc_in,)   z (B, D_enc_in)
    W_enc is one parameter used twice, so by the chain rule its gradient is the sum of both uses'.
    This layer owns only b; its backward adds its share of W_enc's gradient to the encoder layer's:

        dL/dW_enc += (x^T dL/dz)^T = dL/dz^T x        (D_enc_in, D_enc_out)

    Gradients accumulate, so it does not matter which of the two layers backprop reaches first.
    """

    def __init__(self, encoder_layer, activation="identity"):
        if not isinstance(encoder_layer, Dense) or isinstance(encoder_layer, TiedDense):
            raise ValueError(f"encoder_layer must be a Dense layer, got {encoder_layer!r}")
        self.encoder_layer = encoder_layer
        self.in_features = encoder_layer.out_features
        self.out_features = encoder_layer.in_features
        self.dtype = encoder_layer.dtype
        self.activation = get_activation(activation)
        self.init = None
        self.b = self.new_parameter((self.out_features,), self.dtype)
        self.db = self.new_gradient(self.b)
        self._bias_gradient_is_zero = False
        self._kept = None

    def get_config(self):
        """Only the activation: which layer it is tied to is a position in its model (see npae.io)."""
        return {"activation": activation_config(self.activation)}

    def __repr__(self):
        return f"TiedDense(transpose of {self.encoder_layer!r}, activation={self.activation.name!r})"

    @property
    def W(self):
        return self.encoder_layer.W.T

    def parameters(self):
        return [self.b]

    def gradients(self):
        if self._bias_gradient_is_zero:
            self.db.fill(0)
            self._bias_gradient_is_zero = False
        return [self.db]

    def weights_to_penalize(self):
        return []  # W_enc is penalised once, by the encoder layer that owns it

    def zero_grad(self):
        self._bias_gradient_is_zero = True

    def _weights(self):
        return self.encoder_layer.W.T

    def _add_weight_gradient(self, x, grad_z):
        self.encoder_layer.add_to_weight_gradient(grad_z.T, x)  # dL/dW_enc += dL/dz^T x
