"""npae.VariationalAutoencoder: gradients by finite differences with eps fixed, the loss by hand, the KL
term against its closed form and a Monte-Carlo estimate, PyTorch parity, saving, and bad input."""
import numpy as np
import pytest

import npae
from npae.variational import bernoulli_negative_log_likelihood, kl_divergence, reparameterize


def images(rng, rows, width):
    """Pixel-like inputs in (0, 1), away from 0 and 1."""
    return rng.uniform(0.05, 0.95, (rows, width))


@pytest.mark.parametrize("sizes, options", [
    ([20, 8, 3], {}),
    ([20, 3], {}),                                                   # no hidden layer: heads read x
    ([20, 9, 6, 3], {"activation": "tanh", "init": "pytorch_uniform"}),
    ([20, 8, 3], {"l2": 0.01, "l1": 0.001}),                         # weight penalties on top
], ids=["20-8-3", "20-3", "20-9-6-3 tanh", "with weight penalties"])
def test_whole_vae_gradients_match_finite_differences(rng, sizes, options):
    model = npae.VariationalAutoencoder(sizes, dtype="float64", seed=0, **options)
    x = images(rng, 6, sizes[0])
    with model.fixed_eps(rng.standard_normal((6, sizes[-1]))):
        assert npae.gradcheck(model, x) < 1e-6


def test_loss_is_the_negative_elbo_written_out_by_hand(rng):
    model = npae.VariationalAutoencoder([12, 7, 4], dtype="float64", seed=3)
    x, eps = images(rng, 5, 12), rng.standard_normal((5, 4))
    W1, b1, W_head, b_head, W3, b3, W4, b4 = model.get_weights()
    h = np.maximum(x @ W1 + b1, 0)
    mu, log_var = h @ W_head[:, :4] + b_head[:4], h @ W_head[:, 4:] + b_head[4:]   # [W_mu | W_log_var]
    z = mu + np.exp(0.5 * log_var) * eps                                   # sigma = exp(0.5 log_var)
    p = 1 / (1 + np.exp(-(np.maximum(z @ W3 + b3, 0) @ W4 + b4)))
    reconstruction = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    kl = -0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=1)
    expected = np.mean(reconstruction + kl)
    assert model.value_and_grad(x, eps=eps) == pytest.approx(expected, rel=1e-12)
    with model.fixed_eps(eps):                                             # the same eps, another way in
        assert model.value_and_grad(x) == pytest.approx(expected, rel=1e-12)
    # What the helpers compute, row by row.
    np.testing.assert_allclose(kl_divergence(mu, log_var), kl, rtol=1e-12)
    logits = np.maximum(z @ W3 + b3, 0) @ W4 + b4
    np.testing.assert_allclose(bernoulli_negative_log_likelihood(logits, x), reconstruction, rtol=1e-10)


def test_kl_term_against_closed_form_and_monte_carlo():
    mu = np.array([[0.0, 0.0], [1.5, -0.5], [0.3, 2.0]])
    log_var = np.array([[0.0, 0.0], [-1.0, 0.7], [np.log(0.25), 0.0]])
    # One dimension at a time: KL(N(m, s^2) || N(0, 1)) = 0.5 (s^2 + m^2 - 1 - log s^2).
    by_hand = 0.5 * np.sum(np.exp(log_var) + mu ** 2 - 1 - log_var, axis=1)
    np.testing.assert_allclose(kl_divergence(mu, log_var), by_hand, rtol=1e-14)
    assert kl_divergence(mu, log_var)[0] == 0.0                            # q = p exactly
    # KL = E_q[log q(z) - log p(z)], estimated with 400,000 draws z = mu + sigma eps.
    rng = np.random.default_rng(7)
    draws = 400_000
    for row in range(mu.shape[0]):
        eps = rng.standard_normal((draws, 2))
        z, sigma = reparameterize(mu[row], log_var[row], eps)
        log_q = np.sum(-0.5 * eps ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi), axis=1)
        log_p = np.sum(-0.5 * z ** 2 - 0.5 * np.log(2 * np.pi), axis=1)
        terms = log_q - log_p
        standard_error = terms.std() / np.sqrt(draws)
        assert abs(terms.mean() - kl_divergence(mu[row:row + 1], log_var[row:row + 1])[0]) <= 4 * standard_error + 1e-12


