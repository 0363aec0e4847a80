"""A VQ-VAE for 28 x 28 digits: the Keras example's set-up ("Vector-Quantized Variational Autoencoders",
Sayak Paul, keras.io/examples/generative/vq_vae), built from npae's layers and trained by npae's ``fit``.

    encoder  Conv2D(32, 3, stride 2, same, relu)   28 x 28 x 1  -> 14 x 14 x 32
             Conv2D(64, 3, stride 2, same, relu)                -> 7 x 7 x 64
             Conv2D(16, 1, same)                                -> 7 x 7 x 16     z, one 16-vector per cell
    VectorQuantizer(128 codes of size 16, beta = 0.25)          -> 7 x 7 x 16     e_k(z)   (the 49 indices k)
    decoder  Conv2DTranspose(64, 3, stride 2, same, relu)       -> 14 x 14 x 64
             Conv2DTranspose(32, 3, stride 2, same, relu)       -> 28 x 28 x 32
             Conv2DTranspose(1, 3, same)                        -> 28 x 28 x 1

Loss: the mean squared error of the reconstruction plus the quantiser's codebook and commitment terms
(:mod:`npae.layers.vector_quantizer`).  The Keras example also divides the MSE by the training set's
pixel variance and centres pixels at 0 (x / 255 - 0.5); here pixels stay in [0, 1] and the MSE is plain,
which changes only the weight of the codebook terms against the reconstruction (by 1 / variance ~ 10).

An image is then 49 indices in [0, 128): 49 x 7 bits = 43 bytes stored plainly, fewer entropy-coded.
"""
import numpy as np

from .layers import Conv2D, Conv2DTranspose
from .layers.vector_quantizer import VectorQuantizer, codebook_usage
from .model import Sequential
from .training import random_streams

__all__ = ["vq_vae", "initialize_codebook", "vq_encode", "vq_decode", "codebook_usage"]


def vq_vae(num_codes=128, code_size=16, beta=0.25, ema=None, seed=0, dtype="float32", optimizer=None):
    """The Keras example's VQ-VAE as an npae Sequential on (N, 28, 28, 1) images (see the module docstring).
    ``ema``: None (the Keras example: codebook learned by gradient) or a decay (EMA codebook updates)."""
    rng = random_streams(seed)[0]
    layers = [
        Conv2D(1, 32, 3, stride=2, padding="same", activation="relu", dtype=dtype, rng=rng),
        Conv2D(32, 64, 3, stride=2, padding="same", activation="relu", dtype=dtype, rng=rng),
        Conv2D(64, code_size, 1, padding="same", dtype=dtype, rng=rng),
        VectorQuantizer(num_codes, code_size, beta=beta, ema=ema, dtype=dtype, rng=rng),
        Conv2DTranspose(code_size, 64, 3, stride=2, padding="same", activation="relu", dtype=dtype, rng=rng),
        Conv2DTranspose(64, 32, 3, stride=2, padding="same", activation="relu", dtype=dtype, rng=rng),
        Conv2DTranspose(32, 1, 3, padding="same", dtype=dtype, rng=rng),
    ]
    return Sequential(layers, loss="mse", optimizer=optimizer, input_shape=(28, 28, 1), seed=seed)


def _quantizer(model):
    for index, layer in enumerate(model.layers):
        if isinstance(layer, VectorQuantizer):
            return index, layer
    raise ValueError("the model has no VectorQuantizer layer: build it with npae.vqvae.vq_vae")


def initialize_codebook(model, x, seed=0):
    """Start the codebook at encoder outputs of the images x (see VectorQuantizer.initialize_from)."""
    index, quantizer = _quantizer(model)
    x = np.asarray(x, dtype=model.dtype).reshape(-1, *model.input_shape)
    quantizer.initialize_from(model._forward(x, training=False, layers=model.layers[:index]), seed)


def vq_encode(model, x, batch_size=1000):
    """The code indices of images x (N, 28, 28, 1) or (N, 784): int64 (N, 7 * 7), row-major over the grid."""
    index, quantizer = _quantizer(model)
    x = np.asarray(x, dtype=model.dtype).reshape(-1, *model.input_shape)
    blocks = []
    for start in range(0, x.shape[0], batch_size):
        z = model._forward(x[start:start + batch_size], training=False, layers=model.layers[:index])
        blocks.append(quantizer.quantize(z).reshape(z.shape[0], -1))
    return np.concatenate(blocks)


def vq_decode(model, indices, grid=(7, 7), batch_size=1000):
    """Images (N, 784) in [0, 1] (clipped) from code indices (N, 49)."""
    index, quantizer = _quantizer(model)
    indices = np.asarray(indices)
    blocks = []
    for start in range(0, indices.shape[0], batch_size):
        vectors = quantizer.lookup(indices[start:start + batch_size].reshape(-1, *grid))
        images = model._forward(vectors, training=False, layers=model.layers[index + 1:])
        blocks.append(np.clip(images.reshape(images.shape[0], -1), 0, 1))
    return np.concatenate(blocks)
