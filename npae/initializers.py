"""Weight initialisers.  Each is a function ``initializer(shape, rng, dtype) -> array of that shape``.

Fans, as Keras computes them (so that a layer here starts from the same distribution as in the paper's
framework): for a Dense matrix of shape (fan_in, fan_out) they are its two sizes; for a convolution
kernel (kh, kw, channels_in, channels_out) each input and output channel is seen through a kh x kw
window, so fan_in = kh kw channels_in and fan_out = kh kw channels_out.

Values are drawn in float64 and then cast, so a float32 and a float64 model built with the same seed start
from the same numbers (up to rounding), which is what lets the tests compare the two precisions.

A custom initialiser is any function with the same signature; it is not stored in saved files (the
trained weights are).
"""
import numpy as np


def fans(shape):
    """(fan_in, fan_out) of a weight array of ``shape``: see the module docstring."""
    if len(shape) < 2:
        raise ValueError(f"fans are defined for weight arrays of at least 2 dimensions, got shape {shape}")
    receptive_field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(shape, rng, dtype):
    """W ~ U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    Keeps the variance of activations and of gradients roughly constant across layers
    (Glorot & Bengio 2010, eq. 16).  Keras' default for Dense and Conv2D, hence the paper's set-up.
    """
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_uniform(shape, rng, dtype):
    """W ~ U(-limit, limit), limit = sqrt(6 / fan_in): variance 2 / fan_in, which keeps ReLU activations
    from shrinking layer after layer (He et al. 2015, eq. 10).  The paper's convolutional notebook uses it."""
    fan_in, _ = fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, rng, dtype):
    """W ~ N(0, 2 / fan_in), the normal form of he_uniform's variance.

    A plain normal; Keras draws from a normal truncated at two standard deviations instead.
    """
    fan_in, _ = fans(shape)
    return (rng.standard_normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def pytorch_uniform(shape, rng, dtype):
    """W ~ U(-limit, limit), limit = 1 / sqrt(fan_in): PyTorch's default for ``nn.Linear`` (its
    ``kaiming_uniform_`` with a = sqrt(5) works out to this bound), variance 1 / (3 fan_in).  PyTorch draws
    the bias from the same range; npae's Dense starts it at 0 (``npae.VariationalAutoencoder`` with this
    init draws it too, to match PyTorch's examples/vae)."""
    fan_in, _ = fans(shape)
    limit = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, rng, dtype):
    """W = 0.  Useful in tests; a whole network of zeros never breaks symmetry, so it cannot learn."""
    return np.zeros(shape, dtype=dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_uniform": he_uniform, "he_normal": he_normal,
                "pytorch_uniform": pytorch_uniform, "zeros": zeros}


def get_initializer(init):
    """The function named ``init`` in INITIALIZERS, or ``init`` itself if it is callable."""
    if callable(init):
        return init
    if init is None:
        raise ValueError("init=None: this layer was saved with a custom initialiser, which files do not store "
                         "(they store the trained weights); give init= a name or a function to build a new one")
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"init={init!r} is not one of {sorted(INITIALIZERS)} or a function (shape, rng, dtype)")
    return INITIALIZERS[init]


def initializer_config(init):
    """What ``get_config`` stores for ``init``: its name, or None for a custom function (not saved)."""
    return init if isinstance(init, str) else None
