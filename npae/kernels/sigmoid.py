"""Everything built on the one exponential e^{-|z|}: a vectorised exp, the sigmoid, and BCE from logits.

Why these share a module: the stable forms of the sigmoid, softplus and binary cross-entropy need e^{-|z|}
(in (0, 1] for every z, so it never overflows, unlike the textbook e^{-z}), and on this machine that
exponential is the most expensive operation of a training step.  NumPy's float32 ``np.exp`` pass costs
~0.5 ns per element; Numba's ``exp`` is scalar here (no SVML) and costs ~4 ns inside a loop.  So the
exponential is built by hand from multiplications and additions, which LLVM does vectorise
(:func:`_exp_negative_abs_row`, ~0.3 ns per element), and the kernels that need it call it one row at a
time, so that e^{-|z|} never has to be written to, and read back from, a (B, D) array.

Shapes: ``z``, ``target``, ``out``, ``grad_z`` (B, D) C-contiguous; ``bias`` (D,).
"""
import math

import numpy as np

from ._jit import kernel_pair, numba_kernel

# float32 constants, so that the loops stay in float32 (see npae.kernels._jit.numba_kernel).
_LOG2_E = np.float32(1.4426950408889634)
_LN2_HIGH = np.float32(0.693359375)  # ln 2 = _LN2_HIGH + _LN2_LOW; _LN2_HIGH has 9 significant bits, so
_LN2_LOW = np.float32(-2.1219444005469057e-4)  # n * _LN2_HIGH is exact for |n| < 2^15 (Cody and Waite)
_EXP_TAYLOR = tuple(np.float32(1 / math.factorial(k)) for k in range(8))  # 1/k!, k = 0..7
_SMALLEST_EXPONENT = np.float32(-104.0)  # e^-104 = 6.8e-46 rounds to 0 in float32
_TWO_TO_MINUS_24 = np.float32(2.0 ** -24)

# log(1 + e) / e on [0, 1] as a degree-8 polynomial in e, lowest power first: the least-squares fit on
# 4,000 Chebyshev nodes (numpy.polynomial.Polynomial.fit(nodes, np.log1p(nodes) / nodes, 8).convert()).
# Times e, it gives log1p(e) with relative error <= 1.9e-7 in float32 arithmetic (np.log1p: 1.9e-7), and
# keeps full relative accuracy near e = 0, where log1p(e) ~ e.
_LOG1P_OVER_E = tuple(np.float32(c) for c in (
    0.9999999705406571, -0.4999950151678701, 0.3331927134249263, -0.24844369892386245, 0.1911143108023005,
    -0.13674769704734585, 0.07836166800882073, -0.029588507386515955, 0.005253457795366122))
_BLOCK_ROWS = 256  # rows summed in the array's own dtype before the block is added to the float64 total


# --------------------------------------------------------------------------------------------------------
# e^{-|z|} on its own (softplus uses it).
# --------------------------------------------------------------------------------------------------------
def exp_negative_abs_numpy(z, out):
    """out <- e^{-|z|}, in (0, 1] for every z (never e^{+|z|}, which could overflow)."""
    np.abs(z, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)


