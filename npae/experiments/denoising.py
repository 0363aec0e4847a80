"""Experiment 5 (paper figure 12): a denoising autoencoder.

Inputs x + 0.55 N(0, 1) per pixel (not clipped, so values leave [0, 1]), targets the clean x; FFA
784-32-784, BCE (the targets are clean, so they are valid probabilities), Adam, batch size 150, 30
epochs, the last 20 % of the training images held out for validation.  The result to check: the
denoised test images are much closer to the clean ones than the noisy inputs were.  Two baselines
put the number in context: the noisy input itself (its MSE is about 0.55^2 = 0.3025) and the noisy
input clipped to [0, 1], the obvious fix that needs no learning.
"""
import time

import numpy as np

from ..metrics import psnr
from ._common import epochs_for, get_data, mse, train_ffa
from .reconstruction import bce_per_pixel

NOISE = 0.55
LATENT_SIZE = 32
BATCH_SIZE = 150
VALIDATION_SPLIT = 0.2


def add_noise(x, noise, rng):
    """x + noise * N(0, 1), same dtype as x, not clipped (the paper's corruption)."""
    return x + x.dtype.type(noise) * rng.standard_normal(x.shape, dtype=x.dtype)


def run(data=None, *, quick=False, seed=0, noise=NOISE, n_examples=10, progress=None):
    """Train the denoiser; returns MSE and PSNR to the clean test images of the noisy, clipped and
    denoised inputs, the training curves (``loss``, ``val_loss``: on the held-out 20 %), ``val_bce_floor``
    (the validation BCE of a perfect denoiser: the clean targets' own entropy), and ``n_examples``
    (noisy, clean, denoised) triplets."""
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    epochs = epochs_for(quick)
    rng = np.random.default_rng(seed)
    noisy_train = add_noise(x_train, noise, rng)
    noisy_test = add_noise(x_test, noise, rng)

    model, history, seconds = train_ffa(noisy_train, LATENT_SIZE, y=x_train, epochs=epochs, seed=seed,
                                        batch_size=BATCH_SIZE, validation_split=VALIDATION_SPLIT, progress=progress,
                                        label=f"denoising FFA 784-{LATENT_SIZE}-784")
    started = time.perf_counter()
    held_out = x_train[x_train.shape[0] - int(round(x_train.shape[0] * VALIDATION_SPLIT)):]   # fit's split
    denoised = model.reconstruct(noisy_test)
    clipped = np.clip(noisy_test, 0, 1)
    rows = [{"input": name, "mse": mse(images, x_test), "psnr": psnr(x_test, images)}
            for name, images in (("noisy", noisy_test), ("noisy, clipped to [0, 1]", clipped),
                                 ("denoised", denoised))]
    return {
        "epochs": epochs, "noise": noise, "latent_size": LATENT_SIZE, "batch_size": BATCH_SIZE, "seed": seed,
        "rows": rows, "mse_noisy": rows[0]["mse"], "mse_denoised": rows[2]["mse"],
        "loss": history.history["loss"], "val_loss": history.history["val_loss"],
        "val_bce_floor": bce_per_pixel(held_out, held_out),
        "examples": {"noisy": noisy_test[:n_examples], "clean": x_test[:n_examples],
                     "denoised": denoised[:n_examples]},
        "seconds": {"training": seconds, "scoring": time.perf_counter() - started},
    }
