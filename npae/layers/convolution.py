"""Convolutional layers: Conv2D and Conv2DTranspose, channels last as in Keras.

Read :mod:`npae.layers.dense` first: a convolution is a Dense layer applied to every window of the
image, with one weight matrix shared by all windows.

Shapes (one letter each, as in the formulas):  x (N, H, W, C_in) images;  W (kh, kw, C_in, C_out)
kernel (Keras' layout, so a Keras ``get_weights()`` loads one to one);  b (C_out,);  stride s;
z, a (N, Ho, Wo, C_out).

Forward, a sum over the kernel window (a correlation, as in every deep-learning framework):

    z[n, i, j, o] = b[o] + sum_{di < kh, dj < kw, c < C_in} x[n, i s + di - p_t, j s + dj - p_l, c] W[di, dj, c, o]
    a = f(z)                                               (x is 0 outside the image: the padding)

Output sizes and padding, per axis (Keras' rules; H is the input's size, k the kernel's):

    "valid":  Ho = floor((H - k) / s) + 1,  p_t = 0                    (needs H >= k)
    "same":   Ho = ceil(H / s),  p_t = floor(P / 2) with P = max((Ho - 1) s + k - H, 0) rows of zeros in
              all (the extra one, when P is odd, goes after the image, as in TensorFlow)

Backward, given g = dL/da and dL/dz = g * f'(z) (per channel, as in Dense):

    dL/db[o]            = sum_{n, i, j} dL/dz[n, i, j, o]
    dL/dW[di, dj, c, o] = sum_{n, i, j} x[n, i s + di - p_t, j s + dj - p_l, c] dL/dz[n, i, j, o]
                          a correlation of the input with dL/dz
    dL/dx[n, y, x', c]  = sum_{di, dj, o} dL/dz[n, i, j, o] W[di, dj, c, o]  over the (i, j) with
                          y = i s + di - p_t, x' = j s + dj - p_l: for s = 1 a correlation of dL/dz, zero-padded
                          by kh - 1 - p_t rows before (k - 1 for "valid", where p = 0), with the kernel turned by
                          180 degrees and its two channel axes swapped

These three sums (z, dL/dx, dL/dW) are the three functions of :mod:`npae.layers.correlation`, which
also decides how each is computed (im2col and BLAS, or for stride 1 one product and a shifted sum: its
docstring, with the measurements).

The transposed convolution.  dL/dx above is a linear map from (Ho, Wo, C_out) images to (H, W, C_in)
images: the transpose of the convolution's matrix.  Run forward as a layer, it maps a small image to a
larger one (24 x 24 -> 26 x 26 for a 3x3 kernel): that is Conv2DTranspose, the "deconvolution" of the
paper's decoder, and its own backward pass is a convolution.

The paper's model, from these formulas alone (3x3 kernels, stride 1, 28 x 28 x 1 MNIST images):
Conv2D(1, 64, valid) 26x26x64 -> Conv2D(64, 32, valid) 24x24x32 -> Conv2DTranspose(32, 32, valid)
26x26x32 -> Conv2DTranspose(32, 64, valid) 28x28x64 -> Conv2D(64, 1, same) 28x28x1.
"""
import math

import numpy as np

from .. import _backend
from ..activations import ACTIVATIONS, activation_config, get_activation
from ..constraints import constraint_config, get_constraint
from ..initializers import get_initializer, initializer_config
from .base import Layer
from .correlation import Geometry, correlate, correlate_input_grad, correlate_weight_grad

PADDINGS = ("valid", "same")
# Fewer output channels than this: the fused bias-and-activation passes see one image row (W C values) at
# a time instead of one pixel (C values), the bias repeated W times (Convolution._pixel_rows).
NARROW_CHANNELS = 32


