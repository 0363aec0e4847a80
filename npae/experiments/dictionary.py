"""Beyond the paper: sparse dictionaries (TopK sparse autoencoders, Gao et al. 2024) as interpretability uses them.

Two parts, both with npae.TopKSparseAutoencoder and the metrics of npae.dictionary_metrics:

1. **Synthetic superposition, with known features**, as in SAELens' toy benchmark (``sae_lens.synthetic``):
   m true unit feature directions F (m, D); each fires independently with probability 0.25, with a
   magnitude drawn from N(1, 0.25^2) clipped at 0 (SAELens' ``ActivationGenerator``: firing probability,
   mean and standard deviation of the firing magnitude); x = a F.  Two cases:
      "16 in 32"   16 orthonormal features in 32 dimensions (no superposition),
      "32 in 16"   32 random unit features in 16 dimensions (superposition: more features than dimensions).
   A dictionary of 2m latents with k = 6 (against a mean of 4 true features per row; with k = 4, TopK would
   drop a feature on 37% of the rows and the best dictionary is tilted: its matching score is at most
   about 0.994) or 8 for 32 in 16, trained with and without AuxK.  Reported: the matching score, SAELens'
   MCC, the mean max cosine, L0, dead latents, the normalised MSE.  Then what AuxK changes in dead latents:
   a 16x wider dictionary (256 latents, k = 4) on the 16-in-32 data, with and without AuxK, the share of
   dead latents after every epoch.

2. **Features of npae's own model**: a TopK dictionary (256 latents, k = 8) on the 64-dimensional codes of the
   paper's FFA 784-64-784 (the shared reference model), trained on the training images' codes.  Each
   feature j is decoded through the FFA's decoder into the stroke it adds, f(b_pre + s_j d_j) - f(b_pre),
   with s_j its mean activation when active; the test images that activate it most; the frequency of every
   feature; and the "loss recovered": the test BCE with the SAE's reconstruction of the code spliced into
   the decoder, against the original code and against a zero code,
   (BCE_zero - BCE_SAE) / (BCE_zero - BCE_original), 1 when the splice costs nothing.

``run`` returns plain numbers and arrays; ``npae.report.sections_dictionary`` draws them.
"""
import time

import numpy as np

from .. import dictionary_metrics as metrics
from ..optimizers import Adam
from ..sparse_dictionary import TopKSparseAutoencoder
from ._common import epochs_for, get_data, train_ffa
from .reconstruction import bce_per_pixel

FIRING_PROBABILITY = 0.25
MAGNITUDE_MEAN, MAGNITUDE_STD = 1.0, 0.25
SYNTHETIC_CASES = (  # name, true features m, dimensions D, latents n, k
    ("16 in 32", 16, 32, 32, 6),
    ("32 in 16", 32, 16, 32, 8),
)
WIDE = {"n_latents": 256, "k": 4}          # the dead-latent comparison, on the 16-in-32 data
SYNTHETIC_ROWS = {False: 32768, True: 16384}
SYNTHETIC_EPOCHS = {False: 6, True: 3}
SYNTHETIC_TEST_ROWS = 8192
LEARNING_RATE = 3e-3
BATCH_SIZE = 256
DEAD_AFTER = 2048                         # samples without firing before a latent counts as dead (8 batches)

MNIST_LATENT_SIZE = 64
MNIST_DICTIONARY = {"n_latents": 256, "k": 8}
MNIST_EPOCHS = {False: 5, True: 2}
MNIST_TRAIN_ROWS = {False: None, True: 20000}     # None: every training image's code
FEATURES_SHOWN = 10
TOP_IMAGES = 5


# ------------------------------------------------------------------ 1. synthetic superposition
def true_features(n_features, dimensions, rng):
    """(n_features, dimensions) unit rows: orthonormal when they fit, random directions otherwise."""
    if n_features <= dimensions:
        q, _ = np.linalg.qr(rng.standard_normal((dimensions, n_features)))
        return q.T
    features = rng.standard_normal((n_features, dimensions))
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def feature_activations(rows, n_features, rng, probability=FIRING_PROBABILITY):
    """(rows, n_features): each feature fires with ``probability``, magnitude max(0, N(1, 0.25^2))."""
    fires = rng.random((rows, n_features)) < probability
    return fires * np.maximum(rng.normal(MAGNITUDE_MEAN, MAGNITUDE_STD, (rows, n_features)), 0.0)


