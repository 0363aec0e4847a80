"""The layer protocol: what every layer of npae, and every layer you write, provides.

A model is a list of layers; training asks each layer for three things (micrograd's and PyTorch's
contract, with NumPy arrays):

    forward(x, training=False) -> y      y = layer(x), a new array.  With training=True the layer also
                                         keeps what its backward needs (its input, its output...).
    backward(grad_output) -> grad_input  given dL/dy (same shape as y) after a training forward: ADD
                                         dL/dtheta to each gradient array, and return dL/dx.
    parameters(), gradients()            the trainable arrays and their gradients, two lists in the
                                         same order with the same shapes.  The optimiser updates the
                                         parameters in place; nothing else writes to them.

Gradients accumulate (``+=``), they are never assigned: a parameter used twice (the encoder's weight
matrix reused, transposed, by a tied decoder layer) simply receives both contributions, in whichever
order backprop reaches them.  ``zero_grad()`` sets every gradient to zero before a batch, as in PyTorch.

Optional, with defaults here:

    zero_grad()                 gradients <- 0                       (default: fill each gradient with 0)
    output_shape(input_shape)   the output's per-sample shape        (default: the input's shape)
                                for a per-sample input shape, or a ValueError if the layer cannot take it;
                                models check their layers line up before any work is done
    get_config()                the constructor's arguments as JSON values, so that
                                ``type(layer)(**layer.get_config())`` builds the same layer (default: {})
    weights_to_penalize()       [(parameter, gradient)] pairs that l1/l2 weight penalties apply to
                                (default: none; Dense gives its W, never its bias, as Keras does)
    apply_constraints()         called after every optimiser step (default: nothing)

Shapes: arrays hold a batch, the first axis counting the B observations; ``output_shape`` works on
the per-sample shape (no batch axis): (784,) for a flattened MNIST image, (28, 28, 1) for one channel.

To write a layer of your own (see ``examples/custom_layer.py``, written as ``npae/layers/dense.py``):
subclass :class:`Layer`, create its arrays with :meth:`Layer.new_parameter` (which also lets ``npae.load``
check a file before allocating anything), write its math in ``_forward`` and ``_backward`` (the class
docstring below), and register the class with ``npae.register`` so that a saved model can name it.
``npae.gradcheck(layer, x)`` then tells you whether your backward is right.

Buffers: a public ``forward``/``backward`` returns new arrays, so that keeping an output is always
safe.  Inside ``fit`` the built-in layers reuse their output arrays from one batch to the next instead
(:meth:`Layer.buffer`): fresh ~1 MB arrays cost a page fault per 4 KB on first touch, more than the
arithmetic done on them.
"""
import contextvars
import math

import numpy as np

from .._memory import check_allocation

LARGE_BUFFER_BYTES = 2**28  # outputs beyond 256 MB are compared with the free memory before np.empty

# Where new_parameter / new_gradient get their arrays while npae.load builds a model: a function
# (shape, dtype) -> array that npae.io sets (arrays without memory, to compare a file with the architecture
# it declares before allocating anything; then the arrays the file's values are read into).  None, the
# normal case: allocate and initialise here.
loader_arrays = contextvars.ContextVar("npae_loader_arrays", default=None)


class Buffers:
    """Output arrays of layers and models, reused between batches inside ``fit`` (one concept, one place).

    ``buffer(name, shape, dtype)`` is a new array on every call, except while reuse is on (``fit`` turns
    it on for the model and its layers, :meth:`reuse_buffers`): then it is one array per (name, shape,
    dtype), kept for the next fit (the last, shorter batch gets its own).  Why: fresh ~1 MB arrays cost a
    page fault per 4 KB on first touch, more than the arithmetic done on them.
    """

    _reuse_buffers = False

    def reuse_buffers(self, enabled):
        """Turn reuse on (inside ``fit``) or off (a public call must get new arrays)."""
        self._reuse_buffers = bool(enabled)

    def buffer(self, name, shape, dtype):
        """An array of ``shape`` and ``dtype`` to write an output into (see the class docstring)."""
        if not self._reuse_buffers:
            return self._new_buffer(shape, dtype)
        buffers = self.__dict__.setdefault("_buffers", {})
        key = (name, tuple(shape), np.dtype(dtype))
        array = buffers.get(key)
        if array is None:
            array = buffers[key] = self._new_buffer(shape, dtype)
        return array

    def _new_buffer(self, shape, dtype):
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes > LARGE_BUFFER_BYTES:  # e.g. UpSampling2D(10**5): a clear error, not NumPy's MemoryError
            check_allocation(nbytes, f"{self!r}: an array of shape {tuple(shape)}")
        return np.empty(shape, dtype=dtype)


class Kept:
    """What a training forward kept for its backward, by name: ``self.kept.x``.

    A layer's ``_forward`` calls ``self.keep(x=x, a=a)``; the base class stores the values only when
    the forward is a training one, together with the output's shape and dtype (which the incoming
    gradient must have)."""

    __slots__ = ("values", "output_shape", "output_dtype")

    def __init__(self, values, output_shape, output_dtype):
        self.values, self.output_shape, self.output_dtype = values, output_shape, output_dtype

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(f"the training forward kept no {name!r} (it kept {sorted(self.values)}); "
                                 "call self.keep(...) in _forward") from None


