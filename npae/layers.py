"""The layer protocol and the Dense (fully connected) layer.

Protocol (every layer, activations included):
    forward(x, training=True) -> output        caches what backward needs when training
    backward(grad_out) -> grad_in              fills the layer's gradients, returns dL/d(input)
    parameters() / gradients()                 lists of arrays, in the same order

Gradients are *written*, not accumulated: one backward per forward.  The only place where two
contributions meet, a weight matrix shared by tied layers, adds them explicitly (see TiedDense).
Backward never changes a parameter: the optimiser is the only writer (npae.optimizers).
"""
import numpy as np

from . import _backend
from ._workspace import Workspace
from .activations import get_activation
from .initializers import get_initializer
from .layers_base import Layer


class Dense(Layer):
    """Affine map followed by an activation:  z = x W + b,  a = f(z).

    Shapes:  x (B, D_in)   W (D_in, D_out)   b (D_out,)   z, a (B, D_out)

    Backward, given g = dL/da of shape (B, D_out):
        dL/dz = g * f'(z)       (B, D_out)   f' from the cached output a (see npae.activations)
        dL/dW = x^T dL/dz       (D_in, D_out)
        dL/db = sum_B dL/dz     (D_out,)
        dL/dx = dL/dz W^T       (B, D_in)     <- returned
    The activation is fused into the layer, as Keras' ``Dense(units, activation=...)``: adding the bias
    and applying f is one pass over z (``npae.kernels.elementwise``), and so is f' times g plus the bias
    gradient.  Forward caches x and a.  Reference: Goodfellow et al., *Deep Learning*, sec. 6.5.

    Parameters
    ----------
    in_features, out_features : int
    activation : str or Activation, default "identity"
    init : "glorot_uniform" (default, Keras' choice), "he_normal", "zeros", or a callable
        (fan_in, fan_out, rng, dtype) -> W.  The bias starts at 0.
    dtype : "float32" (default) or "float64"
    rng : numpy Generator or int seed, used for the initial weights.
    """

    def __init__(self, in_features, out_features, activation="identity", init="glorot_uniform",
                 dtype="float32", rng=None):
        for argument, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{argument} must be a positive integer, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.dtype = _backend.resolve_dtype(dtype)
        self.activation = get_activation(activation)
        self.init = init
        rng = np.random.default_rng(rng)
        self.W = get_initializer(init)(self.in_features, self.out_features, rng, self.dtype)
        self.b = np.zeros(self.out_features, dtype=self.dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.tied_users = []  # TiedDense layers that use W^T: their gradient is added to dW
        self._x = None
        self._workspace = Workspace()

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features}, activation={self.activation.name!r})"

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.dW, self.db]

    def _weights_for_forward(self):
        return self.W

    def forward(self, x, training=True, apply_activation=True):
        """a = f(x W + b).  With ``apply_activation=False`` the logits z = x W + b are returned instead.

        With ``training=True`` the result lives in a reusable buffer (overwritten by the next training
        forward) and x is cached for backward; with ``training=False`` a new array is returned.
        """
        W = self._weights_for_forward()
        if training:
            z = self._workspace.get("z", (x.shape[0], W.shape[1]), self.dtype)
            np.matmul(x, W, out=z)  # (B, D_out)
            self._x = x
        else:
            z = x @ W
        if apply_activation:
            return self.activation.forward_with_bias(z, self.b, training=training)
        from .kernels import elementwise

        elementwise.bias_identity_forward(z, self.b)
        return z

    def backward(self, grad_out, through_activation=True, need_input_grad=True):
        """Fill dW and db from g = dL/da (or dL/dz with ``through_activation=False``); return dL/dx.

        The first layer of a network passes ``need_input_grad=False``: nobody needs dL/dx of the data,
        and skipping it saves one of the six matrix products of a training step.
        """
        if self._x is None:
            raise RuntimeError("backward called before a training forward")
        if through_activation:
            buffer = self._workspace.get("grad_z", grad_out.shape, self.dtype)
            grad_z = self.activation.backward_with_bias_grad(grad_out, buffer, self.db)
        else:
            from .kernels import elementwise

            grad_z = grad_out
            elementwise.column_sums(grad_z, self.db)
        self._store_weight_gradient(grad_z)
        if not need_input_grad:
            return None
        W = self._weights_for_forward()
        grad_in = self._workspace.get("grad_in", (grad_z.shape[0], W.shape[0]), self.dtype)
        np.matmul(grad_z, W.T, out=grad_in)  # (B, D_in)
        return grad_in

    def _store_weight_gradient(self, grad_z):
        np.matmul(self._x.T, grad_z, out=self.dW)  # (D_in, D_out)
        for user in self.tied_users:
            # W appears twice in the network (here and, transposed, in the tied layer): by the chain
            # rule its total gradient is the sum of the two contributions.
            self.dW += user.shared_weight_grad.T


class TiedDense(Dense):
    """A decoder layer whose weight matrix is the transpose of an encoder layer's:  z = x W_enc^T + b.

    Shapes:  x (B, D_enc_out)   W_enc (D_enc_in, D_enc_out)   b (D_enc_in,)   z (B, D_enc_in)
    Only b is a parameter of this layer.  Backward computes
        dL/d(W_enc^T) = x^T dL/dz          (D_enc_out, D_enc_in)
    and leaves it in ``shared_weight_grad``; the encoder layer adds its transpose to its own dW when its
    backward runs (it always runs later, backprop going from the output to the input).
    """

    def __init__(self, encoder_layer, activation="identity"):
        if not isinstance(encoder_layer, Dense) or isinstance(encoder_layer, TiedDense):
            raise ValueError("encoder_layer must be a Dense layer")
        self.encoder_layer = encoder_layer
        self.in_features = encoder_layer.out_features
        self.out_features = encoder_layer.in_features
        self.dtype = encoder_layer.dtype
        self.activation = get_activation(activation)
        self.init = "tied"
        self.b = np.zeros(self.out_features, dtype=self.dtype)
        self.db = np.zeros_like(self.b)
        self.shared_weight_grad = np.zeros((self.in_features, self.out_features), dtype=self.dtype)
        self.tied_users = []
        self._x = None
        self._workspace = Workspace()
        encoder_layer.tied_users.append(self)

    def __repr__(self):
        return f"TiedDense(transpose of {self.encoder_layer!r}, activation={self.activation.name!r})"

    @property
    def W(self):
        return self.encoder_layer.W.T

    def parameters(self):
        return [self.b]

    def gradients(self):
        return [self.db]

    def _weights_for_forward(self):
        return self.encoder_layer.W.T

    def _store_weight_gradient(self, grad_z):
        np.matmul(self._x.T, grad_z, out=self.shared_weight_grad)  # (D_enc_out, D_enc_in)