# --------------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------------
def as_pair(value, argument):
    """A positive int, or a pair of them, as a (height, width) tuple of ints."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1
                               for v in values):
        raise ValueError(f"{argument} must be a positive integer or a pair of them, got {value!r}")
    return int(values[0]), int(values[1])


def check_padding(padding):
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding


def window_geometry(length, window, stride, padding):
    """(output length, zeros before) of windows of ``window`` values sliding by ``stride`` over ``length``
    values with Keras' ``padding`` ("valid" or "same"; see the module docstring)."""
    if padding == "valid":
        return (length - window) // stride + 1, 0
    out = math.ceil(length / stride)
    return out, max((out - 1) * stride + window - length, 0) // 2


def transposed_length(length, kernel, stride, padding):
    """The output length of a transposed convolution, as Keras computes it: valid L s + max(k - s, 0),
    same L s.  It is the input length of the convolution that maps it back to ``length``."""
    return length * stride + max(kernel - stride, 0) if padding == "valid" else length * stride


def check_image_shape(layer, shape, channels):
    """A per-sample shape (H, W, C) with C == ``channels``, else a ValueError naming the layer."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"{layer!r} takes images of per-sample shape (height, width, channels), got {shape} "
                         + ("(reshape flat images with npae.Reshape((28, 28, 1)) first)" if len(shape) == 1 else ""))
    if channels is not None and shape[2] != channels:
        raise ValueError(f"{layer!r} takes {channels} input channel{'s' if channels != 1 else ''}, got images of "
                         f"per-sample shape {shape}")
    return shape


def check_image_batch(layer, x, channels, dtype=None):
    """x as a C-contiguous (N, H, W, channels) array of ``dtype`` (None: x's own float32 or float64,
    anything else as float64), else a ValueError naming the layer."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{layer!r} takes x of shape (batch, height, width, channels), got shape {x.shape}")
    check_image_shape(layer, x.shape[1:], channels)
    if x.shape[0] == 0:
        raise ValueError(f"{layer!r}: x is empty (shape {x.shape})")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{layer!r} takes real numbers, got dtype {x.dtype}")
    if dtype is None:
        dtype = x.dtype if x.dtype in _backend.SUPPORTED_DTYPES else np.float64
    return np.ascontiguousarray(x, dtype=dtype)



def check_images(layer, x, channels=None, dtype=None):
    """x as a C-contiguous (N, H, W, C) array (see check_image_batch) that ``layer`` takes (its
    ``output_shape`` raises the ValueError if not): an image layer's ``check_input``."""
    x = check_image_batch(layer, x, channels, dtype)
    layer.output_shape(x.shape[1:])
    return x