@numba_kernel(fused_multiply_add=True)
def _exp_negative_abs_row(z_row, out_row, power_of_two):
    """out_row <- e^x with x = -|z_row|, for one row (D,); ``power_of_two`` is a float32 scratch row (D,).

    float32: relative error at most 7.4e-8 (measured on a dense grid of [-87, 0]; NumPy's own float32
    exp: 1.9e-7).  Range reduction (Cody and Waite): write x = n ln 2 + r with n = round(x / ln 2),
    |r| <= ln 2 / 2; then e^x = 2^n e^r.  e^r is a degree-7 Taylor polynomial (truncation r^8/8! < 6e-9),
    evaluated by Horner's rule.  2^n costs no arithmetic: it is the float32 whose exponent bits are n + 127
    and whose mantissa is 0, i.e. the int32 (n + 127) << 23 read as a float.  Numba cannot reinterpret a
    scalar's bits, so the row takes two loops over the scratch row seen two ways: the first writes e^r into
    ``out_row`` and the bits of 2^n into the scratch (as int32), the second multiplies by the scratch (as
    float32).  Both loops are plain arithmetic and vectorise; a row (784 floats) stays in L1.

    Results below the smallest normal float32 (x < -87.3) come out right too, subnormals included: there
    2^n itself would not be a normal float, so the kernel uses 2^{n + 24} and folds the exact factor
    2^-24 into e^r (a select, no branch).  x is clamped at -104, where e^x rounds to 0 in float32 anyway.
    float64 (used by gradient checks, where speed does not matter) takes the scalar ``np.exp``.
    """
    if z_row.itemsize != 4:
        for j in range(z_row.shape[0]):
            out_row[j] = np.exp(-abs(z_row[j]))
        return
    power_of_two_bits = power_of_two.view(np.int32)
    c0, c1, c2, c3, c4, c5, c6, c7 = _EXP_TAYLOR
    for j in range(z_row.shape[0]):
        x = max(-abs(z_row[j]), _SMALLEST_EXPONENT)
        n_float = np.floor(x * _LOG2_E + np.float32(0.5))
        r = (x - n_float * _LN2_HIGH) - n_float * _LN2_LOW
        exp_r = ((((((c7 * r + c6) * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
        n = np.int32(n_float)
        subnormal = n < np.int32(-126)
        out_row[j] = exp_r * _TWO_TO_MINUS_24 if subnormal else exp_r
        power_of_two_bits[j] = (n + (np.int32(24 + 127) if subnormal else np.int32(127))) << 23
    for j in range(z_row.shape[0]):
        out_row[j] *= power_of_two[j]


@numba_kernel
def exp_negative_abs_numba(z, out):
    """Row by row with :func:`_exp_negative_abs_row`: ~2x faster than NumPy's abs, negate and exp passes."""
    power_of_two = np.empty(z.shape[1], dtype=np.float32)
    for i in range(z.shape[0]):
        _exp_negative_abs_row(z[i], out[i], power_of_two)


# --------------------------------------------------------------------------------------------------------
# The sigmoid activation: a = sigma(z + b).
# --------------------------------------------------------------------------------------------------------
def bias_sigmoid_forward_numpy(z, bias):
    """z <- sigma(z + b), computed from e = e^{-|z + b|} as 1 / (1 + e) where z + b >= 0 and e / (1 + e)
    where z + b < 0.  Neither branch can overflow, because e <= 1; the textbook 1 / (1 + e^{-z})
    overflows for z < -88 in float32.
    """
    z += bias
    e = np.exp(-np.abs(z))
    reciprocal = 1 / (1 + e)
    np.copyto(z, np.where(z >= 0, reciprocal, e * reciprocal))


@numba_kernel
def bias_sigmoid_forward_numba(z, bias):
    """One pass over z instead of the reference's seven and three temporaries: per row, add the bias,
    take e^{-|z|} into a scratch row (in L1), then the select."""
    rows, columns = z.shape
    one = z.dtype.type(1)
    zero = z.dtype.type(0)
    exp_row = np.empty(columns, dtype=z.dtype)
    power_of_two = np.empty(columns, dtype=np.float32)
    for i in range(rows):
        for j in range(columns):
            z[i, j] += bias[j]
        _exp_negative_abs_row(z[i], exp_row, power_of_two)
        for j in range(columns):
            e = exp_row[j]
            reciprocal = one / (one + e)
            z[i, j] = reciprocal if z[i, j] >= zero else e * reciprocal


# --------------------------------------------------------------------------------------------------------
# Binary cross-entropy of sigma(z), from the logits.
# --------------------------------------------------------------------------------------------------------
def sigmoid_bce_from_logits_numpy(z, target, scale, grad_z):
    """Binary cross-entropy of p = sigma(z) against x, from the logits z; returns the sum of the terms.

    Term per element:  -[x log p + (1 - x) log(1 - p)]  =  max(z, 0) - z x + log(1 + e^{-|z|})
    Gradient w.r.t. z: (sigma(z) - x) * scale, with scale = 1 / N for the mean.
    Neither a log of 0 nor an overflow can occur: e^{-|z|} <= 1.  The sum is accumulated in float64.
    """
    e = np.exp(-np.abs(z))
    reciprocal = 1 / (1 + e)
    probability = np.where(z >= 0, reciprocal, e * reciprocal)
    np.multiply(probability - target, scale, out=grad_z)
    terms = np.maximum(z, 0) - z * target + np.log1p(e)
    return float(np.sum(terms, dtype=np.float64))


@numba_kernel(fused_multiply_add=True)
def sigmoid_bce_from_logits_numba(z, target, scale, grad_z):
    """Exponential, sigmoid, gradient and loss terms in one pass over z (reference: ~12 passes).

    Shaped for speed, each choice measured on (256, 784) float32 blocks:
    * e^{-|z|} and log1p(e) of each row go to scratch rows (in L1), not to (B, D) arrays: as separate
      passes, the exponential and the rest took ~25 % longer per training epoch.
    * log1p(e) is a polynomial, not a call: Numba's log1p is scalar here, and a division-free polynomial
      leaves the sigmoid's 1 / (1 + e) as the loop's only division.  The dtype test sits outside the
      inner loops: a branch inside one stops it vectorising (measured 5x slower).
    * The loss is accumulated per column (``block_sums[j] +=``): one scalar sum would be a loop-carried
      dependence that stops the inner loop from vectorising.  The column sums are kept in the array's
      dtype for ``_BLOCK_ROWS`` rows at a time, then added to float64 totals: float32 accumulators keep
      the loop at full SIMD width (~25 % faster than float64 ones), and flushing every 256 rows bounds
      their rounding error whatever the batch size.
    float64 (gradient checks) calls the scalar ``np.log1p``: exact, and speed does not matter there.
    """
    rows, columns = z.shape
    one = z.dtype.type(1)
    zero = z.dtype.type(0)
    l0, l1, l2, l3, l4, l5, l6, l7, l8 = _LOG1P_OVER_E
    exp_row = np.empty(columns, dtype=z.dtype)
    log1p_row = np.empty(columns, dtype=z.dtype)
    power_of_two = np.empty(columns, dtype=np.float32)
    block_sums = np.zeros(columns, dtype=z.dtype)
    column_sums = np.zeros(columns, dtype=np.float64)
    for i in range(rows):
        _exp_negative_abs_row(z[i], exp_row, power_of_two)
        if z.itemsize == 4:
            for j in range(columns):
                e = exp_row[j]
                log1p_row[j] = (((((((((l8 * e + l7) * e + l6) * e + l5) * e + l4) * e + l3) * e + l2) * e + l1)
                                 * e + l0) * e)
        else:
            for j in range(columns):
                log1p_row[j] = np.log1p(exp_row[j])
        for j in range(columns):
            logit = z[i, j]
            e = exp_row[j]
            reciprocal = one / (one + e)
            probability = reciprocal if logit >= zero else e * reciprocal
            x = target[i, j]
            grad_z[i, j] = (probability - x) * scale
            positive_part = logit if logit > zero else zero
            block_sums[j] += positive_part - logit * x + log1p_row[j]
        if (i + 1) % _BLOCK_ROWS == 0 or i == rows - 1:
            for j in range(columns):
                column_sums[j] += block_sums[j]
                block_sums[j] = zero
    return column_sums.sum()


exp_negative_abs = kernel_pair(exp_negative_abs_numpy, exp_negative_abs_numba)
bias_sigmoid_forward = kernel_pair(bias_sigmoid_forward_numpy, bias_sigmoid_forward_numba)
sigmoid_bce_from_logits = kernel_pair(sigmoid_bce_from_logits_numpy, sigmoid_bce_from_logits_numba)
