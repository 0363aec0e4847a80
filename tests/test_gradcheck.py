"""Central differences in float64 against every analytic gradient, on both the Numba and the NumPy path."""
import numpy as np
import pytest

import npae
from npae.activations import ACTIVATIONS, get_activation
from npae.gradcheck import gradcheck, numerical_gradient, relative_error

BOTH_PATHS = pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
TOLERANCE = 1e-6


def _off_the_kink(x):
    """Move entries away from 0, where ReLU-like functions have a kink that differences straddle."""
    x[np.abs(x) < 1e-2] += 5e-2
    return x


def test_numerical_gradient_of_a_known_function():
    # f(w) = sum w^3  ->  df/dw = 3 w^2
    w = np.array([[0.5, -1.0, 2.0]])
    numeric = numerical_gradient(lambda: float(np.sum(w ** 3)), w)
    np.testing.assert_allclose(numeric, 3 * w ** 2, rtol=1e-8)
    assert relative_error(3 * w ** 2, numeric) < 1e-8


def test_gradcheck_catches_a_wrong_gradient(rng):
    class WrongReLU(npae.Activation):
        name = "wrong_relu"

        def function(self, z):
            return np.maximum(z, 0)

        def derivative(self, z, a):
            return 1.01 * (a > 0)  # a 1 % error, as a typo in a derivative would make

    x = _off_the_kink(rng.standard_normal((4, 5)))
    assert gradcheck(WrongReLU(), x) > 1e-3
    for jit in (False, True):  # inside a Dense layer, on both paths
        assert gradcheck(npae.Dense(5, 3, activation=WrongReLU(), dtype="float64", rng=0), x, jit=jit) > 1e-3


@BOTH_PATHS
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient(name, jit, rng):
    x = _off_the_kink(rng.standard_normal((4, 5)))  # N(0, 1): the interesting, unsaturated region
    assert gradcheck(get_activation(name), x, jit=jit) < TOLERANCE


@BOTH_PATHS
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_dense_gradient(activation, jit, rng):
    layer = npae.Dense(5, 3, activation=activation, dtype="float64", rng=1)
    layer.b[:] = rng.uniform(-0.5, 0.5, 3)
    x = rng.standard_normal((4, 5))
    z = x @ layer.W + layer.b
    x[np.abs(z).min(axis=1) < 1e-2] += 0.1  # keep pre-activations off the ReLU kink
    assert gradcheck(layer, x, jit=jit) < TOLERANCE


@BOTH_PATHS
@pytest.mark.parametrize("init", ["glorot_uniform", "he_normal"])
def test_dense_gradient_with_each_initialiser(init, jit, rng):
    layer = npae.Dense(6, 4, activation="tanh", init=init, dtype="float64", rng=2)
    assert gradcheck(layer, rng.standard_normal((3, 6)), jit=jit) < TOLERANCE


@BOTH_PATHS
def test_mse_gradient(jit, rng):
    prediction, target = rng.uniform(0, 1, (4, 6)), rng.uniform(0, 1, (4, 6))
    assert gradcheck(npae.MeanSquaredError(), prediction, target, jit=jit) < TOLERANCE


@BOTH_PATHS
def test_bce_gradient_on_probabilities(jit, rng):
    prediction, target = rng.uniform(0.05, 0.95, (4, 6)), rng.uniform(0, 1, (4, 6))
    assert gradcheck(npae.BinaryCrossEntropy(), prediction, target, jit=jit) < TOLERANCE


@BOTH_PATHS
def test_bce_gradient_from_logits(jit, rng):
    logits, target = rng.standard_normal((4, 6)) * 3, rng.uniform(0, 1, (4, 6))
    assert gradcheck(npae.BinaryCrossEntropy(from_logits=True), logits, target, jit=jit) < TOLERANCE


@BOTH_PATHS
@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.01), (0.003, 0.02)])
def test_weight_penalty_gradient(l1, l2, jit, rng):
    weights = [_off_the_kink(rng.standard_normal((3, 4))), _off_the_kink(rng.standard_normal((4, 2)))]
    assert gradcheck(npae.WeightPenalty(l1=l1, l2=l2), weights, jit=jit) < TOLERANCE


@BOTH_PATHS
@pytest.mark.parametrize("options", [
    dict(),                                                        # the paper's set-up: ReLU, sigmoid, BCE
    dict(loss="mse"),
    dict(activation="tanh", output_activation="identity", loss="mse"),
    dict(activation="elu", latent_activation="identity", l1=1e-3, l2=1e-2),
    dict(tied=True),                                               # shared W: two gradient contributions
    dict(tied=True, activation="softplus", loss="mse", l2=1e-2),
    dict(activation="leaky_relu"),
], ids=["paper", "mse", "tanh-linear", "elu-penalties", "tied", "tied-softplus", "leaky"])
def test_whole_model_gradient(options, jit, rng):
    model = npae.Autoencoder([6, 4, 2], dtype="float64", seed=4, **options)
    x = rng.uniform(0, 1, (5, 6))
    assert gradcheck(model, x, jit=jit) < TOLERANCE


