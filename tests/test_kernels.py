"""Every Numba kernel against its NumPy reference, on the same inputs (the pair's contract)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import npae
from npae.kernels import REGISTRY, elementwise, losses, optim  # noqa: F401  (imports register the pairs)

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
    column_out = np.zeros(z.shape[1], dtype=dtype)
    exp_negative_abs = np.exp(-np.abs(z)).astype(dtype)
    if name == "bias_identity_forward" or name == "bias_relu_forward":
        return (z, bias)
    if name == "bias_leaky_relu_forward":
        return (z, bias, cast(0.1))
    if name == "bias_negative_abs":
        return (z, bias, out)
    if name == "negative_abs":
        return (z, out)
    if name == "stable_sigmoid":
        return (z, exp_negative_abs, out)
    if name == "column_sums":
        return (z, column_out)
    if name in ("relu_backward", "sigmoid_backward", "tanh_backward"):
        activation_output = {"relu": np.maximum(z, 0), "sigmoid": sigmoid, "tanh": np.tanh(z)}[name.split("_")[0]]
        return (activation_output.astype(dtype), target, out, column_out)
    if name == "leaky_relu_backward":
        return (np.where(z > 0, z, 0.1 * z).astype(dtype), target, out, column_out, cast(0.1))
    if name == "elu_backward":
        return (np.where(z > 0, z, np.expm1(z)).astype(dtype), target, out, column_out, cast(1.0))
    if name == "gather_rows":
        return (z, rng.integers(0, z.shape[0], 50), np.zeros((50, z.shape[1]), dtype=dtype))
    if name == "sigmoid_bce_from_logits":
        return (z, exp_negative_abs, np.log1p(exp_negative_abs), target, cast(1 / z.size), out)
    if name == "log1p_unit_interval":
        return (np.concatenate([exp_negative_abs, [[0.0] * z.shape[1], [1.0] * z.shape[1]]]).astype(dtype),
                np.zeros((z.shape[0] + 2, z.shape[1]), dtype=dtype))
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
            if pair.reference.__module__.rsplit(".", 1)[-1] in ("elementwise", "losses", "optim")]
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


def test_reference_path_runs_without_numba():
    """NPAE_JIT=0: a whole training run on the NumPy references, and Numba is never even imported."""
    code = ("import sys, numpy as np, npae; assert not npae.jit_enabled(); "
            "x = np.random.default_rng(0).uniform(0, 1, (50, 8)); "
            "npae.Autoencoder([8, 3], seed=0).fit(x, epochs=2, verbose=0); "
            "assert 'numba' not in sys.modules, 'numba was imported'")
    environment = dict(os.environ, NPAE_JIT="0")
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_kernels_are_cached_on_disk():
    """cache=True: after a kernel has run, its compiled code is stored next to the source."""
    with npae._backend.jit(True):
        z = np.ones((2, 3))
        REGISTRY["negative_abs"](z, np.empty_like(z))
    cache_folder = os.path.join(os.path.dirname(elementwise.__file__), "__pycache__")
    assert any(name.startswith("elementwise.negative_abs_numba") and name.endswith(".nbi")
               for name in os.listdir(cache_folder))


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
