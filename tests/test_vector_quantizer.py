"""The VQ layer (what the straight-through rule promises, since gradcheck cannot apply to an argmin), the
VQ-VAE built on it, and the rate-distortion autoencoder (gradients checked in float64)."""
import numpy as np
import pytest

import npae
from npae.layers.vector_quantizer import VectorQuantizer, codebook_usage
from npae.rate_distortion import (FactorizedPrior, QuantizationNoise, prior_bits, rate_distortion_autoencoder,
                                  rd_decode, rd_encode)
from npae.vqvae import initialize_codebook, vq_decode, vq_encode, vq_vae


def layer64(rng, num_codes=5, code_size=3, beta=0.25):
    layer = VectorQuantizer(num_codes, code_size, beta=beta, dtype="float64", rng=0)
    layer.codebook[...] = rng.standard_normal((num_codes, code_size))
    return layer


def test_nearest_code_matches_brute_force(rng):
    layer = layer64(rng)
    z = rng.standard_normal((4, 2, 2, 3))
    distances = ((z[..., None, :] - layer.codebook) ** 2).sum(axis=-1)          # (4, 2, 2, K)
    np.testing.assert_array_equal(layer.quantize(z), distances.argmin(axis=-1))
    np.testing.assert_array_equal(layer(z), layer.codebook[distances.argmin(axis=-1)])


def test_loss_is_one_plus_beta_times_the_mean_squared_distance(rng):
    layer = layer64(rng, beta=0.25)
    z = rng.standard_normal((6, 3))
    y = layer.forward(z, training=True)
    assert layer.activity_loss() == pytest.approx(1.25 * np.mean((z - y) ** 2), rel=1e-12)


def test_straight_through_passes_the_gradient_unchanged_when_beta_is_zero(rng):
    layer = layer64(rng, beta=0.0)
    z = rng.standard_normal((7, 3))
    layer.forward(z, training=True)
    g = rng.standard_normal((7, 3))
    np.testing.assert_array_equal(layer.backward(g), g)


def numeric(function, array, step=1e-6):
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        plus = function()
        array[index] = saved - step
        minus = function()
        array[index] = saved
        gradient[index] = (plus - minus) / (2 * step)
    return gradient


def test_gradients_are_those_of_the_two_terms_with_the_assignment_held(rng):
    # dL/dz = g + d(beta commitment)/dz and dL/de = d(codebook term)/de, each differentiated numerically in
    # float64 with the assignment k(z) and the stop-gradients held fixed.
    layer = layer64(rng, num_codes=4, code_size=3, beta=0.4)
    z = rng.standard_normal((8, 3))
    layer.forward(z, training=True)
    indices = layer.quantize(z)
    g = rng.standard_normal((8, 3))
    layer.zero_grad()
    grad_z = layer.backward(g)
    e_fixed = layer.codebook[indices].copy()

    def commitment():
        return 0.4 * np.mean((z - e_fixed) ** 2)

    def codebook_term():
        return np.mean((z - layer.codebook[indices]) ** 2)

    np.testing.assert_allclose(grad_z, g + numeric(commitment, z), atol=1e-8)
    np.testing.assert_allclose(layer.dcodebook, numeric(codebook_term, layer.codebook), atol=1e-8)


def test_ema_moves_each_code_to_the_running_mean_of_its_vectors(rng):
    # gamma = 0.5, all vectors assigned to code 0 (the others far away): N_0 = 0.5 + 0.5 n, M_0 = 0.5 e_0 +
    # 0.5 sum z, and e_0 = M_0 / N~_0, with N~_0 ~ N_0 (the smoothing's eps is 1e-5).
    layer = VectorQuantizer(3, 2, ema=0.5, dtype="float64")
    layer.codebook[...] = [[0.0, 0.0], [100.0, 100.0], [-100.0, -100.0]]
    layer._reset_averages()
    z = rng.standard_normal((4, 2)) * 0.1
    layer.forward(z, training=True)
    expected = (0.5 * 0 + 0.5 * z.sum(axis=0)) / (0.5 + 0.5 * 4)
    np.testing.assert_allclose(layer.codebook[0], expected, rtol=1e-4)
    np.testing.assert_allclose(layer.codebook[1:], [[100, 100], [-100, -100]], rtol=1e-4)
    layer.forward(z)                                       # an inference forward changes nothing
    np.testing.assert_allclose(layer.codebook[0], expected, rtol=1e-4)
    layer.zero_grad()
    layer.backward(np.zeros((4, 2)))
    assert np.all(layer.dcodebook == 0)                    # no gradient: the EMA is the update


def test_unused_codes_get_no_gradient(rng):
    layer = layer64(rng, num_codes=6)
    layer.codebook[5] = 1e6                                  # far from everything: never chosen
    layer.forward(rng.standard_normal((10, 3)), training=True)
    layer.zero_grad()
    layer.backward(np.ones((10, 3)))
    assert np.all(layer.dcodebook[5] == 0)


