"""Your own layer and your own activation, trained inside an npae model (no data needed).

A layer is written the way npae's own Dense is (npae/layers/dense.py): its math in ``_forward`` and
``_backward``, with the bookkeeping (input checks, what is kept for backward, gradient shapes) done by
``npae.Layer``.  ``_backward`` ADDS dL/dtheta to the gradients and returns dL/dx.  An activation is two
formulas: function(z) and derivative(z, a).  npae.gradcheck tells you whether your backward is right
before you train anything, and npae.register lets a saved model name your classes so that npae.load
can rebuild it.  Takes a few seconds.   Run:  python examples/custom_layer.py
"""
import tempfile

import numpy as np

import npae


@npae.register
class Scale(npae.Layer):
    """y = x * s, one learned scale per feature.
    Forward:  y = x s                       x, y (B, D)   s (D,)
    Backward: dL/ds += sum_B dL/dy * x      dL/dx = dL/dy * s
    """

    def _forward(self, x):                   # x (B, D), already checked and cast to self.dtype
        self.keep(x=x)                       # what backward needs (kept only in a training forward)
        return x * self.s                    # (B, D)

    def _backward(self, grad_y):             # grad_y (B, D) = dL/dy, shape already checked
        self.ds += (grad_y * self.kept.x).sum(axis=0)   # (D,)   += : gradients accumulate
        return grad_y * self.s               # (B, D) = dL/dx

    def __init__(self, size, dtype="float64"):
        self.size, self.dtype = size, np.dtype(dtype)
        self.s = self.new_parameter((size,), self.dtype, lambda: np.ones(size))
        self.ds = self.new_gradient(self.s)

    def parameters(self):
        return [self.s]

    def gradients(self):
        return [self.ds]

    def get_config(self):                    # what npae.load passes back to __init__
        return {"size": self.size, "dtype": self.dtype.name}

    def output_shape(self, input_shape):     # per-sample shape in -> out (a ValueError if it cannot take it)
        if tuple(input_shape) != (self.size,):
            raise ValueError(f"{self!r} takes x of shape (batch, {self.size}), got per-sample shape {input_shape}")
        return (self.size,)


@npae.register
class Swish(npae.Activation):
    """f(z) = z sigma(z) (Ramachandran et al. 2017);  f'(z) = sigma(z) + f(z) (1 - sigma(z))."""
    name = "swish"                              # how configs (and Dense(..., activation="swish")) name it

    def function(self, z): return z / (1 + np.exp(-z))
    def derivative(self, z, a): return 1 / (1 + np.exp(-z)) + a * (1 - 1 / (1 + np.exp(-z)))


rng = np.random.default_rng(0)                                   # run: python examples/custom_layer.py
x = 1 / (1 + np.exp(-rng.normal(size=(500, 3)) @ rng.normal(size=(3, 20))))   # 20 features, 3 underlying
print("gradcheck Scale:", npae.gradcheck(Scale(20), x[:4]), " Swish:", npae.gradcheck(Swish(), x[:4] - 0.5))
model = npae.Autoencoder(encoder=[npae.Dense(20, 8, activation="swish", dtype="float64", rng=1), Scale(8)],
                         decoder=[npae.Dense(8, 20, dtype="float64", rng=2)],
                         loss=npae.BinaryCrossEntropy(from_logits=True), seed=0)
print("gradcheck of the whole model:", npae.gradcheck(model, x[:4]))          # ~1e-10: backward is right
history = model.fit(x, epochs=30, batch_size=50, verbose=0)
print(f"loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}")
with tempfile.TemporaryDirectory() as folder:                    # leaves nothing in your working directory
    model.save(f"{folder}/custom.npz")
    again = npae.load(f"{folder}/custom.npz")        # rebuilds Scale and Swish by name
assert np.array_equal(again.reconstruct(x), model.reconstruct(x))
print("saved and loaded: same reconstructions")
