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

    dL/db[o]           = sum_{n, i, j} dL/dz[n, i, j, o]
    dL/dW[di, dj, c, o] = sum_{n, i, j} x[n, i s + di - p_t, j s + dj - p_l, c] dL/dz[n, i, j, o]
                          a correlation of the input with dL/dz
    dL/dx[n, y, x', c]  = sum_{di, dj, o} dL/dz[n, i, j, o] W[di, dj, c, o]  over the (i, j) with
                          y = i s + di - p_t, x' = j s + dj - p_l: for s = 1 a "full" correlation of dL/dz
                          (padded by k - 1) with the kernel flipped in both directions

How it is computed: im2col (``npae.kernels.convolution``) copies every window into one row of a
matrix X_col (N Ho Wo, kh kw C_in), and W flattens to W_col (kh kw C_in, C_out), so that

    z = X_col W_col + b        dL/dW_col = X_col^T dL/dz        dL/dX_col = dL/dz W_col^T,  dL/dx = col2im(dL/dX_col)

exactly the three products of Dense, with col2im (the adjoint of im2col) adding each window's gradient
back onto the pixels it was read from.

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
from ..activations import activation_config, get_activation
from ..constraints import constraint_config, get_constraint
from ..initializers import get_initializer, initializer_config
from ..kernels import convolution as kernels
from .base import Layer

PADDINGS = ("valid", "same")

# The im2col matrix of a whole batch is large (150 images of the paper's 64 -> 1 convolution: 271 MB in
# float32), so layers work on blocks of images whose columns fit in this many bytes: the block stays in
# the cache between im2col and the product, and inference on 10,000 images needs no more memory than
# training.  Measured by benchmarks/bench_conv.py (--columns-mb): 4 MB to 64 MB are within noise of
# each other; a whole batch at once (hundreds of MB) is slower.
COLUMNS_BLOCK_BYTES = 16 << 20


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


def check_gradient(layer, grad_output, expected_shape, dtype):
    """grad_output as a C-contiguous array of ``expected_shape`` and ``dtype``, else a ValueError."""
    grad_output = np.asarray(grad_output)
    if grad_output.shape != tuple(expected_shape):
        raise ValueError(f"{layer!r}: grad_output has shape {grad_output.shape}, expected {tuple(expected_shape)} "
                         "(the shape of the last training forward's output)")
    if grad_output.dtype == bool or not (np.issubdtype(grad_output.dtype, np.floating)
                                         or np.issubdtype(grad_output.dtype, np.integer)):
        raise ValueError(f"{layer!r}: grad_output must hold real numbers, got dtype {grad_output.dtype}")
    return np.ascontiguousarray(grad_output, dtype=dtype)


def image_blocks(images, bytes_per_image):
    """(start, stop) ranges over ``images`` whose im2col columns fit in COLUMNS_BLOCK_BYTES (one image at least)."""
    per_block = max(1, COLUMNS_BLOCK_BYTES // max(bytes_per_image, 1))
    return [(start, min(start + per_block, images)) for start in range(0, images, per_block)]


# --------------------------------------------------------------------------------------------------------
# What both layers share: W and b, their gradients (with Dense's pending zeros), activation, constraint
# --------------------------------------------------------------------------------------------------------
class _Convolution(Layer):
    """Parameters, gradients and configuration of Conv2D and Conv2DTranspose (see their docstrings).

    As in Dense, ``zero_grad`` only marks dW and db as zero: the next contribution is then written
    instead of added, which saves a pass over each array per batch.
    """

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
        self._weight_gradient_is_zero = self._bias_gradient_is_zero = False
        self._kept = None

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
        self._write_pending_zeros()
        return [self.dW, self.db]

    def weights_to_penalize(self):
        return [(self.W, self.dW)]

    def apply_constraints(self):
        if self.constraint is not None:
            self.constraint(self.W)

    def zero_grad(self):
        self._weight_gradient_is_zero = self._bias_gradient_is_zero = True

    def _write_pending_zeros(self):
        if self._weight_gradient_is_zero:
            self.dW.fill(0)
            self._weight_gradient_is_zero = False
        if self._bias_gradient_is_zero:
            self.db.fill(0)
            self._bias_gradient_is_zero = False

    def _add_to_weight_gradient(self, left, right):
        """dW (flattened to a matrix) += left @ right: one block of images' contribution."""
        matrix = self.dW.reshape(left.shape[0], right.shape[1])
        if self._weight_gradient_is_zero:
            np.matmul(left, right, out=matrix)
            self._weight_gradient_is_zero = False
            return
        contribution = self.buffer("weight_gradient_term", matrix.shape, self.dtype)
        np.matmul(left, right, out=contribution)
        matrix += contribution

    def _bias_gradient_accumulates(self):
        accumulate = not self._bias_gradient_is_zero
        self._bias_gradient_is_zero = False
        return accumulate

    def _activate(self, z):
        """a = f(z + b) over the (N Ho Wo, C_out) view of z; returns a (N, Ho, Wo, C_out)."""
        rows = z.reshape(-1, self.out_channels)
        return self.activation.apply_with_bias(rows, self.b).reshape(z.shape)

    def _activation_backward(self, grad_output):
        """dL/dz (N, Ho, Wo, C_out) from g = dL/da, adding sum dL/dz to db (one fused pass, as Dense)."""
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        z, a = self._kept[-2:]
        grad_output = check_gradient(self, grad_output, a.shape, self.dtype)
        rows = a.shape[0] * a.shape[1] * a.shape[2]
        grad_z = self.buffer("grad_z", (rows, self.out_channels), self.dtype)
        grad_z = self.activation.backward_with_bias(z.reshape(rows, -1), a.reshape(rows, -1),
                                                    grad_output.reshape(rows, -1), grad_z, self.db,
                                                    self._bias_gradient_accumulates())
        return grad_z.reshape(a.shape)


def _channels(value, argument):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------------
class Conv2D(_Convolution):
    """2-D convolution followed by an activation (Keras' ``Conv2D(filters, kernel_size, ...)``).

    Shapes:  x (N, H, W, C_in)   W (kh, kw, C_in, C_out)   b (C_out,)   z, a (N, Ho, Wo, C_out)
    Formulas, sizes and how they are computed: see the module docstring.  A training forward keeps x,
    z and a; the backward recomputes the im2col columns of x block by block (cheaper than keeping them:
    271 MB for the paper's last layer at batch 150).

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

    def output_shape(self, input_shape):
        height, width, _ = check_image_shape(self, input_shape, self.in_channels)
        (out_h, out_w), _ = self._geometry(height, width)
        return (out_h, out_w, self.out_channels)

    def forward(self, x, training=False):
        """a = f(conv(x, W) + b), shape (N, Ho, Wo, C_out); ``training=True`` keeps x, z and a."""
        x = check_image_batch(self, x, self.in_channels, self.dtype)
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        kh, kw = self.kernel_size
        window = kh * kw * self.in_channels
        W_col = self.W.reshape(window, self.out_channels)                     # (kh kw C_in, C_out)
        z = self.buffer("output", (batch, out_h, out_w, self.out_channels), self.dtype)
        for start, stop in image_blocks(batch, out_h * out_w * window * self.dtype.itemsize):
            columns = self._columns(x[start:stop], out_h, out_w, pad_top, pad_left)  # (n, Ho, Wo, kh kw C_in)
            np.matmul(columns.reshape(-1, window), W_col, out=z[start:stop].reshape(-1, self.out_channels))
        a = self._activate(z)
        if training:
            self._kept = (x, z, a)
        return a

    def _columns(self, x, out_h, out_w, pad_top, pad_left):
        """The im2col columns (n, Ho, Wo, kh kw C_in) of the images x (n, H, W, C_in), in a reused buffer."""
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        columns = self.buffer("columns", (x.shape[0], out_h, out_w, kh * kw * self.in_channels), self.dtype)
        kernels.im2col(x, kh, kw, stride_h, stride_w, pad_top, pad_left, columns)
        return columns

    def backward(self, grad_output, need_input_grad=True):
        """Add dL/dW and dL/db for g = dL/da (N, Ho, Wo, C_out); return dL/dx (N, H, W, C_in).

        ``need_input_grad=False`` (the first layer of a network) skips dL/dx: the product and the col2im.
        """
        grad_z = self._activation_backward(grad_output)          # (N, Ho, Wo, C_out)
        x = self._kept[0]
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        window = kh * kw * self.in_channels
        W_col = self.W.reshape(window, self.out_channels)
        grad_input = self.buffer("grad_input", x.shape, self.dtype) if need_input_grad else None
        for start, stop in image_blocks(batch, out_h * out_w * window * self.dtype.itemsize):
            columns = self._columns(x[start:stop], out_h, out_w, pad_top, pad_left)
            grad_z_rows = grad_z[start:stop].reshape(-1, self.out_channels)           # (n Ho Wo, C_out)
            self._add_to_weight_gradient(columns.reshape(-1, window).T, grad_z_rows)  # dW += X_col^T dL/dz
            if need_input_grad:
                grad_columns = self.buffer("grad_columns", columns.shape, self.dtype)
                np.matmul(grad_z_rows, W_col.T, out=grad_columns.reshape(-1, window))  # dL/dX_col = dL/dz W_col^T
                kernels.col2im(grad_columns, kh, kw, stride_h, stride_w, pad_top, pad_left, grad_input[start:stop],
                               False)
        return grad_input


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

    computed as  X_col = x W_col^T  (N H W, kh kw C_out), with W_col = W flattened to (kh kw C_out, C_in),
    then z = col2im(X_col): the product and the scatter of Conv2D's dL/dx.

    Backward, given dL/dz (after the activation's f', as in Dense), the convolution of dL/dz:

        dL/dX_col = im2col(dL/dz)                     (N H W, kh kw C_out): each input pixel's window
        dL/dx     = dL/dX_col W_col                   (N H W, C_in)
        dL/dW_col += dL/dX_col^T x                    (kh kw C_out, C_in)
        dL/db     = sum_{n, i, j} dL/dz[n, i, j, :]

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

    def output_shape(self, input_shape):
        height, width, _ = check_image_shape(self, input_shape, self.in_channels)
        (out_h, out_w), _ = self._geometry(height, width)
        return (out_h, out_w, self.out_channels)

    def forward(self, x, training=False):
        """a = f(conv_transpose(x, W) + b), shape (N, Ho, Wo, C_out); ``training=True`` keeps x, z and a."""
        x = check_image_batch(self, x, self.in_channels, self.dtype)
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        window = kh * kw * self.out_channels
        W_col = self.W.reshape(window, self.in_channels)                      # (kh kw C_out, C_in)
        z = self.buffer("output", (batch, out_h, out_w, self.out_channels), self.dtype)
        for start, stop in image_blocks(batch, height * width * window * self.dtype.itemsize):
            columns = self.buffer("columns", (stop - start, height, width, window), self.dtype)
            np.matmul(x[start:stop].reshape(-1, self.in_channels), W_col.T, out=columns.reshape(-1, window))
            kernels.col2im(columns, kh, kw, stride_h, stride_w, pad_top, pad_left, z[start:stop], False)
        a = self._activate(z)
        if training:
            self._kept = (x, z, a)
        return a

    def backward(self, grad_output, need_input_grad=True):
        """Add dL/dW and dL/db for g = dL/da (N, Ho, Wo, C_out); return dL/dx (N, H, W, C_in)."""
        grad_z = self._activation_backward(grad_output)          # (N, Ho, Wo, C_out)
        x = self._kept[0]
        batch, height, width, _ = x.shape
        _, (pad_top, pad_left) = self._geometry(height, width)
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        window = kh * kw * self.out_channels
        W_col = self.W.reshape(window, self.in_channels)
        grad_input = self.buffer("grad_input", x.shape, self.dtype) if need_input_grad else None
        for start, stop in image_blocks(batch, height * width * window * self.dtype.itemsize):
            grad_columns = self.buffer("columns", (stop - start, height, width, window), self.dtype)
            kernels.im2col(grad_z[start:stop], kh, kw, stride_h, stride_w, pad_top, pad_left, grad_columns)
            grad_rows = grad_columns.reshape(-1, window)                              # (n H W, kh kw C_out)
            x_rows = x[start:stop].reshape(-1, self.in_channels)                      # (n H W, C_in)
            self._add_to_weight_gradient(grad_rows.T, x_rows)                         # dW_col += dL/dX_col^T x
            if need_input_grad:
                np.matmul(grad_rows, W_col, out=grad_input[start:stop].reshape(-1, self.in_channels))
        return grad_input