class Layer(Buffers):
    """Base class of every layer; see the module docstring for the protocol.

    A layer writes its math in two methods, and this class does the bookkeeping around them once:

        _forward(x)          -> y        x already checked and of the layer's dtype; call
                                          ``self.keep(name=array, ...)`` for what backward needs
        _backward(grad_y)    -> grad_x   grad_y already checked (shape and dtype of the kept output);
                                          read ``self.kept.name``; ADD into the gradient arrays

    ``forward``, ``backward`` and ``layer(x)`` are written here: input checks (``check_input``), what is
    kept and when, "backward before a training forward", the gradient's shape.  A layer may still
    override ``forward``/``backward`` themselves (the protocol is those two methods).
    """

    _registry_kinds = ("layer",)  # what npae.register files a subclass under (npae.registry)

    _kept = None       # Kept of the last training forward (None before one)
    _keeping = None    # the dict that keep() fills during a training forward, None otherwise
    need_input_grad = True  # False while a model's first layer runs backward: dL/dx of the data is not needed

    # --- the math: what a layer writes -------------------------------------------------------------
    def _forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} must implement _forward(x) (or forward(x, training))")

    def _backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} must implement _backward(grad_output) "
                                  "(or backward(grad_output))")

    # --- the bookkeeping, written once ---------------------------------------------------------------
    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def forward(self, x, training=False):
        """y = layer(x), a new array.  With ``training=True`` the layer keeps what its backward needs."""
        x = self.check_input(x)
        self._keeping = {} if training else None
        try:
            y = self._forward(x)
            if training:
                self._kept = Kept(self._keeping, y.shape, y.dtype)
        finally:
            self._keeping = None
        return self._detached(y, x)

    def keep(self, **values):
        """Inside ``_forward``: keep these arrays for backward (only in a training forward)."""
        if self._keeping is not None:
            self._keeping.update(values)

    @property
    def kept(self):
        """What the last training forward kept (see :class:`Kept`)."""
        if self._kept is None:
            raise RuntimeError(f"{self!r}: backward called before a training forward")
        return self._kept

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx for g = dL/dy (the shape of the last training forward's output); adds dL/dtheta to the
        gradients.  ``need_input_grad=False`` (a model's first layer) lets a layer skip dL/dx and return None."""
        kept = self.kept
        grad_output = np.asarray(grad_output)
        if grad_output.shape != kept.output_shape:
            raise ValueError(f"{self!r}: grad_output has shape {grad_output.shape}, expected {kept.output_shape} "
                             "(the shape of the last training forward's output)")
        grad_output = np.ascontiguousarray(grad_output, dtype=kept.output_dtype)
        self.need_input_grad = need_input_grad
        try:
            grad_input = self._backward(grad_output)
        finally:
            self.need_input_grad = True
        return None if grad_input is None else self._detached(grad_input, grad_output)

    def _detached(self, result, source):
        """``result``, copied if it is (a view of) ``source``: a public forward/backward returns a new array,
        so that keeping it is always safe (Flatten's reshape, the identity).  Inside ``fit`` views pass: the
        next layer only reads them."""
        if not self._reuse_buffers and np.may_share_memory(result, source):
            return result.copy()
        return result

    def check_input(self, x):
        """x as a C-contiguous array of the layer's dtype (``self.dtype`` if it has one; otherwise x's own
        float dtype, float64 for integers), after checking that the layer takes its per-sample shape
        (``output_shape`` raises a ValueError if not)."""
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"{self!r} takes a batch (B, ...), got a scalar")
        self.output_shape(x.shape[1:])
        dtype = getattr(self, "dtype", None)
        if dtype is None:
            dtype = x.dtype if x.dtype.kind == "f" else np.float64
        return np.ascontiguousarray(x, dtype=dtype)

    def parameters(self):
        return []

    def gradients(self):
        return []

    def zero_grad(self):
        for gradient in self.gradients():
            gradient.fill(0)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {}

    def weights_to_penalize(self):
        return []

    def apply_constraints(self):
        pass

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    # --- helpers for layer authors -----------------------------------------------------------------
    def new_parameter(self, shape, dtype, initializer=None, what=None):
        """A parameter array of ``shape`` and ``dtype``, filled by ``initializer()`` (default: zeros).

        A request larger than the memory this machine has left is a ValueError, not a crash.  (Inside
        ``npae.load`` the loader supplies the arrays instead, and the initialiser does not run: the file
        holds the values.  See npae.io.)
        """
        shape = tuple(int(size) for size in shape)
        dtype = np.dtype(dtype)
        from_loader = loader_arrays.get()
        if from_loader is not None:
            return from_loader(shape, dtype)
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        check_allocation(nbytes, what or f"a {type(self).__name__} parameter of shape {shape}")
        if initializer is None:
            return np.zeros(shape, dtype=dtype)
        value = np.ascontiguousarray(initializer(), dtype=dtype)
        if value.shape != shape:
            raise ValueError(f"the initialiser of {type(self).__name__} returned shape {value.shape}, "
                             f"expected {shape}")
        return value

    def new_gradient(self, parameter):
        """The gradient array of ``parameter``: zeros of its shape and dtype."""
        from_loader = loader_arrays.get()
        if from_loader is not None:
            return from_loader(parameter.shape, parameter.dtype)
        return np.zeros(parameter.shape, dtype=parameter.dtype)
