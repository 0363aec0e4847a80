"""npae.TopKSparseAutoencoder (Gao et al. 2024's recipe) and the dictionary metrics."""
import itertools

import numpy as np
import pytest

import npae
from npae import dictionary_metrics as metrics
from npae.sparse_dictionary import geometric_median


def _model(**options):
    settings = {"dtype": "float64", "seed": 1, "dead_after": 16}
    settings.update(options)
    return npae.TopKSparseAutoencoder(8, 24, 3, **settings)


# ------------------------------------------------------------------ the recipe's pieces
def test_decoder_starts_as_the_encoders_transpose_with_unit_rows():
    model = _model()
    W_enc = model.encoder.W                                                # (D, n)
    np.testing.assert_allclose(model.dictionary, W_enc.T / np.linalg.norm(W_enc.T, axis=1, keepdims=True))
    np.testing.assert_allclose(np.linalg.norm(model.dictionary, axis=1), 1.0)
    assert np.all(model.pre_bias == 0) and np.all(model.encoder.b == 0)


def test_codes_have_at_most_k_active_latents_and_decode_adds_b_pre_back(rng):
    model = _model()
    x = rng.standard_normal((40, 8))
    model.fit(x, epochs=2, batch_size=8, verbose=0)
    codes = model.encode(x)
    assert codes.shape == (40, 24) and np.all(codes >= 0)
    assert np.all(np.count_nonzero(codes, axis=1) <= 3)
    np.testing.assert_allclose(model.decode(codes), codes @ model.dictionary + model.pre_bias)
    np.testing.assert_allclose(model.reconstruct(x), model.decode(codes))
    # the encoder: TopK(ReLU(W_enc (x - b_pre) + b_enc))
    pre = np.maximum((x - model.pre_bias) @ model.encoder.W + model.encoder.b, 0)
    np.testing.assert_allclose(codes, npae.TopK(3)(pre))


def test_dictionary_rows_stay_unit_after_every_step(rng):
    model = _model(dtype="float32")
    x = rng.standard_normal((64, 8)).astype(np.float32)
    for start in range(0, 64, 16):
        model.train_on_batch(x[start:start + 16])
        np.testing.assert_allclose(np.linalg.norm(model.dictionary, axis=1), 1.0, rtol=1e-6)


def test_the_gradient_parallel_to_each_dictionary_row_is_removed(rng):
    model = _model()
    x = rng.standard_normal((16, 8))
    model.zero_grad()
    model.value_and_grad(x)
    assert np.abs(np.sum(model.decoder.dW * model.decoder.W, axis=1)).max() > 1e-3  # there was some
    model.decoder.remove_parallel_gradient()
    np.testing.assert_allclose(np.sum(model.decoder.dW * model.decoder.W, axis=1), 0, atol=1e-15)


def test_first_fit_sets_b_pre_to_the_geometric_median_and_sigma2_to_the_variance(rng):
    x = rng.standard_normal((200, 8)) * 3 + 5
    model = _model()
    model.fit(x, epochs=1, batch_size=200, verbose=0)
    assert model.data_variance == pytest.approx(np.mean((x - x.mean(axis=0)) ** 2))
    assert model.evaluate(x) == pytest.approx(metrics.normalized_mse(x, model.reconstruct(x)))


def test_geometric_median_minimises_the_sum_of_distances(rng):
    x = rng.standard_normal((30, 3))
    x[:5] += 50   # outliers pull the mean, hardly the median
    median = geometric_median(x)

    def total(point):
        return np.linalg.norm(x - point, axis=1).sum()

    for _ in range(50):
        assert total(median) <= total(median + 1e-3 * rng.standard_normal(3))
    assert np.linalg.norm(median) < np.linalg.norm(x.mean(axis=0))


def test_dead_latents_count_samples_since_they_last_fired(rng):
    model = _model(dead_after=20)
    x = rng.standard_normal((8, 8))
    model.value_and_grad(x)
    fired = np.any(model.encode(x) > 0, axis=0)
    np.testing.assert_array_equal(model.samples_since_fired, np.where(fired, 0, 8))
    model.value_and_grad(x)
    model.value_and_grad(x)
    np.testing.assert_array_equal(model.dead_latents(), ~fired)   # 24 >= 20 samples without firing
    assert model.last_terms_["dead"] == np.sum(~fired) and model.last_terms_["auxk"] > 0


def test_without_dead_latents_or_with_aux_coefficient_zero_there_is_no_auxk_term(rng):
    x = rng.standard_normal((16, 8))
    model = _model(dead_after=10**6)
    model.value_and_grad(x)
    assert model.last_terms_["auxk"] == 0 and model.last_terms_["dead"] == 0
    model = _model(aux_coefficient=0.0)
    for _ in range(3):
        model.value_and_grad(x)
    assert model.last_terms_["dead"] > 0 and model.last_terms_["auxk"] == 0


