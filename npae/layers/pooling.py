"""Pooling and upsampling: MaxPool2D shrinks an image, UpSampling2D enlarges it.  No parameters.

Channels last, as in Keras: x (N, H, W, C).  Both act on each channel separately; the loops are in
:mod:`npae.kernels.convolution` (a NumPy reference and a Numba kernel each).  Each image is pooled on its
own, so a batch is split into blocks of images on both cores (:func:`npae.kernels.workers.in_blocks`, as
the convolutions): every block writes its own images, so the result does not depend on which thread took
which.  On one core, pooling had been a quarter of the small-bottleneck model's training step; on two,
MaxPool2D's forward at 28 x 28 x 16, batch 150, took 5.4 ms instead of 8.8 ms, its backward 2.0 ms instead
of 2.9 ms (the loops compare and branch: arithmetic, not memory, is their limit, unlike the convolutions'
bias-and-activation passes, which stay on one thread).
"""
import numpy as np

from ..kernels import convolution as kernels
from ..kernels.workers import in_blocks, parallel_blocks
from .base import Layer
from .convolution import check_image_shape, check_images, check_padding, window_geometry


MAX_POOL_SIZE = 11   # the p^2 positions of a window are stored as int8: p^2 <= 127
BLOCK_BYTES = 1 << 20  # input and output of a block of images: well inside one core's L2 cache


def _by_images(images, bytes_per_image, work):
    """work(start, stop) over blocks of the batch's images, on every core (module docstring)."""
    in_blocks(parallel_blocks(images, bytes_per_image, BLOCK_BYTES), lambda index, start, stop, slot: work(start, stop))


def _size(value, argument, largest=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    if largest is not None and value > largest:
        raise ValueError(f"{argument} must be at most {largest} (window positions are stored as int8), got {value!r}")
    return int(value)


class MaxPool2D(Layer):
    """The largest value of each p x p window, windows side by side (stride p), per channel.

    Shapes:  x (N, H, W, C)  ->  a (N, Ho, Wo, C), with (Keras' rules, as for Conv2D with a p x p kernel
    and stride p):  "valid" Ho = floor((H - p) / p) + 1 (a last partial window is dropped);  "same"
    Ho = ceil(H / p) (a window may reach past the image, by one row after it for 7 -> 4 with p = 2: only
    its pixels inside the image count).

    Forward:   a[n, i, j, c] = max_{di, dj < p} x[n, i p + di - p_t, j p + dj - p_l, c]
    Backward:  the gradient of a max is 1 for the entry that is the max and 0 for the others, so
               dL/dx[n, y, x', c] = dL/da[n, i, j, c] at the window's maximum, 0 elsewhere.
    Which entry is "the" maximum, PyTorch's rule on both paths (NPAE_JIT=0 or not):
    * ties: the first maximum in row-major order within the window (top row first, then left to right);
    * a NaN in a window makes its maximum NaN, and the gradient goes to the window's last NaN;
    * a window of -infinity gives -infinity, and its gradient goes to its first pixel inside the image
      (never to the "same" padding, which is not part of the image).
    The window position of each maximum is kept by the training forward (an int8 per output value).

    Parameters: ``pool_size`` p (int, default 2); ``padding`` "valid" (default, Keras') or "same".
    """

    def __init__(self, pool_size=2, padding="valid"):
        self.pool_size = _size(pool_size, "pool_size", MAX_POOL_SIZE)
        self.padding = check_padding(padding)

    def get_config(self):
        return {"pool_size": self.pool_size, "padding": self.padding}

    def _geometry(self, height, width):
        p = self.pool_size
        if self.padding == "valid" and (height < p or width < p):
            raise ValueError(f"{self!r}: the {p}x{p} pool is larger than the {height}x{width} input (use "
                             "padding='same' or a smaller pool_size)")
        out_h, pad_top = window_geometry(height, p, p, self.padding)
        out_w, pad_left = window_geometry(width, p, p, self.padding)
        return (out_h, out_w), (pad_top, pad_left)

    def output_shape(self, input_shape):
        height, width, channels = check_image_shape(self, input_shape, None)
        (out_h, out_w), _ = self._geometry(height, width)
        return (out_h, out_w, channels)

    def check_input(self, x):
        return check_images(self, x)

    def _forward(self, x):                                            # x (N, H, W, C)
        batch, height, width, channels = x.shape
        (out_h, out_w), pads = self._geometry(height, width)
        a = self.buffer("a", (batch, out_h, out_w, channels), x.dtype)           # (N, Ho, Wo, C) the maxima
        argmax = self.buffer("argmax", a.shape, np.int8)                         # where: di p + dj
        p = self.pool_size
        _by_images(batch, x[0].nbytes + a[0].nbytes, lambda start, stop: kernels.max_pool_forward(
            x[start:stop], p, p, *pads, a[start:stop], argmax[start:stop]))
        self.keep(input_shape=x.shape, argmax=argmax, pads=pads)
        return a

    def _backward(self, grad_a):                                      # grad_a (N, Ho, Wo, C)
        grad_x = self.buffer("grad_x", self.kept.input_shape, grad_a.dtype)     # (N, H, W, C)
        p, argmax, pads = self.pool_size, self.kept.argmax, self.kept.pads
        _by_images(grad_x.shape[0], grad_x[0].nbytes + grad_a[0].nbytes, lambda start, stop: kernels.max_pool_backward(
            grad_a[start:stop], argmax[start:stop], p, p, *pads, grad_x[start:stop]))
        return grad_x


class UpSampling2D(Layer):
    """Nearest-neighbour upsampling: each pixel becomes an s x s block of copies (Keras' ``UpSampling2D``).

    Shapes:  x (N, H, W, C)  ->  a (N, s H, s W, C)
    Forward:   a[n, i, j, c] = x[n, floor(i / s), floor(j / s), c]
    Backward:  each input pixel was copied to s^2 outputs, so its gradient is their sum:
               dL/dx[n, i, j, c] = sum_{a, b < s} dL/da[n, i s + a, j s + b, c]

    Parameters: ``size`` s (int, default 2).
    """

    def __init__(self, size=2):
        self.size = _size(size, "size")

    def get_config(self):
        return {"size": self.size}

    def output_shape(self, input_shape):
        height, width, channels = check_image_shape(self, input_shape, None)
        return (height * self.size, width * self.size, channels)

    def check_input(self, x):
        return check_images(self, x)

    def _forward(self, x):                                            # x (N, H, W, C)
        a = self.buffer("a", (x.shape[0],) + self.output_shape(x.shape[1:]), x.dtype)  # (N, s H, s W, C)
        _by_images(x.shape[0], x[0].nbytes + a[0].nbytes,
                   lambda start, stop: kernels.upsample_nearest(x[start:stop], self.size, a[start:stop]))
        self.keep(input_shape=x.shape)
        return a

    def _backward(self, grad_a):                                      # grad_a (N, s H, s W, C)
        grad_x = self.buffer("grad_x", self.kept.input_shape, grad_a.dtype)     # (N, H, W, C)
        _by_images(grad_x.shape[0], grad_x[0].nbytes + grad_a[0].nbytes, lambda start, stop:
                   kernels.upsample_nearest_backward(grad_a[start:stop], self.size, grad_x[start:stop]))
        return grad_x
