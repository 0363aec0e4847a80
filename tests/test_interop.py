"""npae.interop: an npae model as a torch module and back, outputs equal in float64."""
import subprocess
import sys

import numpy as np
import pytest

import npae
from npae import interop

torch = pytest.importorskip("torch")


def torch_output(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("options", [
    dict(),                                                            # the paper's: ReLU, logits, BCE
    dict(activation="elu", latent_activation="tanh", loss="mse", output_activation="sigmoid"),
    dict(activation={"name": "leaky_relu", "negative_slope": 0.2}, tied=True),
    dict(activation="softplus", output_activation="identity", loss="mse"),
], ids=["paper", "elu-tanh-mse", "tied-leaky", "softplus-linear"])
def test_to_torch_computes_what_the_model_predicts(options, rng):
    model = npae.Autoencoder([20, 8, 3], dtype="float64", seed=0, **options)
    model.fit(rng.uniform(0, 1, (64, 20)), epochs=2, batch_size=16, verbose=0)
    module = interop.to_torch(model)
    x = rng.uniform(0, 1, (10, 20))
    np.testing.assert_allclose(torch_output(module, x), model.predict(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(torch_output(module.encoder, x), model.encode(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(torch_output(interop.to_torch(model, logits=True), x), model.forward(x),
                               rtol=1e-12, atol=1e-14)


def test_a_tied_model_keeps_one_weight_tensor(rng):
    model = npae.Autoencoder([12, 4], tied=True, dtype="float64", seed=1)
    module = interop.to_torch(model)
    weights = [p for p in module.parameters() if p.ndim == 2]
    assert len(weights) == 1  # the decoder uses the encoder's weight itself, as in npae


def test_the_torch_module_trains(rng):
    """The converted module is an ordinary torch model: one Adam step changes its weights."""
    model = npae.Autoencoder([10, 3], dtype="float64", seed=0)
    module = interop.to_torch(model, logits=True)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    x = torch.from_numpy(rng.uniform(0, 1, (32, 10)))
    before = [p.detach().clone() for p in module.parameters()]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(module(x), x)
    loss.backward()
    optimizer.step()
    assert loss.item() == pytest.approx(model.evaluate(x.numpy()), rel=1e-12)
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_from_torch_fuses_activations_and_predicts_the_same(rng):
    module = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ELU(0.5), torch.nn.Linear(5, 4),
                                 torch.nn.Tanh(), torch.nn.Linear(4, 2), torch.nn.Sigmoid()).double()
    model = interop.from_torch(module, loss="mse")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 3
    assert [layer.activation.name for layer in model.layers] == ["elu", "tanh", "sigmoid"]
    x = rng.standard_normal((7, 6))
    np.testing.assert_allclose(model.predict(x), torch_output(module, x), rtol=1e-12, atol=1e-14)


def test_round_trip_of_an_autoencoder(rng):
    model = npae.Autoencoder([16, 6, 2], activation="tanh", dtype="float64", seed=2)
    again = interop.from_torch(interop.to_torch(model), loss="mse")
    assert isinstance(again, npae.Autoencoder) and again.latent_shape == (2,)
    x = rng.uniform(0, 1, (5, 16))
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-12, atol=1e-14)


def test_what_cannot_be_converted_says_so():
    with pytest.raises(ValueError, match="does not convert"):
        interop.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout()))
    with pytest.raises(ValueError, match="takes an npae Sequential"):
        interop.to_torch(object())


def test_without_torch_the_error_says_how_to_get_it():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import npae, npae.interop\n"
            "try:\n    npae.interop.to_torch(npae.Autoencoder([4, 2]))\n"
            "except ImportError as error:\n    print('ImportError:', error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "npae.interop needs PyTorch, which is not installed: pip install torch" in result.stdout


def conv_autoencoder(rng):
    """Every convolutional layer type, strides 1 and 2, both paddings, a dense code in the middle."""
    options = dict(dtype="float64", rng=rng)
    encoder = [npae.Conv2D(1, 3, 3, padding="same", activation="relu", **options),
               npae.Conv2D(3, 4, 3, stride=2, padding="same", activation="elu", **options),
               npae.MaxPool2D(2, padding="same"), npae.Flatten(), npae.Dense(4 * 2 * 2, 5, "tanh", **options)]
    decoder = [npae.Dense(5, 4 * 2 * 2, "relu", **options), npae.Reshape((2, 2, 4)), npae.UpSampling2D(2),
               npae.Conv2DTranspose(4, 3, 3, stride=2, padding="same", activation="relu", **options),
               npae.Conv2DTranspose(3, 2, 3, padding="valid", **options), npae.Conv2D(2, 1, 3, **options)]
    return npae.Autoencoder(encoder=encoder, decoder=decoder, loss=npae.BinaryCrossEntropy(from_logits=True), seed=0)


def test_a_convolutional_autoencoder_converts_both_ways(rng):
    model = conv_autoencoder(rng)
    x = rng.uniform(0, 1, (3, 8, 8, 1))
    model.fit(x, epochs=1, verbose=0)  # also learns the input shape
    module = interop.to_torch(model)
    np.testing.assert_allclose(torch_output(module, x), model.predict(x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(torch_output(module.encoder, x), model.encode(x), rtol=1e-12, atol=1e-13)
    again = interop.from_torch(module, loss=npae.BinaryCrossEntropy())  # ends in the sigmoid now
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-12, atol=1e-13)


def test_a_channels_first_torch_convolution_is_refused():
    with pytest.raises(ValueError, match="Conv2d, which npae.interop does not convert"):
        interop.from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)))


