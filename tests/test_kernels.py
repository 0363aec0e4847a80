"""Every Numba kernel against its NumPy reference, on the same inputs (the pair's contract)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import npae
from npae.kernels import REGISTRY, elementwise, losses, optim, sigmoid  # noqa: F401  (imports register the pairs)

try:  # the kNN selection kernels live in their own module; register them when it exists
    from npae.kernels import select  # noqa: F401
except ImportError:
    pass


def _matrix(rng, dtype, rows=37, columns=29, low=-3.0, high=3.0):
    return rng.uniform(low, high, size=(rows, columns)).astype(dtype)


def _inputs(name, rng, dtype):
    """Arguments for the pair ``name``; output arguments are zero arrays (copied per path by the test)."""
    cast = np.dtype(dtype).type
    z = _matrix(rng, dtype)
    bias = rng.uniform(-1, 1, z.shape[1]).astype(dtype)
    target = rng.uniform(0, 1, z.shape).astype(dtype)
    sigmoid = (1 / (1 + np.exp(-z))).astype(dtype)
    out = np.zeros_like(z)
    # Backward kernels add to the bias gradient (accumulate=True): start from a non-zero one, so that a
    # kernel that overwrote it would fail (accumulate=False is tested below).
    column_out = rng.uniform(-1, 1, z.shape[1]).astype(dtype)
    if name == "bias_identity_forward" or name == "bias_relu_forward":
        return (z, bias)
    if name == "bias_leaky_relu_forward":
        return (z, bias, cast(0.1))
    if name == "exp_negative_abs":
        extremes = [0.0, -0.0, 1e-30, 87.0, -88.0, 100.0, -1e30] + [0.5] * (z.shape[1] - 7)
        return (np.concatenate([z, [extremes]]).astype(dtype), np.zeros((z.shape[0] + 1, z.shape[1]), dtype))
    if name == "bias_sigmoid_forward":
        return (np.concatenate([z, [[-200.0, -88.0, 88.0, 200.0] * (z.shape[1] // 4) + [0.0] * (z.shape[1] % 4)]]
                               ).astype(dtype), bias)
    if name == "column_sums":
        return (z, column_out, True)
    if name in ("relu_backward", "sigmoid_backward", "tanh_backward"):
        activation_output = {"relu": np.maximum(z, 0), "sigmoid": sigmoid, "tanh": np.tanh(z)}[name.split("_")[0]]
        return (activation_output.astype(dtype), target, out, column_out, True)
    if name == "leaky_relu_backward":
        return (np.where(z > 0, z, 0.1 * z).astype(dtype), target, out, column_out, cast(0.1), True)
    if name == "elu_backward":
        return (np.where(z > 0, z, np.expm1(z)).astype(dtype), target, out, column_out, cast(1.0), True)
    if name == "gather_rows":
        return (z, rng.integers(0, z.shape[0], 50), np.zeros((50, z.shape[1]), dtype=dtype))
    if name == "sigmoid_bce_from_logits":
        return (z, target, cast(1 / z.size), out)
    if name == "mean_squared_error":
        return (sigmoid, target, cast(2 / z.size), out)
    if name == "row_mean_squared_error":
        return (sigmoid, target, np.zeros(z.shape[0]))
    if name == "adam_update":
        flat = lambda: rng.standard_normal(200).astype(dtype)  # noqa: E731
        return (flat(), flat(), flat(), np.abs(flat()), cast(1e-3), cast(0.9), cast(0.999), cast(1e-7),
                cast(1 / (1 - 0.9 ** 3)), cast(1 / (1 - 0.999 ** 3)))
    if name == "sgd_momentum_update":
        flat = lambda: rng.standard_normal(200).astype(dtype)  # noqa: E731
        return (flat(), flat(), flat(), cast(0.01), cast(0.9))
    return None


CORE_PAIRS = [name for name in REGISTRY if _inputs(name, np.random.default_rng(0), np.float64) is not None]


def test_every_core_pair_has_inputs():
    """A new kernel pair in elementwise/losses/optim must be added to _inputs, or it goes untested."""
    core = [name for name, pair in REGISTRY.items()
            if pair.reference.__module__.rsplit(".", 1)[-1] in ("elementwise", "sigmoid", "losses", "optim")]
    assert sorted(core) == sorted(name for name in CORE_PAIRS if name in core)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CORE_PAIRS)
def test_kernel_matches_reference(name, dtype):
    pair = REGISTRY[name]
    arguments = _inputs(name, np.random.default_rng(7), dtype)
    reference_arguments = [np.array(a) if isinstance(a, np.ndarray) else a for a in arguments]
    kernel_arguments = [np.array(a) if isinstance(a, np.ndarray) else a for a in arguments]
    reference_result = pair.reference(*reference_arguments)
    kernel_result = pair.kernel(*kernel_arguments)
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    if reference_result is not None:
        assert kernel_result == pytest.approx(reference_result, rel=tolerance)
    for reference_array, kernel_array in zip(reference_arguments, kernel_arguments):
        if isinstance(reference_array, np.ndarray):
            assert kernel_array.dtype == reference_array.dtype
            np.testing.assert_allclose(kernel_array, reference_array, rtol=tolerance, atol=tolerance)


ACCUMULATING = [name for name in CORE_PAIRS if name == "column_sums" or name.endswith("_backward")]


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("name", ACCUMULATING)
def test_bias_gradient_is_added_or_written(name, jit):
    """accumulate=True adds the column sums to bias_grad, accumulate=False writes them (the same numbers
    as adding them to zeros)."""
    pair = REGISTRY[name]
    function = pair.kernel if jit else pair.reference
    arguments = list(_inputs(name, np.random.default_rng(3), np.float64))
    bias_position = 1 if name == "column_sums" else 3
    start = arguments[bias_position].copy()
    function(*arguments)
    added = arguments[bias_position] - start
    arguments[bias_position] = np.full_like(start, 123.0)
    arguments[-1] = False
    function(*arguments)
    np.testing.assert_allclose(arguments[bias_position], added, rtol=1e-12, atol=1e-12)
    assert np.abs(added).max() > 0


def test_reference_path_runs_without_numba():
    """NPAE_JIT=0: a whole training run on the NumPy references, and Numba is never even imported."""
    code = ("import sys, numpy as np, npae; assert not npae.jit_enabled(); "
            "x = np.random.default_rng(0).uniform(0, 1, (50, 8)); "
            "npae.Autoencoder([8, 3], seed=0).fit(x, epochs=2, verbose=0); "
            "assert 'numba' not in sys.modules, 'numba was imported'")
    environment = dict(os.environ, NPAE_JIT="0")
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_kernels_are_cached_on_disk(tmp_path):
    """cache=True: a first process compiles a kernel and stores it in an empty cache folder; a second
    process loads it from there instead of compiling (Numba counts cache hits per signature)."""
    code = ("import numpy as np, npae; from npae.kernels import sigmoid; z = np.ones((2, 3)); "
            "sigmoid.exp_negative_abs(z, np.empty_like(z)); "
            "print(sum(sigmoid.exp_negative_abs_numba.compiled.stats.cache_hits.values()))")
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NPAE_JIT="1")
    runs = [subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
            for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr + runs[1].stderr
    stored = [path.name for path in tmp_path.rglob("*") if path.suffix in (".nbi", ".nbc")]
    assert any(name.startswith("sigmoid.exp_negative_abs_numba") for name in stored), stored
    assert [run.stdout.strip() for run in runs] == ["0", "1"]  # compiled, then loaded


def test_exp_kernel_is_as_accurate_as_numpy_everywhere_in_float32():
    """The polynomial e^{-|z|} against float64 exp on 400,000 points of [0, 110]: normal results within
    1e-7 relative (NumPy's float32 exp: 1.9e-7), subnormals within one subnormal step, 0 beyond."""
    z = np.linspace(0, 110, 400_000, dtype=np.float32).reshape(500, 800)
    z[::2] *= -1  # -|z| must not care about the sign
    out = np.empty_like(z)
    sigmoid.exp_negative_abs_numba(z, out)
    exact = np.exp(-np.abs(z.astype(np.float64)))
    normal = exact >= np.finfo(np.float32).tiny
    assert np.max(np.abs(out[normal] - exact[normal]) / exact[normal]) < 1e-7
    assert np.max(np.abs(out[~normal] - exact[~normal])) <= np.finfo(np.float32).smallest_subnormal
    assert np.all(out[z >= 104] == 0) and out[0, 0] == 1
    assert np.isnan(_exp_of(np.float32(np.nan))) and _exp_of(np.float32(np.inf)) == 0


def _exp_of(value):
    out = np.empty((1, 1), np.float32)
    sigmoid.exp_negative_abs_numba(np.full((1, 1), value, np.float32), out)
    return out[0, 0]


def test_bce_kernel_log1p_polynomial_is_accurate():
    """The kernel's log1p polynomial, seen through the loss: where p = sigma(z) and the target is 0 or 1,
    each term is a pure log1p(e^{-|z|}) (plus 0), so the per-element loss checks the polynomial."""
    z = np.linspace(0, 30, 64_000, dtype=np.float32).reshape(80, 800)  # e = e^{-z} covers (0, 1]
    target = np.ones_like(z)  # term = max(z, 0) - z + log1p(e^-z) = log1p(e^-z) for z >= 0
    e = np.exp(-z.astype(np.float64))  # the kernel's own exp adds at most 7.4e-8 (tested above)
    for row in range(z.shape[0]):
        one_row = z[row:row + 1]
        total = sigmoid.sigmoid_bce_from_logits_numba(one_row, target[row:row + 1], np.float32(1),
                                                      np.empty_like(one_row))
        exact = np.sum(np.log1p(e[row]))
        assert total == pytest.approx(exact, rel=3e-7)


def test_stable_sigmoid_never_overflows():
    z = np.array([[-1000.0, -88.0, 0.0, 88.0, 1000.0]], dtype=np.float32)
    for jit in (False, True):
        with npae._backend.jit(jit):
            layer = npae.Sigmoid()
            a = layer.forward(z)
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, [[0.0, 6.0546e-39, 0.5, 1.0, 1.0]], rtol=1e-3, atol=1e-44)


