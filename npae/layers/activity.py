"""ActivityRegularization: a penalty on the values a layer outputs, added to the model's loss.

The formulas are those of :mod:`npae.regularizers` (the weight penalty's, on activations, averaged over
the batch).  An L1 penalty on an autoencoder's code makes it a *sparse* autoencoder:
``npae.Autoencoder(sizes, activity_l1=1e-4)`` puts one of these after the code layer.

(Imported by npae.model, not by npae.layers: registering a class needs npae.training, which imports
npae.layers.)
"""
import numpy as np

from ..registry import register
from ..regularizers import WeightPenalty
from .base import Layer


class ActivityRegularization(Layer):
    """Passes its input through unchanged and adds l1 / l2 penalties on it to the model's loss.

    Shapes: h (B, ...) in, the same array's values out.  See the module docstring for the penalty:

        forward:   y = h,        activity_loss() = (1/B) [l1 sum |h| + l2 sum h^2]  of that forward
        backward:  dL/dh = dL/dy + (l1 sign(h) + 2 l2 h) / B           (sign(0) = 0: a subgradient)

    Put it after the layer whose output should be sparse (``Autoencoder(activity_l1=...)`` puts one after
    the code layer).  A model adds ``activity_loss()`` of every such layer to its loss, in training and
    in ``evaluate`` (see npae.training).  Its gradient is checked inside a model, ``npae.gradcheck(model,
    x)``: the layer check ``gradcheck(layer, x)`` differentiates sum(R * output) only, without the penalty.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.penalty = WeightPenalty(l1, l2)  # the same formulas, on activations (scaled by 1/B below)
        self._last_loss = 0.0
        self._kept = None

    def get_config(self):
        return {"l1": self.penalty.l1, "l2": self.penalty.l2}

    def activity_loss(self):
        """The penalty of the last forward, a float (0 before any)."""
        return self._last_loss

    def forward(self, x, training=False):
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"ActivityRegularization takes a batch (B, ...) with B >= 1, got shape {x.shape}")
        output = self.buffer("output", x.shape, x.dtype)
        np.copyto(output, x)
        self._last_loss = self.penalty.value([x]) / x.shape[0]
        if training:
            self._kept = output
        return output

    def backward(self, grad_output):
        if self._kept is None:
            raise RuntimeError("ActivityRegularization: backward called before a training forward")
        h = self._kept
        grad_output = np.asarray(grad_output)
        if grad_output.shape != h.shape:
            raise ValueError(f"ActivityRegularization: grad_output has shape {grad_output.shape}, expected {h.shape}")
        grad_input = self.buffer("grad_input", h.shape, h.dtype)
        np.copyto(grad_input, grad_output)
        rows = h.shape[0]
        WeightPenalty(self.penalty.l1 / rows, self.penalty.l2 / rows).add_gradient([h], [grad_input])
        return grad_input


register(ActivityRegularization)