class _OwnForward(torch.nn.Module):
    """Registers b, never uses it: its children's order says nothing about its computation."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(6, 3), torch.nn.Linear(3, 6)

    def forward(self, x):
        return self.a(x)


@pytest.mark.parametrize("module, message", [
    (lambda nn, shared: nn.Sequential(shared, nn.ReLU(), shared), "module\\[2\\] is the same module as module\\[0\\]"),
    (lambda nn, shared: nn.Sequential(nn.Linear(6, 3), nn.Softplus(beta=5), nn.Linear(3, 6)), "beta=5"),
    # finding 14: linear above 1, where npae's softplus is not (0.165 apart at z = 1)
    (lambda nn, shared: nn.Sequential(nn.Linear(6, 3), nn.Softplus(threshold=1.0), nn.Linear(3, 6)),
     "Softplus with threshold=1.0 has no npae counterpart"),
    (lambda nn, shared: _OwnForward(), "with its own forward"),
])
def test_what_would_convert_to_a_different_computation_is_refused(module, message):
    with pytest.raises(ValueError, match=message):
        interop.from_torch(module(torch.nn, torch.nn.Linear(6, 6)))


@pytest.mark.parametrize("pool_size, side", [(3, 7), (3, 10), (4, 9), (4, 10), (2, 7), (3, 6)])
def test_same_max_pooling_pads_as_keras_in_torch_too(pool_size, side, rng):
    """Finding 9: Keras' "same" puts half the padding before the image; torch's ceil_mode puts it all after.
    They differ when Keras pads 2 or more (pool 3 on lengths 1 mod 3, pool 4 on lengths 1 or 2 mod 4)."""
    options = dict(dtype="float64", rng=rng)
    out = -(-side // pool_size)
    encoder = [npae.Conv2D(1, 2, 3, padding="same", activation="tanh", **options),
               npae.MaxPool2D(pool_size, padding="same"), npae.Flatten(), npae.Dense(out * out * 2, 3, **options)]
    decoder = [npae.Dense(3, side * side, **options), npae.Reshape((side, side, 1))]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse", input_shape=(side, side, 1))
    x = rng.normal(size=(4, side, side, 1))
    module = interop.to_torch(model)
    np.testing.assert_allclose(torch_output(module.encoder, x), model.encode(x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(torch_output(module, x), model.predict(x), rtol=1e-12, atol=1e-13)
    again = interop.from_torch(module, loss="mse")
    assert again.layers[1].pool_size == pool_size and again.layers[1].padding == "same"
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-12, atol=1e-13)
