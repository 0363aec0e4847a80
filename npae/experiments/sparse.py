"""Beyond the paper: the sparse autoencoder of the Keras blog ("Building autoencoders in Keras").

The blog's simple autoencoder is the paper's FFA 784-32-784 (ReLU code, sigmoid output, BCE, Adam,
batch 256).  Its sparse twin adds an L1 penalty on the code, ``activity_regularizer=l1(10e-5)``: lambda =
1e-4 times the sum of |h| over the 32 code units, averaged over the batch (npae:
``Autoencoder([784, 32], activity_l1=1e-4)``).  The blog trains it 100 epochs and reports the mean code
value over the test images: 3.33, against 7.30 for the plain model.  Here, for both models: the mean
code value, the share of code values that are exactly 0 (ReLU units switched off), the share of units
never active on any test image, and the reconstruction BCE per pixel (without the penalty).

``npae reproduce`` trains both for the paper's 30 epochs (6 with --quick), not the blog's 100, to keep
the run short; ``run(epochs=100)`` (or ``examples/sparse_autoencoder.py``) is the blog's set-up.
"""
import time

import numpy as np

from ..anomaly import score_samples
from ._common import epochs_for, get_data, train_ffa

LATENT_SIZE = 32
ACTIVITY_L1 = 1e-4   # Keras' l1(10e-5): 10e-5 is 1e-4
KERAS_BLOG = {"epochs": 100, "mean_code_sparse": 3.33, "mean_code_plain": 7.30}


def code_statistics(model, x):
    """Mean code value, share of code values equal to 0, share of units 0 on every row, and the
    reconstruction BCE per pixel of ``model`` on ``x`` (M, D)."""
    codes = model.encode(x)                                                      # (M, q)
    return {"mean_code": float(codes.mean()), "zero_fraction": float(np.mean(codes == 0)),
            "dead_units": float(np.mean(np.all(codes == 0, axis=0))),
            "bce": float(score_samples(model, x, "bce").mean() / x.shape[1])}   # nats per image / D


def run(data=None, *, quick=False, seed=0, epochs=None, models=None, progress=None):
    """Train the sparse FFA (and the plain one, unless ``models[32]`` is the paper's, trained alike);
    returns their code statistics (``rows``), the epochs, and the Keras blog's figures."""
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    epochs = epochs_for(quick) if epochs is None else epochs
    timings = {}
    started = time.perf_counter()
    plain = (models or {}).get(LATENT_SIZE)
    if plain is None or plain.history_ is None or len(plain.history_.epoch) != epochs:
        plain = train_ffa(x_train, LATENT_SIZE, epochs=epochs, seed=seed, progress=progress,
                          label=f"plain FFA 784-{LATENT_SIZE}-784")[0]
    sparse, _, timings["sparse training"] = train_ffa(x_train, LATENT_SIZE, epochs=epochs, seed=seed,
                                                      activity_l1=ACTIVITY_L1, progress=progress,
                                                      label=f"sparse FFA 784-{LATENT_SIZE}-784")
    timings["training"] = time.perf_counter() - started
    rows = [{"model": name, "activity_l1": l1, **code_statistics(model, x_test)}
            for name, l1, model in (("plain", 0.0, plain), ("sparse", ACTIVITY_L1, sparse))]
    return {"epochs": epochs, "latent_size": LATENT_SIZE, "activity_l1": ACTIVITY_L1, "rows": rows,
            "n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]), "keras_blog": KERAS_BLOG,
            "seconds": timings}
