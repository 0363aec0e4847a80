"""Your own layer and your own activation, trained inside an npae model (no data needed).

A layer is four methods (npae/layers/base.py): forward, backward (ADD dL/dtheta to the gradients,
return dL/dx), parameters and gradients.  An activation is two: function(z) and derivative(z, a).
npae.gradcheck tells you whether your backward is right before you train anything, and
npae.register lets a saved model name your classes so that npae.load can rebuild it.
Takes a few seconds.   Run:  python examples/custom_layer.py
"""
import numpy as np

import npae


@npae.register
class Scale(npae.Layer):
    """y = x * s with one learned scale per feature.   dL/ds = sum over the batch of dL/dy * x,
    dL/dx = dL/dy * s."""

    def __init__(self, size, dtype="float64"):
        self.size, self.dtype = size, dtype
        self.scale = self.new_parameter((size,), dtype, lambda: np.ones(size))
        self.scale_grad = self.new_gradient(self.scale)

    def get_config(self):                    # what npae.load passes back to __init__
        return {"size": self.size, "dtype": self.dtype}

    def parameters(self):
        return [self.scale]

    def gradients(self):
        return [self.scale_grad]

    def forward(self, x, training=False):
        if training:
            self.x = x                       # backward needs the input
        return x * self.scale

    def backward(self, grad_output):
        self.scale_grad += np.sum(grad_output * self.x, axis=0)   # += : gradients accumulate
        return grad_output * self.scale


@npae.register
class Swish(npae.Activation):
    """f(z) = z sigma(z) (Ramachandran et al. 2017);  f'(z) = sigma(z) + f(z) (1 - sigma(z))."""

    name = "swish"                           # how configs (and Dense(..., activation="swish")) name it

    def function(self, z):
        return z / (1 + np.exp(-z))

    def derivative(self, z, a):
        sigma = 1 / (1 + np.exp(-z))
        return sigma + a * (1 - sigma)


rng = np.random.default_rng(0)
x = 1 / (1 + np.exp(-rng.normal(size=(500, 3)) @ rng.normal(size=(3, 20))))   # 20 features, 3 underlying
print("gradcheck Scale:", npae.gradcheck(Scale(20), x[:4]))     # ~1e-10: backward is right
print("gradcheck Swish:", npae.gradcheck(Swish(), x[:4] - 0.5))

model = npae.Autoencoder(encoder=[npae.Dense(20, 8, activation="swish", dtype="float64", rng=1), Scale(8)],
                         decoder=[npae.Dense(8, 20, dtype="float64", rng=2)],
                         loss=npae.BinaryCrossEntropy(from_logits=True), seed=0)
print("gradcheck of the whole model:", npae.gradcheck(model, x[:4]))
history = model.fit(x, epochs=30, batch_size=50, verbose=0)
print(f"loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}")

model.save("custom.npz")
again = npae.load("custom.npz")                                 # rebuilds Scale and Swish by name
assert np.array_equal(again.reconstruct(x), model.reconstruct(x))
print("saved and loaded custom.npz: same reconstructions")