# --------------------------------------------------------------------------------------------------------
# What both layers share: W and b, their gradients, the activation, the constraint, the input checks
# --------------------------------------------------------------------------------------------------------
class _Convolution(Layer):
    """Parameters, gradients, activation and configuration of Conv2D and Conv2DTranspose (their docstrings)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, activation, init, constraint,
                 dtype, rng, kernel_shape):
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = check_padding(padding)
        self.dtype = _backend.resolve_dtype(dtype)
        self.activation = get_activation(activation)
        self.init = init
        self.constraint = get_constraint(constraint)
        initializer = get_initializer(init)
        shape = tuple(kernel_shape)
        if self.constraint is not None:
            self.constraint.check(shape, "constraint")
        self.W = self.new_parameter(shape, self.dtype, lambda: initializer(shape, np.random.default_rng(rng),
                                                                          self.dtype))
        self.b = self.new_parameter((self.out_channels,), self.dtype)
        self.dW = self.new_gradient(self.W)
        self.db = self.new_gradient(self.b)

    def get_config(self):
        kernel = self.kernel_size if self.kernel_size[0] != self.kernel_size[1] else self.kernel_size[0]
        stride = self.stride if self.stride[0] != self.stride[1] else self.stride[0]
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(kernel) if isinstance(kernel, tuple) else kernel,
                "stride": list(stride) if isinstance(stride, tuple) else stride, "padding": self.padding,
                "activation": activation_config(self.activation), "init": initializer_config(self.init),
                "constraint": constraint_config(self.constraint), "dtype": self.dtype.name}

    def __repr__(self):
        kernel = "x".join(map(str, self.kernel_size))
        stride = f", stride={self.stride[0] if self.stride[0] == self.stride[1] else self.stride}" \
            if self.stride != (1, 1) else ""
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, {kernel}{stride}, "
                f"padding={self.padding!r}, activation={self.activation.name!r})")

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.dW, self.db]

    def weights_to_penalize(self):
        return [(self.W, self.dW)]   # the kernel, never the bias (Keras' kernel_regularizer)

    def apply_constraints(self):
        if self.constraint is not None:
            self.constraint(self.W)

    def output_shape(self, input_shape):
        """(Ho, Wo, C_out) for images of ``input_shape`` (H, W, C_in): each layer's ``_geometry`` gives Ho, Wo."""
        height, width, _ = check_image_shape(self, input_shape, self.in_channels)
        (out_h, out_w), _ = self._geometry(height, width)
        return (out_h, out_w, self.out_channels)

    def check_input(self, x):
        """x as a C-contiguous (N, H, W, C_in) array of the layer's dtype, else a ValueError naming the layer."""
        return check_images(self, x, self.in_channels, self.dtype)

    def _convolution_geometry(self, height, width):
        """The Geometry (kernel, stride, zeros before) of the correlation sums, for inputs of height x width."""
        return Geometry(self.kernel_size, self.stride, self._geometry(height, width)[1])

    def _activate(self, z):
        """a = f(z + b), one fused pass over the rows of z (npae.activations; with NPAE_JIT=0 its NumPy
        reference); may write a over z."""
        rows, repeat = self._pixel_rows(z)
        bias = self.b if repeat == 1 else np.tile(self.b, repeat)
        return self.activation.apply_with_bias(rows, bias).reshape(z.shape)

    def _activation_backward(self, grad_a):
        """dL/dz = dL/da * f'(z) (N, Ho, Wo, C_out), and db += its sum over every pixel, in one fused pass.

        One thread: these passes are limited by memory, not arithmetic, and on blocks of images on both cores
        they took longer (ReLU's backward at 26 x 26 x 64, batch 150: 6.3 ms on one thread, 6.7 ms on two)."""
        (z, repeat), (a, _), (grad_rows, _) = (self._pixel_rows(array) for array in (self.kept.z, self.kept.a, grad_a))
        grad_z = self.buffer("grad_z", z.shape, self.dtype)
        if repeat == 1:
            grad_z = self.activation.backward_with_bias(z, a, grad_rows, grad_z, self.db, True)
        else:  # the bias gradient of each of the Wo pixels of a row, then their sum per channel
            row_sums = self.buffer("bias_grad_of_row_pixels", (z.shape[1],), self.dtype)
            grad_z = self.activation.backward_with_bias(z, a, grad_rows, grad_z, row_sums, False)
            self.db += row_sums.reshape(repeat, self.out_channels).sum(axis=0)   # db[c] += sum_j row_sums[j C + c]
        return grad_z.reshape(grad_a.shape)

    def _built_in_activation(self):
        """Whether the activation is one of npae's own (each elementwise, each with a fused kernel pair)."""
        return type(self.activation) in ACTIVATIONS.values()

    def _pixel_rows(self, array):
        """(rows, repeat): ``array`` (N, Ho, Wo, C_out) as the 2-D rows that the fused passes run over, and how
        many pixels one row holds.  Normally a row is a pixel (C_out values).  With few channels (C_out <
        NARROW_CHANNELS) and a built-in activation (each elementwise), a row is a line of the image (Wo pixels,
        the bias repeated Wo times): the loop overhead is per row, and a pass over 117,600 rows of one value
        (the paper's last layer, batch 150) took 28x as long as over the same numbers in rows of 28 (ReLU's
        backward 1.43 ms against 0.05 ms; 16 channels at 28 x 28: 4.6 against 2.2 ms; measured while other
        work ran: ratios only)."""
        batch, height, width, channels = array.shape
        if channels >= NARROW_CHANNELS or not self._built_in_activation():
            return array.reshape(-1, channels), 1
        return array.reshape(batch * height, width * channels), width


