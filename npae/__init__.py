"""npae: autoencoders from scratch in NumPy, with Numba-jitted hot loops.

Read in this order: ``layers`` (the layer protocol, Dense and backprop), ``activations``, ``losses``,
``optimizers``, ``training`` (the one training contract and its loop), ``model`` (Sequential and the
Autoencoder), then ``kernels`` (the fast versions of the element-wise work).
Nothing heavy happens at import time: Numba is imported, and each kernel compiled or loaded from its
cache, on first use.
"""
__version__ = "0.2.0"

from ._backend import jit_enabled, set_jit  # noqa: F401
from .layers import Dense, Layer, TiedDense  # noqa: F401  (first: npae.activations builds on npae.layers.base)
from .layers import Conv2D, Conv2DTranspose, Flatten, MaxPool2D, Reshape, UpSampling2D  # noqa: F401
from .layers import LSTM, Conv1D, Conv1DTranspose, RepeatVector, TimeDistributed  # noqa: F401
from .constraints import MaxNorm  # noqa: F401
from .activations import ELU, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh  # noqa: F401
from .callbacks import EarlyStopping, History  # noqa: F401
from .gradcheck import gradcheck  # noqa: F401
from .io import load  # noqa: F401
from .losses import BinaryCrossEntropy, Loss, MeanSquaredError  # noqa: F401
from .model import Autoencoder, Sequential  # noqa: F401
from .optimizers import SGD, Adam, Optimizer  # noqa: F401
from .registry import register  # noqa: F401
from .regularizers import WeightPenalty  # noqa: F401
from .training import Model  # noqa: F401
from .layers.activity import ActivityRegularization  # noqa: F401
from .variational import VariationalAutoencoder  # noqa: F401
from .anomaly import ReconstructionErrorDetector, train_ensemble  # noqa: F401
from .knn import KNNClassifier  # noqa: F401
from .pca import PCA  # noqa: F401
from .layers.topk import TopK  # noqa: F401
from .sparse_dictionary import TopKSparseAutoencoder  # noqa: F401
from .sklearn import AutoencoderTransformer  # noqa: F401
from . import timeseries  # noqa: F401,E402  (npae.timeseries.SeriesAnomalyDetector after import npae)
from .layers.vector_quantizer import VectorQuantizer  # noqa: F401
from .rate_distortion import FactorizedPrior, QuantizationNoise  # noqa: F401

# The public names (``from npae import *``, documentation tools).  Modules are reached as npae.datasets,
# npae.kernels, ...; the private ones (a leading underscore) are not part of the API.
__all__ = [
    "__version__", "jit_enabled", "set_jit",
    "Layer", "Dense", "TiedDense", "Conv2D", "Conv2DTranspose", "MaxPool2D", "UpSampling2D", "Flatten", "Reshape",
    "ActivityRegularization", "MaxNorm",
    "Activation", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "Softplus",
    "Loss", "MeanSquaredError", "BinaryCrossEntropy", "Optimizer", "Adam", "SGD", "WeightPenalty",
    "Model", "Sequential", "Autoencoder", "VariationalAutoencoder", "History", "EarlyStopping",
    "gradcheck", "load", "register",
    "ReconstructionErrorDetector", "train_ensemble", "KNNClassifier", "PCA",
    "Conv1D", "Conv1DTranspose", "LSTM", "RepeatVector", "TimeDistributed",
    "TopK", "TopKSparseAutoencoder", "AutoencoderTransformer",
    "VectorQuantizer", "FactorizedPrior", "QuantizationNoise",
]
