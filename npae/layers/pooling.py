"""Pooling and upsampling: MaxPool2D shrinks an image, UpSampling2D enlarges it.  No parameters.

Channels last, as in Keras: x (N, H, W, C).  Both act on each channel separately.
"""
import numpy as np

from ..kernels import convolution as kernels
from .base import Layer
from .convolution import check_gradient, check_image_batch, check_image_shape, check_padding, window_geometry


MAX_POOL_SIZE = 11   # the p^2 positions of a window are stored as int8: p^2 <= 127


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
    Ho = ceil(H / p) (the image is padded with -infinity, the extra row after it: 7 -> 4 for p = 2).

    Forward:   a[n, i, j, c] = max_{di, dj < p} x[n, i p + di - p_t, j p + dj - p_l, c]
    Backward:  the gradient of a max is 1 for the entry that is the max and 0 for the others, so
               dL/dx[n, y, x', c] = dL/da[n, i, j, c] at the window's maximum, 0 elsewhere.
    Ties: the gradient goes to ONE position, the first maximum in row-major order within the window
    (top row first, then left to right), as ``np.argmax`` picks it.  The window position of each maximum
    is kept by the training forward (an int8 per output value).

    Parameters: ``pool_size`` p (int, default 2); ``padding`` "valid" (default, Keras') or "same".
    """

    def __init__(self, pool_size=2, padding="valid"):
        self.pool_size = _size(pool_size, "pool_size", MAX_POOL_SIZE)
        self.padding = check_padding(padding)
        self._kept = None

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

    def forward(self, x, training=False):
        """a (N, Ho, Wo, C), the window maxima; ``training=True`` keeps where they were."""
        x = check_image_batch(self, x, None)
        batch, height, width, channels = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        out = self.buffer("output", (batch, out_h, out_w, channels), x.dtype)
        argmax = self.buffer("argmax", out.shape, np.int8)
        kernels.max_pool_forward(x, self.pool_size, self.pool_size, pad_top, pad_left, out, argmax)
        if training:
            self._kept = (x.shape, argmax, (pad_top, pad_left))
            self._kept_dtype = x.dtype
        return out

    def backward(self, grad_output):
        """dL/dx (N, H, W, C): each window's gradient on the position of its maximum."""
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        input_shape, argmax, (pad_top, pad_left) = self._kept
        dtype = self._kept_dtype
        grad_output = check_gradient(self, grad_output, argmax.shape, dtype)
        grad_input = self.buffer("grad_input", input_shape, dtype)
        kernels.max_pool_backward(grad_output, argmax, self.pool_size, self.pool_size, pad_top, pad_left, grad_input)
        return grad_input


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
        self._kept = None

    def get_config(self):
        return {"size": self.size}

    def output_shape(self, input_shape):
        height, width, channels = check_image_shape(self, input_shape, None)
        return (height * self.size, width * self.size, channels)

    def forward(self, x, training=False):
        x = check_image_batch(self, x, None)
        batch, height, width, channels = x.shape
        out = self.buffer("output", (batch, height * self.size, width * self.size, channels), x.dtype)
        kernels.upsample_nearest(x, self.size, out)
        if training:
            self._kept, self._kept_dtype = x.shape, x.dtype
        return out

    def backward(self, grad_output):
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        batch, height, width, channels = self._kept
        dtype = self._kept_dtype
        grad_output = check_gradient(self, grad_output, (batch, height * self.size, width * self.size, channels),
                                     dtype)
        grad_input = self.buffer("grad_input", self._kept, dtype)
        kernels.upsample_nearest_backward(grad_output, self.size, grad_input)
        return grad_input
