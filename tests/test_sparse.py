"""The sparse autoencoder: an L1 activity penalty on the code (Autoencoder(activity_l1=...), the
ActivityRegularization layer), its value and gradient, saving, and what it does to real codes."""
import numpy as np
import pytest

import npae
from npae.datasets import load_mnist
from npae.layers.activity import ActivityRegularization


def inputs(rng, rows=6, width=12):
    return rng.uniform(0.05, 0.95, (rows, width))


@pytest.mark.parametrize("latent_activation", ["tanh", "relu"])
def test_sparse_autoencoder_gradients_match_finite_differences(rng, latent_activation):
    model = npae.Autoencoder([12, 7, 5], dtype="float64", seed=0, activity_l1=0.05,
                             latent_activation=latent_activation)
    assert npae.gradcheck(model, inputs(rng)) < 1e-6


def test_penalty_is_lambda_times_the_code_l1_norm_averaged_over_the_batch(rng):
    x = inputs(rng)
    sparse = npae.Autoencoder([12, 5], dtype="float64", seed=0, activity_l1=0.05, latent_activation="tanh")
    plain = npae.Autoencoder([12, 5], dtype="float64", seed=0, latent_activation="tanh")
    expected = 0.05 * np.mean(np.sum(np.abs(plain.encode(x)), axis=1))   # lambda (1/B) sum_b sum_j |h_bj|
    assert sparse.value_and_grad(x) - plain.value_and_grad(x) == pytest.approx(expected, rel=1e-12)
    assert sparse.evaluate(x) - plain.evaluate(x) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(sparse.encode(x), plain.encode(x))       # the code itself is unchanged
    assert sparse.latent_size == 5


def test_layer_form_in_any_model(rng):
    """The layer works wherever it is put, with l1 and l2 (Keras' ActivityRegularization)."""
    x = inputs(rng)
    first = npae.Dense(12, 6, "tanh", dtype="float64", rng=0)
    model = npae.Sequential([first, ActivityRegularization(l1=0.01, l2=0.02), npae.Dense(6, 12, dtype="float64",
                                                                                       rng=1)], loss="mse")
    assert npae.gradcheck(model, x, x) < 1e-6
    h = first.forward(x)
    bare = npae.Sequential([npae.Dense(12, 6, "tanh", dtype="float64", rng=0), npae.Dense(6, 12, dtype="float64",
                                                                                          rng=1)], loss="mse")
    penalty = np.mean(0.01 * np.abs(h).sum(axis=1) + 0.02 * np.square(h).sum(axis=1))
    assert model.evaluate(x) - bare.evaluate(x) == pytest.approx(penalty, rel=1e-12)


def test_save_and_load_keep_the_penalty_once(rng, tmp_path):
    x = inputs(rng).astype(np.float32)
    built = [npae.Autoencoder([12, 5], seed=0, activity_l1=0.01),
             npae.Autoencoder(encoder=[npae.Dense(12, 5, "relu", rng=0)], decoder=[npae.Dense(5, 12, rng=1)],
                              loss="mse", activity_l1=0.01)]
    for index, model in enumerate(built):
        model.fit(x, epochs=2, batch_size=3, verbose=0)
        model.save(tmp_path / f"{index}.npz")
        loaded = npae.load(tmp_path / f"{index}.npz")
        assert sum(isinstance(layer, ActivityRegularization) for layer in loaded.layers) == 1
        assert loaded.evaluate(x) == model.evaluate(x)
    assert "activity_l1=0.01" in repr(built[0])


def test_penalty_makes_real_codes_sparser():
    """The Keras blog's finding, in miniature: on 6,000 MNIST images, the penalised code is smaller."""
    (x_train, _), (x_test, _) = load_mnist(sample=True)
    codes = {}
    for activity_l1 in (0.0, 1e-3):
        model = npae.Autoencoder([784, 32], seed=0, activity_l1=activity_l1)
        model.fit(x_train, epochs=3, verbose=0)
        codes[activity_l1] = model.encode(x_test)
    assert codes[1e-3].mean() < 0.8 * codes[0.0].mean()
    assert np.mean(codes[1e-3] == 0) > np.mean(codes[0.0] == 0)


@pytest.mark.parametrize("value", [-1e-4, float("nan"), float("inf"), "1e-4", True, None, 1j])
def test_bad_activity_l1(value):
    with pytest.raises(ValueError, match="activity_l1 must be a finite number >= 0"):
        npae.Autoencoder([12, 5], activity_l1=value)
    for argument in ("l1", "l2"):  # the weight penalty, and the layer form of the activity penalty
        with pytest.raises(ValueError, match=f"{argument} must be a finite number >= 0"):
            npae.Autoencoder([12, 5], **{argument: value})
        with pytest.raises(ValueError, match=f"{argument} must be a finite number >= 0"):
            ActivityRegularization(**{argument: value})