def test_whole_training_step_agrees_between_paths(rng):
    x = rng.uniform(0, 1, (64, 20)).astype(np.float32)
    weights = {}
    for jit in (False, True):
        with npae._backend.jit(jit):
            model = npae.Autoencoder([20, 6, 3], seed=3)
            losses = [model.train_on_batch(x) for _ in range(3)]
            weights[jit] = (losses, model.get_weights())
    np.testing.assert_allclose(weights[True][0], weights[False][0], rtol=1e-5)
    for reference, kernel in zip(weights[False][1], weights[True][1]):
        np.testing.assert_allclose(kernel, reference, rtol=1e-4, atol=1e-6)


def test_jit_switch_validates():
    with pytest.raises(ValueError, match="enabled"):
        npae.set_jit("yes")


_exp_row_of_another_module = sigmoid._exp_negative_abs_row


def _calls_a_kernel_of_another_module(z, out):
    _exp_row_of_another_module(z, out, out)


def test_a_kernel_may_only_call_kernels_of_its_own_module():
    """Numba's cache tracks the caller's file only, so a cross-module call is refused at compile time."""
    from npae.kernels._jit import numba_kernel

    with pytest.raises(TypeError, match="may only call kernels of its own module"):
        numba_kernel(_calls_a_kernel_of_another_module).compiled


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimiser_state_never_holds_subnormal_numbers(jit, dtype):
    """A weight whose gradient stops: its Adam first moment (and SGD velocity) decays by beta1 (momentum)
    per step and would pass through the subnormal range, which Intel CPUs run ~100x slower (issue 19's
    drifting VAE epochs).  Both paths store 0 instead, and never turn a NaN into 0."""
    tiny = np.finfo(dtype).tiny
    cast = dtype
    parameter, grad = np.ones(4, dtype), np.array([1e-3, 0, 0, np.nan], dtype)
    m, v = np.array([0, tiny * 4, -tiny * 1.05, 0], dtype), np.array([0, tiny * 1.0005, 0, 0], dtype)
    velocity = np.array([0, tiny * 4, -tiny * 1.05, 0], dtype)
    with npae._backend.jit(jit):
        optim.adam_update(parameter, grad, m, v, cast(1e-3), cast(0.9), cast(0.999), cast(1e-7), cast(10.0),
                          cast(1000.0))
        optim.sgd_momentum_update(np.ones(4, dtype), grad, velocity, cast(1e-2), cast(0.9))
    for state in (m, v, velocity):
        finite = state[np.isfinite(state)]
        assert not ((finite != 0) & (np.abs(finite) < tiny)).any(), state
    assert m[0] > 0 and v[0] > 0 and velocity[0] < 0      # ordinary values untouched
    assert m[2] == 0 and v[1] == 0 and velocity[2] == 0   # 0.9 x 1.05 tiny and 0.999 x 1.0005 tiny: flushed
    assert m[1] == np.float64(tiny * 4 * 0.9).astype(dtype)  # 3.6 tiny stays
    assert np.isnan(m[3]) and np.isnan(velocity[3])
