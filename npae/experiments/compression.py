"""Experiment 7: the encoder as a compressor of MNIST test images.

For each latent size q and each way of storing the codes (float32, float16, 8-bit per-feature
quantisation), the compression ratio against 784 uint8 pixels, and the MSE and PSNR of the images the
decoder restores.  Also the size on disk of one self-contained file (uint8 codes of the whole test
set plus the decoder) written by :func:`npae.compression.save_compressed`.

Then the question the table above cannot answer, "is that good?": the same models' codes entropy-coded,
PCA's, a VQ-VAE's and a rate-distortion-trained autoencoder's, on one curve with JPEG, WebP, PNG, zlib and
lzma (:mod:`npae.experiments.compression_curve`), once on MNIST and once on Fashion-MNIST.  Each data set's
curve reads the paper's FFAs 784-q-784 trained on that data set, for q = 2 ... 64 (``CURVE_LATENT_SIZES``):
on MNIST the runner's shared reference models, on Fashion-MNIST experiment 2's (q = 8, 16) when the runner
hands them over, the others trained here the same way.
"""
import os
import tempfile
import time

import numpy as np

from ..compression import STORAGES, compress, load_compressed, save_compressed, storage_table
from ._common import QUICK_EPOCHS, epochs_for, get_data, train_ffa
from .compression_curve import run_curve, settings_for
from .knn import TITLES

LATENT_SIZES = (8, 16, 32, 64)               # the paper's section 3.6 table
CURVE_LATENT_SIZES = (2, 4, 8, 16, 32, 64)   # the rate-distortion curve: the q = 2 ... 64
CURVE_DATASETS = ("mnist", "fashion_mnist")


def _ffa_models(x_train, latent_sizes, given, *, epochs, seed, progress, title):
    """``{q: model}`` for every q of ``latent_sizes``: the models of ``given`` (trained elsewhere with the
    same set-up, e.g. the runner's shared reference FFAs), the missing ones trained here."""
    models = dict(given or {})
    for q in latent_sizes:
        if q not in models:
            models[q] = train_ffa(x_train, q, epochs=epochs, seed=seed, progress=progress,
                                  label=f"{title} FFA 784-{q}-784, seed {seed}")[0]
    return models


def run(data=None, *, quick=False, seed=0, latent_sizes=LATENT_SIZES, models=None, fashion_models=None,
        progress=None, curve=True, curve_datasets=CURVE_DATASETS, curve_latent_sizes=CURVE_LATENT_SIZES,
        curve_settings=None):
    """Returns ``rows`` (one per q and storage: latent_size, storage, bytes_per_image, ratio,
    ratio_with_decoder, mse, psnr) and ``files`` (per q: bytes on disk, ratio against the raw pixels,
    the largest pixel difference between what the reloaded file
    and the model restore), plus ``epochs``, ``seconds``; with ``curve``, ``curves``: {data set key: the
    rate-distortion comparison of :func:`npae.experiments.compression_curve.run_curve`} for each key of
    ``curve_datasets``, in that order.

    models, fashion_models : ``{q: Autoencoder}``, the paper's FFAs trained on MNIST / Fashion-MNIST
    (``_common.train_reference_models``); the missing ones are trained here.
    curve_settings : ``{data set key: compression_curve.Settings}``; default ``settings_for(key, quick)``.
    """
    (x_train, y_train), (x_test, y_test) = get_data(data, "mnist")
    epochs = epochs_for(quick)
    given = {"mnist": models, "fashion_mnist": fashion_models}
    started = time.perf_counter()
    models = _ffa_models(x_train, latent_sizes, models, epochs=epochs, seed=seed, progress=progress,
                         title=TITLES["mnist"])
    rows, files = [], []
    with tempfile.TemporaryDirectory(prefix="npae-compression-") as folder:
        for q in latent_sizes:
            rows.extend(storage_table(models[q], x_test, STORAGES))
            path = os.path.join(folder, f"mnist-test-q{q}.npz")
            compressed = compress(models[q], x_test, "uint8")
            save_compressed(path, compressed, models[q])
            loaded, decoder = load_compressed(path)
            size = os.path.getsize(path)
            difference = np.abs(decoder.decode(loaded.latent()) - models[q].decode(compressed.latent())).max()
            files.append({"latent_size": q, "bytes": size, "ratio": x_test.shape[0] * x_test.shape[1] / size,
                          "max_difference_after_reload": float(difference)})
    seconds = {"storage table": time.perf_counter() - started}
    result = {"epochs": epochs, "seed": seed, "n_images": int(x_test.shape[0]), "rows": rows, "files": files}
    if curve:
        given["mnist"] = models
        result["curves"] = {}
        for name in curve_datasets:
            settings = (curve_settings or {}).get(name) or settings_for(name, quick)
            result["curves"][name] = _curve(get_data(data, name), name, given.get(name), curve_latent_sizes, settings,
                                            epochs=epochs, seed=seed, progress=progress)
            seconds.update({f"{TITLES[name]} curve: {part}": value
                            for part, value in result["curves"][name]["seconds"].items()})
    seconds["total"] = time.perf_counter() - started
    result["seconds"] = seconds
    return result


def _curve(data_set, name, given, latent_sizes, settings, *, epochs, seed, progress):
    """One data set's rate-distortion comparison, with the paper's FFAs trained on it, and the epoch
    sensitivity of the verdict: the decisive autoencoder point again with its FFA trained for
    ``QUICK_EPOCHS`` only (when this run's models had more)."""
    (x_train, y_train), (x_test, y_test) = data_set
    started = time.perf_counter()
    models = _ffa_models(x_train, latent_sizes, given, epochs=epochs, seed=seed, progress=progress,
                         title=TITLES[name])
    training_seconds = time.perf_counter() - started

    def fewer_epochs(q):
        # Same constructor, seed and batches as the full model: its weights after QUICK_EPOCHS epochs.
        return train_ffa(x_train, q, epochs=QUICK_EPOCHS, seed=seed, progress=progress,
                         label=f"{TITLES[name]} FFA 784-{q}-784, {QUICK_EPOCHS} epochs (the verdict's sensitivity)")[0]

    curve = run_curve(x_train, y_train, x_test, y_test, {q: models[q] for q in latent_sizes},
                      settings=settings, seed=seed, progress=progress, dataset=name, title=TITLES[name],
                      fewer_epochs=(QUICK_EPOCHS, fewer_epochs))
    if set(latent_sizes) - set(given or {}):
        curve["seconds"] = {"FFAs trained here": training_seconds, **curve["seconds"]}
    return curve
