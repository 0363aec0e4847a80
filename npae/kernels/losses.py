"""Loss values and their gradients, and the per-sample reconstruction error.  (Binary cross-entropy
from logits, which needs an exponential, lives in ``npae.kernels.sigmoid``.)

Each function returns the *sum* of the loss terms as a Python float (accumulated in float64, so that the
sum of 200,000 float32 terms does not lose digits) and writes the gradient of the *mean* into ``grad``;
the caller divides the sum by N = batch x features.  Shapes: every array (B, D), C-contiguous.
"""
import numpy as np

from ._jit import kernel_pair, numba_kernel


def binary_cross_entropy_numpy(prediction, target, epsilon, scale, grad):
    """BCE of probabilities p against x (when the output layer is not a sigmoid); returns the sum of terms.

    Term: -[x log p + (1 - x) log(1 - p)], with p clipped to [epsilon, 1 - epsilon] so that log(0) cannot
    occur (Keras does the same).  Gradient w.r.t. p: (p - x) / (p (1 - p)) * scale, on the clipped p.
    """
    p = np.clip(prediction, epsilon, 1 - epsilon)
    np.multiply((p - target) / (p * (1 - p)), scale, out=grad)
    terms = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    return float(np.sum(terms, dtype=np.float64))


def mean_squared_error_numpy(prediction, target, scale, grad):
    """Squared error: returns sum (p - x)^2 and writes grad = scale (p - x), scale = 2 / N for the mean."""
    difference = prediction - target
    np.multiply(difference, scale, out=grad)
    return float(np.sum(difference * difference, dtype=np.float64))


@numba_kernel
def mean_squared_error_numba(prediction, target, scale, grad):
    """One pass: difference, gradient and per-column float64 sums (vectorisable, see the BCE kernel)."""
    rows, columns = prediction.shape
    column_sums = np.zeros(columns, dtype=np.float64)
    for i in range(rows):
        for j in range(columns):
            difference = prediction[i, j] - target[i, j]
            grad[i, j] = difference * scale
            column_sums[j] += difference * difference
    return column_sums.sum()


def row_mean_squared_error_numpy(prediction, target, out):
    """out[i] = (1/D) sum_j (p_ij - x_ij)^2: the paper's reconstruction error (RE) of each observation."""
    difference = prediction.astype(np.float64) - target
    np.mean(difference * difference, axis=1, out=out)


@numba_kernel
def row_mean_squared_error_numba(prediction, target, out):
    """One pass, float64 accumulation per row, no (B, D) temporary (the reference allocates two)."""
    rows, columns = prediction.shape
    for i in range(rows):
        total = 0.0
        for j in range(columns):
            difference = np.float64(prediction[i, j]) - np.float64(target[i, j])
            total += difference * difference
        out[i] = total / columns


mean_squared_error = kernel_pair(mean_squared_error_numpy, mean_squared_error_numba)
row_mean_squared_error = kernel_pair(row_mean_squared_error_numpy, row_mean_squared_error_numba)
