"""The Dense (fully connected) layer and its tied twin: backprop in a page.

Read :mod:`npae.layers.base` first for the protocol every layer follows.
"""
import numpy as np

from .. import _backend
from ..activations import activation_config, get_activation
from ..initializers import get_initializer, initializer_config
from ..kernels import blas
from .base import Layer


class Dense(Layer):
    """Affine map followed by an activation:  z = x W + b,  a = f(z).

    Shapes:  x (B, D_in)   W (D_in, D_out)   b (D_out,)   z, a (B, D_out)

    Backward, given g = dL/da of shape (B, D_out):
        dL/dz = g * f'(z)       (B, D_out)   f' written with the output a (see npae.activations)
        dL/dW += x^T dL/dz      (D_in, D_out)
        dL/db += sum_B dL/dz    (D_out,)
        dL/dx  = dL/dz W^T      (B, D_in)     <- returned
    Reference: Goodfellow et al., *Deep Learning*, 6.5.

    Two paths compute these numbers.  The reference lines (what ``NPAE_JIT=0`` runs) are the formulas as
    written.  The fast path fuses the activation into the layer, as Keras' ``Dense(units, activation=...)``:
    adding b and applying f is one pass over z (``npae.kernels.elementwise``), and so is f' times g plus
    the bias gradient; its arrays are reused between batches inside ``fit`` (``Layer.buffer``), and its
    products go through ``npae.kernels.blas.matmul``, which gives a small product one BLAS thread (as fast
    on a quiet machine, and many times faster when another program holds a core: see that module), and
    dW += x^T dL/dz is one GEMM that adds into dW (``blas.matmul_accumulate``: beta = 1, no temporary).  A
    training forward keeps x and a (the built-in activations read f' from a; on the fast path they
    write a over z, so z is kept for a custom activation only, whose ``derivative(z, a)`` may need it).

    Parameters
    ----------
    in_features, out_features : int
    activation : name, config dict or Activation (copied), default "identity"
    init : "glorot_uniform" (default, Keras' choice), "he_uniform", "he_normal", "zeros", or a function
        (shape, rng, dtype) -> W.  The bias starts at 0.
    dtype : "float32" (default) or "float64"
    rng : numpy Generator or int seed, used for the initial weights.
    """

    # --- the math ------------------------------------------------------------------------------------
    def _forward(self, x):                                             # x (B, D_in)
        if _backend.jit_enabled():  # fast path: z in a reused array, then a = f(z + b) in one fused pass
            z = self.buffer("z", (x.shape[0], self.out_features), self.dtype)   # (B, D_out)
            blas.matmul(x, self.W, z)                                  # z = x W
            a = self.activation.apply_with_bias(z, self.b)             # (B, D_out)
        else:                       # reference
            z = x @ self.W + self.b                                    # (B, D_out)
            a = self.activation.function(z)                            # (B, D_out)
        self.keep(x=x, z=z, a=a)
        return a

    def _backward(self, grad_a):                                       # grad_a (B, D_out) = dL/da
        x, z, a = self.kept.x, self.kept.z, self.kept.a
        if _backend.jit_enabled():  # fast path: dL/dz and db += its column sums in one fused pass
            grad_z = self.buffer("grad_z", a.shape, self.dtype)        # (B, D_out)
            grad_z = self.activation.backward_with_bias(z, a, grad_a, grad_z, self.db, True)   # dL/dz
            blas.matmul_accumulate(x.T, grad_z, self.dW)               # dW += x^T dL/dz, one GEMM
        else:                       # reference
            grad_z = grad_a * self.activation.derivative(z, a)         # (B, D_out)  dL/dz
            self.db += grad_z.sum(axis=0)                              # (D_out,)
            self.dW += x.T @ grad_z                                    # (D_in, D_out)
        if not self.need_input_grad:  # a model's first layer: nobody needs dL/dx of the data
            return None
        if _backend.jit_enabled():
            return blas.matmul(grad_z, self.W.T, self.buffer("grad_x", x.shape, self.dtype))  # (B, D_in)
        return grad_z @ self.W.T                                       # (B, D_in)  dL/dx

    # --- construction and configuration ---------------------------------------------------------------
    def __init__(self, in_features, out_features, activation="identity", init="glorot_uniform",
                 dtype="float32", rng=None):
        self.in_features = _check_size(in_features, "in_features")
        self.out_features = _check_size(out_features, "out_features")
        self.dtype = _backend.resolve_dtype(dtype)
        self.activation = get_activation(activation)
        self.init = init
        self.W, self.dW = self._new_weights(init, rng)                 # (D_in, D_out) each
        self.b = self.new_parameter((self.out_features,), self.dtype)  # (D_out,)
        self.db = self.new_gradient(self.b)

    def _new_weights(self, init, rng):
        """W (D_in, D_out) from the initialiser (which npae.load does not run: the file holds the weights,
        and a custom initialiser is not stored in it, see get_config) and its gradient dW."""
        shape = (self.in_features, self.out_features)
        W = self.new_parameter(shape, self.dtype, lambda: get_initializer(init)(shape, np.random.default_rng(rng),
                                                                                  self.dtype))
        return W, self.new_gradient(W)

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.dW, self.db]

    def weights_to_penalize(self):
        return [(self.W, self.dW)]

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r} takes x of shape (batch, {self.in_features}), got per-sample shape "
                             f"{tuple(input_shape)}" + (" (add npae.Flatten() before it)" if len(input_shape) > 1
                                                        else ""))
        return (self.out_features,)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": activation_config(self.activation), "init": initializer_config(self.init),
                "dtype": self.dtype.name}

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation.name!r})"