def test_ten_adam_steps_equal_pytorch_with_the_same_eps(mnist):
    torch = pytest.importorskip("torch")
    (x_train, _), _ = mnist
    batches = [x_train[start:start + 32].astype(np.float64) for start in (0, 32)]
    model = npae.VariationalAutoencoder([784, 64, 8], dtype="float64", seed=0, init="pytorch_uniform",
                                        optimizer=npae.Adam(learning_rate=1e-3, epsilon=1e-8))
    weights = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    W1, b1, W_head, b_head, W3, b3, W4, b4 = weights
    optimizer = torch.optim.Adam(weights, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(1)
    for step in range(10):
        batch, eps = batches[step % 2], rng.standard_normal((32, 8))
        ours = model.train_on_batch(batch, eps=eps)
        optimizer.zero_grad()
        x = torch.tensor(batch)
        h = torch.relu(x @ W1 + b1)
        mu, log_var = h @ W_head[:, :8] + b_head[:8], h @ W_head[:, 8:] + b_head[8:]   # fc21, fc22
        z = mu + torch.exp(0.5 * log_var) * torch.tensor(eps)
        logits = torch.relu(z @ W3 + b3) @ W4 + b4
        reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp())
        theirs = (reconstruction + kl) / 32                                 # npae averages over the batch
        theirs.backward()
        optimizer.step()
        assert ours == pytest.approx(theirs.item(), rel=1e-11)
    for mine, theirs in zip(model.get_weights(), weights):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-9, atol=1e-11)


def test_fit_records_both_terms_and_is_seeded(rng):
    x = rng.uniform(0, 1, (96, 16)).astype(np.float32)
    runs = []
    for _ in range(2):
        model = npae.VariationalAutoencoder([16, 8, 2], seed=5)
        history = model.fit(x, epochs=3, batch_size=32, validation_data=x[:20], verbose=0).history
        runs.append((model.get_weights(), history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)                                 # same seed, same eps, same run
    history = runs[0][1]
    assert {"loss", "val_loss", "reconstruction", "kl", "val_reconstruction", "val_kl"} <= set(history)
    assert all(len(values) == 3 for values in history.values())
    np.testing.assert_allclose(history["loss"], np.add(history["reconstruction"], history["kl"]), rtol=1e-6)
    np.testing.assert_allclose(history["val_loss"], np.add(history["val_reconstruction"], history["val_kl"]),
                               rtol=1e-6)
    assert min(history["kl"]) > 0


def test_encode_decode_sample_and_evaluate(rng):
    model = npae.VariationalAutoencoder([16, 8, 3], seed=0)
    x = rng.uniform(0, 1, (10, 16)).astype(np.float32)
    mu, log_var = model.encode(x, return_log_variance=True)
    assert mu.shape == log_var.shape == (10, 3)
    np.testing.assert_array_equal(model.encode(x), mu)
    np.testing.assert_allclose(model.reconstruct(x), model.decode(mu), rtol=1e-6)
    samples = model.sample(4, seed=1)
    assert samples.shape == (4, 16) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(4, seed=1))
    assert not np.array_equal(samples, model.sample(4, seed=2))
    # evaluate: the mean negative ELBO, the same number every time (its eps come from a fixed seed).
    reconstruction, kl = model.elbo_terms(x)
    assert model.evaluate(x) == pytest.approx(np.mean(reconstruction + kl)) == model.evaluate(x)
    np.testing.assert_allclose(model.reconstruction_error(x), np.mean((x - model.reconstruct(x)) ** 2, axis=1),
                               rtol=1e-5)


