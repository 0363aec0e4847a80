"""Activation functions: identity, ReLU, leaky ReLU, sigmoid, tanh, ELU, softplus, and your own.

Each class documents f and f'.  Backward multiplies the incoming gradient by f', computed from the
*output* a = f(z) wherever that is possible, so only outputs are kept and no second ``exp`` is needed:

    name        f(z)                          f'(z) written with a = f(z)
    identity    z                             1
    relu        max(0, z)                     1[a > 0]            (taken as 0 at z = 0, as Keras does)
    leaky_relu  z if z > 0 else alpha z       1 if a > 0 else alpha
    sigmoid     1 / (1 + e^{-z})              a (1 - a)
    tanh        tanh z                        1 - a^2
    elu         z if z > 0 else alpha(e^z-1)  1 if a > 0 else a + alpha
    softplus    log(1 + e^z)                  sigma(z) = 1 - e^{-a}

Each class writes f and f' as two plain-NumPy methods, ``function(z)`` and ``derivative(z, a)``: the
reference a learner reads.  Two ways to use one:
* on its own, as a layer of a model (``npae.ReLU()``), on arrays of any shape: exactly those two methods;
* fused into a layer, ``Dense(784, 64, activation="relu")``: the layer adds its bias and applies f in one
  pass over z (:meth:`Activation.apply_with_bias`), and multiplies by f' while summing the bias gradient
  in one pass (:meth:`Activation.backward_with_bias`); for the built-ins these are Numba kernels
  (``npae.kernels.elementwise``), pinned by tests/test_layers.py to the class's own function/derivative.

An activation object holds no per-call state: a layer given one works on its own copy, so one instance
may be handed to any number of layers.  (As a stand-alone layer it keeps its last input and output, like
every layer; a model refuses to contain the same layer object twice.)

Your own activation: subclass :class:`Activation`, set ``name``, and write ``function(z)`` and
``derivative(z, a)`` in plain NumPy; ``npae.register`` makes it loadable.  Example (``examples/custom_layer.py``)::

    @npae.register
    class Swish(npae.Activation):
        name = "swish"
        def function(self, z):        return z / (1 + np.exp(-z))          # f(z) = z sigma(z)
        def derivative(self, z, a):   s = 1 / (1 + np.exp(-z)); return s + a * (1 - s)
"""
import copy

import numpy as np

from .kernels import elementwise, sigmoid as sigmoid_kernels
from .layers.base import Layer


def check_fused_arguments(z, bias, *others):
    """The kernels index z (B, D) and bias (D,) without bounds checks: make sure the arrays line up
    (the fused methods are public, so a wrong call must be a ValueError, never a write out of bounds)."""
    if not (isinstance(z, np.ndarray) and z.ndim == 2 and z.flags.c_contiguous and z.dtype.kind == "f"):
        raise ValueError(f"z must be a C-contiguous 2-D float array, got {getattr(z, 'shape', type(z).__name__)}")
    if not (isinstance(bias, np.ndarray) and bias.shape == (z.shape[1],) and bias.dtype == z.dtype):
        raise ValueError(f"bias must be a {z.dtype} array of shape ({z.shape[1]},), got "
                         f"{getattr(bias, 'dtype', '')} {getattr(bias, 'shape', type(bias).__name__)}")
    for other in others:
        if not (isinstance(other, np.ndarray) and other.shape == z.shape and other.dtype == z.dtype
                and other.flags.c_contiguous):
            raise ValueError(f"every array must be a C-contiguous {z.dtype} array of shape {z.shape}, got "
                             f"{getattr(other, 'dtype', '')} {getattr(other, 'shape', type(other).__name__)}")