def _channels(value, argument):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------------
class Conv2D(_Convolution):
    """2-D convolution followed by an activation (Keras' ``Conv2D(filters, kernel_size, ...)``).

    Shapes:  x (N, H, W, C_in)   W (kh, kw, C_in, C_out)   b (C_out,)   z, a (N, Ho, Wo, C_out)

    Forward:   z = correlate(x, W) + b,  a = f(z)
    Backward:  dL/dz = dL/da f'(z);  dL/db += sum_{n, i, j} dL/dz;  dL/dW += correlate_weight_grad(x, dL/dz);
               dL/dx = correlate_input_grad(dL/dz, W)
    The sums written out, and the output sizes: the module docstring; how they are computed:
    :mod:`npae.layers.correlation`.  A training forward keeps x, z and a.

    Parameters
    ----------
    in_channels, out_channels : int (C_in, C_out; Keras calls C_out ``filters``)
    kernel_size : int or (kh, kw)
    stride : int or (s_h, s_w), default 1
    padding : "valid" (default: no padding, the image shrinks by k - 1) or "same" (Ho = ceil(H / s))
    activation : name, config dict or Activation, default "identity"; fused as in Dense
    init : "glorot_uniform" (default, Keras'), "he_uniform" (the paper's notebook), "he_normal", "zeros",
        or a function (shape, rng, dtype) -> W.  Fans as Keras: fan_in = kh kw C_in, fan_out = kh kw C_out.
        The bias starts at 0.
    constraint : None, or e.g. ``npae.MaxNorm(2.0)``: applied to W after every optimiser step
    dtype : "float32" (default) or "float64";  rng : numpy Generator or int seed for the initial W
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="valid", activation="identity",
                 init="glorot_uniform", constraint=None, dtype="float32", rng=None):
        kernel = as_pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel, stride, padding, activation, init, constraint, dtype,
                         rng, kernel + (_channels(in_channels, "in_channels"), _channels(out_channels, "out_channels")))

    def _geometry(self, height, width):
        """((Ho, Wo), (p_t, p_l)) for input images of height x width, or a ValueError."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.padding == "valid" and (height < kh or width < kw):
            raise ValueError(f"{self!r}: the {kh}x{kw} kernel is larger than the {height}x{width} input (padding "
                             "'valid' adds no zeros; use padding='same' or a smaller kernel)")
        out_h, pad_top = window_geometry(height, kh, sh, self.padding)
        out_w, pad_left = window_geometry(width, kw, sw, self.padding)
        return (out_h, out_w), (pad_top, pad_left)

    def _forward(self, x):                                            # x (N, H, W, C_in)
        batch, height, width, _ = x.shape
        out_h, out_w, _ = self.output_shape(x.shape[1:])
        geometry = self._convolution_geometry(height, width)
        z = self.buffer("z", (batch, out_h, out_w, self.out_channels), self.dtype)
        correlate(x, self.W, geometry, z, self.buffer)               # (N, Ho, Wo, C_out)
        a = self._activate(z)                                         # (N, Ho, Wo, C_out)
        self.keep(x=x, z=z, a=a)
        return a

    def _backward(self, grad_a):                                      # grad_a (N, Ho, Wo, C_out)
        x = self.kept.x                                               # (N, H, W, C_in)
        geometry = self._convolution_geometry(*x.shape[1:3])
        grad_z = self._activation_backward(grad_a)                    # (N, Ho, Wo, C_out), db updated
        correlate_weight_grad(x, grad_z, geometry, self.dW, self.buffer)          # dW (kh, kw, C_in, C_out) +=
        if not self.need_input_grad:   # a model's first layer: nobody needs dL/dx of the data
            return None
        grad_x = self.buffer("grad_x", x.shape, self.dtype)
        return correlate_input_grad(grad_z, self.W, geometry, grad_x, self.buffer)  # (N, H, W, C_in)


