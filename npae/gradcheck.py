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

What can be checked: a layer (Dense, TiedDense or an activation: gradients w.r.t. its input and each
parameter of L = sum(R * forward(x)) for a fixed random R), a loss (w.r.t. the prediction, or the
logits), a weight penalty, and a whole Autoencoder (every parameter, the loss of one training batch).
Everything runs in float64; objects built in float32 are refused, since float32 differences are too
coarse to tell a right gradient from a slightly wrong one.
"""
import numpy as np

from . import _backend
from .activations import Activation
from .layers import Dense
from .losses import BinaryCrossEntropy, Loss
from .regularizers import WeightPenalty


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


def _require_float64(*arrays):
    for array in arrays:
        if array.dtype != np.float64:
            raise ValueError(f"gradcheck runs in float64; got an array of dtype {array.dtype}")


def _check_layer(layer, x, rng, step, floor):
    x = np.array(x, dtype=np.float64, order="C")
    _require_float64(x, *layer.parameters())
    output = layer.forward(x.copy(), training=True)
    weights = rng.standard_normal(output.shape)  # L = sum(R * out): dL/dout = R, a generic direction

    def loss():
        return float(np.sum(weights * layer.forward(x, training=False)))

    layer.forward(x, training=True)
    analytic_input = layer.backward(weights.copy())
    analytic_parameters = [g.copy() for g in layer.gradients()]
    if isinstance(layer, Dense) and layer.tied_users:
        raise ValueError("check a tied pair through the whole model (gradcheck(autoencoder, x))")
    errors = [relative_error(analytic_input, numerical_gradient(loss, x, step), floor)]
    for parameter, analytic in zip(layer.parameters(), analytic_parameters):
        errors.append(relative_error(analytic, numerical_gradient(loss, parameter, step), floor))
    return max(errors)


def _check_loss(loss, prediction, target, logits, step, floor):
    prediction = np.array(prediction, dtype=np.float64, order="C")
    target = np.array(target, dtype=np.float64, order="C")
    if logits:
        if not isinstance(loss, BinaryCrossEntropy):
            raise ValueError("logits=True applies to BinaryCrossEntropy only")
        _, analytic = loss.value_and_grad_from_logits(prediction, target)
        analytic = analytic.copy()
        value = lambda: loss.value_and_grad_from_logits(prediction, target)[0]  # noqa: E731
    else:
        _, analytic = loss.value_and_grad(prediction, target)
        analytic = analytic.copy()
        value = lambda: loss.value_and_grad(prediction, target)[0]  # noqa: E731
    return relative_error(analytic, numerical_gradient(value, prediction, step), floor)


def _check_penalty(penalty, weights, step, floor):
    weights = [np.array(w, dtype=np.float64, order="C") for w in weights]
    gradients = [np.zeros_like(w) for w in weights]
    penalty.add_gradient(weights, gradients)
    return max(relative_error(g, numerical_gradient(lambda: penalty.value(weights), w, step), floor)
               for w, g in zip(weights, gradients))


def _check_model(model, x, y, step, floor):
    from .model import Autoencoder

    if not isinstance(model, Autoencoder):
        raise ValueError("a whole-model check needs an npae.Autoencoder")
    if model.dtype != np.float64:
        raise ValueError("gradcheck runs in float64: build the model with dtype='float64'")
    x, y = model._check_inputs(x, y)

    def loss():
        return model.evaluate(x, y, batch_size=x.shape[0])

    # The analytic gradients of one training batch, taken without the optimiser step.
    output = model.network.forward(x, training=True, logits=model._logits_loss)
    if model._logits_loss:
        _, grad = model.loss_.value_and_grad_from_logits(output, y, check_targets=False)
    else:
        _, grad = model.loss_.value_and_grad(output, y)
    model.network.backward(grad, logits=model._logits_loss, need_input_grad=False)
    if model.penalty_:
        model.penalty_.add_gradient(model._weights, model._weight_grads)
    analytic = [g.copy() for g in model.network.gradients()]
    return max(relative_error(a, numerical_gradient(loss, p, step), floor)
               for p, a in zip(model.network.parameters(), analytic))


def gradcheck(target, x=None, y=None, *, jit=None, logits=False, step=1e-6, floor=1e-8, seed=0):
    """Worst relative error between the analytic and the central-difference gradient.

    ``gradcheck(layer, x)``            a Dense/TiedDense/activation, w.r.t. its input and parameters
    ``gradcheck(loss, prediction, y)`` a Loss w.r.t. the prediction (``logits=True``: the BCE logits path)
    ``gradcheck(penalty, weights)``    a WeightPenalty, w.r.t. a list of weight matrices
    ``gradcheck(model, x, y=None)``    an Autoencoder, w.r.t. every parameter (the loss of batch x)

    ``jit``: True or False runs the Numba kernels or the NumPy references for this check only
    (None: the current setting).  A correct gradient gives ~1e-7 or less; 1e-4 or more means a bug.
    """
    from .model import Autoencoder

    use_jit = _backend.jit_enabled() if jit is None else jit
    with _backend.jit(use_jit):
        if isinstance(target, Autoencoder):
            return _check_model(target, x, y, step, floor)
        if isinstance(target, Loss):
            return _check_loss(target, x, y, logits, step, floor)
        if isinstance(target, WeightPenalty):
            return _check_penalty(target, x, step, floor)
        if isinstance(target, (Dense, Activation)):
            return _check_layer(target, x, np.random.default_rng(seed), step, floor)
    raise ValueError(f"gradcheck cannot check a {type(target).__name__}; expected a layer, activation, "
                     "loss, WeightPenalty or Autoencoder")
