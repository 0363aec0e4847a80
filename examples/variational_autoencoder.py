"""A variational autoencoder with PyTorch's examples/vae set-up: 784-400-20, 10 epochs.

The encoder gives mu and log sigma^2 of q(z|x) (sigma = exp(0.5 log_var)); a code z = mu + sigma * eps,
eps ~ N(0, I), is decoded into Bernoulli logits; the loss is the negative ELBO per image, BCE summed over
the pixels + KL(q(z|x) || N(0, I)).  PyTorch's example prints a test loss of about 105.8 nats after 10
epochs.  This script prints npae's and saves vae_samples.png (64 images decoded from the prior),
vae_reconstructions.png and vae_loss_curves.png (the two terms of the loss).  About 30-60 s on 2 cores.

Run:  NPAE_DATA=/path/to/data python examples/variational_autoencoder.py
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
EPOCHS = 1 if "--quick" in sys.argv[1:] else 10    # PyTorch's example: 10; --quick: a smoke test
vae = npae.VariationalAutoencoder([784, 400, 20], init="pytorch_uniform", seed=0,
                                  optimizer=npae.Adam(learning_rate=1e-3, epsilon=1e-8))   # PyTorch's Adam
history = vae.fit(x_train, epochs=EPOCHS, batch_size=128, validation_data=x_test, verbose=0).history
print(f"test loss {vae.evaluate(x_test):.2f} nats per image (PyTorch's example: about 105.8)")


def save_grid(images, rows, columns, path, titles=None):
    figure = Figure(figsize=(columns, rows + 0.3))
    for index, image in enumerate(images):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes.set_axis_off()
        if titles and index % columns == 0:
            axes.set_title(titles[index // columns], loc="left", fontsize=9)
    figure.savefig(path, dpi=80)
    print("saved", path)


save_grid(vae.sample(64, seed=0), 8, 8, "vae_samples.png")
save_grid(np.concatenate([x_test[:10], vae.reconstruct(x_test[:10])]), 2, 10, "vae_reconstructions.png",
          titles=["test digits", "reconstructions decode(mu(x))"])

figure = Figure(figsize=(10, 3.8))
for index, term in enumerate(("reconstruction", "kl")):
    axes = figure.add_subplot(1, 2, index + 1)
    axes.plot(history[term], ":", label="training")
    axes.plot(history["val_" + term], label="test")
    axes.set_xlabel("epoch")
    axes.set_ylabel({"reconstruction": "-log p(x|z), nats per image", "kl": "KL(q(z|x) || N(0, I)), nats"}[term])
    axes.legend()
figure.tight_layout()
figure.savefig("vae_loss_curves.png", dpi=90)
print("saved vae_loss_curves.png")