def test_hand_worked_example():
    """A 2-1-2 linear autoencoder small enough to differentiate by hand (numbers in the comments).

    W1 = [[1], [2]], b1 = [0], W2 = [[3, 4]], b2 = [0, 0], x = [[1, 1]], MSE.
    h = x W1 = 1 + 2 = 3;  x~ = h W2 = [9, 12];  x~ - x = [8, 11]
    L = (8^2 + 11^2) / 2 = (64 + 121) / 2 = 92.5
    dL/dx~ = (2/2) [8, 11] = [8, 11]
    dL/dW2 = h^T dL/dx~ = [[24, 33]];  dL/db2 = [8, 11]
    dL/dh = dL/dx~ W2^T = 8*3 + 11*4 = 68;  dL/dW1 = x^T 68 = [[68], [68]];  dL/db1 = [68]
    """
    model = npae.Autoencoder([2, 1], activation="identity", output_activation="identity", loss="mse",
                             dtype="float64", optimizer=npae.SGD(learning_rate=0.001))
    model.set_weights([np.array([[1.0], [2.0]]), np.zeros(1), np.array([[3.0, 4.0]]), np.zeros(2)])
    loss = model.train_on_batch(np.array([[1.0, 1.0]]))
    assert loss == pytest.approx(92.5)
    W1, b1, W2, b2 = model.get_weights()
    # plain SGD: theta <- theta - 0.001 * gradient
    np.testing.assert_allclose(W1, [[1 - 0.068], [2 - 0.068]])
    np.testing.assert_allclose(b1, [-0.068])
    np.testing.assert_allclose(W2, [[3 - 0.024, 4 - 0.033]])
    np.testing.assert_allclose(b2, [-0.008, -0.011])


def test_gradcheck_refuses_float32(rng):
    with pytest.raises(ValueError, match="float64"):
        gradcheck(npae.Dense(3, 2, dtype="float32"), rng.standard_normal((2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="float64"):
        gradcheck(npae.Autoencoder([3, 2]), rng.uniform(0, 1, (2, 3)))
    with pytest.raises(ValueError, match="cannot check"):
        gradcheck(object(), None)


@BOTH_PATHS
@pytest.mark.parametrize("make", [npae.ReLU, npae.Tanh, lambda: npae.LeakyReLU(0.2)], ids=["relu", "tanh", "leaky"])
def test_one_activation_instance_shared_by_every_layer(make, jit, rng):
    """Passing one Activation object gives each layer its own copy (it used to give 1.0 for ReLU)."""
    model = npae.Autoencoder([6, 5, 3], activation=make(), dtype="float64", seed=0)
    x = rng.uniform(0.1, 1, (4, 6))
    assert gradcheck(model, x, jit=jit) < TOLERANCE


def test_whole_sequential_with_stand_alone_activation_layers(rng):
    """Activations as layers of their own, between Dense layers without activation."""
    model = npae.Sequential([npae.Dense(6, 4, dtype="float64", rng=0), npae.Tanh(),
                             npae.Dense(4, 3, dtype="float64", rng=1), npae.Sigmoid()], loss="mse")
    x, y = rng.standard_normal((5, 6)), rng.uniform(0, 1, (5, 3))
    assert gradcheck(model, x, y) < TOLERANCE


def test_torch_agrees_on_the_paper_model_gradients(rng):
    """Optional cross-check with PyTorch autograd (the finite differences above are the primary oracle)."""
    torch = pytest.importorskip("torch")
    model = npae.Autoencoder([8, 3], dtype="float64", seed=0)
    x = rng.uniform(0, 1, (5, 8))
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    xt = torch.tensor(x)
    reconstruction_logits = torch.relu(xt @ W1 + b1) @ W2 + b2
    loss = torch.nn.functional.binary_cross_entropy_with_logits(reconstruction_logits, xt)
    loss.backward()
    model.zero_grad()
    value = model.value_and_grad(x)
    assert value == pytest.approx(loss.item(), rel=1e-12)
    for ours, theirs in zip(model.gradients(), (W1, b1, W2, b2)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_a_vae_and_an_activity_penalty_check_without_help(rng):
    # Without holding eps, every finite difference would see new noise (error ~1); without the layer's
    # own penalty in the numerical loss, ActivityRegularization's backward would look wrong (~0.1).
    x = rng.random((4, 6))
    assert npae.gradcheck(npae.VariationalAutoencoder([6, 4, 2], dtype="float64", seed=0), x) < 1e-6
    assert npae.gradcheck(npae.ActivityRegularization(l1=0.1, l2=0.3), rng.standard_normal((3, 4))) < 1e-6


@pytest.mark.parametrize("options, message", [
    ({"step": 0}, "step must be a finite number > 0"), ({"step": float("nan")}, "step must be"),
    ({"floor": -1.0}, "floor must be"), ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_gradcheck_options(options, message):
    with pytest.raises(ValueError, match=message):
        npae.gradcheck(npae.Dense(3, 2, dtype="float64"), np.ones((2, 3)), **options)
