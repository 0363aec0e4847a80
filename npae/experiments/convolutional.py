"""Paper section 4, "beyond FFA": a convolutional denoising autoencoder against the FFA (figure 13), and
the comparison the paper's own remark calls for, at an equally small code.

The notebook's set-up (paper-notes.md, "Beyond feed-forward"): inputs x + 0.55 N(0, 1) (not clipped),
clean targets; the convolutional model of :func:`paper_model` against the FFA 784-32-784, both with
Adam, BCE, batch 150, the last 20 % of the training images held out for validation, 30 epochs.  The
notebook printed validation BCEs of 0.0970 (convolutional) and 0.1301 (FFA).

That model's "bottleneck" is 24 x 24 x 32 = 18,432 numbers, 23.5 times the 784 pixels, so it need not
compress at all.  Beyond the paper: :func:`small_code_model` pools down to 4 x 4 x 8 = 128 numbers (the
Keras blog's convolutional autoencoder), compared with the FFA 784-128-784, on plain reconstruction and
on denoising, trained identically.

Three set-ups for the convolutional models, each stated in the result (``setup``) and in the report
beside every number:

    full     the notebook's: 60,000 training images (48,000 + 12,000 for validation), 30 epochs
             (``npae reproduce --only convolutional --full-convolutional``; two hours for the denoiser
             alone on a 2-core AMD EPYC on 2026-12-07, validation BCE 0.0969 against the notebook's 0.0970:
             :data:`QUIET_SECONDS_PER_STEP`)
    default  6,000 training images (4,800 + 1,200), 2 epochs: about a minute on a quiet 2-core machine
    quick    1,500 training images (1,200 + 300), 1 epoch: a few seconds

The FFA 784-32-784 it is compared with costs seconds, so outside ``quick`` it always gets the notebook's
full set-up (as section 5's denoiser does): the comparison is never against an untrained baseline.  Both
are then scored on the same images, the noisy test set against its clean originals.  When the
convolutional model trained less than the FFA (the default set-up), a win for it still shows the claim
(its handicap only works against it); a loss does not refute it (``ffa_setup``, ``equal_training``).
"""
import time
from typing import NamedTuple

import numpy as np

from ._common import get_data, train_ffa
from .denoising import add_noise

NOISE = 0.55
BATCH_SIZE = 150
VALIDATION_SPLIT = 0.2
MAX_NORM = 2.0
IMAGE_SHAPE = (28, 28, 1)
FFA_CODE = 32                      # the notebook's FFA 784-32-784
SMALL_CODE = 128                   # 4 x 4 x 8, and the FFA 784-128-784 it is compared with
PAPER = {"convolutional": 0.0970, "ffa": 0.1301}   # the notebook's final validation BCEs
# One training step of the paper's denoiser (150 images) on a 2-core AMD EPYC (Zen 3, AVX2), the benchmark
# alone on the machine (benchmarks/bench_conv.py, 2026-12-07, the README's table; 0.36 s on 2026-12-01, when
# the same kind of machine ran faster): the stable basis of the full set-up's estimate.  The full run of
# 2026-12-07 took 0.78 s per step, its validation pass included.
QUIET_SECONDS_PER_STEP = 0.685
# A validation pass over 20 % of the images costs about a third of a training step per image (forward only):
# (0.2 / 0.8) / 3 of the training time.
VALIDATION_OVERHEAD = VALIDATION_SPLIT / (1 - VALIDATION_SPLIT) / 3


class Setup(NamedTuple):
    name: str
    training_images: int          # taken from the start of the training set; the last 20 % validate
    epochs: int


SETUPS = {"full": Setup("full (the notebook's)", 60000, 30), "default": Setup("reduced", 6000, 2),
          "quick": Setup("quick", 1500, 1)}


