"""The latent space of a 2-D variational autoencoder: the two pictures of the Keras blog.

A VAE 784-256-2 (the blog's first version; it trains 50 epochs, this script 20: about a minute on 2
cores).  Left: the codes mu(x) of the 10,000 test digits, coloured by digit: similar digits share a
region, and the prior N(0, I) keeps the whole cloud near the origin.  Right: the "manifold", the decoded
images of a 20 x 20 grid of latent points evenly spaced in the prior's quantiles, z = Phi^-1(p) for
p = 0.05 .. 0.95: walking across it morphs one digit into the next.  Saves vae_latent_space.png.

Run:  NPAE_DATA=/path/to/data python examples/vae_latent_space.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import sys
from statistics import NormalDist

import numpy as np
from matplotlib.figure import Figure

import npae
from npae.datasets import find_or_sample

found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, y_test) = found.data
EPOCHS = 1 if "--quick" in sys.argv[1:] else 20    # --quick: a smoke test (the tests use it)
vae = npae.VariationalAutoencoder([784, 256, 2], seed=0)
vae.fit(x_train, epochs=EPOCHS, batch_size=128, verbose=0)
print(f"test loss {vae.evaluate(x_test):.1f} nats per image")

codes = vae.encode(x_test)                                              # (10000, 2): mu(x)
quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, 20)])
z1, z2 = np.meshgrid(quantiles, quantiles[::-1])                        # top row: the largest z_2
images = vae.decode(np.column_stack([z1.ravel(), z2.ravel()]))          # (400, 784)
mosaic = images.reshape(20, 20, 28, 28).transpose(0, 2, 1, 3).reshape(20 * 28, 20 * 28)

figure = Figure(figsize=(13, 6.2))
scatter_axes, grid_axes = figure.subplots(1, 2)
points = scatter_axes.scatter(codes[:, 0], codes[:, 1], c=y_test, cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
figure.colorbar(points, ax=scatter_axes, ticks=range(10), label="digit")
scatter_axes.set_xlabel("mu_1")
scatter_axes.set_ylabel("mu_2")
grid_axes.imshow(mosaic, cmap="gray", vmin=0, vmax=1, extent=(quantiles[0], quantiles[-1], quantiles[0], quantiles[-1]))
grid_axes.set_xlabel("z_1")
grid_axes.set_ylabel("z_2")
figure.tight_layout()
figure.savefig("vae_latent_space.png", dpi=90)
print("saved vae_latent_space.png")
