"""The window autoencoders of the tutorials, built from npae's layers.  Each maps windows (N, w, C) to
reconstructions of the same shape, trained with the mean squared error and Adam (learning rate 1e-3 by
default, Keras' tutorial's).

    "dense"   TensorFlow's "Intro to Autoencoders" ECG model, on a flattened window:
              Flatten, Dense(w C, 32, relu), Dense(32, 16, relu), Dense(16, 8, relu),
              Dense(8, 16, relu), Dense(16, 32, relu), Dense(32, w C), Reshape((w, C))
              (the tutorial ends in a sigmoid on min-max scaled data; the windows here are z-scored)
    "conv1d"  Keras' "Timeseries anomaly detection using an Autoencoder":
              Conv1D(C, 32, 7, stride 2, same, relu), Conv1D(32, 16, 7, stride 2, same, relu),
              Conv1DTranspose(16, 16, 7, stride 2, same, relu), Conv1DTranspose(16, 32, 7, stride 2, same,
              relu), Conv1DTranspose(32, C, 7, same) -- without the tutorial's two Dropout(0.2) layers
              (npae has no dropout); needs w divisible by 4
    "lstm"    the Keras blog's sequence-to-sequence autoencoder: LSTM(C, 32) (the code: the last hidden
              state), RepeatVector(w), LSTM(32, 32, return_sequences=True), TimeDistributed(Dense(32, C))
"""
from ..layers import (LSTM, Conv1D, Conv1DTranspose, Dense, Flatten, RepeatVector, Reshape, TimeDistributed)
from ..model import Sequential

MODELS = ("dense", "conv1d", "lstm")
LEARNING_RATE = 1e-3


def check_model_fits(kind, window):
    """ValueError if the built-in model ``kind`` cannot take windows of length ``window``."""
    if kind not in MODELS:
        raise ValueError(f"model must be one of {MODELS} or an npae model, got {kind!r}")
    if kind == "conv1d" and window % 4:
        raise ValueError(f"model='conv1d' halves the window twice and doubles it back: window must be a multiple "
                         f"of 4, got {window}")


def build_model(kind, window, channels=1, *, seed=0, dtype="float32", learning_rate=LEARNING_RATE):
    """A fresh, seeded ``npae.Sequential`` of the kind ``kind`` for windows (w, C) (module docstring)."""
    check_model_fits(kind, window)
    w, C = window, channels
    seeds = iter(range(seed * 100, seed * 100 + 100))   # one stream per layer, all from ``seed``

    def dense(n_in, n_out, activation="identity"):
        return Dense(n_in, n_out, activation=activation, dtype=dtype, rng=next(seeds))

    if kind == "dense":
        layers = [Flatten(), dense(w * C, 32, "relu"), dense(32, 16, "relu"), dense(16, 8, "relu"),
                  dense(8, 16, "relu"), dense(16, 32, "relu"), dense(32, w * C), Reshape((w, C))]
    elif kind == "conv1d":
        options = dict(stride=2, padding="same", activation="relu", dtype=dtype)
        layers = [Conv1D(C, 32, 7, rng=next(seeds), **options), Conv1D(32, 16, 7, rng=next(seeds), **options),
                  Conv1DTranspose(16, 16, 7, rng=next(seeds), **options),
                  Conv1DTranspose(16, 32, 7, rng=next(seeds), **options),
                  Conv1DTranspose(32, C, 7, padding="same", dtype=dtype, rng=next(seeds))]
    else:
        layers = [LSTM(C, 32, dtype=dtype, rng=next(seeds)), RepeatVector(w),
                  LSTM(32, 32, return_sequences=True, dtype=dtype, rng=next(seeds)),
                  TimeDistributed(dense(32, C))]
    return Sequential(layers, loss="mse", optimizer={"name": "adam", "learning_rate": learning_rate},
                      input_shape=(w, C), seed=seed)