def test_codebook_usage_and_perplexity():
    assert codebook_usage([0, 1, 2, 3], 8) == (0.5, pytest.approx(4.0))
    assert codebook_usage([3, 3, 3], 4) == (0.25, pytest.approx(1.0))


def test_lookup_refuses_out_of_range_indices(rng):
    layer = layer64(rng)
    with pytest.raises(ValueError, match=r"in \[0, 5\)"):
        layer.lookup(np.array([5]))
    with pytest.raises(ValueError, match="size 3"):
        layer(np.zeros((2, 4)))


def test_vq_vae_shapes_and_training_lowers_the_loss(rng):
    # With EMA codebook updates.  (With the gradient rule and Adam, this toy's loss first *rises* for ~30
    # steps: the encoder's outputs run away from the codes; see npae.layers.vector_quantizer.)
    model = vq_vae(num_codes=8, code_size=4, seed=0, ema=0.99)
    x = np.zeros((16, 28, 28, 1), np.float32)                  # 16 images of one bright square each
    for index, (row, column) in enumerate(rng.integers(0, 20, (16, 2))):
        x[index, row:row + 8, column:column + 8] = 1
    initialize_codebook(model, x, seed=0)
    before = model.evaluate(x)
    for _ in range(40):
        model.train_on_batch(x)
    assert model.evaluate(x) < before
    indices = vq_encode(model, x)
    assert indices.shape == (16, 49) and indices.max() < 8
    images = vq_decode(model, indices)
    assert images.shape == (16, 784) and images.min() >= 0 and images.max() <= 1
    # decoding the indices is what the model's own forward does after the quantiser
    np.testing.assert_allclose(images, np.clip(model.predict(x).reshape(16, -1), 0, 1), atol=1e-6)


def test_vq_vae_saves_and_loads(tmp_path, rng):
    model = vq_vae(num_codes=8, code_size=4, seed=0)
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    model.save(tmp_path / "vq.npz")
    loaded = npae.load(tmp_path / "vq.npz")
    np.testing.assert_array_equal(vq_encode(loaded, x), vq_encode(model, x))


# -- the rate-distortion autoencoder -------------------------------------------------------------------

def small_rd_model(rng, lam=50.0):
    model = rate_distortion_autoencoder(latent_size=3, hidden=5, lam=lam, seed=0, dtype="float64", init_gain=1.0,
                                        input_size=12)
    # spread the latents over several integers so that the prior's tails and centre are both exercised
    model.layers[1].W *= 2
    model.layers[3].location[...] = rng.standard_normal(3)
    model.layers[3].log_scale[...] = rng.standard_normal(3) * 0.3
    return model


def test_rate_distortion_gradients_in_float64(rng):
    model = small_rd_model(rng)
    x = rng.random((6, 12))
    model.layers[2].fixed_noise = rng.uniform(-0.5, 0.5, (6, 3))
    assert npae.gradcheck(model, x) < 1e-6


def test_prior_probabilities_sum_to_one_over_the_integers(rng):
    prior = FactorizedPrior(2, dtype="float64")
    prior.location[...] = [0.3, -2.0]
    prior.log_scale[...] = [0.0, 1.0]
    v = np.arange(-200, 201, dtype=np.float64)[:, None].repeat(2, axis=1)
    probabilities = 2.0 ** -np.stack([prior.bits(v[:, [0]].repeat(2, axis=1))])  # joint of two columns
    p0 = prior._terms(v)[0]
    np.testing.assert_allclose(p0.sum(axis=0), 1.0, atol=1e-12)
    assert probabilities.shape == (1, 401)


def test_prior_bits_by_hand():
    # mu = 0, s = 1: P(0) = sigma(1/2) - sigma(-1/2) = tanh(1/4) = 0.2449..., 2.029 bits
    prior = FactorizedPrior(1, dtype="float64")
    assert prior.bits(np.zeros((1, 1)))[0] == pytest.approx(-np.log2(np.tanh(0.25)), rel=1e-12)


def test_noise_in_training_rounding_otherwise(rng):
    layer = QuantizationNoise(seed=0)
    y = rng.standard_normal((100, 4)) * 3
    np.testing.assert_array_equal(layer(y), np.rint(y))
    noisy = layer.forward(y, training=True)
    assert np.all(np.abs(noisy - y) <= 0.5) and np.std(noisy - y) > 0.2
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), np.ones_like(y))


def test_rd_round_trip_and_a_larger_lambda_spends_more_bits(rng):
    x = (rng.random((64, 784)) < 0.15).astype(np.float32)
    bits = {}
    for lam in (1.0, 1000.0):
        model = rate_distortion_autoencoder(latent_size=4, hidden=16, lam=lam, seed=0)
        model.fit(x, epochs=40, batch_size=32, verbose=0)
        codes = rd_encode(model, x)
        assert codes.dtype == np.int64 and codes.shape == (64, 4)
        assert rd_decode(model, codes).shape == (64, 784)
        bits[lam] = prior_bits(model, codes).mean()
    assert bits[1000.0] > bits[1.0]
