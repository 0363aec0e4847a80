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
back onto the pixels it was read from.  That is the reference form, and the one used for strides > 1.
For stride 1 two rewrites of the same sums run faster, because OpenBLAS is slow on products with a
narrow output (C = 32 columns: 22 GFLOP/s on one core here, against 45 for 288 columns) and because a
product with a small inner dimension followed by col2im is bound by memory (it writes a large matrix
that col2im reads back):

* dL/dx as a *full correlation*: the im2col of dL/dz zero-padded by k - 1 - p, times the kernel turned
  by 180 degrees with its channel axes swapped (:func:`flipped_kernel`), one product of inner dimension
  kh kw C_out (:func:`full_correlation`).  The paper's last layer (64 -> 1): 424 ms -> 191 ms forward +
  backward at batch 150 (one thread, load ~9 on 2 cores).
* with fewer output than input channels, the whole layer *from the input side*: z = col2im(x W_flip^T)
  (each input pixel's contribution to the kh kw outputs it reaches; a product with kh kw C_out columns),
  and in the backward G = the full-correlation columns of dL/dz, dL/dx = G W_flip, dL/dW_flip = G^T x.
  The paper's 64 -> 32 layer: 173 ms against 193 ms; its 64 -> 1 layer: 20 ms against 62 ms (one thread).

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
from .dense import Dense

PADDINGS = ("valid", "same")

# The im2col matrix of a whole batch is large (150 images of the paper's 64 -> 1 convolution: 271 MB in
# float32), so layers work on blocks of images whose columns fit in COLUMNS_BLOCK_BYTES: inference on
# 10,000 images then needs no more memory than training.  Two sizes, measured on the paper's layers at
# batch 150 (forward + backward, load ~10 on 2 cores; see benchmarks/bench_conv.py):
# * a product with many output columns (C_out = 32 or 64) is compute-bound and each BLAS call has a fixed
#   cost (waking its threads): 64 MB blocks, 631 ms for the 64 -> 32 layer, against 749 ms with 16 MB
#   blocks and 5,886 ms with 1 MB blocks (one image each);
# * a product with few output columns (the last layer, C_out = 1, a matrix-vector product) is bound by
#   memory: one image a block keeps its 1.8 MB of columns in the cache from im2col to the product, 336 ms
#   against 620 ms with 64 MB blocks.  (Measured before the stride-1 forms of the module docstring: the
#   paper's last layer now runs from the input side; the rule still serves e.g. C_in = C_out = 1, strides.)
COLUMNS_BLOCK_BYTES = 64 << 20
NARROW_PRODUCT_COLUMNS = 4           # at most this many output columns: a memory-bound product
NARROW_COLUMNS_BLOCK_BYTES = 2 << 20
NARROW_PRODUCT_WIDTH = 9            # see product and transposed_product
WIDE_PRODUCT_COLUMNS = 16

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


def product(a, b, out):
    """out <- a @ b (M rows, M large): BLAS, or for an inner dimension of at most NARROW_PRODUCT_WIDTH and
    at least WIDE_PRODUCT_COLUMNS columns the single-threaded kernel npae.kernels.convolution.narrow_product,
    about as fast as one BLAS thread and several times faster than two on a busy machine (its docstring)."""
    if a.shape[1] <= NARROW_PRODUCT_WIDTH and b.shape[1] >= WIDE_PRODUCT_COLUMNS:
        kernels.narrow_product(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    else:
        np.matmul(a, b, out=out)
    return out


def transposed_product(a, b, out):
    """out <- a^T b for a (K, p) and b (K, q) with K large (a weight gradient: a sum over every pixel).

    Two OpenBLAS (0.3.31) slow cases, measured with 2 threads at the paper's shapes, batch 150, avoided:
    * the transposed left operand having few rows: x^T G at the 64 -> 32 layer (x^T: 64 rows, G: 288
      columns, K = 101,400 pixels) took 2.4 s against 0.13 s for G^T x, the same numbers; so the wider
      operand goes on the left, and the result is written through out.T when that is b;
    * a narrow result (9 x 64 for the first and the last layer): one product over all 117,600 pixels took
      from 0.05 to 3 s from call to call on a busy machine; the single-threaded kernel
      npae.kernels.convolution.narrow_transposed_product takes it in one pass.
    """
    if a.shape[1] > b.shape[1]:
        a, b, out = b, a, out.T    # the kernel vectorises over b's columns; BLAS wants the wider on the left
    if a.shape[1] <= NARROW_PRODUCT_WIDTH:
        if out.flags.c_contiguous:
            kernels.narrow_transposed_product(a, b, out)
        else:
            result = np.empty(out.shape, dtype=out.dtype)
            kernels.narrow_transposed_product(a, b, result)
            out[...] = result
        return out
    np.matmul(b.T, a, out=out.T)
    return out


def image_blocks(images, bytes_per_image, product_columns):
    """(start, stop) ranges over ``images`` whose im2col columns fit in a block (see COLUMNS_BLOCK_BYTES;
    one image at least); ``product_columns`` is the width of the matrix product's output."""
    block_bytes = NARROW_COLUMNS_BLOCK_BYTES if product_columns <= NARROW_PRODUCT_COLUMNS else COLUMNS_BLOCK_BYTES
    per_block = max(1, block_bytes // max(bytes_per_image, 1))
    return [(start, min(start + per_block, images)) for start in range(0, images, per_block)]

def flipped_kernel(layer):
    """The kernel turned by 180 degrees with its two channel axes swapped, as a matrix:
    W_flip[di, dj, :, :] = W[kh-1-di, kw-1-dj, :, :]^T, flattened to (kh kw C_last, C_third) for W of shape
    (kh, kw, C_third, C_last).  For a Conv2D kernel (kh, kw, C_in, C_out) it is the kernel of dL/dx as a
    correlation of dL/dz; for a Conv2DTranspose kernel (kh, kw, C_out, C_in), that of its forward pass."""
    kh, kw, third, last = layer.W.shape
    flipped = layer.buffer("flipped_kernel", (kh, kw, last, third), layer.dtype)
    np.copyto(flipped, layer.W[::-1, ::-1].transpose(0, 1, 3, 2))
    return flipped.reshape(kh * kw * last, third)


def full_correlation(layer, source, pad_top, pad_left, out):
    """out (N, H, W, C) <- the stride-1 correlation of ``source`` (N, h, w, c), zero-padded by pad_top /
    pad_left before (and as needed after), with the layer's flipped kernel (:func:`flipped_kernel`):

        out[n, y, x, :] = sum_{di, dj} source[n, y + di - pad_top, x + dj - pad_left, :] W_flip[di, dj]

    With pad = k - 1 - p this is a "full" correlation: Conv2D's dL/dx from dL/dz, and Conv2DTranspose's
    forward from x, each as im2col + one product whose inner dimension is kh kw c (see the module
    docstring for why, and the measurement).  Stride 1 only (a stride would need zeros between the pixels
    of ``source``); other strides use col2im.
    """
    batch, out_h, out_w, channels = out.shape
    kh, kw = layer.kernel_size
    weights = flipped_kernel(layer)                                   # (kh kw c, C)
    window = weights.shape[0]
    for start, stop in image_blocks(batch, out_h * out_w * window * layer.dtype.itemsize, channels):
        columns = layer.buffer("correlation_columns", (stop - start, out_h, out_w, window), layer.dtype)
        kernels.im2col(source[start:stop], kh, kw, 1, 1, pad_top, pad_left, columns)
        product(columns.reshape(-1, window), weights, out[start:stop].reshape(-1, channels))
    return out


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

    # W, b, dW, db and the pending zeros work exactly as in Dense: the same methods, not a copy of them.
    parameters = Dense.parameters
    gradients = Dense.gradients
    weights_to_penalize = Dense.weights_to_penalize
    zero_grad = Dense.zero_grad
    _write_pending_zeros = Dense._write_pending_zeros
    _bias_gradient_accumulates = Dense._bias_gradient_accumulates

    def output_shape(self, input_shape):
        """(Ho, Wo, C_out) for images of ``input_shape`` (H, W, C_in): each layer's ``_geometry`` gives Ho, Wo."""
        height, width, _ = check_image_shape(self, input_shape, self.in_channels)
        (out_h, out_w), _ = self._geometry(height, width)
        return (out_h, out_w, self.out_channels)

    def apply_constraints(self):
        if self.constraint is not None:
            self.constraint(self.W)

    def _add_to_weight_gradient(self, left, right):
        """dW (flattened to a matrix) += left^T @ right: one block of images' contribution."""
        matrix = self.dW.reshape(left.shape[1], right.shape[1])
        if self._weight_gradient_is_zero:
            transposed_product(left, right, matrix)
            self._weight_gradient_is_zero = False
            return
        contribution = self.buffer("weight_gradient_term", matrix.shape, self.dtype)
        transposed_product(left, right, contribution)
        matrix += contribution

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
    z, a and the im2col columns of x for the backward's dL/dW = X_col^T dL/dz; except when the product
    is narrow (C_out <= NARROW_PRODUCT_COLUMNS, e.g. the paper's last layer, C_out = 1, whose columns
    take 271 MB at batch 150): then the backward recomputes them in cache-sized blocks.

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

    def forward(self, x, training=False):
        """a = f(conv(x, W) + b), shape (N, Ho, Wo, C_out); ``training=True`` keeps x, z and a (and the
        im2col columns, unless the product is narrow: see the class docstring)."""
        x = check_image_batch(self, x, self.in_channels, self.dtype)
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        kh, kw = self.kernel_size
        window = kh * kw * self.in_channels
        W_col = self.W.reshape(window, self.out_channels)                     # (kh kw C_in, C_out)
        z = self.buffer("output", (batch, out_h, out_w, self.out_channels), self.dtype)
        if self._from_input_side():
            self._forward_from_input_side(x, pad_top, pad_left, z)
            a = self._activate(z)
            if training:
                self._kept = (x, None, z, a)
            return a
        keep_columns = training and self.out_channels > NARROW_PRODUCT_COLUMNS
        kept_columns = self.buffer("kept_columns", (batch, out_h, out_w, window), self.dtype) if keep_columns \
            else None
        for start, stop in image_blocks(batch, out_h * out_w * window * self.dtype.itemsize, self.out_channels):
            columns = kept_columns[start:stop] if keep_columns else self.buffer(
                "columns", (stop - start, out_h, out_w, window), self.dtype)
            self._im2col(x[start:stop], pad_top, pad_left, columns)            # (n, Ho, Wo, kh kw C_in)
            product(columns.reshape(-1, window), W_col, z[start:stop].reshape(-1, self.out_channels))
        a = self._activate(z)
        if training:
            self._kept = (x, kept_columns, z, a)
        return a

    def _from_input_side(self):
        """Stride 1 and fewer output than input channels: compute on the input's pixels (class docstring)."""
        return self.stride == (1, 1) and self.out_channels < self.in_channels

    def _forward_from_input_side(self, x, pad_top, pad_left, z):
        """z = col2im(x W_flip^T): every input pixel's contribution to each of the kh kw outputs it reaches
        (a transposed convolution's forward with the flipped kernel, which is this convolution)."""
        kh, kw = self.kernel_size
        flipped = flipped_kernel(self)                                        # (kh kw C_out, C_in)
        window = flipped.shape[0]
        batch, height, width, _ = x.shape
        for start, stop in image_blocks(batch, height * width * window * self.dtype.itemsize, window):
            contributions = self.buffer("columns", (stop - start, height, width, window), self.dtype)
            product(x[start:stop].reshape(-1, self.in_channels), flipped.T, contributions.reshape(-1, window))
            kernels.col2im(contributions, kh, kw, 1, 1, kh - 1 - pad_top, kw - 1 - pad_left, z[start:stop], False)

    def _backward_from_input_side(self, x, grad_z, pad_top, pad_left, grad_input):
        """G = the full-correlation columns of dL/dz on the input's pixels (N H W, kh kw C_out); then
        dL/dx = G W_flip and dL/dW_flip = G^T x, W_flip being W turned by 180 degrees (flipped_kernel)."""
        kh, kw = self.kernel_size
        flipped = flipped_kernel(self)                                        # (kh kw C_out, C_in)
        window = flipped.shape[0]
        batch, height, width, _ = x.shape
        term = self.buffer("flipped_weight_gradient", (window, self.in_channels), self.dtype)
        block_term = self.buffer("flipped_weight_gradient_block", term.shape, self.dtype)
        for index, (start, stop) in enumerate(image_blocks(batch, height * width * window * self.dtype.itemsize,
                                                           self.in_channels)):
            columns = self.buffer("correlation_columns", (stop - start, height, width, window), self.dtype)
            kernels.im2col(grad_z[start:stop], kh, kw, 1, 1, kh - 1 - pad_top, kw - 1 - pad_left, columns)
            rows = columns.reshape(-1, window)
            x_rows = x[start:stop].reshape(-1, self.in_channels)
            transposed_product(rows, x_rows, term if index == 0 else block_term)  # G^T x  (kh kw C_out, C_in)
            if index:
                term += block_term
            if grad_input is not None:
                product(rows, flipped, grad_input[start:stop].reshape(-1, self.in_channels))
        # term[(di', dj', o), c] = dL/dW[kh-1-di', kw-1-dj', c, o]: turn it back
        unflipped = term.reshape(kh, kw, self.out_channels, self.in_channels)[::-1, ::-1].transpose(0, 1, 3, 2)
        if self._weight_gradient_is_zero:
            np.copyto(self.dW, unflipped)
            self._weight_gradient_is_zero = False
        else:
            self.dW += unflipped

    def _im2col(self, x, pad_top, pad_left, columns):
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        kernels.im2col(x, kh, kw, stride_h, stride_w, pad_top, pad_left, columns)

    def backward(self, grad_output, need_input_grad=True):
        """Add dL/dW and dL/db for g = dL/da (N, Ho, Wo, C_out); return dL/dx (N, H, W, C_in).

        ``need_input_grad=False`` (the first layer of a network) skips dL/dx: the product and the col2im.
        """
        grad_z = self._activation_backward(grad_output)          # (N, Ho, Wo, C_out)
        x, kept_columns = self._kept[:2]
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        window = kh * kw * self.in_channels
        W_col = self.W.reshape(window, self.out_channels)
        grad_input = self.buffer("grad_input", x.shape, self.dtype) if need_input_grad else None
        if self._from_input_side():
            self._backward_from_input_side(x, grad_z, pad_top, pad_left, grad_input)
            return grad_input
        for start, stop in image_blocks(batch, out_h * out_w * window * self.dtype.itemsize, self.out_channels):
            if kept_columns is not None:
                columns = kept_columns[start:stop]
            else:  # narrow product: recomputed, cheaper than a round trip through memory
                columns = self.buffer("columns", (stop - start, out_h, out_w, window), self.dtype)
                self._im2col(x[start:stop], pad_top, pad_left, columns)
            grad_z_rows = grad_z[start:stop].reshape(-1, self.out_channels)           # (n Ho Wo, C_out)
            self._add_to_weight_gradient(columns.reshape(-1, window), grad_z_rows)  # dW += X_col^T dL/dz
            if need_input_grad and self.stride != (1, 1):
                grad_columns = self.buffer("grad_columns", columns.shape, self.dtype)
                product(grad_z_rows, W_col.T, grad_columns.reshape(-1, window))  # dL/dX_col = dL/dz W_col^T
                kernels.col2im(grad_columns, kh, kw, stride_h, stride_w, pad_top, pad_left, grad_input[start:stop],
                               False)
        if need_input_grad and self.stride == (1, 1):
            full_correlation(self, grad_z, kh - 1 - pad_top, kw - 1 - pad_left, grad_input)
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

    def forward(self, x, training=False):
        """a = f(conv_transpose(x, W) + b), shape (N, Ho, Wo, C_out); ``training=True`` keeps x, z and a."""
        x = check_image_batch(self, x, self.in_channels, self.dtype)
        batch, height, width, _ = x.shape
        (out_h, out_w), (pad_top, pad_left) = self._geometry(height, width)
        (kh, kw), (stride_h, stride_w) = self.kernel_size, self.stride
        window = kh * kw * self.out_channels
        W_col = self.W.reshape(window, self.in_channels)                      # (kh kw C_out, C_in)
        z = self.buffer("output", (batch, out_h, out_w, self.out_channels), self.dtype)
        if self.stride == (1, 1):  # as a "full" correlation: im2col of x, one product (see full_correlation)
            full_correlation(self, x, kh - 1 - pad_top, kw - 1 - pad_left, z)
        else:
            for start, stop in image_blocks(batch, height * width * window * self.dtype.itemsize, window):
                columns = self.buffer("columns", (stop - start, height, width, window), self.dtype)
                product(x[start:stop].reshape(-1, self.in_channels), W_col.T, columns.reshape(-1, window))
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
        for start, stop in image_blocks(batch, height * width * window * self.dtype.itemsize, window):
            grad_columns = self.buffer("columns", (stop - start, height, width, window), self.dtype)
            kernels.im2col(grad_z[start:stop], kh, kw, stride_h, stride_w, pad_top, pad_left, grad_columns)
            grad_rows = grad_columns.reshape(-1, window)                              # (n H W, kh kw C_out)
            x_rows = x[start:stop].reshape(-1, self.in_channels)                      # (n H W, C_in)
            self._add_to_weight_gradient(grad_rows, x_rows)                           # dW_col += dL/dX_col^T x
            if need_input_grad:
                product(grad_rows, W_col, grad_input[start:stop].reshape(-1, self.in_channels))
        return grad_input