# ------------------------------------------------------------------ gradients
def test_unit_norm_decoder_layer_gradient_checks(rng):
    from npae.sparse_dictionary import UnitNormDecoder

    layer = UnitNormDecoder(6, 4, dtype="float64", initial=rng.standard_normal((6, 4)))
    layer.b[...] = rng.standard_normal(4)
    assert npae.gradcheck(layer, rng.standard_normal((5, 6))) < 1e-7


@pytest.mark.parametrize("aux_coefficient", [0.0, 1 / 32, 1.0])
def test_model_gradient_checks_in_float64(aux_coefficient, rng):
    x = rng.standard_normal((16, 8))
    model = _model(aux_coefficient=aux_coefficient)
    model.value_and_grad(x)                     # one forward: some latents are now dead (16 samples)
    if aux_coefficient:
        assert model.dead_latents().any()       # so the AuxK term is part of what is checked
    assert npae.gradcheck(model, x) < 1e-7
    model.init_from_data(x)                     # b_pre off zero, sigma^2 of the data
    assert npae.gradcheck(model, x) < 1e-7


def test_gradcheck_holds_the_dead_latents_and_the_auxk_target_fixed(rng):
    """AuxK's target e = x - x_hat is a constant (detached) by design: differentiating through it gives
    another number, which is why gradcheck holds it (see residual_held_fixed)."""
    from npae.gradcheck import numerical_gradient, relative_error

    x = rng.standard_normal((16, 8))
    model = _model(aux_coefficient=1.0)
    model.value_and_grad(x)
    with model.dead_latent_statistics_frozen():
        model.zero_grad()
        model.value_and_grad(x)
        analytic = model.decoder.dW.copy()
        through_e = numerical_gradient(lambda: model.value_and_grad(x), model.decoder.W)
    assert relative_error(analytic, through_e) > 1e-3
    before = model.samples_since_fired.copy()
    npae.gradcheck(model, x)
    np.testing.assert_array_equal(model.samples_since_fired, before)


# ------------------------------------------------------------------ PyTorch, same recipe, several steps
def _torch_steps(model, batches, torch, learning_rate, epsilon):
    """The same recipe written with torch autograd: losses per step and the final parameters."""
    W_enc, b_enc, W_dec, b_pre = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    optimizer = torch.optim.Adam([W_enc, b_enc, W_dec, b_pre], lr=learning_rate, betas=(0.9, 0.999), eps=epsilon)
    since = torch.zeros(model.n_latents, dtype=torch.int64)
    losses = []

    def topk(values, k):
        kept, indices = torch.topk(values, k, dim=1)
        return torch.zeros_like(values).scatter(1, indices, kept)

    for x in map(torch.tensor, batches):
        optimizer.zero_grad()
        a = torch.relu((x - b_pre) @ W_enc + b_enc)
        z = topk(a, model.k)
        x_hat = z @ W_dec + b_pre
        loss = ((x_hat - x) ** 2).mean() / model.data_variance
        since = torch.where((z > 0).any(dim=0), 0, since + x.shape[0])
        dead = since >= model.dead_after
        if dead.any():
            e = (x - x_hat).detach()
            z_aux = topk(a * dead, model.k_aux)
            loss = loss + model.aux_coefficient * ((z_aux @ W_dec - e) ** 2).mean() / ((e - e.mean(0)) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(dim=1, keepdim=True) * W_dec
        optimizer.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True)
        losses.append(loss.item())
    return losses, [p.detach().numpy() for p in (W_enc, b_enc, W_dec, b_pre)]


@pytest.mark.parametrize("aux_coefficient", [0.0, 1 / 32])
def test_training_steps_equal_pytorch_in_float64(aux_coefficient, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((96, 8)) @ rng.standard_normal((8, 8)) + 1.0
    batches = [x[start:start + 16] for start in range(0, 96, 16)]
    model = npae.TopKSparseAutoencoder(8, 24, 3, aux_coefficient=aux_coefficient, dead_after=32, dtype="float64",
                                       seed=3, optimizer=npae.Adam(learning_rate=1e-2, epsilon=1e-8))
    model.init_from_data(x)
    torch_losses, torch_weights = _torch_steps(model, batches, torch, 1e-2, 1e-8)
    losses, auxk_terms = [], []
    for batch in batches:
        losses.append(model.train_on_batch(batch))
        auxk_terms.append(model.last_terms_["auxk"])
    assert (max(auxk_terms) > 0) == (aux_coefficient > 0)    # AuxK took part in some steps (32 samples)
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-10)
    for ours, theirs in zip(model.get_weights(), torch_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ the contract
def test_seeded_training_is_bitwise_reproducible(rng):
    x = rng.standard_normal((64, 8)).astype(np.float32)
    runs = []
    for _ in range(2):
        model = npae.TopKSparseAutoencoder(8, 24, 3, seed=5, dead_after=16)
        model.fit(x, epochs=3, batch_size=16, verbose=0)
        runs.append(model.get_weights())
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)


