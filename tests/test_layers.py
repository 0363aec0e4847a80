"""Forward values of activations, losses and layers against their textbook formulas; initialisers; dtypes."""
import numpy as np
import pytest

import npae
from npae.activations import ACTIVATIONS, get_activation
from npae.initializers import get_initializer

FORMULAS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log(1 + np.exp(z)),
}


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_matches_formula(name, jit, rng):
    z = rng.standard_normal((6, 7)) * 3
    with npae._backend.jit(jit):
        a = get_activation(name).forward(z)
    np.testing.assert_allclose(a, FORMULAS[name](z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_keep_float32_and_do_not_modify_input(name, rng):
    z = rng.standard_normal((4, 5)).astype(np.float32)
    before = z.copy()
    layer = get_activation(name)
    a = layer.forward(z, training=True)
    assert a.dtype == np.float32 and layer.backward(np.ones_like(a)).dtype == np.float32
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_work_on_images_with_channels(name, rng):
    """A stand-alone activation takes any shape (for example (N, H, W, C) after a convolution)."""
    z = rng.standard_normal((2, 3, 4, 5))
    layer = get_activation(name)
    a = layer.forward(z, training=True)
    np.testing.assert_allclose(a, FORMULAS[name](z), rtol=1e-12, atol=1e-15)
    assert layer.backward(np.ones_like(a)).shape == z.shape


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match=r"activation='swish' is not one of \['elu', 'identity'"):
        get_activation("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        npae.LeakyReLU(negative_slope=2)


def test_dense_forward_and_shapes(rng):
    layer = npae.Dense(5, 3, activation="relu", rng=0)
    assert layer.W.shape == (5, 3) and layer.b.shape == (3,) and layer.W.dtype == np.float32
    x = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), np.maximum(x @ layer.W + layer.b, 0), rtol=1e-6)
    a = layer.forward(x, training=True)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    grad_in = layer.backward(g)
    grad_z = g * (a > 0)                                   # ReLU' read from the output
    np.testing.assert_allclose(grad_in, grad_z @ layer.W.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.dW, x.T @ grad_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.db, grad_z.sum(axis=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="in_features"):
        npae.Dense(0, 3)
    with pytest.raises(ValueError, match=r"takes x of shape \(batch, 5\), got per-sample shape \(6,\)"):
        layer.forward(np.ones((4, 6)))
    with pytest.raises(ValueError, match="grad_output has shape"):
        layer.backward(np.ones((4, 2), np.float32))


def test_dense_gradients_accumulate_and_zero_grad_resets_them(rng):
    """Two backward passes add up (a parameter used twice gets both contributions); zero_grad clears."""
    layer = npae.Dense(5, 3, activation="tanh", dtype="float64", rng=0)
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer.zero_grad()
    layer.forward(x, training=True)
    layer.backward(g)
    once = [grad.copy() for grad in layer.gradients()]
    layer.forward(x, training=True)
    layer.backward(g)
    for single, double in zip(once, layer.gradients()):
        np.testing.assert_allclose(double, 2 * single, rtol=1e-14)
    layer.zero_grad()
    assert all(not grad.any() for grad in layer.gradients())


def test_public_forward_and_backward_return_new_arrays(rng):
    layer = npae.Dense(5, 3, activation="relu", rng=0)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    first = layer.forward(x, training=True)
    kept = first.copy()
    grad = layer.backward(np.ones((4, 3), np.float32))
    second = layer.forward(x * 2)
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(grad, layer.backward(np.ones((4, 3), np.float32)))


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before a training forward"):
        npae.Dense(3, 2).backward(np.ones((1, 2), np.float32))


def test_glorot_uniform_limits_and_variance():
    W = get_initializer("glorot_uniform")((400, 200), np.random.default_rng(0), np.float64)
    limit = np.sqrt(6 / 600)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert W.var() == pytest.approx(limit ** 2 / 3, rel=0.02)  # variance of U(-l, l) is l^2 / 3 = 2 / 600


def test_he_normal_and_he_uniform_variance_and_zeros():
    W = get_initializer("he_normal")((500, 300), np.random.default_rng(0), np.float64)
    assert W.mean() == pytest.approx(0, abs=0.003) and W.var() == pytest.approx(2 / 500, rel=0.02)
    U = get_initializer("he_uniform")((500, 300), np.random.default_rng(0), np.float64)
    assert np.abs(U).max() <= np.sqrt(6 / 500) and U.var() == pytest.approx(2 / 500, rel=0.02)
    assert not get_initializer("zeros")((3, 2), None, np.float32).any()


def test_fans_of_a_convolution_kernel_follow_keras():
    from npae.initializers import fans

    assert fans((784, 64)) == (784, 64)
    assert fans((3, 3, 16, 32)) == (3 * 3 * 16, 3 * 3 * 32)


def test_mse_and_bce_values(rng):
    p = rng.uniform(0.01, 0.99, (5, 4))
    x = rng.uniform(0, 1, (5, 4))
    assert npae.MeanSquaredError().value(p, x) == pytest.approx(np.mean((p - x) ** 2), rel=1e-12)
    expected = -np.mean(x * np.log(p) + (1 - x) * np.log(1 - p))
    assert npae.BinaryCrossEntropy().value(p, x) == pytest.approx(expected, rel=1e-12)
    z = np.log(p / (1 - p))  # the logits of p
    from_logits = npae.BinaryCrossEntropy(from_logits=True)
    bce_logits, _ = from_logits.value_and_grad(z, x)
    assert bce_logits == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(from_logits.to_prediction(z), p, rtol=1e-12)


def test_bce_agrees_with_scikit_learn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    p = rng.uniform(0.01, 0.99, 200)
    x = (rng.uniform(0, 1, 200) > 0.5).astype(float)
    ours = npae.BinaryCrossEntropy().value(p.reshape(20, 10), x.reshape(20, 10))
    assert ours == pytest.approx(metrics.log_loss(x, p), rel=1e-10)


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
def test_bce_from_logits_is_finite_at_extremes(jit):
    z = np.array([[-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4]], dtype=np.float32)
    x = np.array([[1.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0]], dtype=np.float32)
    with npae._backend.jit(jit):
        loss, grad = npae.BinaryCrossEntropy(from_logits=True).value_and_grad(z, x)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # the terms: 1e4, 100, ~2e-9, log 2, ~2e-9, 100, 1e4  (max(z, 0) - z x + log1p(e^-|z|))
    assert loss == pytest.approx((2e4 + 200 + np.log(2)) / 7, rel=1e-5)
    np.testing.assert_allclose(grad * 7, [[-1, -1, 0, 0, 0, 1, 1]], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_on_probabilities_at_the_clipped_ends(dtype):
    """p = 0 and p = 1 (a sigmoid output that saturated): p is clipped to [eps, 1 - eps] as Keras does, so
    the loss is -log(eps) per wrong value, 0-ish per right one, and the gradient (p - x) / (p (1 - p)) on
    the clipped p: finite, of the right sign."""
    eps = 1e-7
    p = np.array([[0.0, 1.0, 0.0, 1.0]], dtype)
    x = np.array([[0.0, 1.0, 1.0, 0.0]], dtype)
    loss, grad = npae.BinaryCrossEntropy(epsilon=eps).value_and_grad(p, x)
    clipped = np.clip(p, dtype(eps), dtype(1 - eps)).astype(np.float64)
    terms = -(x * np.log(clipped) + (1 - x) * np.log(1 - clipped))
    assert np.isfinite(loss) and loss == pytest.approx(terms.mean(), rel=1e-5)
    assert loss == pytest.approx(-2 * np.log(eps) / 4, rel=1e-2)   # the two wrong ends dominate
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, (clipped - x) / (clipped * (1 - clipped)) / 4, rtol=1e-5)
    assert grad[0, 2] < 0 < grad[0, 3]                                # towards the target


def test_bce_refuses_targets_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        npae.BinaryCrossEntropy().value(np.full((2, 2), 0.5), np.array([[0.0, 1.0], [1.5, 0.0]]))
    with pytest.raises(ValueError, match=r"\[-0.5, 1\].*loss='mse'.*output_activation='identity'.*activation='identity'"):
        npae.BinaryCrossEntropy().value(np.full((1, 2), 0.5), np.array([[-0.5, 1.0]]))
    with pytest.raises(ValueError, match="loss='l1' is not one of"):
        npae.Autoencoder([4, 2], loss="l1")


def test_loss_shapes_must_match():
    with pytest.raises(ValueError, match="one shape"):
        npae.MeanSquaredError().value(np.zeros((2, 3)), np.zeros((3, 2)))


def test_an_output_larger_than_the_memory_is_a_value_error():
    model = npae.Sequential([npae.UpSampling2D(10**5)], loss="mse")   # 2x2 pixels -> 200,000 x 200,000
    with pytest.raises(ValueError, match="UpSampling2D.*needs"):
        model.predict(np.ones((1, 2, 2, 1), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_fused_kernels_compute_the_activations_own_function_and_derivative(name, jit, dtype, rng):
    """What Dense runs (bias + f in one pass, f' times g plus the bias gradient in one pass) is the class's
    own plain-NumPy ``function`` and ``derivative``, on both paths."""
    activation = get_activation(name)
    z = (rng.standard_normal((7, 9)) * 4).astype(dtype)
    bias = rng.standard_normal(9).astype(dtype)
    g = rng.standard_normal((7, 9)).astype(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    expected_a = activation.function(z + bias)
    expected_grad_z = g * activation.derivative(z + bias, expected_a)
    with npae._backend.jit(jit):
        pre_activation = z.copy()
        a = activation.apply_with_bias(pre_activation, bias)
        bias_grad = np.ones(9, dtype)                     # accumulates onto what is there
        grad_z = activation.backward_with_bias(pre_activation, a, g.copy(), np.empty_like(g), bias_grad, True)
    assert a.dtype == dtype and grad_z.dtype == dtype
    np.testing.assert_allclose(a, expected_a, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(grad_z, expected_grad_z, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(bias_grad, 1 + expected_grad_z.sum(axis=0, dtype=np.float64), rtol=rtol * 10,
                               atol=rtol * 10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_builtin_activation_writes_its_formulas(name, rng):
    """``npae.ReLU().function(z)`` and ``derivative(z, a)`` exist for every built-in and give the textbook
    values (the derivative against a central difference of the formula)."""
    activation = get_activation(name)
    z = rng.standard_normal((5, 6)) * 3
    z[np.abs(z) < 1e-3] = 0.5                             # off the kinks
    a = activation.function(z)
    np.testing.assert_allclose(a, FORMULAS[name](z), rtol=1e-12, atol=1e-15)
    h = 1e-6
    numeric = (FORMULAS[name](z + h) - FORMULAS[name](z - h)) / (2 * h)
    np.testing.assert_allclose(activation.derivative(z, a), numeric, rtol=1e-6, atol=1e-8)


def test_layers_are_callable(rng):
    x = rng.standard_normal((3, 4))
    layer = npae.Dense(4, 2, activation="tanh", dtype="float64", rng=0)
    np.testing.assert_array_equal(layer(x), layer.forward(x))
    np.testing.assert_array_equal(npae.ReLU()(x), np.maximum(x, 0))


def test_zero_grad_writes_zeros_into_the_arrays_gradients_returns(rng):
    """Not a flag: after forward, backward, zero_grad, the very arrays hold zeros."""
    layer = npae.Dense(4, 3, activation="relu", dtype="float64", rng=0)
    arrays = layer.gradients()
    layer.forward(rng.standard_normal((5, 4)), training=True)
    layer.backward(rng.standard_normal((5, 3)))
    assert all(g.any() for g in arrays)
    layer.zero_grad()
    assert all(not g.any() for g in arrays) and all(a is b for a, b in zip(arrays, layer.gradients()))
    assert not layer.dW.any() and not layer.db.any()
