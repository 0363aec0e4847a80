"""The two small pieces of machinery behind every kernel pair: lazy Numba compilation and dispatch.

Why lazy: importing Numba costs ~0.2 s and compiling a kernel far more, while ``import npae`` must stay
under half a second and the reference path must work without Numba at all.  So a kernel is written as
ordinary Python, wrapped by :func:`numba_kernel`, and handed to ``numba.njit(cache=True)`` only on its
first call.  ``cache=True`` stores the machine code next to the source (``__pycache__``), so a second
process loads it in milliseconds instead of compiling again.

Why ``error_model="numpy"``: under Numba's default ("python") every float division checks for a zero
divisor so that it can raise ZeroDivisionError, and that branch stops LLVM from vectorising the loop.
With NumPy's semantics (x / 0 gives inf or nan, as in NumPy itself) the fused Adam update measured
0.34 ns per float32 element instead of 2.6 ns.

Why ``fused_multiply_add`` is opt-in: it grants LLVM the one fast-math liberty "contract", turning
``a * b + c`` into a single FMA instruction (one rounding instead of two, so never less accurate).  The
polynomial kernels (``exp``, ``log1p``) run ~1.4x faster with it.  It stays off elsewhere because it
changes last bits, and the kNN kernels promise bit-identical distances on every path.

Why ``reassociate`` exists, and where: LLVM vectorises a loop that adds into one float (a reduction) only
if it may reorder the additions ("reassoc"), since eight lane sums added at the end round differently from
one running sum.  The one kernel that uses it, ``npae.kernels.optim._finite``, adds 0s and NaNs, where
every order gives the same answer.  Elsewhere the order is part of the result and stays as written.  Never
add "nnan", "nsz" or "fast" there: with them LLVM may fold x - x to 0, and the check would see nothing.

Kernels calling kernels: Numba can only compile a call to a function it already knows as compiled, and
a lazy kernel is a plain Python object until its first call.  So when a kernel is compiled, every lazy
kernel it names is compiled first and handed to Numba in its place (:meth:`LazyNumbaFunction.compiled`).
The callee must live in the caller's module: Numba's cache notices a change to the caller's file only,
so a callee in another file could leave a stale caller in the cache.
"""
import types

from .. import _backend


class LazyNumbaFunction:
    """A Python function compiled with ``numba.njit(cache=True)`` the first time it is called."""

    def __init__(self, python_function, fused_multiply_add=False, inline=False, release_gil=False,
                 reassociate=False):
        self.python_function = python_function
        self.fused_multiply_add = fused_multiply_add
        self.reassociate = reassociate
        self.inline = inline
        self.release_gil = release_gil
        self.__name__ = python_function.__name__
        self.__qualname__ = python_function.__qualname__
        self.__doc__ = python_function.__doc__
        self.__module__ = python_function.__module__
        self._compiled = None

    @property
    def compiled(self):
        if self._compiled is None:
            import numba  # deferred: see the module docstring

            fastmath = {"contract"} if self.fused_multiply_add else set()
            fastmath |= {"reassoc"} if self.reassociate else set()
            compiler = numba.njit(cache=True, error_model="numpy", fastmath=fastmath or False,
                                 nogil=self.release_gil, inline="always" if self.inline else "never")
            self._compiled = compiler(self._with_compiled_callees())
        return self._compiled

    def _with_compiled_callees(self):
        """The Python function, its lazy callees (see the module docstring) replaced by compiled ones."""
        function = self.python_function
        callees = {name: function.__globals__[name] for name in function.__code__.co_names
                   if isinstance(function.__globals__.get(name), LazyNumbaFunction)}
        if not callees:
            return function
        for name, callee in callees.items():
            if callee.__module__ != self.__module__:
                raise TypeError(f"kernel {self.__qualname__} calls {name} from {callee.__module__}: a kernel may "
                                f"only call kernels of its own module (see npae.kernels._jit)")
        namespace = dict(function.__globals__, **{name: callee.compiled for name, callee in callees.items()})
        rebound = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__,
                                     function.__closure__)
        rebound.__qualname__, rebound.__module__ = function.__qualname__, function.__module__
        return rebound

    def __call__(self, *args):
        return self.compiled(*args)

    def __repr__(self):
        return f"<numba kernel {self.__qualname__}>"


def numba_kernel(python_function=None, *, fused_multiply_add=False, inline=False, release_gil=False,
                 reassociate=False):
    """Decorator: mark ``python_function`` as a Numba kernel, compiled lazily (see :class:`LazyNumbaFunction`).

    ``@numba_kernel`` or ``@numba_kernel(fused_multiply_add=True)`` (see the module docstring).
    ``inline=True``: a small helper that kernels call is inlined into them (Numba's ``inline="always"``;
    otherwise each call is a real function call, which costs in a hot loop).
    ``release_gil=True`` (Numba's ``nogil``): the kernel lets other Python threads run meanwhile, so that
    two threads can each work on their own block of images (``npae.layers.correlation``).
    ``reassociate=True``: additions may be reordered, so that a float reduction vectorises (the module
    docstring; only where every order gives the same result).

    A kernel may call other kernels of its own module (see the module docstring).  Scalars passed in
    should already have the arrays' dtype
    (``np.float32(beta)``), or Numba promotes the loop to float64 and it stops vectorising.
    """
    if python_function is None:
        return lambda function: LazyNumbaFunction(function, fused_multiply_add, inline, release_gil, reassociate)
    return LazyNumbaFunction(python_function, fused_multiply_add, inline, release_gil, reassociate)


class KernelPair:
    """A NumPy reference and a Numba kernel with one contract; calling the pair runs the active one.

    ``NPAE_JIT=0`` or ``npae.set_jit(False)`` selects the reference.  Both functions take the same
    arguments, write into the same output arguments and return the same value, so a test can run both
    on identical inputs and compare (see ``tests/test_kernels.py``, which iterates over ``REGISTRY``).
    After the first call on the Numba path the pair calls Numba's dispatcher directly: a training step
    makes dozens of kernel calls, and each Python-level indirection saved is ~0.1 us.
    """

    def __init__(self, name, reference, kernel):
        self.name = name
        self.reference = reference
        self.kernel = kernel
        self._dispatcher = None

    def __call__(self, *args):
        if _backend._jit_enabled:
            dispatcher = self._dispatcher
            if dispatcher is None:
                dispatcher = self._dispatcher = self.kernel.compiled
            return dispatcher(*args)
        return self.reference(*args)

    def __repr__(self):
        return f"<kernel pair {self.name}: {self.reference.__name__} / {self.kernel.__name__}>"


REGISTRY: dict[str, KernelPair] = {}


def kernel_pair(reference, kernel, name=None) -> KernelPair:
    """Register ``(reference, kernel)`` under ``name`` (default: the reference's name without ``_numpy``)."""
    if name is None:
        name = reference.__name__.removesuffix("_numpy")
    if name in REGISTRY:
        raise ValueError(f"kernel pair {name!r} is registered twice")
    pair = KernelPair(name, reference, kernel)
    REGISTRY[name] = pair
    return pair
