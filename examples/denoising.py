"""Clean noisy digits with a denoising autoencoder (paper section 3.4, figure 12).

The inputs are MNIST digits with strong Gaussian noise, x + 0.55 N(0, 1) per pixel (not clipped); the
targets are the clean digits.  The FFA 784-32-784 cannot store the noise in 32 numbers, so it learns
to return the digit.  We print the MSE to the clean images before and after, and save a figure of
noisy / clean / denoised test digits to denoising.png.  Takes about 30-60 s on 2 cores.

Run:  NPAE_DATA=/path/to/data python examples/denoising.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import sys

import numpy as np
from matplotlib.figure import Figure

import npae
from npae.datasets import find_or_sample

found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, _) = found.data
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)
rng = np.random.default_rng(0)
noisy_train = x_train + np.float32(0.55) * rng.standard_normal(x_train.shape, dtype=np.float32)
noisy_test = x_test + np.float32(0.55) * rng.standard_normal(x_test.shape, dtype=np.float32)

# Noisy inputs, clean targets.  BCE is fine: it needs the *targets* in [0, 1], and they are.
model = npae.Autoencoder([784, 32], activation="relu", output_activation="sigmoid", loss="bce", seed=0)
history = model.fit(noisy_train, x_train, epochs=EPOCHS, batch_size=150, validation_split=0.2, verbose=0)
print(f"validation BCE after {EPOCHS} epochs: {history.history['val_loss'][-1]:.4f}")

denoised = model.reconstruct(noisy_test)
for name, images in [("noisy input", noisy_test), ("noisy input clipped to [0, 1]", np.clip(noisy_test, 0, 1)),
                     ("denoised by the autoencoder", denoised)]:
    print(f"MSE to the clean test images, {name:<30} {np.mean((images - x_test) ** 2):.4f}")

# Ten test digits: noisy (top), clean (middle), denoised (bottom).
figure = Figure(figsize=(10, 3.2))
for row, (title, images) in enumerate([("noisy", noisy_test), ("clean", x_test), ("denoised", denoised)]):
    for column in range(10):
        axes = figure.add_subplot(3, 10, 10 * row + column + 1)
        axes.imshow(images[column].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes.set_axis_off()
        if column == 0:
            axes.set_title(title, loc="left", fontsize=9)
figure.savefig("denoising.png", dpi=100)
print("saved denoising.png")
