"""Experiment 1 (paper figures 4-8): what the FFA 784-q-784 gives back, for q = 8, 16 and 64.

The paper's reference model: Dense(q, relu) then Dense(784, sigmoid), binary cross-entropy, Adam,
30 epochs, batch size 256, validated on the 10,000 test images.  The paper shows ten test digits and
their reconstructions: quality improves with q, and with q = 8 some digits come back as another digit
(a 4 as a 9).  Here each q also gets numbers:

* the test BCE and MSE per pixel, beside PyTorch's with the same set-up after as many epochs
  (``pytorch_reference``; full data only);
* how often the reconstruction *is read as another digit*: a kNN classifier (k = 7) on the raw
  training pixels labels the original test image and its reconstruction; a reconstruction counts as
  misread when its label differs from the true one (the originals themselves are misread ~3 % of the
  time, the floor of this measure).

Then the q = 16 model trained with MSE instead of BCE (same sigmoid output): both losses work.

Two pictures beyond the paper, the ones every course on autoencoders shows:

* the best and the worst reconstructions of the q = 64 model with their per-pixel squared error
  (x - x~)^2: where the model fails;
* the 2-D codes of the test digits, coloured by digit, from three maps to R^2: PCA's first two
  components, the paper's FFA with q = 2 (784-2-784) and a deeper 784-64-2-64-784.  Both autoencoders
  use a linear code (identity activation at the bottleneck): with ReLU, every negative code becomes 0
  and many digits collapse onto the two axes.  The kNN accuracy (k = 7) on the two numbers says how
  well each map keeps the digits apart.
"""
import time

import numpy as np

from ..knn import KNNClassifier
from ..losses import BinaryCrossEntropy
from ..model import Autoencoder
from ..pca import PCA
from ..progress import fit_with_progress
from . import pytorch_reference
from ._common import BATCH_SIZE, epochs_for, get_data, mse

LATENT_SIZES = (8, 16, 64)
COMPARED_LOSSES_AT = 16             # the q trained with both BCE and MSE
N_SHOWN = 10                        # the paper's row of ten test digits
N_CHECKED = {False: 1000, True: 300}  # test images whose reconstructions kNN reads, full / quick
KNN_NEIGHBOURS = 7
ERROR_MAP_MODEL = 64                # the q whose best and worst reconstructions are shown
N_EXTREMES = 5                      # best and worst images shown
CODE_MODELS = {"FFA 784-2-784": [784, 2], "deeper FFA 784-64-2-64-784": [784, 64, 2]}


def train_reference_model(x_train, latent_size, *, quick=False, seed=0, loss="bce", validation_data=None,
                          progress=None, label=None):
    """The paper's FFA ``d - latent_size - d`` trained on ``x_train`` (``_common.EPOCHS``, or
    ``_common.QUICK_EPOCHS`` when quick).

    The same weights as ``_common.train_ffa`` (same constructor, seed and batches): validation and
    progress lines draw no random numbers.  ``model.history_`` holds every epoch's loss, val_loss and
    seconds.
    """
    model = Autoencoder([x_train.shape[1], latent_size], loss=loss, seed=seed)
    label = label or f"FFA {x_train.shape[1]}-{latent_size}-{x_train.shape[1]} ({loss.upper()})"
    fit_with_progress(model, x_train, epochs=epochs_for(quick), batch_size=BATCH_SIZE,
                      validation_data=validation_data, progress=progress, label=label)
    return model


def bce_per_pixel(images, reconstructions):
    """BCE per pixel of reconstructions given as probabilities (clipped at 1e-7, as Keras does), in float64."""
    return BinaryCrossEntropy().value(reconstructions.astype(np.float64), images.astype(np.float64))


def _two_dimensional_codes(x_train, y_train, x_test, y_test, *, quick, seed, progress):
    """PCA(2) and the autoencoders of ``CODE_MODELS``: their test codes (N, 2), kNN accuracy on the codes,
    test BCE and MSE (None for PCA's BCE), and each autoencoder's training curves."""
    pca = PCA(2).fit(x_train)
    maps = [("PCA, 2 components", pca.transform, pca.reconstruct(x_test), None)]
    for name, sizes in CODE_MODELS.items():
        model = Autoencoder(sizes, latent_activation="identity", seed=seed)
        fit_with_progress(model, x_train, epochs=epochs_for(quick), batch_size=BATCH_SIZE, validation_data=x_test,
                          progress=progress, label=f"{name} (linear code)")
        maps.append((name, model.encode, model.reconstruct(x_test), model))
    panels = []
    for name, encode, reconstructions, model in maps:
        train_codes, test_codes = encode(x_train), encode(x_test)                # (M, 2), (N, 2)
        predicted = KNNClassifier(k=KNN_NEIGHBOURS).fit(train_codes, y_train).predict(test_codes)
        panels.append({"name": name, "codes": test_codes, "knn_accuracy": float(np.mean(predicted == y_test)),
                       "test_mse": mse(reconstructions, x_test),
                       "test_bce": bce_per_pixel(x_test, reconstructions) if model is not None else None,
                       "curves": _curves(model) if model is not None else None})
    return {"labels": y_test, "panels": panels}