def test_summary_names_the_layers_and_the_loss():
    summary = _model().summary()
    assert "Dense" in summary and "TopK" in summary and "UnitNormDecoder" in summary
    assert summary.splitlines()[-1].startswith("loss: normalised MSE") and "AuxK" in summary


def test_save_and_load_give_the_same_model(rng, tmp_path):
    x = rng.standard_normal((32, 8)).astype(np.float32)
    model = npae.TopKSparseAutoencoder(8, 24, 3, seed=5)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "sae.npz")
    loaded = npae.load(tmp_path / "sae.npz")
    assert isinstance(loaded, npae.TopKSparseAutoencoder) and loaded.data_variance == model.data_variance
    np.testing.assert_array_equal(loaded.encode(x), model.encode(x))
    np.testing.assert_array_equal(loaded.dictionary, model.dictionary)


@pytest.mark.parametrize("arguments, message", [
    ((8, 24, 0), "k must be an integer >= 1"),
    ((8, 4, 5), "k must be at most n_latents = 4"),
    ((0, 24, 3), "input_size must be an integer >= 1"),
    ((8, 24, 3, {"k_aux": 25}), "k_aux must be at most n_latents = 24"),
    ((8, 24, 3, {"aux_coefficient": -1}), "aux_coefficient must be a finite number >= 0"),
    ((8, 24, 3, {"dead_after": 0}), "dead_after must be an integer >= 1"),
])
def test_bad_arguments_are_value_errors(arguments, message):
    options = arguments[3] if len(arguments) > 3 else {}
    with pytest.raises(ValueError, match=message):
        npae.TopKSparseAutoencoder(*arguments[:3], **options)


def test_bad_data_is_a_value_error(rng):
    model = _model()
    with pytest.raises(ValueError, match=r"expected \(N, 8\)"):
        model.fit(rng.standard_normal((10, 7)), verbose=0)
    with pytest.raises(ValueError, match="no variance"):
        model.fit(np.ones((10, 8)), verbose=0)
    with pytest.raises(ValueError, match="without y"):
        model.fit(np.ones((10, 8)), np.ones((10, 8)), verbose=0)
    with pytest.raises(ValueError, match=r"z has shape"):
        model.decode(np.zeros((2, 8)))


# ------------------------------------------------------------------ metrics
def test_optimal_assignment_is_the_best_of_every_permutation(rng):
    for n, m in [(1, 1), (3, 3), (4, 6), (6, 4), (5, 5)]:
        for _ in range(10):
            cost = rng.integers(0, 4, (n, m)).astype(float) if rng.random() < 0.5 else rng.standard_normal((n, m))
            rows, columns = metrics.optimal_assignment(cost)
            assert len(rows) == min(n, m) and len(set(rows)) == len(set(columns)) == min(n, m)
            if n <= m:
                best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
            else:
                best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
            assert cost[rows, columns].sum() == pytest.approx(best)


def test_optimal_assignment_equals_scipy_on_larger_matrices(rng):
    optimize = pytest.importorskip("scipy.optimize")
    cost = rng.standard_normal((40, 70))
    rows, columns = metrics.optimal_assignment(cost)
    scipy_rows, scipy_columns = optimize.linear_sum_assignment(cost)
    assert cost[rows, columns].sum() == pytest.approx(cost[scipy_rows, scipy_columns].sum(), rel=1e-12)


def test_matching_scores_of_a_permuted_noisy_copy(rng):
    true = rng.standard_normal((6, 10))
    learned = np.vstack([true[::-1], rng.standard_normal((4, 10))])   # permuted, plus 4 extra directions
    assert metrics.matching_score(learned, true) == pytest.approx(1.0)
    assert metrics.mcc(learned, true) == pytest.approx(1.0)
    flipped = learned.copy()
    flipped[0] *= -1                          # a sign flip: |cosine| does not see it, the cosine does
    assert metrics.mcc(flipped, true) == pytest.approx(1.0)
    assert metrics.matching_score(flipped, true) < 1.0
    # two true features close to one learned direction: the max-cosine credits it twice, the matching once
    pair = np.array([[1.0, 0.0], [0.0, 1.0]])
    one = np.array([[1.0, 1.0], [-1.0, 0.2]])
    assert metrics.mean_max_cosine(one, pair) > metrics.matching_score(one, pair)


def test_l0_dead_fraction_and_normalized_mse():
    codes = np.array([[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    assert metrics.l0(codes) == 1.5
    np.testing.assert_array_equal(metrics.feature_frequencies(codes), [0, 0.5, 1, 0])
    assert metrics.dead_fraction(codes) == 0.5
    x = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert metrics.normalized_mse(x, x) == 0
    assert metrics.normalized_mse(x, np.tile(x.mean(axis=0), (2, 1))) == pytest.approx(1.0)
    assert metrics.explained_variance(x, x) == 1.0
    with pytest.raises(ValueError, match="reconstruction has shape"):
        metrics.normalized_mse(x, x[:1])
