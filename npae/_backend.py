"""Two global choices that every numerical module of npae consults: the JIT switch and the dtype policy.

JIT switch
    Each hot loop in :mod:`npae.kernels` exists twice: a plain-NumPy *reference* (what a learner reads)
    and a Numba *kernel* (what runs).  ``NPAE_JIT=0`` in the environment, or ``npae.set_jit(False)``,
    makes every call take the reference path; nothing imports Numba then.  The switch is read at call
    time, so it can be flipped between two training steps (the tests do exactly that).

Dtype policy
    float32 by default (half the memory traffic of float64, and what BLAS runs fastest);
    float64 on request, which the gradient checks use.  Nothing else is accepted, so that a silent
    upcast to float64 or a training run in float16 cannot happen by accident.
"""
import os
from contextlib import contextmanager

import numpy as np

_jit_enabled = os.environ.get("NPAE_JIT", "1").strip().lower() not in ("0", "false", "no", "off")

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def jit_enabled() -> bool:
    """True when the Numba kernels run, False when the NumPy references do."""
    return _jit_enabled


def set_jit(enabled: bool) -> None:
    """Run the Numba kernels (``True``) or the plain-NumPy references (``False``) from now on."""
    global _jit_enabled
    if not isinstance(enabled, (bool, np.bool_)):
        raise ValueError(f"enabled must be True or False, got {enabled!r}")
    _jit_enabled = bool(enabled)


@contextmanager
def jit(enabled: bool):
    """Context manager form of :func:`set_jit`; restores the previous setting on exit."""
    previous = _jit_enabled
    set_jit(enabled)
    try:
        yield
    finally:
        set_jit(previous)


def resolve_dtype(dtype, argument: str = "dtype") -> np.dtype:
    """Turn ``"float32"``, ``np.float64``... into a NumPy dtype; anything but float32/float64 is a ValueError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(f"{argument}={dtype!r} is not a dtype; expected 'float32' or 'float64'") from error
    if resolved not in SUPPORTED_DTYPES:
        raise ValueError(f"{argument}={dtype!r} is not supported; expected 'float32' or 'float64'")
    return resolved
