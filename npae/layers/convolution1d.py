"""One-dimensional convolutions, Conv1D and Conv1DTranspose: the 2-D layers on images one pixel high.

Read :mod:`npae.layers.convolution` first.  A batch of sequences channels last, x (B, T, C) as in Keras, *is*
a batch of images of height 1, (B, 1, T, C); a 1-D kernel (k, C_in, C_out) is a 2-D kernel (1, k, C_in,
C_out).  With a kernel of height 1, a stride of 1 along the height and no padding there, every formula of
the 2-D layers reduces to its 1-D form:

    Conv1D           z[b, t, o] = bias[o] + sum_{j < k, c < C_in} x[b, t s + j - p, c] W[j, c, o],   a = f(z)
    Conv1DTranspose  z[b, t s + j - p, o] += sum_c x[b, t, c] W[j, o, c]   (then + bias[o]),           a = f(z)

    Conv1D backward (given dL/dz = dL/da * f'(z)):
        dL/dbias[o]  = sum_{b, t} dL/dz[b, t, o]
        dL/dW[j, c, o] = sum_{b, t} x[b, t s + j - p, c] dL/dz[b, t, o]
        dL/dx[b, u, c] = sum_{j, o} dL/dz[b, t, o] W[j, c, o]  over the t with u = t s + j - p
    Conv1DTranspose's forward is that dL/dx (from C_out channels back to C_in), and its backward the
    convolution: see :class:`npae.Conv2DTranspose`.

Output lengths (Keras' rules): Conv1D "valid" T_out = floor((T - k) / s) + 1, "same" ceil(T / s);
Conv1DTranspose "valid" T s + max(k - s, 0), "same" T s.

So these classes hold a :class:`npae.Conv2D` (or :class:`npae.Conv2DTranspose`) with kernel (1, k) and
stride (1, s), and only reshape around its public ``forward``/``backward``: one implementation of the
convolution (im2col, the products, the Numba kernels), whatever makes it fast.  Their parameters are views
of the inner layer's: ``W`` (k, C_in, C_out) is the inner (1, k, C_in, C_out) kernel without its first
axis (Keras' Conv1D layout, so a Keras ``get_weights()`` loads one to one), ``b`` (C_out,) is the same array.
"""
import numpy as np

from .. import _backend
from .._validation import check_positive_int
from .base import Layer
from .convolution import Conv2D, Conv2DTranspose
from .sequence import buffer_reuse_of


class _Sequence2D(Layer):
    """A 1-D layer as the 2-D layer ``image_class`` on (B, 1, T, C) images (see the module docstring)."""

    image_class = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="valid", activation="identity",
                 init="glorot_uniform", constraint=None, dtype="float32", rng=None):
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.stride = check_positive_int(stride, "stride")
        self.dtype = _backend.resolve_dtype(dtype)
        self.image_layer = self.image_class(in_channels, out_channels, (1, self.kernel_size), stride=(1, self.stride),
                                            padding=padding, activation=activation, init=init, constraint=constraint,
                                            dtype=dtype, rng=rng)
        self.in_channels, self.out_channels = self.image_layer.in_channels, self.image_layer.out_channels
        self.padding, self.activation, self.init = padding, self.image_layer.activation, init
        self.constraint = constraint
        (kernel, bias), (kernel_gradient, bias_gradient) = self.image_layer.parameters(), self.image_layer.gradients()
        # Views made once (a model collects its parameters by identity): (1, k, a, b) -> (k, a, b).
        self.W, self.b, self.dW, self.db = kernel[0], bias, kernel_gradient[0], bias_gradient

    _reuse_buffers = buffer_reuse_of("image_layer")   # the inner layer reuses its buffers when this one does

    def get_config(self):
        config = self.image_layer.get_config()
        config.update(kernel_size=self.kernel_size, stride=self.stride)
        return config

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, activation={self.activation.name!r})")

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        self.image_layer.gradients()  # writes the inner layer's pending zeros (see npae.Dense.zero_grad)
        return [self.dW, self.db]

    def zero_grad(self):
        self.image_layer.zero_grad()

    def weights_to_penalize(self):
        return [(self.W, self.dW)]

    def apply_constraints(self):
        self.image_layer.apply_constraints()

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{self!r} takes sequences of per-sample shape (time, channels), got {input_shape}"
                             + (" (a univariate series of T points is (T, 1))" if len(input_shape) == 1 else ""))
        if input_shape[1] != self.in_channels:
            raise ValueError(f"{self!r} takes {self.in_channels} input channel(s), got per-sample shape {input_shape}")
        try:
            _, length, channels = self.image_layer.output_shape((1,) + input_shape)
        except ValueError as error:
            raise ValueError(f"{self!r} cannot take per-sample shape {input_shape}: {error}") from None
        return (length, channels)

    def forward(self, x, training=False):
        """a (B, T_out, C_out) for x (B, T, C_in): the inner layer on x seen as (B, 1, T, C_in)."""
        x = self.check_input(x)
        if x.ndim != 3 or x.shape[0] == 0:
            raise ValueError(f"{self!r} takes a non-empty batch (batch, time, channels), got shape {x.shape}")
        output = self.image_layer.forward(x[:, np.newaxis], training=training)
        return output[:, 0]

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx (B, T, C_in) for dL/da (B, T_out, C_out); adds dL/dW and dL/db (None without need_input_grad)."""
        grad_output = np.asarray(grad_output)
        if grad_output.ndim != 3:
            raise ValueError(f"{self!r}: grad_output must be (batch, time, channels), got shape {grad_output.shape}")
        grad_input = self.image_layer.backward(grad_output[:, np.newaxis], need_input_grad=need_input_grad)
        return None if grad_input is None else grad_input[:, 0]


class Conv1D(_Sequence2D):
    """1-D convolution followed by an activation (Keras' ``Conv1D(filters, kernel_size, strides, padding)``).

    Shapes:  x (B, T, C_in)   W (k, C_in, C_out)   b (C_out,)   z, a (B, T_out, C_out)
    Forward and backward: the module docstring (the 2-D formulas of :class:`npae.Conv2D` with height 1).

    Parameters
    ----------
    in_channels, out_channels : int (C_in, C_out; Keras calls C_out ``filters``)
    kernel_size : int (k);  stride : int (s), default 1
    padding : "valid" (default; T_out = floor((T - k) / s) + 1) or "same" (T_out = ceil(T / s))
    activation, init, constraint, dtype, rng : as :class:`npae.Conv2D` (Keras' fans: k C_in and k C_out).
        A custom ``init`` function receives the inner kernel's shape (1, k, C_in, C_out).
    """

    image_class = Conv2D


class Conv1DTranspose(_Sequence2D):
    """1-D transposed convolution followed by an activation (Keras' ``Conv1DTranspose``): the gradient of a
    Conv1D with respect to its input, run forward; it lengthens a sequence (T -> T s for "same").

    Shapes:  x (B, T, C_in)   W (k, C_out, C_in) (Keras' layout)   b (C_out,)   z, a (B, T_out, C_out)
    Sizes:  "valid" T_out = T s + max(k - s, 0);  "same" T_out = T s.
    Parameters: as :class:`Conv1D`.
    """

    image_class = Conv2DTranspose
