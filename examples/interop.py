"""From npae to PyTorch and back, and Keras' weight lists (no data needed; needs PyTorch).

You understand a model here; to train it on a GPU, or on many machines, take it to PyTorch:
npae.interop.to_torch gives an nn.Module with the same weights and the same outputs.  And a Keras
model's get_weights() list loads into npae as it is, because npae stores its layers as Keras does
(Dense W of shape (in, out), then the bias).   Run:  python examples/interop.py   (a few seconds)
"""
import sys

import numpy as np

try:
    import torch
except ImportError:                      # PyTorch is optional for npae, and needed here
    sys.exit("interop.py needs PyTorch: pip install torch   (CPU build: see pytorch.org)")

import npae
from npae import interop

rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (256, 784))
model = npae.Autoencoder([784, 64], dtype="float64", seed=0)     # the paper's 784-64-784
model.fit(x, epochs=2, verbose=0)

# npae -> PyTorch: same outputs (forward ends in the sigmoid that npae's BCE loss applies)
module = interop.to_torch(model)
print(module)
with torch.no_grad():
    difference = np.abs(module(torch.from_numpy(x)).numpy() - model.reconstruct(x)).max()
print(f"largest difference between PyTorch's and npae's reconstructions: {difference:.1e}")

# Train on in PyTorch, with logits and BCEWithLogitsLoss, as npae did
logits_module = interop.to_torch(model, logits=True)
optimizer = torch.optim.Adam(logits_module.parameters(), lr=1e-3, eps=1e-7)
for _ in range(5):
    optimizer.zero_grad()
    batch = torch.from_numpy(x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits_module(batch), batch)
    loss.backward()
    optimizer.step()
print(f"PyTorch loss after 5 more steps: {loss.item():.4f} (npae's before them: {model.evaluate(x):.4f})")

# PyTorch -> npae: from_torch fuses Linear + activation into npae's Dense
back = interop.from_torch(logits_module, loss=npae.BinaryCrossEntropy(from_logits=True))
print(f"back in npae: {back.evaluate(x):.4f}")

# Keras: model.get_weights() of Dense(64, relu), Dense(784) is [W1 (784, 64), b1, W2 (64, 784), b2],
# exactly npae's order and shapes; here we take them from the torch layers (weight = W^T there).
keras_style = [logits_module.encoder[0].weight.detach().numpy().T, logits_module.encoder[0].bias.detach().numpy(),
               logits_module.decoder[0].weight.detach().numpy().T, logits_module.decoder[0].bias.detach().numpy()]
print("Keras-style shapes:", [w.shape for w in keras_style])
model.set_weights(keras_style)
print(f"loaded into npae with set_weights: {model.evaluate(x):.4f}")
