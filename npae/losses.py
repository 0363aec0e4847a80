"""Losses: mean squared error and binary cross-entropy, both averaged over the batch *and* the features.

With B observations of D features, N = B D and

    MSE = (1/N) sum_{i,j} (p_ij - x_ij)^2                    dMSE/dp = (2/N)(p - x)
    BCE = -(1/N) sum_{i,j} [x log p + (1 - x) log(1 - p)]     dBCE/dp = (1/N)(p - x) / (p (1 - p))

This is the scale Keras and PyTorch report (per pixel for images), so a BCE of 0.0782 means the same
thing in all three.  Shapes: prediction p, target x and the returned gradient are (B, D).

With a sigmoid output p = sigma(z), BCE is computed from the logits z instead (``value_and_grad_from_logits``):

    BCE term = max(z, 0) - z x + log(1 + e^{-|z|})           dBCE/dz = (1/N)(sigma(z) - x)

The division by p (1 - p) cancels against sigma' = p (1 - p), so the gradient stays finite even where
p rounds to 0 or 1 (z beyond +-17 in float32), and no log(0) or overflow can ever occur.
"""
import numpy as np

from ._workspace import Workspace
from .kernels import losses as loss_kernels, sigmoid as sigmoid_kernels


def _check_pair(prediction, target):
    if prediction.shape != target.shape or prediction.ndim != 2:
        raise ValueError(f"prediction and target must be 2-D arrays of one shape, got {prediction.shape} "
                         f"and {target.shape}")


def check_probability_targets(target, argument="y"):
    """BCE is defined for targets in [0, 1]; anything else (e.g. pixels in 0..255) is a ValueError."""
    low, high = float(np.min(target)), float(np.max(target))
    if low < 0 or high > 1:
        raise ValueError(f"binary cross-entropy needs {argument} in [0, 1], got values in [{low:g}, {high:g}]"
                         + ("; divide 8-bit pixels by 255" if high > 1 else ""))


class Loss:
    """Base class.  ``value_and_grad(prediction, target)`` returns (mean loss, dL/dprediction)."""

    name = "loss"

    def __init__(self):
        self._workspace = Workspace()

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __call__(self, prediction, target):
        return self.value(prediction, target)

    def value(self, prediction, target):
        """The mean loss, a Python float."""
        return self.value_and_grad(prediction, target)[0]

    def _grad_buffer(self, prediction, grad_out):
        if grad_out is not None:
            return grad_out
        return self._workspace.get("grad", prediction.shape, prediction.dtype)


class MeanSquaredError(Loss):
    """MSE = (1/N) sum (p - x)^2, N = batch x features;  dL/dp = (2/N)(p - x)."""

    name = "mse"

    def value_and_grad(self, prediction, target, grad_out=None):
        """Return (loss, grad).  ``grad`` is a reusable buffer unless ``grad_out`` is given: copy to keep it."""
        _check_pair(prediction, target)
        grad = self._grad_buffer(prediction, grad_out)
        count = prediction.size
        total = loss_kernels.mean_squared_error(prediction, target, prediction.dtype.type(2.0 / count), grad)
        return total / count, grad


class BinaryCrossEntropy(Loss):
    """BCE = -(1/N) sum [x log p + (1 - x) log(1 - p)], N = batch x features (see the module docstring).

    ``value_and_grad(p, x)`` works on probabilities, clipped to [epsilon, 1 - epsilon] as Keras does;
    ``value_and_grad_from_logits(z, x)`` is the exact and stable form used when the output is a sigmoid.
    Targets must lie in [0, 1].
    """

    name = "bce"

    def __init__(self, epsilon=1e-7):
        super().__init__()
        self.epsilon = float(epsilon)

    def value_and_grad(self, prediction, target, grad_out=None):
        _check_pair(prediction, target)
        check_probability_targets(target)
        grad = self._grad_buffer(prediction, grad_out)
        count = prediction.size
        total = loss_kernels.binary_cross_entropy_numpy(
            prediction, target, prediction.dtype.type(self.epsilon), prediction.dtype.type(1.0 / count), grad)
        return total / count, grad

    def value_and_grad_from_logits(self, z, target, grad_out=None, check_targets=True):
        """Return (loss, dL/dz) for p = sigma(z): one fused pass (``npae.kernels.sigmoid``)."""
        _check_pair(z, target)
        if check_targets:
            check_probability_targets(target)
        grad = self._grad_buffer(z, grad_out)
        count = z.size
        total = sigmoid_kernels.sigmoid_bce_from_logits(z, target, z.dtype.type(1.0 / count), grad)
        return total / count, grad


LOSSES = {"mse": MeanSquaredError, "bce": BinaryCrossEntropy}
_ALIASES = {"mean_squared_error": "mse", "binary_crossentropy": "bce", "binary_cross_entropy": "bce"}


def get_loss(loss):
    """A Loss from a name in LOSSES (or its long name, e.g. ``"binary_crossentropy"``), or the instance given."""
    if isinstance(loss, Loss):
        return loss
    name = _ALIASES.get(loss, loss) if isinstance(loss, str) else loss
    if name not in LOSSES:
        raise ValueError(f"loss={loss!r} is not one of {sorted(LOSSES)}")
    return LOSSES[name]()
