"""Losses: mean squared error and binary cross-entropy, both averaged over the batch *and* the features.

With B observations of D values each (D = 784 for an MNIST image, or H W C for an image batch), N = B D:

    MSE = (1/N) sum (p - x)^2                              dMSE/dp = (2/N)(p - x)
    BCE = -(1/N) sum [x log p + (1 - x) log(1 - p)]         dBCE/dp = (1/N)(p - x) / (p (1 - p))

This is the scale Keras and PyTorch report (per pixel for images), so a BCE of 0.0726 means the same
thing in all three.  Shapes: the network's output, the target x and the returned gradient all have one
shape, (B, ...).

BCE from logits.  A network trained with BCE ends in logits z, and the loss applies the sigmoid itself
(Keras' ``BinaryCrossentropy(from_logits=True)``, PyTorch's ``BCEWithLogitsLoss``):

    BCE term = max(z, 0) - z x + log(1 + e^{-|z|})          dBCE/dz = (1/N)(sigma(z) - x)

The sigmoid is part of the loss because that is where it is exact and cheap: the division by p (1 - p)
cancels against sigma' = p (1 - p), so the gradient stays finite where p rounds to 1 (z beyond about +17
in float32: 1 - p is then 0 and log(1 - p) would be log 0), and no log(0) or overflow can ever occur.
The model's *prediction* is then sigma(z): :meth:`Loss.to_prediction` maps the network's output to it
(the identity for every other loss), and ``model.predict`` / ``reconstruct`` apply it.
"""
import numpy as np

from .kernels import losses as loss_kernels, sigmoid as sigmoid_kernels


def _check_pair(output, target):
    if (type(output) is np.ndarray and type(target) is np.ndarray and output.ndim == 2
            and output.shape == target.shape and output.dtype == target.dtype and output.dtype.kind == "f"
            and output.flags.c_contiguous and target.flags.c_contiguous and output.size):
        return output, target  # what a model passes at every batch: nothing to convert
    output, target = np.asarray(output), np.asarray(target)
    if output.shape != target.shape or output.ndim < 1 or output.size == 0:
        raise ValueError(f"the output and the target must be non-empty arrays of one shape, got {output.shape} "
                         f"and {target.shape}")
    if not np.issubdtype(output.dtype, np.floating):
        raise ValueError(f"the output must be a float array, got dtype {output.dtype}")
    if not (np.issubdtype(target.dtype, np.floating) or np.issubdtype(target.dtype, np.integer)):
        raise ValueError(f"the target must hold real numbers, got dtype {target.dtype}")
    dtype = output.dtype
    rows = output.shape[0]
    # The kernels work on C-contiguous 2-D arrays of one dtype: (B, everything else).
    return (np.ascontiguousarray(output, dtype=dtype).reshape(rows, -1),
            np.ascontiguousarray(target, dtype=dtype).reshape(rows, -1))


def check_probability_targets(target, argument="y"):
    """BCE is defined for targets in [0, 1]; anything else (e.g. pixels in 0..255) is a ValueError."""
    low, high = float(np.min(target)), float(np.max(target))
    if low < 0 or high > 1:
        hint = "divide 8-bit pixels by 255, or " if high > 1 and low >= 0 else ""
        raise ValueError(f"binary cross-entropy needs {argument} in [0, 1], got values in [{low:g}, {high:g}]; "
                         f"{hint}use loss='mse' and an output layer without a sigmoid for data outside [0, 1] "
                         "(Autoencoder(sizes, loss='mse', output_activation='identity'); with layers: a last "
                         "layer with activation='identity')")


class Loss:
    """Base class.  ``value_and_grad(output, target)`` returns (mean loss, dL/doutput)."""

    _registry_kinds = ("loss",)  # what npae.register files a subclass under (npae.registry)

    name = None

    def __repr__(self):
        options = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({options})"

    def get_config(self):
        return {}

    def __call__(self, output, target):
        return self.value(output, target)

    def value(self, output, target):
        """The mean loss, a Python float."""
        return self.value_and_grad(output, target)[0]

    def value_and_grad(self, output, target, grad_out=None, check_targets=True):
        """(mean loss, dL/doutput).  The gradient is written into ``grad_out`` when given (same shape and
        dtype as output, C-contiguous), else into a new array.  ``check_targets=False`` skips the
        :meth:`check_targets` scan (a model checks its data once per fit, not once per batch)."""
        raise NotImplementedError

    def to_prediction(self, output):
        """The model's prediction from the network's output: the output itself, for this loss."""
        return output

    def check_targets(self, target, argument="y"):
        """Raise a ValueError if ``target`` holds values this loss is not defined for (default: none)."""

    def _gradient_array(self, output, grad_out, shape):
        """Where the kernel writes dL/doutput: ``grad_out`` (checked: the kernels trust its size) seen as the
        2-D ``output``, or a new array."""
        if grad_out is None:
            return np.empty(output.shape, dtype=output.dtype)
        if not (isinstance(grad_out, np.ndarray) and grad_out.shape == tuple(shape) and grad_out.dtype == output.dtype
                and grad_out.flags.c_contiguous and grad_out.flags.writeable):
            raise ValueError(f"grad_out must be a writeable C-contiguous {output.dtype} array of shape {tuple(shape)}, "
                             f"got {getattr(grad_out, 'dtype', type(grad_out).__name__)} {getattr(grad_out, 'shape', '')}")
        return grad_out.reshape(output.shape)


