"""Activation functions as layers: identity, ReLU, leaky ReLU, sigmoid, tanh, ELU, softplus.

Each class documents f and f'.  Shapes: z, a, grad_out, grad_in are all (B, D).  Backward multiplies the
incoming gradient by f', computed from the cached *output* a = f(z) wherever that is possible, so only
outputs are cached and no second ``exp`` pass is needed:

    name        f(z)                          f'(z) written with a = f(z)
    identity    z                             1
    relu        max(0, z)                     1[a > 0]            (taken as 0 at z = 0, as Keras does)
    leaky_relu  z if z > 0 else alpha z       1 if a > 0 else alpha
    sigmoid     1 / (1 + e^{-z})              a (1 - a)
    tanh        tanh z                        1 - a^2
    elu         z if z > 0 else alpha(e^z-1)  1 if a > 0 else a + alpha
    softplus    log(1 + e^z)                  sigma(z) = 1 - e^{-a}

Inside a Dense layer the activation is fused with the bias: ``forward_with_bias(z, b)`` computes
f(z + b) in place and ``backward_with_bias_grad`` returns dL/dz and fills dL/db in the same pass
(kernels in ``npae.kernels.elementwise``).  Used on its own, an activation is an ordinary layer.
"""
import numpy as np

from ._workspace import Workspace
from .kernels import elementwise, sigmoid as sigmoid_kernels
from .layers_base import Layer


class Activation(Layer):
    """Base class.  Subclasses implement ``_apply(z, bias, training)`` and ``_backward(...)``."""

    name = "activation"

    def __init__(self):
        self._out = None
        self._workspace = Workspace()

    def __repr__(self):
        return f"{type(self).__name__}()"

    def get_config(self):
        return {"name": self.name}

    # --- as a stand-alone layer -------------------------------------------------------------------
    def forward(self, x, training=True):
        """a = f(x), a new (B, D) array; x is not modified."""
        z = np.array(x, copy=True, order="C")
        zero_bias = np.zeros(z.shape[1], dtype=z.dtype)
        return self.forward_with_bias(z, zero_bias, training=training)

    def backward(self, grad_out):
        """dL/dx = dL/da * f'(x), from the output cached by the last training forward."""
        if self._out is None:
            raise RuntimeError("backward called before a training forward")
        grad_in = np.empty_like(grad_out)
        discarded_bias_grad = np.empty(grad_out.shape[1], dtype=grad_out.dtype)
        result = self.backward_with_bias_grad(grad_out, grad_in, discarded_bias_grad)
        return result if result is not grad_out else grad_out.copy()

    # --- fused with the bias of a Dense layer -----------------------------------------------------
    def forward_with_bias(self, z, bias, training=True):
        """Overwrite z (B, D) with f(z + b) and return it; cache it as the output when training."""
        self._apply(z, bias)
        if training:
            self._out = z
        return z

    def backward_with_bias_grad(self, grad_out, grad_z, bias_grad):
        """Write dL/dz = grad_out * f' into ``grad_z`` and sum_B dL/dz into ``bias_grad``; return dL/dz."""
        if self._out is None:
            raise RuntimeError("backward called before a training forward")
        self._backward(self._out, grad_out, grad_z, bias_grad)
        return grad_z

    def _scratch(self, like):
        return self._workspace.get("scratch", like.shape, like.dtype)


class Identity(Activation):
    """f(z) = z;  f'(z) = 1.  The gradient passes through unchanged (no copy is made)."""

    name = "identity"

    def _apply(self, z, bias):
        elementwise.bias_identity_forward(z, bias)

    def backward_with_bias_grad(self, grad_out, grad_z, bias_grad):
        elementwise.column_sums(grad_out, bias_grad)
        return grad_out


class ReLU(Activation):
    """f(z) = max(0, z);  f'(z) = 1[z > 0] = 1[a > 0] (0 at the kink z = 0)."""

    name = "relu"

    def _apply(self, z, bias):
        elementwise.bias_relu_forward(z, bias)

    def _backward(self, a, grad_out, grad_z, bias_grad):
        elementwise.relu_backward(a, grad_out, grad_z, bias_grad)


