"""Layers: the protocol (:mod:`npae.layers.base`) and the layers built on it.

    base.py    Layer, the contract every layer follows (forward, backward, parameters, gradients)
    dense.py   Dense (z = x W + b, then an activation) and TiedDense (the transpose of another's W)
    convolution.py  Conv2D and Conv2DTranspose (images channels last, (N, H, W, C), as in Keras)
    pooling.py      MaxPool2D and UpSampling2D
    reshaping.py    Flatten and Reshape
    convolution1d.py  Conv1D and Conv1DTranspose (sequences (N, T, C): the 2-D layers one pixel high)
    recurrent.py    LSTM (Keras' layout and gate order; backpropagation through time)
    sequence.py     RepeatVector and TimeDistributed (around a sequence autoencoder's LSTMs)

Activations are layers too; they live in :mod:`npae.activations`.
"""
from .base import Layer  # noqa: F401
from .dense import Dense, TiedDense  # noqa: F401
from .convolution import Conv2D, Conv2DTranspose  # noqa: F401
from .pooling import MaxPool2D, UpSampling2D  # noqa: F401
from .reshaping import Flatten, Reshape  # noqa: F401
from .convolution1d import Conv1D, Conv1DTranspose  # noqa: F401
from .recurrent import LSTM  # noqa: F401
from .sequence import RepeatVector, TimeDistributed  # noqa: F401


def _register_built_ins():
    from ..registry import register_all

    register_all((Dense, TiedDense, Conv2D, Conv2DTranspose, MaxPool2D, UpSampling2D, Flatten, Reshape))
    register_all((Conv1D, Conv1DTranspose, LSTM, RepeatVector, TimeDistributed))


_register_built_ins()