class TiedDense(Dense):
    """A decoder layer whose weight matrix is the transpose of an encoder layer's:  z = x W_enc^T + b.

    Shapes:  x (B, D_enc_out)   W = W_enc^T (D_enc_out, D_enc_in)   b (D_enc_in,)   z (B, D_enc_in)

    The math is Dense's, unchanged: W and dW are *views* of the encoder layer's W_enc and dW_enc,
    transposed.  So Dense's ``dW += x^T dL/dz`` adds this use's share straight into the encoder's gradient,

        dL/dW_enc += (x^T dL/dz)^T        (D_enc_in, D_enc_out)

    W_enc is one parameter used twice, and by the chain rule its gradient is the sum of both uses'.
    Gradients accumulate, so it does not matter which of the two layers backprop reaches first.  This
    layer owns only b: ``parameters()`` is [b].
    """

    def __init__(self, encoder_layer, activation="identity"):
        if not isinstance(encoder_layer, Dense) or isinstance(encoder_layer, TiedDense):
            raise ValueError(f"encoder_layer must be a Dense layer, got {encoder_layer!r}")
        self.encoder_layer = encoder_layer
        super().__init__(encoder_layer.out_features, encoder_layer.in_features, activation, init=None,
                         dtype=encoder_layer.dtype)

    def _new_weights(self, init, rng):
        return self.encoder_layer.W.T, self.encoder_layer.dW.T         # views: one parameter, two uses

    def parameters(self):
        return [self.b]

    def gradients(self):
        return [self.db]

    def weights_to_penalize(self):
        return []  # W_enc is penalised once, by the encoder layer that owns it

    def get_config(self):
        """Only the activation: which layer it is tied to is a position in its model (see npae.io)."""
        return {"activation": activation_config(self.activation)}

    def __repr__(self):
        return f"TiedDense(transpose of {self.encoder_layer!r}, activation={self.activation.name!r})"


def _check_size(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


# npae/layers/convolution.py still borrows these two names of the pending-zero scheme this module dropped
# (zero_grad now writes zeros, so a gradient always accumulates).  Delete them once it no longer does.
Dense._write_pending_zeros = lambda self: None
Dense._bias_gradient_accumulates = lambda self: True
