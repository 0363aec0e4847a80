"""The LSTM cell, one time step, forward and backward: a NumPy reference and a Numba kernel each.

The matrix products of an LSTM (x_t W and h_{t-1} U) go to BLAS; what is left per time step is a dozen
element-wise operations on (B, H) arrays, which NumPy runs as a dozen passes with a temporary array each
(~3 us of call overhead apiece at B = 64, H = 32: more than the arithmetic).  The kernel does the step in
one pass.  Formulas in :class:`npae.layers.recurrent.LSTM`.

Shapes: ``z``, ``gates``, ``grad_z`` (B, 4H) with the gates in Keras' order i, f, c (the candidate, called
g below), o; ``c_prev``, ``c``, ``tanh_c``, ``h``, ``grad_h``, ``grad_c`` (B, H).  All C-contiguous rows.
"""
import math

import numpy as np

from ._jit import kernel_pair, numba_kernel


def _sigmoid(z):
    return 0.5 * (np.tanh(0.5 * z) + 1.0)   # = 1 / (1 + e^-z), with no overflow for any z


def lstm_cell_forward_numpy(z, c_prev, c, tanh_c, h):
    """z (B, 4H): the pre-activations x_t W + h_{t-1} U + b, turned IN PLACE into the gates
    [i, f, g, o] = [sigma(z_i), sigma(z_f), tanh(z_g), sigma(z_o)]; then

        c = f * c_prev + i * g          tanh_c = tanh(c)          h = o * tanh_c
    """
    hidden = c.shape[1]
    z[:, :2 * hidden] = _sigmoid(z[:, :2 * hidden])
    z[:, 2 * hidden:3 * hidden] = np.tanh(z[:, 2 * hidden:3 * hidden])
    z[:, 3 * hidden:] = _sigmoid(z[:, 3 * hidden:])
    i, f, g, o = z[:, :hidden], z[:, hidden:2 * hidden], z[:, 2 * hidden:3 * hidden], z[:, 3 * hidden:]
    c[...] = f * c_prev + i * g
    tanh_c[...] = np.tanh(c)
    h[...] = o * tanh_c


@numba_kernel
def lstm_cell_forward_numba(z, c_prev, c, tanh_c, h):
    """One pass over the batch; the same formulas as the reference."""
    batch, hidden = c.shape
    half = z.dtype.type(0.5)
    for b in range(batch):
        for j in range(hidden):
            i = half * (math.tanh(half * z[b, j]) + 1)
            f = half * (math.tanh(half * z[b, hidden + j]) + 1)
            g = math.tanh(z[b, 2 * hidden + j])
            o = half * (math.tanh(half * z[b, 3 * hidden + j]) + 1)
            z[b, j], z[b, hidden + j], z[b, 2 * hidden + j], z[b, 3 * hidden + j] = i, f, g, o
            cell = f * c_prev[b, j] + i * g
            c[b, j] = cell
            squashed = math.tanh(cell)
            tanh_c[b, j] = squashed
            h[b, j] = o * squashed


def lstm_cell_backward_numpy(gates, c_prev, tanh_c, grad_h, grad_c, grad_z):
    """grad_z (B, 4H) <- dL/dz of one step; grad_c (B, H): dL/dc_t from the later steps IN, dL/dc_{t-1} OUT.

        dc   = grad_c + grad_h o (1 - tanh_c^2)          (the cell path, plus through h = o tanh(c))
        dz_i = dc g  i (1 - i)        dz_f = dc c_prev f (1 - f)
        dz_g = dc i  (1 - g^2)        dz_o = grad_h tanh_c o (1 - o)
        grad_c <- dc f                (what reaches c_{t-1} along the cell path)
    """
    hidden = c_prev.shape[1]
    i, f, g, o = gates[:, :hidden], gates[:, hidden:2 * hidden], gates[:, 2 * hidden:3 * hidden], gates[:, 3 * hidden:]
    dc = grad_c + grad_h * o * (1 - tanh_c * tanh_c)
    grad_z[:, :hidden] = dc * g * i * (1 - i)
    grad_z[:, hidden:2 * hidden] = dc * c_prev * f * (1 - f)
    grad_z[:, 2 * hidden:3 * hidden] = dc * i * (1 - g * g)
    grad_z[:, 3 * hidden:] = grad_h * tanh_c * o * (1 - o)
    grad_c[...] = dc * f


@numba_kernel
def lstm_cell_backward_numba(gates, c_prev, tanh_c, grad_h, grad_c, grad_z):
    """One pass over the batch; the same formulas as the reference."""
    batch, hidden = c_prev.shape
    one = gates.dtype.type(1)
    for b in range(batch):
        for j in range(hidden):
            i, f = gates[b, j], gates[b, hidden + j]
            g, o = gates[b, 2 * hidden + j], gates[b, 3 * hidden + j]
            squashed = tanh_c[b, j]
            dc = grad_c[b, j] + grad_h[b, j] * o * (one - squashed * squashed)
            grad_z[b, j] = dc * g * i * (one - i)
            grad_z[b, hidden + j] = dc * c_prev[b, j] * f * (one - f)
            grad_z[b, 2 * hidden + j] = dc * i * (one - g * g)
            grad_z[b, 3 * hidden + j] = grad_h[b, j] * squashed * o * (one - o)
            grad_c[b, j] = dc * f


lstm_cell_forward = kernel_pair(lstm_cell_forward_numpy, lstm_cell_forward_numba)
lstm_cell_backward = kernel_pair(lstm_cell_backward_numpy, lstm_cell_backward_numba)