def paper_model(seed=0, dtype="float32"):
    """The notebook's convolutional denoiser (paper-notes.md, "Beyond feed-forward"):

        28x28x1 -> Conv2D(64, 3x3, valid, ReLU) 26x26x64 -> Conv2D(32, 3x3, valid, ReLU) 24x24x32
        -> Conv2DTranspose(32, 3x3, valid, ReLU) 26x26x32 -> Conv2DTranspose(64, 3x3, valid, ReLU) 28x28x64
        -> Conv2D(1, 3x3, same, sigmoid) 28x28x1

    he_uniform initialisation and max_norm(2.0) (Keras' default axis 0) on every kernel, as the notebook;
    BCE with the sigmoid in the loss (the last layer gives logits, see npae.losses); Adam, Keras' defaults.
    """
    from .. import Autoencoder, BinaryCrossEntropy, Conv2D, Conv2DTranspose, MaxNorm

    rng = np.random.default_rng(seed)
    options = dict(init="he_uniform", constraint=MaxNorm(MAX_NORM), dtype=dtype, rng=rng)
    encoder = [Conv2D(1, 64, 3, activation="relu", **options), Conv2D(64, 32, 3, activation="relu", **options)]
    decoder = [Conv2DTranspose(32, 32, 3, activation="relu", **options),
               Conv2DTranspose(32, 64, 3, activation="relu", **options),
               Conv2D(64, 1, 3, padding="same", **options)]
    return Autoencoder(encoder=encoder, decoder=decoder, loss=BinaryCrossEntropy(from_logits=True), seed=seed)


def small_code_model(seed=0, dtype="float32"):
    """A convolutional autoencoder with a real bottleneck of 4 x 4 x 8 = 128 numbers (the Keras blog's):

        28x28x1 -> Conv2D(16, same, ReLU) -> MaxPool2D(same) 14x14x16 -> Conv2D(8, same, ReLU) -> MaxPool2D 7x7x8
        -> Conv2D(8, same, ReLU) -> MaxPool2D(same) 4x4x8  (the code)
        -> Conv2D(8, same, ReLU) -> UpSampling2D 8x8x8 -> Conv2D(8, same, ReLU) -> UpSampling2D 16x16x8
        -> Conv2D(16, valid, ReLU) 14x14x16 -> UpSampling2D 28x28x16 -> Conv2D(1, same, sigmoid) 28x28x1

    3x3 kernels; Keras' defaults otherwise (Glorot uniform, no constraint), as in the blog.
    """
    from .. import Autoencoder, BinaryCrossEntropy, Conv2D, MaxPool2D, UpSampling2D

    rng = np.random.default_rng(seed)

    def conv(channels_in, channels_out, padding="same", activation="relu"):
        return Conv2D(channels_in, channels_out, 3, padding=padding, activation=activation, dtype=dtype, rng=rng)

    encoder = [conv(1, 16), MaxPool2D(2, padding="same"), conv(16, 8), MaxPool2D(2, padding="same"),
               conv(8, 8), MaxPool2D(2, padding="same")]
    decoder = [conv(8, 8), UpSampling2D(2), conv(8, 8), UpSampling2D(2), conv(8, 16, padding="valid"),
               UpSampling2D(2), conv(16, 1, activation="identity")]
    return Autoencoder(encoder=encoder, decoder=decoder, loss=BinaryCrossEntropy(from_logits=True), seed=seed)