class Activation(Layer):
    """Base class.  An activation is two formulas in plain NumPy, ``function`` and ``derivative``:

        function(z) -> a           f(z), a new array of z's shape
        derivative(z, a) -> f'(z)  given the input z and the output a = f(z) (built-ins read only a)

    On its own, as a layer of a model (``npae.ReLU()``), it is these two lines on arrays of any shape.
    Fused into a layer (``Dense(..., activation="relu")``), the layer calls :meth:`apply_with_bias` and
    :meth:`backward_with_bias`, built here from the two formulas; the built-in classes replace them by
    Numba kernels that compute the same numbers in one pass (a test pins each kernel to its formulas).
    """

    _registry_kinds = ("layer", "activation")  # what npae.register files a subclass under (npae.registry)

    name = None

    def function(self, z):
        raise NotImplementedError(f"{type(self).__name__} must implement function(z)")

    def derivative(self, z, a):
        raise NotImplementedError(f"{type(self).__name__} must implement derivative(z, a)")

    # --- on its own, as a layer: the two formulas --------------------------------------------------
    def _forward(self, z):                                   # z (B, ...) any shape
        a = self.function(z)                                 # (B, ...)
        self.keep(z=z, a=a)
        return a

    def _backward(self, grad_a):                             # grad_a (B, ...) = dL/da
        return grad_a * self.derivative(self.kept.z, self.kept.a)   # (B, ...) = dL/dz

    # --- fused into a layer: z (B, D) pre-activations without the bias, bias (D,) ---------------------
    def apply_with_bias(self, z, bias):
        """a = f(z + b).  May overwrite z; the caller keeps both z and the returned a for the backward."""
        z += bias
        return np.ascontiguousarray(self.function(z), dtype=z.dtype)

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        """Return dL/dz = dL/da * f'(z) (written into ``grad_z`` or a new array) and add sum_B dL/dz to
        ``bias_grad`` (write it if ``accumulate`` is False).  z, a are what apply_with_bias left."""
        check_fused_arguments(grad_z, bias_grad, grad_a)
        np.multiply(grad_a, self.derivative(z, a), out=grad_z)
        elementwise.column_sums(grad_z, bias_grad, accumulate)
        return grad_z

    # --- configuration ---------------------------------------------------------------------------------
    def get_config(self):
        return {}

    def __repr__(self):
        options = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({options})"

    def copy(self):
        """An independent copy, with none of this object's kept or cached arrays."""
        duplicate = copy.copy(self)
        for name in ("_kept", "_buffers"):
            duplicate.__dict__.pop(name, None)
        return duplicate


class Identity(Activation):
    """f(z) = z;  f'(z) = 1.  Inside a layer, dL/dz *is* dL/da: the same array, not a copy."""

    name = "identity"

    def function(self, z):
        return z

    def derivative(self, z, a):
        return np.ones_like(a)

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_identity_forward(z, bias)
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(grad_a, bias_grad)
        elementwise.column_sums(grad_a, bias_grad, accumulate)
        return grad_a


class ReLU(Activation):
    """f(z) = max(0, z);  f'(z) = 1[z > 0] = 1[a > 0] (0 at the kink z = 0)."""

    name = "relu"

    def function(self, z):
        return np.maximum(z, 0)

    def derivative(self, z, a):
        return (a > 0).astype(a.dtype)

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_relu_forward(z, bias)
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        elementwise.relu_backward(a, grad_a, grad_z, bias_grad, accumulate)
        return grad_z


