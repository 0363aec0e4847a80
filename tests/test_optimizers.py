"""Adam against Algorithm 1 of Kingma & Ba written out step by step, SGD with momentum, and validation."""
import numpy as np
import pytest

import npae


def adam_algorithm_1(theta, gradients, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
    """The paper's pseudo-code, line by line, in float64 (the oracle)."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_adam_is_algorithm_1(jit, dtype, tolerance, rng):
    theta = rng.standard_normal((3, 4))
    gradients = [rng.standard_normal((3, 4)) for _ in range(25)]
    expected = adam_algorithm_1(theta, gradients, lr=0.01)
    parameter = theta.astype(dtype)
    optimizer = npae.Adam(learning_rate=0.01)
    with npae._backend.jit(jit):
        for g in gradients:
            optimizer.step([parameter], [g.astype(dtype)])
    np.testing.assert_allclose(parameter, expected, rtol=tolerance, atol=tolerance)
    assert optimizer.iterations == 25


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
def test_an_overflowing_second_moment_is_reported_though_the_weights_stay_finite(jit):
    # g = 1e20: g^2 is inf in float32, so m / sqrt(v) = 0 and the weights do not move, but the state is lost.
    parameter = np.zeros(40, np.float32)
    optimizer = npae.Adam()
    with npae._backend.jit(jit), np.errstate(over="ignore"):  # the overflow is the point
        assert optimizer.step([parameter], [np.ones(40, np.float32)]) is True
        assert optimizer.step([parameter], [np.full(40, 1e20, np.float32)]) is False
    assert np.isfinite(parameter).all()


def test_training_that_overflows_the_optimiser_state_is_divergence():
    x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32) * np.float32(1e18)
    model = npae.Autoencoder([10, 4], loss="mse", output_activation="identity", seed=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(x, epochs=2, verbose=0)
    assert all(np.isfinite(array).all() for array in model.optimizer.get_state()[1])


def test_adam_first_step_moves_each_weight_by_the_learning_rate(rng):
    # after bias correction m_hat = g and v_hat = g^2, so the first step is lr * g / (|g| + eps) ~ lr sign(g)
    parameter = np.zeros(5)
    g = rng.standard_normal(5)
    npae.Adam(learning_rate=0.1).step([parameter], [g])
    np.testing.assert_allclose(parameter, -0.1 * np.sign(g), rtol=1e-5)


def test_adam_matches_torch(rng):
    torch = pytest.importorskip("torch")
    theta = rng.standard_normal(10)
    gradients = [rng.standard_normal(10) for _ in range(10)]
    parameter = torch.tensor(theta, requires_grad=True)
    optimizer = torch.optim.Adam([parameter], lr=0.01, eps=1e-7)
    for g in gradients:
        parameter.grad = torch.tensor(g)
        optimizer.step()
    ours = theta.copy()
    adam = npae.Adam(learning_rate=0.01)
    for g in gradients:
        adam.step([ours], [g])
    np.testing.assert_allclose(ours, parameter.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
def test_sgd_with_momentum(jit):
    parameter = np.array([1.0, -2.0])
    optimizer = npae.SGD(learning_rate=0.1, momentum=0.5)
    with npae._backend.jit(jit):
        optimizer.step([parameter], [np.array([1.0, 1.0])])  # v = -0.1;          theta = [0.9, -2.1]
        optimizer.step([parameter], [np.array([1.0, 1.0])])  # v = -0.05 - 0.1;   theta = [0.75, -2.25]
    np.testing.assert_allclose(parameter, [0.75, -2.25])


@pytest.mark.parametrize("factory, message", [
    (lambda: npae.Adam(learning_rate=0), "learning_rate"),
    (lambda: npae.Adam(beta1=1.0), "beta1"),
    (lambda: npae.Adam(epsilon=-1), "epsilon"),
    (lambda: npae.SGD(momentum=1.5), "momentum"),
])
def test_bad_hyperparameters(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
def test_adam_keras_epsilon_form_follows_keras_formula_for_ten_steps(jit):
    """epsilon_form="keras": lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); theta -= lr_t m / (sqrt(v) + eps),
    Keras' Adam, written out in float64 for ten steps.  The PyTorch form differs visibly with the same eps."""
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((4, 5))
    gradients = [rng.standard_normal((4, 5)) * 10.0 ** -rng.integers(0, 6) for _ in range(10)]
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-3
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        theta = theta - lr_t * m / (np.sqrt(v) + eps)
    results = {}
    for form in ("keras", "pytorch"):
        parameter = theta0.copy()
        optimizer = npae.Adam(lr, beta1, beta2, eps, epsilon_form=form)
        with npae._backend.jit(jit):
            for g in gradients:
                optimizer.step([parameter], [g.copy()])
        results[form] = parameter
    np.testing.assert_allclose(results["keras"], theta, rtol=1e-12, atol=1e-14)
    assert np.abs(results["pytorch"] - theta).max() > 1e-4
    assert npae.Adam(epsilon_form="keras").get_config()["epsilon_form"] == "keras"
    with pytest.raises(ValueError, match="epsilon_form"):
        npae.Adam(epsilon_form="tf")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_the_finiteness_pass_finds_one_bad_value_anywhere(dtype, bad):
    # npae.kernels.optim._finite sums x - x with the additions reordered (vectorised): one inf or NaN in the
    # SIMD body, in the scalar tail or alone must still make it False, and a finite array of any size True.
    from npae.kernels.optim import _finite
    for size in (1, 7, 8, 33, 1000):
        values = np.linspace(-3e38 if dtype == np.float32 else -1e300, 1, size).astype(dtype)
        assert _finite.compiled(values)
        for position in sorted({0, size // 2, size - 1}):
            spoiled = values.copy()
            spoiled[position] = bad
            assert not _finite.compiled(spoiled), (size, position)


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
def test_sgd_reports_a_weight_that_became_infinite(jit):
    parameter = np.full(20, 3e38, np.float32)
    with npae._backend.jit(jit), np.errstate(over="ignore"):
        assert npae.SGD(learning_rate=1.0).step([parameter], [np.full(20, -1e38, np.float32)]) is False
