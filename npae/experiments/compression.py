"""Experiment 7: the encoder as a compressor of MNIST test images.

For each latent size q and each way of storing the codes (float32, float16, 8-bit per-feature
quantisation), the compression ratio against 784 uint8 pixels, and the MSE and PSNR of the images the
decoder restores.  Also the size on disk of one self-contained file (uint8 codes of the whole test
set plus the decoder) written by :func:`npae.compression.save_compressed`.
"""
import os
import tempfile
import time

import numpy as np

from ..compression import STORAGES, compress, load_compressed, save_compressed, storage_table
from ._common import epochs_for, get_data, train_ffa

LATENT_SIZES = (8, 16, 32, 64)


def run(data=None, *, quick=False, seed=0, latent_sizes=LATENT_SIZES, models=None, progress=None):
    """Returns ``rows`` (one per q and storage: latent_size, storage, bytes_per_image, ratio,
    ratio_with_decoder, mse, psnr) and ``files`` (per q: bytes on disk, ratio against the raw pixels,
    the largest pixel difference between what the reloaded file
    and the model restore), plus ``epochs``, ``seconds``."""
    (x_train, _), (x_test, _) = get_data(data, "mnist")
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
    return {"epochs": epochs, "seed": seed, "n_images": int(x_test.shape[0]), "rows": rows, "files": files,
            "seconds": {"total": time.perf_counter() - started}}
