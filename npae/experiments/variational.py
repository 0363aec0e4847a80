"""Beyond the paper: the variational autoencoder, and the pictures people learn it from.

Two models (npae.VariationalAutoencoder), both trained on the 60,000 MNIST training images:

* PyTorch's examples/vae: 784-400-20, ReLU, Adam 1e-3 (PyTorch's eps 1e-8), batch 128, 10 epochs,
  PyTorch's default initialisation (``init="pytorch_uniform"``).  Its test loss, the negative ELBO per
  image in nats, is the example's printed number (105.8 when npae's VAE was written; ``benchmarks/bench_vae.py``
  trains PyTorch's beside npae's in one run).  Its pictures: 64 samples from the prior, test digits
  against their reconstructions, and the curves of the two terms of the loss (reconstruction and KL).
* The Keras blog's 2-D VAE, 784-256-2 (its first version; batch 128 here): the test set's codes mu(x)
  as a scatter coloured by digit, and the 20 x 20 "manifold": decoded images of a grid of latent points
  evenly spaced in the prior's quantiles, z = Phi^-1(p) for p in 0.05 .. 0.95 on each axis.  The blog
  trains it 50 epochs; ``npae reproduce`` trains it 10 (1 with --quick), ``run(full=True)`` 50.

--quick trains the 20-D model 1 epoch instead of 10 (its test loss is then far from 105.8).
"""
import statistics
import time

import numpy as np

from ..optimizers import Adam
from ..progress import fit_with_progress
from ..variational import VariationalAutoencoder
from ._common import get_data

PYTORCH_EXAMPLE = {"sizes": [784, 400, 20], "epochs": 10, "batch_size": 128, "learning_rate": 1e-3,
                   "test_loss": 105.8}
KERAS_BLOG = {"sizes": [784, 256, 2], "epochs": 50}
EPOCHS = {"pytorch": {False: 10, True: 1}, "keras": {False: 10, True: 1}}  # npae reproduce: default / --quick
GRID = 20          # the manifold is GRID x GRID images
N_SAMPLES = 64     # an 8 x 8 sheet, as in PyTorch's example
N_SHOWN = 10       # test digits shown beside their reconstructions


def train_pytorch_example_vae(x_train, *, epochs=PYTORCH_EXAMPLE["epochs"], seed=0, validation_data=None,
                              progress=None, sizes=None):
    """The VAE of PyTorch's examples/vae, trained with its set-up; returns the model (``history_`` holds
    loss, reconstruction and kl per epoch, and their val_ twins with validation data)."""
    model = VariationalAutoencoder(sizes or PYTORCH_EXAMPLE["sizes"], init="pytorch_uniform", seed=seed,
                                   optimizer=Adam(learning_rate=PYTORCH_EXAMPLE["learning_rate"], epsilon=1e-8))
    fit_with_progress(model, x_train, epochs=epochs, batch_size=PYTORCH_EXAMPLE["batch_size"],
                      validation_data=validation_data, progress=progress,
                      label=f"VAE {'-'.join(map(str, model.sizes))}")
    return model


def manifold_grid(model, size=GRID, low=0.05, high=0.95):
    """Decoded images of a size x size grid of 2-D latent points evenly spaced in the prior's quantiles:
    (size, size, D), row i from the top at z_2 = Phi^-1(p_i) (high to low), column j at z_1 = Phi^-1(p_j)."""
    if model.latent_size != 2:
        raise ValueError(f"the manifold grid needs a 2-D latent space, the model has {model.latent_size}")
    quantiles = np.array([statistics.NormalDist().inv_cdf(p) for p in np.linspace(low, high, size)])
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])                        # (size, size) each
    points = np.column_stack([z1.ravel(), z2.ravel()])                        # (size^2, 2)
    return model.decode(points).reshape(size, size, -1), quantiles


def run(data=None, *, quick=False, seed=0, full=False, progress=None):
    """Train both VAEs; returns their numbers and the arrays the figures need.  Keys: ``pytorch``
    (sizes, epochs, test_loss, test_reconstruction, test_kl, history, samples, originals,
    reconstructions, seconds, model), ``keras`` (sizes, epochs, codes, labels, manifold, quantiles,
    test_loss, seconds), ``anchor`` (PyTorch's example), ``keras_blog``."""
    (x_train, _), (x_test, y_test) = get_data(data, "mnist")
    epochs_pytorch = PYTORCH_EXAMPLE["epochs"] if full else EPOCHS["pytorch"][quick]
    epochs_keras = KERAS_BLOG["epochs"] if full else EPOCHS["keras"][quick]

    started = time.perf_counter()
    vae = train_pytorch_example_vae(x_train, epochs=epochs_pytorch, seed=seed, validation_data=x_test,
                                    progress=progress)
    trained = time.perf_counter() - started
    history = vae.history_.history
    reconstruction, kl = vae.elbo_terms(x_test)
    pytorch = {"sizes": vae.sizes, "epochs": epochs_pytorch, "test_loss": float(np.mean(reconstruction + kl)),
               "test_reconstruction": float(reconstruction.mean()), "test_kl": float(kl.mean()),
               "history": {key: list(values) for key, values in history.items()},
               "samples": vae.sample(N_SAMPLES, seed=seed), "originals": x_test[:N_SHOWN],
               "reconstructions": vae.reconstruct(x_test[:N_SHOWN]), "seconds": trained,
               "seconds_per_epoch": float(np.median(history["seconds"])), "model": vae}

    started = time.perf_counter()
    flat = VariationalAutoencoder(KERAS_BLOG["sizes"], seed=seed)
    fit_with_progress(flat, x_train, epochs=epochs_keras, batch_size=PYTORCH_EXAMPLE["batch_size"],
                      progress=progress, label="VAE 784-256-2")
    manifold, quantiles = manifold_grid(flat)
    keras = {"sizes": flat.sizes, "epochs": epochs_keras, "codes": flat.encode(x_test), "labels": y_test,
             "manifold": manifold, "quantiles": quantiles, "test_loss": flat.evaluate(x_test),
             "seconds": time.perf_counter() - started}
    return {"pytorch": pytorch, "keras": keras, "anchor": PYTORCH_EXAMPLE, "keras_blog": KERAS_BLOG,
            "n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]), "seed": seed,
            "seconds": {"VAE 784-400-20": pytorch["seconds"], "VAE 784-256-2": keras["seconds"]}}
