"""Weight initialisers.  Each takes (fan_in, fan_out), a NumPy Generator and a dtype, and returns W (fan_in, fan_out).

Values are drawn in float64 and then cast, so a float32 and a float64 model built with the same seed start
from the same numbers (up to rounding), which is what lets the tests compare the two precisions.
"""
import numpy as np


def glorot_uniform(fan_in, fan_out, rng, dtype):
    """W ~ U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    Keeps the variance of activations and of gradients roughly constant across layers
    (Glorot & Bengio 2010, eq. 16).  Keras' default for Dense, hence the paper's set-up.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def he_normal(fan_in, fan_out, rng, dtype):
    """W ~ N(0, 2 / fan_in): the variance that keeps ReLU activations from shrinking (He et al. 2015, eq. 10).

    A plain normal; Keras draws from a normal truncated at two standard deviations instead.
    """
    return (rng.standard_normal(size=(fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)


def zeros(fan_in, fan_out, rng, dtype):
    """W = 0.  Useful in tests; a whole network of zeros never breaks symmetry, so it cannot learn."""
    return np.zeros((fan_in, fan_out), dtype=dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_normal": he_normal, "zeros": zeros}


def get_initializer(name):
    """Look ``name`` up in INITIALIZERS; a callable is returned as it is."""
    if callable(name):
        return name
    if name not in INITIALIZERS:
        raise ValueError(f"init={name!r} is not one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
