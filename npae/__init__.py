"""npae: autoencoders from scratch in NumPy, with Numba-jitted hot loops.

Read in this order: ``layers`` (Dense, backprop), ``activations``, ``losses``, ``optimizers``, ``model``
(the Autoencoder and its training loop), then ``kernels`` (the fast versions of the element-wise work).
Nothing heavy happens at import time: Numba is imported, and each kernel compiled or loaded from its
cache, on first use.
"""
__version__ = "0.1.0"

from ._backend import jit_enabled, set_jit  # noqa: F401
from .callbacks import EarlyStopping  # noqa: F401
from .activations import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh  # noqa: F401
from .gradcheck import gradcheck  # noqa: F401
from .io import load  # noqa: F401
from .layers import Dense, TiedDense  # noqa: F401
from .losses import BinaryCrossEntropy, MeanSquaredError  # noqa: F401
from .model import Autoencoder, History, Sequential  # noqa: F401
from .optimizers import SGD, Adam  # noqa: F401
from .regularizers import WeightPenalty  # noqa: F401
from .anomaly import ReconstructionErrorDetector, train_ensemble  # noqa: F401
from .knn import KNNClassifier  # noqa: F401
from .pca import PCA  # noqa: F401
