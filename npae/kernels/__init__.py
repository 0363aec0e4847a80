"""The hot loops of npae: each a plain-NumPy reference paired with a Numba kernel.

``REGISTRY`` maps a name to its :class:`~npae.kernels._jit.KernelPair`; ``tests/test_kernels.py`` runs
both halves of every pair on the same inputs.  Which half runs is decided at call time by
``npae.set_jit`` / ``NPAE_JIT`` (see :mod:`npae._backend`).  Modules:

    elementwise   bias + activation, activation derivatives, the mini-batch gather
    sigmoid       a vectorised e^{-|z|}, the sigmoid, BCE from logits
    losses        MSE, BCE of probabilities, the reconstruction error
    optim         Adam, SGD
    convolution   im2col / col2im, max pooling, nearest upsampling
    select        top-k selection (the kNN search's)
    bounds        lower bounds on distances (the kNN search's)
"""
from ._jit import REGISTRY, KernelPair, kernel_pair, numba_kernel  # noqa: F401
from . import elementwise, losses, optim, sigmoid  # noqa: F401  (importing a module registers its pairs)
