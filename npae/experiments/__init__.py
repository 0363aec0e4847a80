"""The paper's experiments as functions that return numbers: what ``npae reproduce`` tables and plots.

Each module has ``run(data=None, *, quick=False, seed=0, ...) -> dict``, listed here in the paper's order:

    reconstruction  experiment 1: q = 8, 16, 64 reconstructions; BCE against MSE at q = 16
    knn             experiment 2: kNN (k = 7) on raw pixels against latent features (tables 1 and 2)
    dimensionality  experiment 3: the curse of dimensionality, formula beside a simulation (table 3)
    anomaly         experiment 4: the shoe among the digits, and 100 injected Fashion-MNIST images (ROC AUC)
    denoising       experiment 5: x + 0.55 N(0, 1) in, clean digits out
    pca             experiment 6: PCA against autoencoders; a linear autoencoder spans PCA's subspace
    compression     experiment 7: bytes per image against reconstruction quality
    convolutional   paper section 4: a convolutional denoiser against the FFA (figure 13), and at equal code size
    beyond          beyond the paper: sparse and variational autoencoders, anomaly scores (SCORES)
    timeseries      beyond the paper: Dense, Conv1D and LSTM autoencoders on labelled series, with baselines

Beside them, ``pytorch_reference`` (not an experiment) holds PyTorch's numbers for the reference FFAs,
with the code that measured them: the reference of experiment 1 and of the training curves.

``data`` is a mapping ``{"mnist": ..., "fashion_mnist": ...}`` of ``((x_train, y_train), (x_test, y_test))``
pairs as :func:`npae.datasets.load_mnist` returns them (float32 in [0, 1], flattened to 784); None loads
them.  Results are plain dicts of floats, lists and NumPy arrays; nothing is plotted here.
``quick=True`` trains for fewer epochs (the report must say so: every result carries ``"epochs"``).
Experiments that use the paper's reference FFAs (784-q-784, BCE, 30 epochs) accept ``models={q: model}``
so that one trained model serves them all.

The modules are imported on first use (:func:`load`), so importing this registry costs nothing.
"""
import importlib
from typing import NamedTuple


class Experiment(NamedTuple):
    """One entry of the registry: the module ``npae.experiments.<name>`` and what it needs."""

    name: str
    number: int
    title: str
    paper: str               # where it is in the paper
    datasets: tuple           # keys of ``data`` that run() reads
    reference_models: tuple   # latent sizes q of the shared MNIST reference FFAs it can reuse


EXPERIMENTS = {experiment.name: experiment for experiment in (
    Experiment("reconstruction", 1, "Reconstructions", "figures 4-8", ("mnist",), (8, 16, 64)),
    Experiment("knn", 2, "kNN on latent features", "tables 1 and 2", ("mnist", "fashion_mnist"), (8,)),
    Experiment("dimensionality", 3, "The curse of dimensionality", "table 3", (), ()),
    Experiment("anomaly", 4, "Anomaly detection", "figures 9-11", ("mnist", "fashion_mnist"), (64,)),
    Experiment("denoising", 5, "Denoising", "figure 12", ("mnist",), ()),
    Experiment("pca", 6, "Dimensionality reduction and PCA", "section 3.5", ("mnist",), (8, 16, 32, 64)),
    Experiment("compression", 7, "Compression", "section 3.6", ("mnist", "fashion_mnist"), (2, 4, 8, 16, 32, 64)),
    Experiment("convolutional", 8, "Beyond feed-forward: convolutional autoencoders", "section 4, figure 13",
               ("mnist",), ()),
    Experiment("beyond", 9, "Beyond the paper: sparse and variational autoencoders, anomaly scores",
               "none: the Keras blog and PyTorch's examples/vae", ("mnist", "fashion_mnist"), (32, 64, 128)),
    Experiment("timeseries", 10, "Beyond the paper: anomalies in time series", "none: the TensorFlow and Keras "
               "tutorials, the UCR anomaly archive", (), ()),
    Experiment("dictionary", 11, "Beyond the paper: sparse dictionaries (TopK autoencoders) and npae's own features",
               "none: Gao et al. 2024 and SAELens' synthetic benchmark", ("mnist",), (64,)),
)}


def load(name):
    """The module of experiment ``name`` (a key of ``EXPERIMENTS``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"{__name__}.{name}")
