"""Your own layer and your own activation, trained inside an npae model (no data needed, a few seconds).

A layer writes its math (npae/layers/base.py): _forward (keep what backward needs with self.keep) and
_backward (ADD dL/dtheta to the gradients, return dL/dx), plus parameters, gradients and get_config.
An activation is two methods: function(z) and derivative(z, a).  npae.gradcheck says whether a backward
is right before anything trains; npae.register lets npae.load rebuild a saved model that uses them.
"""
import tempfile

import numpy as np

import npae


@npae.register
class Scale(npae.Layer):
    """y = x * s, one learned scale per feature.   dL/ds = sum_B dL/dy * x,   dL/dx = dL/dy * s."""

    def __init__(self, size, dtype="float64"):
        self.size, self.dtype = size, np.dtype(dtype)
        self.s = self.new_parameter((size,), self.dtype, lambda: np.ones(size))
        self.ds = self.new_gradient(self.s)

    def parameters(self): return [self.s]
    def gradients(self): return [self.ds]
    def get_config(self): return {"size": self.size, "dtype": self.dtype.name}   # what npae.load passes back

    def _forward(self, x):                      # x (B, size), checked and cast by the base class
        self.keep(x=x)                          # kept only in a training forward
        return x * self.s

    def _backward(self, grad_y):
        self.ds += (grad_y * self.kept.x).sum(axis=0)   # += : gradients accumulate
        return grad_y * self.s


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