# --------------------------------------------------------------------------------------------------------
class Conv2DTranspose(_Convolution):
    """Transposed convolution followed by an activation (Keras' ``Conv2DTranspose(filters, kernel_size, ...)``).

    The gradient of a convolution with respect to its input, run forward (see the module docstring): the
    convolution in question maps images (Ho, Wo, C_out) to (H, W, C_in) with kernel W, and this layer maps
    (H, W, C_in) up to (Ho, Wo, C_out).

    Shapes:  x (N, H, W, C_in)   W (kh, kw, C_out, C_in) (Keras' layout: the kernel of that convolution)
             b (C_out,)   z, a (N, Ho, Wo, C_out)
    Sizes (Keras' rules):  "valid" Ho = H s + max(kh - s, 0);  "same" Ho = H s.  The padding p_t, p_l is
    the one the convolution from Ho back to H would use ("same": floor(max(kh - s, 0) / 2)).

    Forward, every input pixel spreads its channels over a kh x kw window of the output:

        z[n, i s + di - p_t, j s + dj - p_l, o] += sum_c x[n, i, j, c] W[di, dj, o, c]      (then + b[o])

    that is z = correlate_input_grad(x, W): Conv2D's dL/dx, with this layer's x in the role of dL/dz.
    Backward, the roles swapped back (:mod:`npae.layers.correlation`), given dL/dz = dL/da f'(z):

        dL/dx   = correlate(dL/dz, W)                 the convolution of dL/dz       (N, H, W, C_in)
        dL/dW  += correlate_weight_grad(dL/dz, x)                                    (kh, kw, C_out, C_in)
        dL/db  += sum_{n, i, j} dL/dz[n, i, j, :]

    Parameters: as :class:`Conv2D`; ``init`` fans as Keras computes them on this layout
    (fan_in = kh kw C_out, fan_out = kh kw C_in).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="valid", activation="identity",
                 init="glorot_uniform", constraint=None, dtype="float32", rng=None):
        kernel = as_pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel, stride, padding, activation, init, constraint, dtype,
                         rng, kernel + (_channels(out_channels, "out_channels"), _channels(in_channels, "in_channels")))

    def _geometry(self, height, width):
        """((Ho, Wo), (p_t, p_l)) of the output for inputs of height x width."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        out_h, out_w = transposed_length(height, kh, sh, self.padding), transposed_length(width, kw, sw, self.padding)
        _, pad_top = window_geometry(out_h, kh, sh, self.padding)
        _, pad_left = window_geometry(out_w, kw, sw, self.padding)
        return (out_h, out_w), (pad_top, pad_left)

    def _forward(self, x):                                            # x (N, H, W, C_in)
        batch, height, width, _ = x.shape
        out_h, out_w, _ = self.output_shape(x.shape[1:])
        geometry = self._convolution_geometry(height, width)
        z = self.buffer("z", (batch, out_h, out_w, self.out_channels), self.dtype)
        correlate_input_grad(x, self.W, geometry, z, self.buffer)    # (N, Ho, Wo, C_out)
        a = self._activate(z)
        self.keep(x=x, z=z, a=a)
        return a

    def _backward(self, grad_a):                                      # grad_a (N, Ho, Wo, C_out)
        x = self.kept.x                                               # (N, H, W, C_in)
        geometry = self._convolution_geometry(*x.shape[1:3])
        grad_z = self._activation_backward(grad_a)                    # (N, Ho, Wo, C_out), db updated
        correlate_weight_grad(grad_z, x, geometry, self.dW, self.buffer)          # dW (kh, kw, C_out, C_in) +=
        if not self.need_input_grad:
            return None
        grad_x = self.buffer("grad_x", x.shape, self.dtype)
        return correlate(grad_z, self.W, geometry, grad_x, self.buffer)           # (N, H, W, C_in)
