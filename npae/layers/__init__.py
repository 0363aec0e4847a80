"""Layers: the protocol (:mod:`npae.layers.base`) and the layers built on it.

    base.py    Layer, the contract every layer follows (forward, backward, parameters, gradients)
    dense.py   Dense (z = x W + b, then an activation) and TiedDense (the transpose of another's W)

Activations are layers too; they live in :mod:`npae.activations`.
"""
from .base import Layer  # noqa: F401
from .dense import Dense, TiedDense  # noqa: F401


def _register_built_ins():
    from ..registry import register_all

    register_all((Dense, TiedDense))


_register_built_ins()