def test_numba_and_numpy_paths_agree(rng):
    x, eps = rng.uniform(0, 1, (64, 30)).astype(np.float32), rng.standard_normal((64, 4)).astype(np.float32)
    losses, weights = [], []
    for jit in (True, False):
        with npae._backend.jit(jit):
            model = npae.VariationalAutoencoder([30, 12, 4], seed=0)
            losses.append([model.train_on_batch(x, eps=eps) for _ in range(3)])
            weights.append(model.get_weights())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_save_and_load_resume_training_exactly(rng, tmp_path):
    x = rng.uniform(0, 1, (64, 16)).astype(np.float32)
    model = npae.VariationalAutoencoder([16, 8, 2], seed=2, init="pytorch_uniform")
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "vae.npz")
    loaded = npae.load(tmp_path / "vae.npz")
    assert isinstance(loaded, npae.VariationalAutoencoder) and loaded.sizes == [16, 8, 2]
    assert loaded.evaluate(x) == model.evaluate(x)
    model.fit(x, epochs=1, batch_size=16, verbose=0)     # the shuffles and the eps continue where they were
    loaded.fit(x, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pytorch_initialisation_draws_biases_in_its_range():
    model = npae.VariationalAutoencoder([784, 400, 20], init="pytorch_uniform", seed=0)
    W1, b1 = model.get_weights()[:2]
    bound = 1 / np.sqrt(784)
    assert np.abs(W1).max() <= bound and np.abs(b1).max() <= bound
    assert np.abs(b1).max() > 0.9 * bound                                   # drawn, not zeros
    assert np.all(npae.VariationalAutoencoder([784, 400, 20], seed=0).get_weights()[1] == 0)  # Glorot: b = 0


@pytest.mark.parametrize("arguments, message", [
    ({"sizes": [784]}, "at least two"),
    ({"sizes": 784}, "at least two"),
    ({"sizes": [784, 400, 0]}, "latent size"),
    ({"sizes": [784, 0, 20]}, "sizes entry"),
    ({"sizes": [784, 20], "init": "orthogonal"}, "init"),
    ({"sizes": [784, 20], "activation": "swoosh"}, "swoosh"),
])
def test_bad_constructor_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        npae.VariationalAutoencoder(**arguments)


def test_bad_eps_and_sample_arguments(rng):
    model = npae.VariationalAutoencoder([16, 8, 3], seed=0)
    x = rng.uniform(0, 1, (5, 16)).astype(np.float32)
    before = model.get_weights()
    with pytest.raises(ValueError, match="eps has shape"):
        model.train_on_batch(x, eps=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="eps has 4 rows but the batch has 5"):
        model.train_on_batch(x, eps=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="eps contains NaN"):
        model.value_and_grad(x, eps=np.full((5, 3), np.nan))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)                                 # nothing was trained
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            model.sample(n)
    with pytest.raises(ValueError, match="seed"):
        model.sample(3, seed=-1)
    with pytest.raises(ValueError, match=r"z has shape \(2, 4\)"):
        model.decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="binary cross-entropy needs x in"):
        model.elbo_terms(x * 255)
    with pytest.raises(ValueError, match="n_samples"):
        model.elbo_terms(x, n_samples=0)


def test_a_sample_larger_than_the_memory_is_refused_before_drawing():
    with pytest.raises(ValueError, match=r"sample\(1099511627776\).*needs"):
        npae.VariationalAutoencoder([6, 4, 2], seed=0).sample(2**40)


def test_fit_takes_one_callback_and_refuses_a_non_callable(rng):
    """As Autoencoder.fit: ``callbacks=EarlyStopping(...)`` is a list of one; ``callbacks=5`` a ValueError."""
    x = rng.uniform(0, 1, (60, 6)).astype(np.float32)
    model = npae.VariationalAutoencoder([6, 4, 2], seed=0)
    stopper = npae.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    history = model.fit(x, epochs=10, batch_size=20, verbose=0, callbacks=stopper)
    assert stopper.stopped_epoch == 1 and len(history.history["loss"]) == 2
    assert len(history.history["kl"]) == 2          # the VAE's own recorder still ran
    with pytest.raises(ValueError, match="callbacks must be a list of callables"):
        model.fit(x, epochs=1, verbose=0, callbacks=5)


def test_reconstruction_error_is_chunked_and_is_the_papers_formula(rng):
    model = npae.VariationalAutoencoder([6, 4, 2], dtype="float64", seed=0)
    x = rng.uniform(0, 1, (4096 + 7, 6))               # more rows than one chunk
    expected = np.mean((x - model.reconstruct(x)) ** 2, axis=1)
    np.testing.assert_allclose(model.reconstruction_error(x), expected, rtol=1e-12)
