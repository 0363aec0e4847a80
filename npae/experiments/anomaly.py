"""Experiment 4 (paper figures 9-11) and beyond: reconstruction-error anomaly detection on MNIST.

Part 1, as in the paper: an FFA 784-64-784 trained on the MNIST training images scores the 10,000 test
digits plus one Fashion-MNIST shoe; the shoe should have the largest RE (paper: 0.062, next 0.022).
One shoe could be lucky, so it is repeated for the first sandal, sneaker and ankle boot of the
Fashion-MNIST test set, and summarised over all 3,000 test shoes.

Part 2, beyond the paper: 100 Fashion-MNIST test images (1 %) hidden among the 10,000 test digits;
ROC AUC and average precision of one model, of an ensemble (mean and max of the REs; the ensemble
includes the single model, seeds seed .. seed + n_models - 1), and of PCA with as many components as
the autoencoder has latent features.
"""
import time

import numpy as np

from ..anomaly import ReconstructionErrorDetector, train_ensemble
from ..datasets import inject_anomalies
from ..metrics import average_precision_score, roc_auc_score
from ..pca import PCA
from ._common import BATCH_SIZE, epochs_for, get_data

PAPER = {"shoe_error": 0.062, "second_error": 0.022}
SHOE_CLASSES = {5: "sandal", 7: "sneaker", 9: "ankle boot"}


def _rank(error, others):
    """1-based rank of ``error`` among ``others`` plus itself, largest first (ties ranked in its favour)."""
    return int(np.sum(others > error)) + 1


def run(data=None, *, quick=False, seed=0, latent_size=64, n_models=5, n_injected=100, models=None,
        progress=None):
    """Run both parts; returns a dict of numbers and the arrays the figure needs.

    models: already trained FFAs 784-``latent_size``-784 with the paper's set-up, used as the first
    members of the ensemble (a list, or ``{q: model}`` from which the ``latent_size`` entry is taken);
    the first must have been trained with ``seed`` (it is "the single model").  The rest of the
    ``n_models`` are trained here with seeds ``seed + 1``, ``seed + 2``, ...

    Keys: ``epochs``, ``n_train``; ``digit_errors`` (N_test,); ``largest_digit`` {index, error, image,
    reconstruction}; ``shoes`` (one dict per shoe: class, name, fashion_index, error, rank, ratio to the
    largest digit RE, image, reconstruction); ``all_shoes`` {count, fraction_first, min_error,
    median_error}; ``shoes_per_model`` (per seed: largest digit RE, the three shoes' REs and ranks);
    ``injection`` {n_injected, rows: [{method, roc_auc, average_precision,
    precision_at_n}], per_model_roc_auc}; ``seconds``; ``paper``.
    """
    (x_train, _), (x_test, y_test) = get_data(data, "mnist")
    (_, _), (fashion_test, fashion_labels) = get_data(data, "fashion_mnist")
    epochs = epochs_for(quick)
    n_models = min(n_models, 2) if quick else n_models
    timings = {}

    if isinstance(models, dict):
        models = [models[latent_size]] if latent_size in models else []
    models = list(models or [])[:n_models]
    started = time.perf_counter()
    if len(models) < n_models:  # the paper's FFA, other seeds (npae.train_ensemble)
        models += train_ensemble(x_train, latent_sizes=latent_size, seeds=range(seed + len(models), seed + n_models),
                                 epochs=epochs, batch_size=BATCH_SIZE, progress=progress)
    timings["training"] = time.perf_counter() - started
    single = models[0]

    # Part 1.  Appending one image does not change the others' REs, so the digits are scored once.
    digit_errors = single.reconstruction_error(x_test)                          # (N_test,)
    largest = int(np.argmax(digit_errors))
    shoes = []
    for label, name in SHOE_CLASSES.items():
        index = int(np.flatnonzero(fashion_labels == label)[0])
        image = fashion_test[index:index + 1]
        error = float(single.reconstruction_error(image)[0])
        shoes.append({"class": label, "name": name, "fashion_index": index, "error": error,
                      "rank": _rank(error, digit_errors), "ratio_to_largest_digit": error / digit_errors[largest],
                      "image": image[0], "reconstruction": single.reconstruct(image)[0]})
    # Model stability (paper section 3.3.1): the same test under each model of the ensemble.
    shoe_images = fashion_test[[shoe["fashion_index"] for shoe in shoes]]
    stability = []
    for k, model in enumerate(models):
        errors, errors_of_shoes = model.reconstruction_error(x_test), model.reconstruction_error(shoe_images)
        stability.append({"seed": seed + k, "largest_digit_error": float(errors.max()),
                          "shoe_errors": errors_of_shoes.tolist(),
                          "shoe_ranks": [_rank(error, errors) for error in errors_of_shoes]})
    is_shoe = np.isin(fashion_labels, list(SHOE_CLASSES))
    shoe_errors = single.reconstruction_error(fashion_test[is_shoe])
    ranked_first = shoe_errors > digit_errors.max()
    all_shoes = {"count": int(is_shoe.sum()), "fraction_first": float(np.mean(ranked_first)),
                 "fraction_first_by_class": {name: float(np.mean(ranked_first[fashion_labels[is_shoe] == label]))
                                             for label, name in SHOE_CLASSES.items()},
                 "min_error": float(shoe_errors.min()), "median_error": float(np.median(shoe_errors))}

    # Part 2: n_injected Fashion-MNIST images of any class, appended after the digits (npae.datasets).
    started = time.perf_counter()
    n_injected = min(n_injected, fashion_test.shape[0])
    injection = inject_anomalies(x_test, y_test, fashion_test, fashion_labels,
                                 n_anomalies=n_injected, seed=seed)
    mixed, labels, injected = injection.x, injection.is_anomaly.astype(np.int64), injection.source_index
    per_model = ReconstructionErrorDetector(models).model_scores(mixed)          # (n_models, N)
    pca = PCA(latent_size).fit(x_train)
    candidates = {
        f"autoencoder (1 model, q={latent_size})": per_model[0],
        f"ensemble of {n_models}, mean RE": per_model.mean(axis=0),
        f"ensemble of {n_models}, max RE": per_model.max(axis=0),
        f"PCA ({latent_size} components)": pca.reconstruction_error(mixed),
    }
    rows = []
    for method, scores in candidates.items():
        top = np.argsort(-scores, kind="stable")[:n_injected]
        rows.append({"method": method, "roc_auc": roc_auc_score(labels, scores),
                     "average_precision": average_precision_score(labels, scores),
                     "precision_at_n": float(labels[top].mean())})
    timings["injection"] = time.perf_counter() - started

    return {
        "epochs": epochs, "n_train": int(x_train.shape[0]), "latent_size": latent_size, "seed": seed,
        "digit_errors": digit_errors,
        "largest_digit": {"index": largest, "error": float(digit_errors[largest]), "image": x_test[largest],
                          "reconstruction": single.reconstruct(x_test[largest:largest + 1])[0]},
        "shoes": shoes, "all_shoes": all_shoes, "shoes_per_model": stability,
        "injection": {"n_injected": n_injected, "fashion_indices": injected, "rows": rows,
                      "per_model_roc_auc": [roc_auc_score(labels, scores) for scores in per_model]},
        "final_loss": [model.history_.history["loss"][-1] for model in models],
        "seconds": timings, "paper": PAPER,
    }