class MeanSquaredError(Loss):
    """MSE = (1/N) sum (p - x)^2, N = every value of the batch;  dL/dp = (2/N)(p - x)."""

    name = "mse"

    def value_and_grad(self, output, target, grad_out=None, check_targets=True):
        shape = np.shape(output)
        prediction, target = _check_pair(output, target)
        grad = self._gradient_array(prediction, grad_out, shape)
        count = prediction.size
        total = loss_kernels.mean_squared_error(prediction, target, prediction.dtype.type(2.0 / count), grad)
        return total / count, grad.reshape(shape)


class BinaryCrossEntropy(Loss):
    """BCE = -(1/N) sum [x log p + (1 - x) log(1 - p)], N = every value of the batch (module docstring).

    from_logits : False (default): the output is a probability p, clipped to [epsilon, 1 - epsilon] as
        Keras does.  True: the output is a logit z and p = sigma(z) (exact and stable; what a model
        trained with BCE uses, see the module docstring).
    epsilon : the clipping of probabilities (unused from logits).
    Targets must lie in [0, 1].
    """

    name = "bce"

    def __init__(self, from_logits=False, epsilon=1e-7):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise ValueError(f"from_logits must be True or False, got {from_logits!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon < 0.5:
            raise ValueError(f"epsilon must be a number in (0, 0.5), got {epsilon!r}")
        self.from_logits = bool(from_logits)
        self.epsilon = float(epsilon)

    def get_config(self):
        return {"from_logits": self.from_logits, "epsilon": self.epsilon}

    def check_targets(self, target, argument="y"):
        check_probability_targets(target, argument)

    def to_prediction(self, output):
        """sigma(z) from logits (a new array); probabilities are returned as they are."""
        if not self.from_logits:
            return output
        probabilities = np.array(output, order="C", copy=True)
        rows = probabilities.reshape(probabilities.shape[0], -1)
        sigmoid_kernels.bias_sigmoid_forward(rows, np.zeros(rows.shape[1], dtype=rows.dtype))
        return probabilities

    def value_and_grad(self, output, target, grad_out=None, check_targets=True):
        """(loss, gradient) w.r.t. the output: dL/dz for logits, dL/dp for probabilities."""
        shape = np.shape(output)
        output, target = _check_pair(output, target)
        if check_targets:
            self.check_targets(target, "the target")
        grad = self._gradient_array(output, grad_out, shape)
        count = output.size
        scale = output.dtype.type(1.0 / count)
        if self.from_logits:
            total = sigmoid_kernels.sigmoid_bce_from_logits(output, target, scale, grad)
        else:
            total = loss_kernels.binary_cross_entropy_numpy(output, target, output.dtype.type(self.epsilon),
                                                            scale, grad)
        return total / count, grad.reshape(shape)


LOSSES = {"mse": MeanSquaredError, "bce": BinaryCrossEntropy}
_ALIASES = {"mean_squared_error": "mse", "binary_crossentropy": "bce", "binary_cross_entropy": "bce"}


def get_loss(loss, **options):
    """A Loss from a name in LOSSES (or its long name, e.g. ``"binary_crossentropy"``), a config dict
    ({"name": "bce", "from_logits": True}), or the instance given.  ``options`` go to the constructor."""
    from .registry import instantiate

    if isinstance(loss, Loss):
        return loss
    return instantiate("loss", loss, "loss", aliases=_ALIASES, **options)


def loss_config(loss):
    """What a model's ``get_config`` stores for its loss: {"name": ..., options}."""
    return {"name": loss.name, **loss.get_config()}


def _register_built_ins():
    from .registry import register_all

    register_all(LOSSES.values())


_register_built_ins()