class LeakyReLU(Activation):
    """f(z) = z for z > 0, alpha z otherwise;  f'(z) = 1 or alpha.  alpha = ``negative_slope`` in (0, 1).

    The default alpha = 0.01 is PyTorch's (Keras uses 0.3).  Because alpha > 0, a has the sign of z and
    f' can be read from the output.
    """

    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.floating)) \
                or not 0 < negative_slope < 1:
            raise ValueError(f"negative_slope must be a number in (0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def function(self, z):
        return np.where(z > 0, z, self.negative_slope * z)

    def derivative(self, z, a):
        return np.where(a > 0, 1.0, self.negative_slope).astype(a.dtype)

    def get_config(self):
        return {"negative_slope": self.negative_slope}

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_leaky_relu_forward(z, bias, z.dtype.type(self.negative_slope))
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        elementwise.leaky_relu_backward(a, grad_a, grad_z, bias_grad, a.dtype.type(self.negative_slope), accumulate)
        return grad_z


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^{-z});  f'(z) = a (1 - a).

    Computed from e = exp(-|z|) as 1/(1+e) for z >= 0 and e/(1+e) for z < 0: no overflow for any z.
    A model trained with binary cross-entropy does not end in this layer: its loss takes the logits z
    and applies the sigmoid itself (``npae.BinaryCrossEntropy(from_logits=True)``, see npae.losses).
    """

    name = "sigmoid"

    def function(self, z):
        e = np.exp(-np.abs(z))                               # in (0, 1]: never overflows
        return np.where(z >= 0, 1, e) / (1 + e)

    def derivative(self, z, a):
        return a * (1 - a)

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        sigmoid_kernels.bias_sigmoid_forward(z, bias)
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        elementwise.sigmoid_backward(a, grad_a, grad_z, bias_grad, accumulate)
        return grad_z


class Tanh(Activation):
    """f(z) = tanh z = (e^z - e^{-z}) / (e^z + e^{-z});  f'(z) = 1 - a^2."""

    name = "tanh"

    def function(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_identity_forward(z, bias)
        np.tanh(z, out=z)
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        elementwise.tanh_backward(a, grad_a, grad_z, bias_grad, accumulate)
        return grad_z


class ELU(Activation):
    """f(z) = z for z > 0, alpha (e^z - 1) otherwise;  f'(z) = 1 or alpha e^z = a + alpha (Clevert et al. 2016).

    e^z - 1 is computed as ``expm1``: exact near 0, where the subtraction would cancel."""

    name = "elu"

    def __init__(self, alpha=1.0):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) \
                or not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite positive number, got {alpha!r}")
        self.alpha = float(alpha)

    def function(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def derivative(self, z, a):
        return np.where(a > 0, 1, a + self.alpha)

    def get_config(self):
        return {"alpha": self.alpha}

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_identity_forward(z, bias)
        negative_part = np.minimum(z, 0)
        np.expm1(negative_part, out=negative_part)
        negative_part *= z.dtype.type(self.alpha)
        np.copyto(z, negative_part, where=z <= 0)
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        elementwise.elu_backward(a, grad_a, grad_z, bias_grad, a.dtype.type(self.alpha), accumulate)
        return grad_z


class Softplus(Activation):
    """f(z) = log(1 + e^z) = max(z, 0) + log1p(e^{-|z|});  f'(z) = sigma(z) = 1 - e^{-a}.

    The rewritten form never overflows; f' = -expm1(-a) is exact even where a is tiny.
    """

    name = "softplus"

    def function(self, z):
        return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))

    def derivative(self, z, a):
        return -np.expm1(-a)

    def apply_with_bias(self, z, bias):
        check_fused_arguments(z, bias)
        elementwise.bias_identity_forward(z, bias)
        tail = np.empty_like(z)
        sigmoid_kernels.exp_negative_abs(z, tail)
        np.log1p(tail, out=tail)
        np.maximum(z, 0, out=z)
        z += tail
        return z

    def backward_with_bias(self, z, a, grad_a, grad_z, bias_grad, accumulate):
        check_fused_arguments(a, bias_grad, grad_a, grad_z)
        np.negative(a, out=grad_z)
        np.expm1(grad_z, out=grad_z)
        np.negative(grad_z, out=grad_z)  # sigma(z) = 1 - e^{-a}
        grad_z *= grad_a
        elementwise.column_sums(grad_z, bias_grad, accumulate)
        return grad_z


ACTIVATIONS = {cls.name: cls for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softplus)}


def activation_config(activation):
    """What a layer's ``get_config`` stores for its activation: the name, or {"name": ..., options}."""
    options = activation.get_config()
    return {"name": activation.name, **options} if options else activation.name


def get_activation(activation):
    """An Activation from a name (``"relu"``; ``"linear"`` and None mean identity), a config dict
    ({"name": "elu", "alpha": 0.5}), or an Activation instance (copied: see the module docstring).

    Names are looked up among the built-in activations and those registered with ``npae.register``.
    """
    from .registry import instantiate

    if isinstance(activation, Activation):
        return activation.copy()
    return instantiate("activation", "identity" if activation is None else activation, "activation",
                       aliases={"linear": "identity"})


def _register_built_ins():
    from .registry import register_all

    register_all(ACTIVATIONS.values())


_register_built_ins()