class LeakyReLU(Activation):
    """f(z) = z for z > 0, alpha z otherwise;  f'(z) = 1 or alpha.  alpha = ``negative_slope`` in (0, 1).

    The default alpha = 0.01 is PyTorch's (Keras uses 0.3).  Because alpha > 0, a has the sign of z and
    f' can be read from the output.
    """

    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        if not 0 < negative_slope < 1:
            raise ValueError(f"negative_slope must lie in (0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}

    def _apply(self, z, bias):
        elementwise.bias_leaky_relu_forward(z, bias, z.dtype.type(self.negative_slope))

    def _backward(self, a, grad_out, grad_z, bias_grad):
        elementwise.leaky_relu_backward(a, grad_out, grad_z, bias_grad, a.dtype.type(self.negative_slope))


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^{-z});  f'(z) = a (1 - a).

    Computed from e = exp(-|z|) as 1/(1+e) for z >= 0 and e/(1+e) for z < 0: no overflow for any z.
    As the output layer of a model trained with binary cross-entropy the sigmoid is not applied here at
    all: the loss works on the logits z (see ``npae.losses.BinaryCrossEntropy``).
    """

    name = "sigmoid"

    def _apply(self, z, bias):
        sigmoid_kernels.bias_sigmoid_forward(z, bias)

    def _backward(self, a, grad_out, grad_z, bias_grad):
        elementwise.sigmoid_backward(a, grad_out, grad_z, bias_grad)


class Tanh(Activation):
    """f(z) = tanh z = (e^z - e^{-z}) / (e^z + e^{-z});  f'(z) = 1 - a^2."""

    name = "tanh"

    def _apply(self, z, bias):
        elementwise.bias_identity_forward(z, bias)
        np.tanh(z, out=z)

    def _backward(self, a, grad_out, grad_z, bias_grad):
        elementwise.tanh_backward(a, grad_out, grad_z, bias_grad)


class ELU(Activation):
    """f(z) = z for z > 0, alpha (e^z - 1) otherwise;  f'(z) = 1 or alpha e^z = a + alpha (Clevert et al. 2016)."""

    name = "elu"

    def __init__(self, alpha=1.0):
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        self.alpha = float(alpha)

    def get_config(self):
        return {"name": self.name, "alpha": self.alpha}

    def _apply(self, z, bias):
        elementwise.bias_identity_forward(z, bias)
        negative_part = self._scratch(z)
        np.minimum(z, 0, out=negative_part)
        np.expm1(negative_part, out=negative_part)  # expm1: exact near 0, where e^z - 1 cancels
        negative_part *= z.dtype.type(self.alpha)
        np.copyto(z, negative_part, where=z <= 0)

    def _backward(self, a, grad_out, grad_z, bias_grad):
        elementwise.elu_backward(a, grad_out, grad_z, bias_grad, a.dtype.type(self.alpha))


class Softplus(Activation):
    """f(z) = log(1 + e^z) = max(z, 0) + log1p(e^{-|z|});  f'(z) = sigma(z) = 1 - e^{-a}.

    The rewritten form never overflows; f' = -expm1(-a) is exact even where a is tiny.
    """

    name = "softplus"

    def _apply(self, z, bias):
        elementwise.bias_identity_forward(z, bias)
        tail = self._scratch(z)
        sigmoid_kernels.exp_negative_abs(z, tail)
        np.log1p(tail, out=tail)
        np.maximum(z, 0, out=z)
        z += tail

    def _backward(self, a, grad_out, grad_z, bias_grad):
        np.negative(a, out=grad_z)
        np.expm1(grad_z, out=grad_z)
        np.negative(grad_z, out=grad_z)  # sigma(z) = 1 - e^{-a}
        grad_z *= grad_out
        elementwise.column_sums(grad_z, bias_grad)


ACTIVATIONS = {cls.name: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softplus)}


def get_activation(activation):
    """A new Activation from a name in ACTIVATIONS (``"linear"`` and ``None`` mean identity), or a copy-free
    pass-through of an Activation instance."""
    if isinstance(activation, Activation):
        return activation
    if activation is None or activation == "linear":
        activation = "identity"
    if isinstance(activation, dict):
        options = dict(activation)
        name = options.pop("name", None)
        if name not in ACTIVATIONS:
            raise ValueError(f"activation={name!r} is not one of {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[name](**options)
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[activation]()
