"""Gradient checking by central finite differences, in float64.

For a scalar function L(theta), the central difference

    dL/dtheta_k ~ [L(theta + h e_k) - L(theta - h e_k)] / (2 h)

has an error of order h^2 (the h^1 terms of the two Taylor series cancel), against order h for the
one-sided difference; with h = 1e-6 in float64 the truncation error (~h^2 = 1e-12) and the rounding error
(~1e-16 / h = 1e-10) are both far below the 1e-6 agreement a correct analytic gradient reaches.
The result is the *worst relative error* over the arrays checked (the input and each parameter):

    ||analytic - numeric|| / max(||analytic||, ||numeric||, floor)       (Euclidean norms)

A per-array norm, rather than a per-entry ratio, because an entry that is nearly zero (a sigmoid output
equal to its target) is dominated by the ~1e-10 rounding error of the difference quotient, which says
nothing about the formula; ``floor`` (default 1e-8) stops an all-zero gradient from dividing 0 by 0.

What can be checked, through the same public contract that training uses:
* any layer, yours included: gradients w.r.t. its input and each parameter of L = sum(R * forward(x))
  for a fixed random R (so dL/d(output) = R), from ``zero_grad``, ``forward(x, training=True)`` and
  ``backward(R)``;
* a loss, w.r.t. the network's output (logits, for ``BinaryCrossEntropy(from_logits=True)``);
* a weight penalty, w.r.t. a list of weight matrices;
* any model, w.r.t. every parameter: the loss of one batch, from ``zero_grad`` and ``value_and_grad``.

A kink (ReLU at 0) has no derivative: inputs that put a pre-activation within ``step`` of it give a
large error that is no bug.  Draw inputs off the kinks (see tests/test_gradcheck.py).
Everything runs in float64; objects built in float32 are refused, since float32 differences are too
coarse to tell a right gradient from a slightly wrong one.
"""
import numpy as np

from . import _backend
from ._validation import check_seed, is_real_number
from .layers.base import Layer
from .losses import Loss
from .regularizers import WeightPenalty
from .training import Model


def relative_error(analytic, numeric, floor=1e-8):
    """||a - n|| / max(||a||, ||n||, floor), Euclidean norms over all entries."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric), floor)
    return float(np.linalg.norm(analytic - numeric) / scale)


def numerical_gradient(function, array, step=1e-6):
    """Central differences of the scalar ``function()`` w.r.t. every entry of ``array`` (changed in place
    and restored)."""
    gradient = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array (it perturbs the entries in place)")
    flat_gradient = gradient.reshape(-1)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + step
        plus = function()
        flat[k] = original - step
        minus = function()
        flat[k] = original
        flat_gradient[k] = (plus - minus) / (2 * step)
    return gradient


def _require_float64(what, arrays):
    for array in arrays:
        if np.asarray(array).dtype != np.float64:
            raise ValueError(f"gradcheck runs in float64: build {what} with dtype='float64' (got an array of "
                             f"dtype {np.asarray(array).dtype})")


def _check_layer(layer, x, rng, step, floor):
    x = np.array(x, dtype=np.float64, order="C")
    _require_float64(f"the {type(layer).__name__}", layer.parameters())
    output = layer.forward(x.copy(), training=False)
    weights = rng.standard_normal(np.shape(output))  # L = sum(R * out): dL/dout = R, a generic direction

    def loss():
        # + the layer's own penalty of that forward (ActivityRegularization): its backward adds its gradient
        value = float(np.sum(weights * layer.forward(x, training=False)))
        return value + (layer.activity_loss() if hasattr(layer, "activity_loss") else 0.0)

    layer.zero_grad()
    layer.forward(x.copy(), training=True)
    analytic_input = np.array(layer.backward(weights.copy()), dtype=np.float64)
    analytic_parameters = [np.array(g, dtype=np.float64) for g in layer.gradients()]
    errors = [relative_error(analytic_input, numerical_gradient(loss, x, step), floor)]
    for parameter, analytic in zip(layer.parameters(), analytic_parameters):
        errors.append(relative_error(analytic, numerical_gradient(loss, parameter, step), floor))
    return max(errors)


def _check_loss(loss, output, target, step, floor):
    output = np.array(output, dtype=np.float64, order="C")
    target = np.array(target, dtype=np.float64, order="C")
    analytic = np.array(loss.value_and_grad(output, target)[1])
    return relative_error(analytic, numerical_gradient(lambda: loss.value_and_grad(output, target)[0], output,
                                                       step), floor)


def _check_penalty(penalty, weights, step, floor):
    weights = [np.array(w, dtype=np.float64, order="C") for w in weights]
    gradients = [np.zeros_like(w) for w in weights]
    penalty.add_gradient(weights, gradients)
    return max(relative_error(g, numerical_gradient(lambda: penalty.value(weights), w, step), floor)
               for w, g in zip(weights, gradients))


def _check_model(model, x, y, rng, step, floor):
    _require_float64("the model", model.parameters())
    with model.noise_held_fixed(np.shape(x)[0], rng):  # a VAE's eps: one draw for every difference
        return _model_error(model, x, y, step, floor)


def _model_error(model, x, y, step, floor):

    def loss():
        return model.value_and_grad(x, y)  # the value; the gradients it adds are not read

    model.zero_grad()
    model.value_and_grad(x, y)
    analytic = [np.array(g) for g in model.gradients()]
    return max(relative_error(a, numerical_gradient(loss, p, step), floor)
               for p, a in zip(model.parameters(), analytic))


def gradcheck(target, x=None, y=None, *, jit=None, step=1e-6, floor=1e-8, seed=0):
    """Worst relative error between the analytic and the central-difference gradient.

    ``gradcheck(layer, x)``             any layer (npae's or yours), w.r.t. its input and parameters
    ``gradcheck(loss, output, y)``      a Loss w.r.t. the network's output
    ``gradcheck(penalty, weights)``     a WeightPenalty, w.r.t. a list of weight matrices
    ``gradcheck(model, x, y=None)``     any model, w.r.t. every parameter (the loss of batch x); a model
                                        that draws noise in its forward (a VAE's eps) draws it once, from
                                        ``seed``, and holds it for every difference

    ``jit``: True or False runs the Numba kernels or the NumPy references for this check only
    (None: the current setting).  A correct gradient gives ~1e-7 or less; 1e-4 or more means a bug.
    """
    if not (is_real_number(step) and step > 0):
        raise ValueError(f"step must be a finite number > 0 (the finite-difference step), got {step!r}")
    if not (is_real_number(floor) and floor > 0):
        raise ValueError(f"floor must be a finite number > 0, got {floor!r}")
    seed = check_seed(seed)
    use_jit = _backend.jit_enabled() if jit is None else jit
    with _backend.jit(use_jit):
        if isinstance(target, Model):
            return _check_model(target, x, y, np.random.default_rng(seed), step, floor)
        if isinstance(target, Loss):
            return _check_loss(target, x, y, step, floor)
        if isinstance(target, WeightPenalty):
            return _check_penalty(target, x, step, floor)
        if isinstance(target, Layer):
            if x is None:
                raise ValueError("gradcheck(layer, x) needs an input x")
            return _check_layer(target, x, np.random.default_rng(seed), step, floor)
    raise ValueError(f"gradcheck cannot check a {type(target).__name__}; expected a layer (a subclass of "
                     "npae.Layer), a Loss, a WeightPenalty or a model")
