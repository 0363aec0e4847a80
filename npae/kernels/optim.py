"""In-place optimiser updates of one parameter array (flattened to 1-D by the caller, a free view).

All scalars arrive already cast to the parameter's dtype: a Python float is float64 in Numba, which would
promote every element to float64 and halve the SIMD width.

Each update returns True when every updated value is finite (for Adam, the second moment as well): training
must never end with NaN or infinite weights.  The test is a second, read-only pass (:func:`_finite`), not a
count kept inside the update loop: such a count (an integer sum beside float32 arithmetic) stopped LLVM from
vectorising the update, which then ran on scalar instructions (vsqrtss, not vsqrtps) at ~1.7 ns per float32
element instead of ~0.6 ns; with the separate pass, ~0.8 ns (2-core AMD EPYC, while other work ran: ratios
only).  The pass adds ``x - x`` over the array: 0 for a finite x, NaN for inf or NaN, and a NaN never goes
away, so the sum is 0 exactly when every value is finite, in whatever order it is added; that is what lets
it be vectorised (``reassociate``, see npae.kernels._jit).

No subnormal moments: a moment below the dtype's smallest normal number (1.2e-38 in float32) is stored as
0.  A weight whose gradient stops (a first-layer weight of an MNIST pixel that is 0 in every later batch)
keeps a first moment that shrinks by beta1 each step, m <- 0.9 m, and passes through the subnormal range
for ~150 steps on its way to 0: measured in the VAE, 25% of fc1's first moments were subnormal in its
second epoch.  Intel CPUs take a microcode assist (~100 cycles) for each operation on a subnormal, which
made every Adam step, and so every epoch, slower as training went on (issue 19: 1.47 s, then 3.1 to
4.1 s per epoch).  Flushing them changes an update by at most lr 1.2e-38 / eps, far below float32's
resolution of any weight; NaN is never flushed (``|m| < tiny`` is False for NaN).  SGD's velocity, which
decays by the momentum the same way, is flushed likewise.

The kernels trust their caller (``npae.optimizers``) to pass 1-D arrays of one length and one dtype.
"""
import numpy as np

from ._jit import kernel_pair, numba_kernel


def adam_update_numpy(parameter, grad, first_moment, second_moment, learning_rate, beta1, beta2, epsilon,
                      inverse_bias_correction1, inverse_bias_correction2):
    """One step of Adam (Kingma & Ba 2015, Algorithm 1) for one parameter array, in place.

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)          (passed in as the reciprocal, inverse_bias_correction1)
        v_hat = v / (1 - beta2^t)
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)
    with m and v below the smallest normal number stored as 0 (the module docstring: no subnormals).
    """
    tiny = np.finfo(parameter.dtype).tiny
    first_moment *= beta1
    first_moment += (1 - beta1) * grad
    first_moment[np.abs(first_moment) < tiny] = 0
    second_moment *= beta2
    second_moment += (1 - beta2) * (grad * grad)
    second_moment[second_moment < tiny] = 0
    first_unbiased = first_moment * inverse_bias_correction1
    second_unbiased = second_moment * inverse_bias_correction2
    parameter -= learning_rate * first_unbiased / (np.sqrt(second_unbiased) + epsilon)
    # v too: with gradients near 1e19, g^2 overflows to inf, the step m / sqrt(v) becomes 0 and the
    # weights stay finite, but the state is lost (and a saved model would not load).
    return bool(np.isfinite(parameter).all() and np.isfinite(second_moment).all())


@numba_kernel(reassociate=True)
def _finite(array):
    """True when every value of the 1-D array is finite: sum(x - x) is 0 then, and NaN otherwise (module
    docstring).  One read of the array, vectorised."""
    total = array.dtype.type(0)
    for i in range(array.shape[0]):
        total += array[i] - array[i]
    return total == array.dtype.type(0)


@numba_kernel(inline=True)
def _smallest_normal(array):
    """The smallest positive normal number of the array's dtype (np.finfo(dtype).tiny, which Numba lacks)."""
    if array.itemsize == 4:
        return array.dtype.type(1.1754943508222875e-38)
    return array.dtype.type(2.2250738585072014e-308)


@numba_kernel
def adam_update_numba(parameter, grad, first_moment, second_moment, learning_rate, beta1, beta2, epsilon,
                      inverse_bias_correction1, inverse_bias_correction2):
    """Fused: 4 arrays read and 3 written once, against ~12 NumPy passes and 3 temporaries.

    sqrt and division have SIMD instructions (unlike exp), so with dtype-matched scalars this loop
    vectorises: measured ~0.4 ns per float32 element against ~5 ns when a float64 scalar crept in.
    """
    one = parameter.dtype.type(1)
    one_minus_beta1 = one - beta1
    one_minus_beta2 = one - beta2
    zero = parameter.dtype.type(0)
    tiny = _smallest_normal(parameter)
    for i in range(parameter.shape[0]):
        g = grad[i]
        m = beta1 * first_moment[i] + one_minus_beta1 * g
        m = zero if abs(m) < tiny else m             # a select, no branch: the loop still vectorises
        v = beta2 * second_moment[i] + one_minus_beta2 * (g * g)
        v = zero if v < tiny else v
        first_moment[i] = m
        second_moment[i] = v
        parameter[i] = parameter[i] - learning_rate * (m * inverse_bias_correction1) / (
            np.sqrt(v * inverse_bias_correction2) + epsilon)
    return _finite(parameter) and _finite(second_moment)


def sgd_momentum_update_numpy(parameter, grad, velocity, learning_rate, momentum):
    """SGD with momentum (Keras / Sutskever form): v <- mu v - lr g;  theta <- theta + v.  mu = 0: plain SGD.
    A velocity below the smallest normal number is stored as 0 (the module docstring: no subnormals)."""
    velocity *= momentum
    velocity -= learning_rate * grad
    velocity[np.abs(velocity) < np.finfo(velocity.dtype).tiny] = 0
    parameter += velocity
    return bool(np.isfinite(parameter).all())


@numba_kernel
def sgd_momentum_update_numba(parameter, grad, velocity, learning_rate, momentum):
    """One fused pass (3 arrays) instead of three NumPy passes and a temporary."""
    zero = parameter.dtype.type(0)
    tiny = _smallest_normal(parameter)
    for i in range(parameter.shape[0]):
        step = momentum * velocity[i] - learning_rate * grad[i]
        step = zero if abs(step) < tiny else step
        velocity[i] = step
        parameter[i] = parameter[i] + step
    return _finite(parameter)


adam_update = kernel_pair(adam_update_numpy, adam_update_numba)
sgd_momentum_update = kernel_pair(sgd_momentum_update_numpy, sgd_momentum_update_numba)
