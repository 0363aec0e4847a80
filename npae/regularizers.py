"""Penalties added to the loss: on the weights (paper section 2.4), and on a layer's activity (sparse codes).

Weight penalty, applied to every weight matrix of the model, never to biases, as Keras'
``kernel_regularizer`` does (with tied weights the shared matrix is counted once: it is one parameter):

    penalty(W) = l1 sum |W| + l2 sum W^2          d penalty / dW = l1 sign(W) + 2 l2 W

Activity penalty, on the *values* a layer outputs (Keras' ``activity_regularizer``, or its
``ActivityRegularization`` layer): the same formula on the batch of activations h (B, k), averaged over
the B observations as the loss is (Keras divides it by the batch size too):

    penalty(h) = (1/B) sum_b [l1 sum_j |h_bj| + l2 sum_j h_bj^2]      dpenalty/dh = (l1 sign(h) + 2 l2 h) / B

An L1 activity penalty on the code makes a *sparse* autoencoder: most code units are pushed to 0 for
any one image (``npae.Autoencoder(..., activity_l1=1e-4)``, the Keras blog's ``l1(10e-5)``).

The activity penalty is the layer ``npae.layers.activity.ActivityRegularization``.  Both penalties are
part of the reported loss, like Keras' ``loss`` during ``fit``.
"""
import numpy as np

from ._validation import is_real_number


class WeightPenalty:
    """l1 / l2 penalty on a list of weight matrices."""

    def __init__(self, l1=0.0, l2=0.0):
        for argument, value in (("l1", l1), ("l2", l2)):
            if not is_real_number(value) or value < 0:
                raise ValueError(f"{argument} must be a finite number >= 0, got {value!r}")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __bool__(self):
        return self.l1 > 0 or self.l2 > 0

    def __repr__(self):
        return f"WeightPenalty(l1={self.l1}, l2={self.l2})"

    def value(self, weights):
        """l1 sum |W| + l2 sum W^2 over all matrices, accumulated in float64."""
        total = 0.0
        for W in weights:
            if self.l1:
                total += self.l1 * float(np.sum(np.abs(W), dtype=np.float64))
            if self.l2:
                total += self.l2 * float(np.sum(np.square(W), dtype=np.float64))
        return total

    def add_gradient(self, weights, gradients):
        """gradient += l1 sign(W) + 2 l2 W, in place, for each (W, dW) pair.  (sign(0) = 0: a subgradient.)"""
        for W, grad in zip(weights, gradients):
            if self.l1:
                grad += W.dtype.type(self.l1) * np.sign(W)
            if self.l2:
                grad += W.dtype.type(2 * self.l2) * W

