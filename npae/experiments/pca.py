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

How close the subspace must be depends on how far training got.  On the training data (covariance
eigenvalues l_1 >= l_2 >= ..., per image), for any q-dimensional subspace U with principal angles
theta_i to PCA's, the error of projecting on U exceeds PCA's by at least

    (l_q - l_{q+1}) sum_i sin^2 theta_i  >=  (l_q - l_{q+1}) sin^2 theta_max,

and the autoencoder's error is at least that of projecting on its decoder's span.  So an autoencoder
whose training error is ``excess`` above PCA's can be anywhere up to theta_max = asin(sqrt(excess /
(l_q - l_{q+1}))) from PCA's subspace: ``angle_allowed_degrees``.  When that bound is wide (training
stopped early, or l_q and l_{q+1} nearly equal), the angle measured says nothing about the claim.
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
    {latent_size, angles_degrees (q,), max_angle_degrees, linear_autoencoder_mse, pca_mse (both on the
    centred test images), train_excess (the autoencoder's training error per image minus PCA's),
    eigenvalue_gap (l_q - l_{q+1}), angle_allowed_degrees (see the module docstring)}, plus ``epochs``,
    ``n_train``, ``seconds``.
    """
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    epochs = epochs_for(quick)
    models = dict(models or {})
    timings = {}

    started = time.perf_counter()
    # One component more than the linear autoencoder's q, for the gap l_q - l_{q+1}.
    pca = PCA(max(max(latent_sizes), linear_latent_size + 1)).fit(x_train)
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
    centred_train = x_train - pca.mean_
    linear = linear_autoencoder(x_train.shape[1], q, seed)
    fit_with_progress(linear, centred_train, epochs=epochs, batch_size=BATCH_SIZE, progress=progress,
                      label=f"linear autoencoder 784-{q}-784 (MSE)")
    decoder_rows = linear.decoder[0].W                                          # W_dec (q, d)
    components = pca.components_[:q]                                            # (q, d)
    angles = principal_angles(decoder_rows.T, components.T, degrees=True)
    # Per image (summed over the d pixels), as the eigenvalues are; ddof 0, as the errors are means.
    n_train, n_features = x_train.shape
    eigenvalues = pca.explained_variance_.astype(np.float64) * (n_train - 1) / n_train
    train_excess = n_features * (float(linear.reconstruction_error(centred_train).mean())
                                 - mse(centred_train @ components.T @ components, centred_train))
    gap = float(eigenvalues[q - 1] - eigenvalues[q])
    sine_bound = np.sqrt(max(train_excess, 0.0) / gap) if gap > 0 else 1.0
    timings["linear"] = time.perf_counter() - started
    return {
        "epochs": epochs, "seed": seed, "n_train": int(n_train), "rows": rows,
        "linear": {"latent_size": q, "angles_degrees": angles, "max_angle_degrees": float(angles.max()),
                   "linear_autoencoder_mse": float(linear.reconstruction_error(centred_test).mean()),
                   "pca_mse": mse(centred_test @ components.T @ components, centred_test),
                   "train_excess": train_excess, "eigenvalue_gap": gap,
                   "angle_allowed_degrees": float(np.degrees(np.arcsin(min(1.0, sine_bound))))},
        "seconds": timings,
    }
