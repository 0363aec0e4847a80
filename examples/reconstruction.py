"""Reconstructions with a bottleneck of 8, 16 and 64 features (paper figures 4-8).

The paper's feed-forward autoencoder 784-q-784: Dense(q, ReLU) squeezes a 28x28 digit into q numbers,
Dense(784, sigmoid) rebuilds it; binary cross-entropy, Adam, batch 256, 30 epochs.  The smaller q, the
blurrier the digits come back; with q = 8 a few even come back as another digit.  Then the q = 16
model trained with the mean squared error instead: both losses work.
Takes 1-2 minutes on 2 cores (four models, 30 epochs each); writes reconstruction.png.

Run:  NPAE_DATA=/path/to/data python examples/reconstruction.py
      (no data at hand: it runs on the sample shipped with npae, 6,000 training images, and says so)
"""
import sys

import matplotlib

matplotlib.use("Agg")  # write a file, no window
import matplotlib.pyplot as plt

import npae
from npae.datasets import find_or_sample

found = find_or_sample("mnist")                    # the full MNIST, or offline the embedded sample
print(found.message, file=sys.stderr)              # where the data came from (a NOTICE for the sample)
(x_train, _), (x_test, _) = found.data             # float32 in [0, 1], shape (N, 784)
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)
digits = x_test[:10]                               # the row of ten test digits of the paper

rows = {"original": digits}
for q, loss in [(8, "bce"), (16, "bce"), (64, "bce"), (16, "mse")]:
    model = npae.Autoencoder([784, q], loss=loss, seed=0)          # 784-q-784, ReLU then sigmoid
    history = model.fit(x_train, epochs=EPOCHS, batch_size=256, verbose=0)
    # The paper's reconstruction error: MSE per pixel, averaged here over the test images.
    test_mse = model.reconstruction_error(x_test).mean()
    print(f"q = {q:2d}, trained with {loss.upper()}: test MSE {test_mse:.5f} per pixel "
          f"({sum(history.history['seconds']):.0f} s)")
    rows[f"q={q}, {loss.upper()}"] = model.reconstruct(digits)

# One row of images per model: the originals on top.
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 1.1 * len(rows)))
for axes_row, (label, images) in zip(axes, rows.items()):
    for ax, image in zip(axes_row, images):
        ax.imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes_row[0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.savefig("reconstruction.png", bbox_inches="tight")
plt.close(fig)                                     # free it: pyplot keeps every open figure alive
print("wrote reconstruction.png")
