"""What the experiment modules share: getting the data and training the paper's reference FFA."""
import time

import numpy as np

# The paper's set-up (paper-notes.md, "the reference model"): Dense(q, relu), Dense(784, sigmoid), BCE, Adam.
EPOCHS = 30
QUICK_EPOCHS = 6  # the fewest epochs after which the shoe ranks first for seeds 0 and 1 (5), plus one for margin
BATCH_SIZE = 256


def get_data(data, name):
    """``((x_train, y_train), (x_test, y_test))`` of data set ``name`` ("mnist" or "fashion_mnist")."""
    if data is not None and name in data:
        return data[name]
    if data is not None:
        raise ValueError(f"data has no entry {name!r}; expected keys 'mnist' and 'fashion_mnist'")
    from .. import datasets

    return getattr(datasets, f"load_{name}")()


def epochs_for(quick):
    return QUICK_EPOCHS if quick else EPOCHS


def train_ffa(x, latent_size, *, epochs, seed, batch_size=BATCH_SIZE, y=None, validation_split=0.0, progress=None,
              label=None, **options):
    """Train the paper's FFA ``d - latent_size - d`` on ``x``; returns ``(model, history, seconds)``.

    ``progress``: an :class:`npae.progress.Progress` for a line per epoch (the weights are the same).
    """
    from ..model import Autoencoder
    from ..progress import fit_with_progress

    model = Autoencoder([x.shape[1], latent_size], seed=seed, **options)
    label = label or f"FFA {x.shape[1]}-{latent_size}-{x.shape[1]}, seed {seed}"
    started = time.perf_counter()
    history = fit_with_progress(model, x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                                progress=progress, label=label)
    return model, history, time.perf_counter() - started


def train_reference_models(x, latent_sizes, *, quick=False, seed=0, progress=None):
    """One paper FFA per latent size, ``{q: model}``: pass it to ``pca.run`` and ``compression.run``
    (and anything else that needs the same models) so they are trained once."""
    return {q: train_ffa(x, q, epochs=epochs_for(quick), seed=seed, progress=progress)[0] for q in latent_sizes}


def mse(a, b):
    """Mean of (a - b)^2 over every element, in float64."""
    return float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))
