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


# tanh(x) ~ p(x) / q(x) on [-CLAMP, CLAMP] (beyond it tanh rounds to +-1 in float32): Eigen's float32
# rational approximation (Eigen/src/Core/MathFunctionsImpl.h, generic_fast_tanh_float), odd numerator of
# degree 13, even denominator of degree 6; error a few float32 ulps.  Plain arithmetic, so the loop
# vectorises, where Numba's math.tanh is a scalar call (~50 ns each on this loaded machine: half of an LSTM
# training step).  float64 (gradient checks) keeps math.tanh.
_TANH_CLAMP = np.float32(7.90531110763549805)
_TANH_NUMERATOR = tuple(np.float32(c) for c in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_TANH_DENOMINATOR = tuple(np.float32(c) for c in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))


@numba_kernel(inline=True)
def _tanh(x, fast):
    """tanh(x): with ``fast`` (float32 arrays) the rational approximation above, else math.tanh."""
    if not fast:
        return math.tanh(x)
    a1, a3, a5, a7, a9, a11, a13 = _TANH_NUMERATOR
    b0, b2, b4, b6 = _TANH_DENOMINATOR
    x = x if x < _TANH_CLAMP else _TANH_CLAMP    # selects, not branches: the loop stays vectorisable
    x = x if x > -_TANH_CLAMP else -_TANH_CLAMP
    x2 = x * x
    p = x * (((((((a13 * x2 + a11) * x2 + a9) * x2 + a7) * x2 + a5) * x2 + a3) * x2 + a1))
    q = ((b6 * x2 + b4) * x2 + b2) * x2 + b0
    return p / q


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


@numba_kernel(inline=True)
def _squash_row(row, start, stop, fast, sigmoid):
    """row[start:stop] <- sigma(row) or tanh(row), in place: one contiguous loop that LLVM vectorises."""
    half = row.dtype.type(0.5)
    if sigmoid:
        for k in range(start, stop):
            row[k] = half * (_tanh(half * row[k], fast) + 1)
    else:
        for k in range(start, stop):
            row[k] = _tanh(row[k], fast)


@numba_kernel
def lstm_cell_forward_numba(z, c_prev, c, tanh_c, h):
    """Per row: the gates in place (three contiguous loops), then c, tanh(c), h; the reference's formulas
    (tanh approximated in float32: see _tanh)."""
    batch, hidden = c.shape
    fast = z.itemsize == 4
    for b in range(batch):
        row = z[b]
        _squash_row(row, 0, 2 * hidden, fast, True)
        _squash_row(row, 2 * hidden, 3 * hidden, fast, False)
        _squash_row(row, 3 * hidden, 4 * hidden, fast, True)
        for j in range(hidden):
            cell = row[hidden + j] * c_prev[b, j] + row[j] * row[2 * hidden + j]
            c[b, j] = cell
            tanh_c[b, j] = _tanh(cell, fast)
        for j in range(hidden):
            h[b, j] = row[3 * hidden + j] * tanh_c[b, j]


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