def _extremes(model, x_test, y_test, count):
    """The ``count`` best and worst reconstructions of ``model``: images, reconstructions, squared errors."""
    errors = model.reconstruction_error(x_test)                                 # (N,) MSE per image
    order = np.argsort(errors, kind="stable")
    chosen = np.concatenate([order[:count], order[::-1][:count]])
    reconstructions = model.reconstruct(x_test[chosen])
    return {"latent_size": ERROR_MAP_MODEL, "count": count, "indices": chosen, "labels": y_test[chosen],
            "errors": errors[chosen], "images": x_test[chosen], "reconstructions": reconstructions,
            "squared_errors": (x_test[chosen] - reconstructions) ** 2, "median_error": float(np.median(errors))}


def _curves(model):
    history = model.history_.history if model.history_ is not None else {}
    return {"loss": list(history.get("loss", [])), "val_loss": list(history.get("val_loss", [])),
            "seconds": float(sum(history.get("seconds", [])))}


def run(data=None, *, quick=False, seed=0, models=None, progress=None, n_shown=N_SHOWN):
    """Train (or reuse) the BCE models for q = 8, 16, 64 and an MSE model for q = 16; measure them.

    models : ``{q: Autoencoder}`` already trained with the paper's set-up (BCE); missing q are trained.
    progress : an :class:`npae.progress.Progress` for the epoch lines.

    Returns ``rows`` (one per model: latent_size, loss, epochs, test_bce, test_mse, misread, seconds,
    pytorch {bce, mse} after as many epochs, or None when not measured or not comparable: another
    training set), ``images`` (n_shown, 784) the first test digits, ``reconstructions`` {row label:
    (n_shown, 784)}, ``curves`` {row label: {loss, val_loss, seconds}}, ``misread_originals`` (the kNN's own
    error on the checked originals), ``n_checked``, ``mean_image_mse`` (the error of predicting the mean
    training image: what any model must beat), ``bce_floor`` (the BCE of a perfect reconstruction of the
    test images, their own entropy), ``extremes`` (see :func:`_extremes`), ``codes`` (see
    :func:`_two_dimensional_codes`), ``models`` {q: BCE model} (to share), ``epochs``, ``seconds``.
    """
    (x_train, y_train), (x_test, y_test) = get_data(data, "mnist")
    models = dict(models or {})
    timings = {}

    started = time.perf_counter()
    for q in LATENT_SIZES:
        if q not in models:
            models[q] = train_reference_model(x_train, q, quick=quick, seed=seed, validation_data=x_test,
                                              progress=progress)
    mse_model = train_reference_model(x_train, COMPARED_LOSSES_AT, quick=quick, seed=seed, loss="mse",
                                      validation_data=x_test, progress=progress)
    timings["training"] = time.perf_counter() - started

    started = time.perf_counter()
    trained = [(f"q={q}, BCE", q, "bce", models[q]) for q in LATENT_SIZES]
    trained.append((f"q={COMPARED_LOSSES_AT}, MSE", COMPARED_LOSSES_AT, "mse", mse_model))
    n_checked = min(N_CHECKED[bool(quick)], x_test.shape[0])
    checked, checked_labels = x_test[:n_checked], y_test[:n_checked]
    # One kNN on the raw training pixels reads the originals and every model's reconstructions at once.
    reconstructions = {label: model.reconstruct(x_test) for label, _, _, model in trained}
    queries = np.concatenate([checked] + [reconstructions[label][:n_checked] for label, *_ in trained])
    read_as = KNNClassifier(k=KNN_NEIGHBOURS).fit(x_train, y_train).predict(queries).reshape(-1, n_checked)
    misread = np.mean(read_as != checked_labels, axis=1)        # (1 + models,): originals first
    extremes = _extremes(models[ERROR_MAP_MODEL], x_test, y_test, N_EXTREMES)
    timings["evaluation"] = time.perf_counter() - started

    started = time.perf_counter()
    codes = _two_dimensional_codes(x_train, y_train, x_test, y_test, quick=quick, seed=seed, progress=progress)
    timings["2-D codes"] = time.perf_counter() - started

    # PyTorch's numbers were measured on the full training set: beside a sample run they would mislead.
    comparable = x_train.shape[0] == pytorch_reference.N_TRAIN
    rows = []
    for index, (label, q, loss, model) in enumerate(trained):
        rows.append({"label": label, "latent_size": q, "loss": loss, "epochs": len(model.history_.epoch)
                     if model.history_ is not None else None,
                     "test_bce": bce_per_pixel(x_test, reconstructions[label]),
                     "test_mse": mse(reconstructions[label], x_test),
                     "misread": float(misread[index + 1]), "seconds": _curves(model)["seconds"],
                     "pytorch": pytorch_reference.reference(q, loss, len(model.history_.epoch))
                     if comparable and model.history_ is not None else None})
    return {
        "epochs": epochs_for(quick), "seed": seed, "n_train": int(x_train.shape[0]), "n_test": int(x_test.shape[0]),
        "rows": rows, "images": x_test[:n_shown], "image_labels": y_test[:n_shown],
        "reconstructions": {label: images[:n_shown] for label, images in reconstructions.items()},
        "curves": {label: _curves(model) for label, _, _, model in trained},
        "misread_originals": float(misread[0]), "n_checked": n_checked,
        "mean_image_mse": mse(np.broadcast_to(x_train.mean(axis=0), x_test.shape), x_test),
        "bce_floor": bce_per_pixel(x_test, x_test), "extremes": extremes, "codes": codes,
        "pytorch_comparable": comparable,
        "models": {q: models[q] for q in LATENT_SIZES}, "seconds": timings,
    }
