"""Experiment 6: PCA against autoencoders on MNIST.

Part 1: test reconstruction MSE against q for PCA (the best *linear* rank-q reconstruction) and for the
paper's non-linear FFA 784-q-784 (ReLU, sigmoid output, BCE), q = 8, 16, 32, 64.

Part 2: a *linear* autoencoder (identity activations, MSE) trained on centred data learns PCA's
subspace (Baldi & Hornik, 1989).  The reconstructions x~ = x W_enc W_dec lie in the span of the rows
of W_dec, so that is the subspace compared with PCA's, by principal angles; the basis differs (the
rows of W_dec are neither orthogonal nor ordered by variance).  The encoder's columns are *not*
compared: along directions in which the training data do not vary (MNIST's always-black border
pixels, and the hundreds of directions with variance below 1e-3), the encoder receives (almost) no
gradient and keeps its random initial weights, which changes its span but not what it computes on data.
"""
import time

import numpy as np

from ..metrics import principal_angles
from ..model import Autoencoder
from ..pca import PCA
from ..progress import fit_with_progress
from ._common import BATCH_SIZE, epochs_for, get_data, mse, train_ffa

LATENT_SIZES = (8, 16, 32, 64)
LINEAR_LATENT_SIZE = 16


def linear_autoencoder(n_features, latent_size, seed):
    """d - q - d with identity activations everywhere and MSE: the autoencoder that PCA solves exactly."""
    return Autoencoder([n_features, latent_size], activation="identity", latent_activation="identity",
                       output_activation="identity", loss="mse", seed=seed)


def run(data=None, *, quick=False, seed=0, latent_sizes=LATENT_SIZES, models=None,
        linear_latent_size=LINEAR_LATENT_SIZE, progress=None):
    """Both parts; ``models`` may hold already trained FFAs ``{q: Autoencoder}`` (see
    ``_common.train_reference_models``), the others are trained here.

    Returns ``rows`` [{latent_size, pca_mse, autoencoder_mse, pca_explained_variance}] and ``linear``
    {latent_size, angles_degrees (q,), max_angle_degrees, linear_autoencoder_mse, pca_mse}, plus
    ``epochs``, ``seconds``.
    """
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    epochs = epochs_for(quick)
    models = dict(models or {})
    timings = {}

    started = time.perf_counter()
    pca = PCA(max(max(latent_sizes), linear_latent_size)).fit(x_train)
    timings["pca"] = time.perf_counter() - started
    centred_test = x_test - pca.mean_
    started = time.perf_counter()
    rows = []
    for q in latent_sizes:
        # The first q principal components are PCA(q)'s components: one fit serves every q.
        components = pca.components_[:q]                                        # (q, d)
        pca_reconstruction = centred_test @ components.T @ components + pca.mean_
        if q not in models:
            models[q] = train_ffa(x_train, q, epochs=epochs, seed=seed, progress=progress)[0]
        rows.append({"latent_size": q, "pca_mse": mse(pca_reconstruction, x_test),
                     "autoencoder_mse": mse(models[q].reconstruct(x_test), x_test),
                     "pca_explained_variance": float(pca.explained_variance_ratio_[:q].sum())})
    timings["autoencoders"] = time.perf_counter() - started

    started = time.perf_counter()
    q = linear_latent_size
    linear = linear_autoencoder(x_train.shape[1], q, seed)
    fit_with_progress(linear, x_train - pca.mean_, epochs=epochs, batch_size=BATCH_SIZE, progress=progress,
                      label=f"linear autoencoder 784-{q}-784 (MSE)")
    decoder_rows = linear.decoder[0].W                                          # (q, d)
    angles = principal_angles(decoder_rows.T, pca.components_[:q].T, degrees=True)
    components = pca.components_[:q]
    timings["linear"] = time.perf_counter() - started
    return {
        "epochs": epochs, "seed": seed, "rows": rows,
        "linear": {"latent_size": q, "angles_degrees": angles, "max_angle_degrees": float(angles.max()),
                   "linear_autoencoder_mse": float(linear.reconstruction_error(centred_test).mean()),
                   "pca_mse": mse(centred_test @ components.T @ components, centred_test)},
        "seconds": timings,
    }
