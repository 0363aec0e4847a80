"""Beyond the paper: the sparse and the variational autoencoder, and anomaly scores built on them.

The paper stops at plain, denoising and convolutional autoencoders.  This experiment runs what the
standard teaching material adds (the Keras blog's "Building autoencoders in Keras", PyTorch's
examples/vae) and uses it on the paper's own anomaly test; each part is its own module:

    sparse          the Keras blog's sparse autoencoder (L1 activity penalty on the code)
    variational     PyTorch's examples/vae and the Keras blog's 2-D VAE, with their pictures
    anomaly_scores  every score of npae.anomaly.SCORES on every shoe of Fashion-MNIST's test set

The VAE trained in ``variational`` is the one ``anomaly_scores`` scores with (trained once).  The paper's
reference FFAs for q = 32 (the plain model of ``sparse``), 64 and 128 (``anomaly_scores``) come from
``models`` when ``npae reproduce`` shares them, and are trained here otherwise.
"""
import time

from . import anomaly_scores, sparse, variational


def run(data=None, *, quick=False, seed=0, full=False, models=None, progress=None):
    """Run the three parts; returns ``{"sparse": ..., "variational": ..., "anomaly_scores": ..., "quick",
    "seconds"}`` (each part's dict as its module documents).  ``full=True`` trains the sparse model and
    the 2-D VAE as long as the Keras blog does (100 and 50 epochs)."""
    models = dict(models or {})
    timings = {}
    started = time.perf_counter()
    result = {"sparse": sparse.run(data, quick=quick, seed=seed, models=models, progress=progress,
                                   epochs=sparse.KERAS_BLOG["epochs"] if full else None)}
    timings["sparse"] = time.perf_counter() - started
    started = time.perf_counter()
    result["variational"] = variational.run(data, quick=quick, seed=seed, full=full, progress=progress)
    timings["variational"] = time.perf_counter() - started
    started = time.perf_counter()
    result["anomaly_scores"] = anomaly_scores.run(data, quick=quick, seed=seed, models=models, progress=progress,
                                                  vae=result["variational"]["pytorch"]["model"])
    timings["anomaly scores"] = time.perf_counter() - started
    result["quick"], result["full"], result["seconds"] = quick, full, timings
    return result