def _train(model, x, y, setup, progress, label):
    """fit with the notebook's batch and split; returns (history dict, seconds, seconds per training step)."""
    from ..progress import fit_with_progress

    started = time.perf_counter()
    history = fit_with_progress(model, x, y, epochs=setup.epochs, batch_size=BATCH_SIZE,
                                validation_split=VALIDATION_SPLIT, progress=progress, label=label)
    seconds = time.perf_counter() - started
    steps_per_epoch = -(-int(round(x.shape[0] * (1 - VALIDATION_SPLIT))) // BATCH_SIZE)
    # per step from the last epoch (its validation pass included): the first one also pays for first use
    # (compiled kernels loaded, buffers touched for the first time)
    return history.history, seconds, history.history["seconds"][-1] / steps_per_epoch


def _row(name, model, history, seconds, code_size):
    return {"model": name, "parameters": int(model.count_parameters()), "code_size": int(code_size),
            "val_bce": float(history["val_loss"][-1]), "loss": list(history["loss"]),
            "val_loss": list(history["val_loss"]), "seconds": seconds}


def _setup_dict(setup, available):
    count = min(setup.training_images, available)
    return {"name": setup.name, "training_images": count,
            "validation_images": count - int(round(count * (1 - VALIDATION_SPLIT))),
            "epochs": setup.epochs, "batch_size": BATCH_SIZE, "noise": NOISE, "full": setup is SETUPS["full"]}


def run(data=None, *, quick=False, full=False, seed=0, n_examples=10, progress=None):
    """Train the four comparisons; returns the set-ups, the rows of both tables, figure 13's images and
    the timings (with the full set-up's time estimated, quiet and at this run's speed, when it is not the
    full run).  ``full=True`` runs the notebook's set-up (``quick`` is then ignored)."""
    setup = SETUPS["full" if full else "quick" if quick else "default"]
    ffa_setup = setup if quick and not full else SETUPS["full"]     # the FFA is cheap: the notebook's set-up
    (x_train, _), (x_test, _) = get_data(data, "mnist")
    count = min(setup.training_images, x_train.shape[0])
    clean = x_train[:count]
    rng = np.random.default_rng(seed)
    noisy = add_noise(clean, NOISE, rng)                 # once, as the notebook: the same noise every epoch
    test_noisy = add_noise(x_test, NOISE, np.random.default_rng([seed, 2]))   # one yardstick for both models

    def images(flat):
        return flat.reshape((-1,) + IMAGE_SHAPE)

    # The paper's comparison: the convolutional denoiser against the FFA 784-32-784.
    convolutional = paper_model(seed)
    history, seconds, per_step = _train(convolutional, images(noisy), images(clean), setup, progress,
                                        "convolutional denoiser (paper section 4)")
    paper_rows = [_row("convolutional (paper's)", convolutional, history, seconds, convolutional.latent_size)]
    ffa_count = min(ffa_setup.training_images, x_train.shape[0])
    ffa_clean = x_train[:ffa_count]
    ffa_noisy = noisy if ffa_setup is setup else add_noise(ffa_clean, NOISE, np.random.default_rng([seed, 1]))
    ffa, ffa_history, ffa_seconds = train_ffa(ffa_noisy, FFA_CODE, y=ffa_clean, epochs=ffa_setup.epochs, seed=seed,
                                              batch_size=BATCH_SIZE, validation_split=VALIDATION_SPLIT,
                                              progress=progress, label=f"FFA 784-{FFA_CODE}-784 denoiser")
    paper_rows.append(_row(f"FFA 784-{FFA_CODE}-784", ffa, ffa_history.history, ffa_seconds, FFA_CODE))
    paper_rows[0]["test_bce"] = float(convolutional.evaluate(images(test_noisy), images(x_test)))
    paper_rows[1]["test_bce"] = float(ffa.evaluate(test_noisy, x_test))
    examples_noisy = test_noisy[:n_examples]
    figure = {"noisy": examples_noisy, "ffa": ffa.reconstruct(examples_noisy),
              "convolutional": convolutional.reconstruct(images(examples_noisy)).reshape(n_examples, -1),
              "clean": x_test[:n_examples]}

    # Beyond the paper: an equally small code of 128 numbers, with and without noise, trained identically.
    small_rows = []
    for task, inputs in (("reconstruction", clean), ("denoising", noisy)):
        model = small_code_model(seed)
        history, seconds, _ = _train(model, images(inputs), images(clean), setup, progress,
                                     f"convolutional 4x4x8 code, {task}")
        row = _row("convolutional, 4x4x8 code", model, history, seconds, model.latent_size)
        ffa_small, ffa_small_history, ffa_small_seconds = train_ffa(
            inputs, SMALL_CODE, y=clean, epochs=setup.epochs, seed=seed, batch_size=BATCH_SIZE,
            validation_split=VALIDATION_SPLIT, progress=progress, label=f"FFA 784-{SMALL_CODE}-784, {task}")
        small_rows += [dict(row, task=task),
                       dict(_row(f"FFA 784-{SMALL_CODE}-784", ffa_small, ffa_small_history.history,
                                 ffa_small_seconds, SMALL_CODE), task=task)]

    full_setup = SETUPS["full"]
    full_steps = full_setup.epochs * -(-int(full_setup.training_images * (1 - VALIDATION_SPLIT)) // BATCH_SIZE)
    return {
        "setup": _setup_dict(setup, x_train.shape[0]), "ffa_setup": _setup_dict(ffa_setup, x_train.shape[0]),
        "equal_training": ffa_setup is setup, "test_images": int(x_test.shape[0]),
        "epochs": setup.epochs, "paper": dict(PAPER), "paper_rows": paper_rows, "small_rows": small_rows,
        "figure": figure,
        "seconds_per_step": per_step,
        # this run's last epoch per step (validation included) x the full set-up's steps: moves with the load
        "full_run_estimate_seconds": None if full else per_step * full_steps,
        # the quiet machine's step (QUIET_SECONDS_PER_STEP) x the steps, plus the validation passes: stable
        "full_run_quiet_estimate_seconds": QUIET_SECONDS_PER_STEP * full_steps * (1 + VALIDATION_OVERHEAD),
        "full_run_steps": full_steps,
        "seconds": {"convolutional denoiser": paper_rows[0]["seconds"], "FFA": paper_rows[1]["seconds"],
                    "small-code comparison": sum(row["seconds"] for row in small_rows)},
    }
