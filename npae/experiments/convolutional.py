"""Paper section 4 ("beyond FFA"): a convolutional denoising autoencoder against the FFA, and beyond it.
(Work in progress: model builders first.)
"""
import numpy as np

NOISE = 0.55
BATCH_SIZE = 150
VALIDATION_SPLIT = 0.2
MAX_NORM = 2.0
IMAGE_SHAPE = (28, 28, 1)


def paper_model(seed=0, dtype="float32"):
    """The notebook's convolutional denoiser (paper-notes.md, "Beyond feed-forward"):

        28x28x1 -> Conv2D(64, 3x3, valid, ReLU) 26x26x64 -> Conv2D(32, 3x3, valid, ReLU) 24x24x32
        -> Conv2DTranspose(32, 3x3, valid, ReLU) 26x26x32 -> Conv2DTranspose(64, 3x3, valid, ReLU) 28x28x64
        -> Conv2D(1, 3x3, same, sigmoid) 28x28x1

    he_uniform initialisation and max_norm(2.0) on every kernel, as the notebook; BCE with the sigmoid in
    the loss (the last layer gives logits, see npae.losses); Adam with Keras' defaults.
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