def _train(x, n_latents, k, *, aux, epochs, seed):
    """A float32 TopK SAE on x; returns it and the share of dead latents after each epoch."""
    model = TopKSparseAutoencoder(x.shape[1], n_latents, k, aux_coefficient=aux, dead_after=DEAD_AFTER, seed=seed,
                                  optimizer=Adam(learning_rate=LEARNING_RATE))
    dead_by_epoch = []
    model.fit(x, epochs=epochs, batch_size=BATCH_SIZE, verbose=0,
              callbacks=[lambda trained, epoch, logs: dead_by_epoch.append(float(np.mean(trained.dead_latents())))])
    return model, dead_by_epoch


def dictionary_row(model, x_test, true=None):
    """The metrics of a trained dictionary on test rows (and against the true features, when known)."""
    codes = model.encode(x_test)
    row = {"l0": metrics.l0(codes), "dead_fraction": metrics.dead_fraction(codes),
           # dead beyond any gradient: the ReLU's input is negative on every test row
           "relu_dead_fraction": metrics.dead_fraction(model.relu_activations(x_test)),
           "normalized_mse": metrics.normalized_mse(x_test, model.decode(codes))}
    if true is not None:
        row.update(matching_score=metrics.matching_score(model.dictionary, true),
                   mcc=metrics.mcc(model.dictionary, true),
                   mean_max_cosine=metrics.mean_max_cosine(model.dictionary, true))
    return row


def synthetic(*, quick, seed):
    """Part 1: the rows of the table, the cosine matrices to draw, and the dead-latent curves."""
    rows, cosines, curves = [], {}, {}
    epochs = SYNTHETIC_EPOCHS[quick]
    wide_data = None
    for name, n_features, dimensions, n_latents, k in SYNTHETIC_CASES:
        rng = np.random.default_rng([seed, n_features, dimensions])
        true = true_features(n_features, dimensions, rng)
        x = (feature_activations(SYNTHETIC_ROWS[quick], n_features, rng) @ true).astype(np.float32)
        x_test = (feature_activations(SYNTHETIC_TEST_ROWS, n_features, rng) @ true).astype(np.float32)
        if wide_data is None:
            wide_data = (name, x, x_test, true)
        for aux in (0.0, 1 / 32):
            model, dead_by_epoch = _train(x, n_latents, k, aux=aux, epochs=epochs, seed=seed)
            rows.append({"case": name, "n_features": n_features, "dimensions": dimensions, "n_latents": n_latents,
                         "k": k, "auxk": aux, "training_dead": dead_by_epoch[-1],
                         **dictionary_row(model, x_test, true)})
            if aux:
                cosines[name] = metrics.cosine_similarities(model.dictionary, true)
    name, x, x_test, true = wide_data
    wide_rows = []
    for aux in (0.0, 1 / 32):
        model, dead_by_epoch = _train(x, WIDE["n_latents"], WIDE["k"], aux=aux, epochs=epochs, seed=seed)
        curves["AuxK" if aux else "no AuxK"] = dead_by_epoch
        wide_rows.append({"case": name, "n_features": true.shape[0], "n_latents": WIDE["n_latents"], "k": WIDE["k"],
                          "auxk": aux, "training_dead": dead_by_epoch[-1], **dictionary_row(model, x_test, true)})
    return {"rows": rows, "cosines": cosines, "wide_rows": wide_rows, "dead_curves": curves, "epochs": epochs,
            "train_rows": SYNTHETIC_ROWS[quick], "test_rows": SYNTHETIC_TEST_ROWS}


# ------------------------------------------------------------------ 2. the features of npae's FFA
def loss_recovered(bce_original, bce_spliced, bce_zero):
    """(BCE_zero - BCE_spliced) / (BCE_zero - BCE_original): 1 when splicing costs nothing, 0 as bad as zeros."""
    return (bce_zero - bce_spliced) / (bce_zero - bce_original)


