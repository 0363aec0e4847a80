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
    in ``evaluate`` (see npae.training); ``npae.gradcheck(layer, x)`` includes the penalty too.
    """

    def _forward(self, h):                                   # h (B, ...)
        self._last_loss = self.penalty.value([h]) / h.shape[0]
        self.keep(h=h)
        return h                                             # (B, ...) the same values

    def _backward(self, grad_y):                             # grad_y (B, ...) = dL/dy
        h, l1, l2 = self.kept.h, self.penalty.l1, self.penalty.l2
        return grad_y + (l1 * np.sign(h) + 2 * l2 * h) / h.shape[0]   # (B, ...) = dL/dh

    def __init__(self, l1=0.0, l2=0.0):
        self.penalty = WeightPenalty(l1, l2)  # the same formulas, on activations (scaled by 1/B above)
        self._last_loss = 0.0

    def get_config(self):
        return {"l1": self.penalty.l1, "l2": self.penalty.l2}

    def activity_loss(self):
        """The penalty of the last forward, a float (0 before any)."""
        return self._last_loss

    def output_shape(self, input_shape):
        return tuple(input_shape)


register(ActivityRegularization)
