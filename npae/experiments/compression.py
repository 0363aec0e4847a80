"""Experiment 7: the encoder as a compressor of MNIST test images.

For each latent size q and each way of storing the codes (float32, float16, 8-bit per-feature
quantisation), the compression ratio against 784 uint8 pixels, and the MSE and PSNR of the images the
decoder restores.  Also the size on disk of one self-contained file (uint8 codes of the whole test
set plus the decoder) written by :func:`npae.compression.save_compressed`.

Then the question the table above cannot answer, "is that good?": the same models' codes entropy-coded,
PCA's, a VQ-VAE's and a rate-distortion-trained autoencoder's, on one curve with JPEG, WebP, PNG, zlib and
lzma (:mod:`npae.experiments.compression_curve`).
"""
import os
import tempfile
import time

import numpy as np

from ..compression import STORAGES, compress, load_compressed, save_compressed, storage_table
from ._common import epochs_for, get_data, train_ffa
from .compression_curve import run_curve

LATENT_SIZES = (8, 16, 32, 64)


def run(data=None, *, quick=False, seed=0, latent_sizes=LATENT_SIZES, models=None, progress=None, curve=True):
    """Returns ``rows`` (one per q and storage: latent_size, storage, bytes_per_image, ratio,
    ratio_with_decoder, mse, psnr) and ``files`` (per q: bytes on disk, ratio against the raw pixels,
    the largest pixel difference between what the reloaded file
    and the model restore), plus ``epochs``, ``seconds``; with ``curve``, ``curve``: the rate-distortion
    comparison of :func:`npae.experiments.compression_curve.run_curve`."""
    (x_train, y_train), (x_test, y_test) = get_data(data, "mnist")
    epochs = epochs_for(quick)
    models = dict(models or {})
    started = time.perf_counter()
    rows, files = [], []
    with tempfile.TemporaryDirectory(prefix="npae-compression-") as folder:
        for q in latent_sizes:
            if q not in models:
                models[q] = train_ffa(x_train, q, epochs=epochs, seed=seed, progress=progress)[0]
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
        result["curve"] = run_curve(x_train, y_train, x_test, y_test, {q: models[q] for q in latent_sizes},
                                    quick=quick, seed=seed, progress=progress)
        seconds.update({f"curve: {name}": value for name, value in result["curve"]["seconds"].items()})
    seconds["total"] = time.perf_counter() - started
    result["seconds"] = seconds
    return result