def feature_pictures(autoencoder, sae, test_codes, x_test, features):
    """For each feature j: the stroke f(b_pre + s_j d_j) - f(b_pre) (784,) and its most activating test images."""
    sparse_codes = sae.encode(test_codes)
    base = sae.pre_bias[None, :]                                                  # (1, 64)
    strokes, images, activations = [], [], []
    for j in features:
        active = sparse_codes[:, j] > 0
        scale = float(sparse_codes[active, j].mean()) if active.any() else 1.0
        stroke = autoencoder.decode(base + scale * sae.dictionary[j]) - autoencoder.decode(base)
        strokes.append(stroke[0])
        top = np.argsort(-sparse_codes[:, j], kind="stable")[:TOP_IMAGES]
        images.append(x_test[top])
        activations.append(sparse_codes[top, j])
    return {"features": [int(j) for j in features], "strokes": np.array(strokes), "top_images": np.array(images),
            "top_activations": np.array(activations), "base_image": autoencoder.decode(base)[0]}


def mnist_features(data, *, quick, seed, models, progress):
    """Part 2 on the q = 64 reference FFA's codes."""
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    autoencoder = (models or {}).get(MNIST_LATENT_SIZE)
    if autoencoder is None:
        autoencoder = train_ffa(x_train, MNIST_LATENT_SIZE, epochs=epochs_for(quick), seed=seed, progress=progress,
                                label=f"FFA 784-{MNIST_LATENT_SIZE}-784 for the dictionary")[0]
    limit = MNIST_TRAIN_ROWS[quick]
    train_codes = autoencoder.encode(x_train if limit is None else x_train[:limit])
    test_codes = autoencoder.encode(x_test)
    epochs = MNIST_EPOCHS[quick]
    results = {}
    for aux in (0.0, 1 / 32):
        sae, dead_by_epoch = _train(train_codes, MNIST_DICTIONARY["n_latents"], MNIST_DICTIONARY["k"], aux=aux,
                                    epochs=epochs, seed=seed)
        results[aux] = (sae, {"auxk": aux, "training_dead": dead_by_epoch[-1], "dead_by_epoch": dead_by_epoch,
                              **dictionary_row(sae, test_codes)})
    sae, _ = results[1 / 32]
    spliced_codes = sae.reconstruct(test_codes)
    bce = {"original": bce_per_pixel(x_test, autoencoder.decode(test_codes)),
           "spliced": bce_per_pixel(x_test, autoencoder.decode(spliced_codes)),
           "zero": bce_per_pixel(x_test, autoencoder.decode(np.zeros_like(test_codes)))}
    frequencies = {("AuxK" if aux else "no AuxK"): metrics.feature_frequencies(model.encode(test_codes))
                   for aux, (model, _) in results.items()}
    shown = np.argsort(-frequencies["AuxK"], kind="stable")[:FEATURES_SHOWN]   # the most frequent features
    return {"rows": [row for _, row in results.values()], "bce": bce,
            "loss_recovered": loss_recovered(bce["original"], bce["spliced"], bce["zero"]),
            "frequencies": frequencies, "pictures": feature_pictures(autoencoder, sae, test_codes, x_test, shown),
            "epochs": epochs, "train_rows": int(train_codes.shape[0]), "test_rows": int(test_codes.shape[0]),
            "autoencoder_epochs": len(autoencoder.history_.epoch) if autoencoder.history_ is not None else None,
            **MNIST_DICTIONARY}


def run(data=None, *, quick=False, seed=0, models=None, progress=None):
    """Both parts; ``models={64: model}`` reuses the paper's FFA 784-64-784 (otherwise one is trained)."""
    timings = {}
    started = time.perf_counter()
    synthetic_result = synthetic(quick=quick, seed=seed)
    timings["synthetic"] = time.perf_counter() - started
    started = time.perf_counter()
    mnist_result = mnist_features(data, quick=quick, seed=seed, models=models, progress=progress)
    timings["MNIST codes"] = time.perf_counter() - started
    return {"synthetic": synthetic_result, "mnist": mnist_result, "learning_rate": LEARNING_RATE,
            "batch_size": BATCH_SIZE, "dead_after": DEAD_AFTER, "epochs": synthetic_result["epochs"],
            "quick": bool(quick), "seconds": timings}
