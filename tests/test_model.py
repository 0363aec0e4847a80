"""The Autoencoder: construction, training, inference, weights, reproducibility and bad input."""
import copy

import numpy as np
import pytest

import npae


@pytest.fixture
def images(rng):
    """Small synthetic 'images' in [0, 1] with low-rank structure, so that a bottleneck can learn them."""
    codes = rng.uniform(0, 1, (300, 4))
    mixing = rng.uniform(0, 1, (4, 30))
    return (codes @ mixing / 4).clip(0, 1).astype(np.float32)


def test_architecture_mirrors_the_encoder():
    model = npae.Autoencoder([784, 256, 64, 8])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(784, 256), (256,), (256, 64), (64,), (64, 8), (8,),
                      (8, 64), (64,), (64, 256), (256,), (256, 784), (784,)]
    # the output sigmoid belongs to the loss: the network ends in logits (npae.losses)
    assert [layer.activation.name for layer in model.layers] == ["relu"] * 5 + ["identity"]
    assert model.loss.from_logits and isinstance(model.loss, npae.BinaryCrossEntropy)
    assert len(model.encoder) == 3 and len(model.decoder) == 3 and model.latent_shape == (8,)
    assert "784-256-64-8-64-256-784" in repr(model)
    summary = model.summary()
    # 784*256+256 + 256*64+64 + 64*8+8, then the mirror: 8*64+64 + 64*256+256 + 256*784+784
    assert "436,632" in summary.splitlines()[-2] and "applies the sigmoid" in summary


def test_summary_columns_line_up_whatever_the_layer_names():
    """A long layer name (ActivityRegularization) widens its column instead of pushing its row's cells right."""
    model = npae.Sequential([npae.Dense(4, 3, activation="relu"), npae.ActivityRegularization(l1=1e-3),
                             npae.Dense(3, 4)], loss="mse")
    table = model.summary().splitlines()[:-1]                      # the last line names the loss
    assert len({len(line) for line in table}) == 1                 # every row as wide as the header
    ends = {line.index("relu") + len("relu") for line in table if "relu" in line}
    assert ends == {table[0].index("activation") + len("activation")}   # right-aligned under its header
    assert table[2].startswith("ActivityRegularization ")


def test_paper_model_parameter_count():
    model = npae.Autoencoder([784, 64])
    assert sum(w.size for w in model.get_weights()) == 784 * 64 + 64 + 64 * 784 + 784  # 101,200


def test_latent_activation_and_dtype():
    model = npae.Autoencoder([10, 5, 2], latent_activation="identity", dtype="float64")
    assert [layer.activation.name for layer in model.encoder] == ["relu", "identity"]
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert npae.Autoencoder([10, 2]).get_weights()[0].dtype == np.float32


def test_fit_learns_and_reports_history(images):
    model = npae.Autoencoder([30, 8], seed=0, loss="mse")
    history = model.fit(images, epochs=20, batch_size=32, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "val_loss", "seconds"}
    assert len(history.history["loss"]) == len(history.history["val_loss"]) == 20
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.params["samples"] == 240  # the last 20 % were held out, as Keras does
    assert model.history_ is history
    assert model.evaluate(images[240:]) == pytest.approx(history.history["val_loss"][-1], rel=1e-6)


def test_fit_prints_one_line_per_epoch(images, capsys):
    npae.Autoencoder([30, 8], seed=0).fit(images, epochs=2, validation_data=images[:50], verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2 - loss ") and "val_loss" in lines[0]
    assert "ETA" in lines[0] and "ETA" not in lines[1]


def test_same_seed_gives_bitwise_identical_training(images):
    runs = []
    for _ in range(2):
        model = npae.Autoencoder([30, 8], seed=42, noise=0.1)
        history = model.fit(images, epochs=2, batch_size=50, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    for first, second in zip(runs[0][1], runs[1][1]):
        assert np.array_equal(first, second)
    other = npae.Autoencoder([30, 8], seed=43).get_weights()[0]
    assert not np.array_equal(other, runs[0][1][0])


def test_train_on_batch_returns_the_loss_before_the_update(images):
    model = npae.Autoencoder([30, 8], seed=0)
    before = model.evaluate(images[:64])
    assert model.train_on_batch(images[:64]) == pytest.approx(before, rel=1e-5)
    assert model.evaluate(images[:64]) < before


def test_inference_shapes_and_reconstruction_error(images):
    model = npae.Autoencoder([30, 8, 3], seed=0)
    model.fit(images, epochs=2, verbose=0)
    latent = model.encode(images)
    assert latent.shape == (300, 3) and latent.dtype == np.float32
    reconstruction = model.decode(latent)
    np.testing.assert_array_equal(reconstruction, model.reconstruct(images))
    errors = model.reconstruction_error(images)
    assert errors.shape == (300,) and errors.dtype == np.float64
    np.testing.assert_allclose(errors, ((images - reconstruction.astype(np.float64)) ** 2).mean(axis=1), rtol=1e-6)


def test_denoising_noise_touches_inputs_only(images):
    model = npae.Autoencoder([30, 8], noise=0.3, seed=0, loss="mse", dtype="float64")
    images = images.astype(np.float64)
    twin = npae.Autoencoder([30, 8], seed=0, loss="mse", dtype="float64")  # same initial weights
    # The noise the step will draw, from a copy of the model's noise generator:
    noise = copy.deepcopy(model.noise_rng).standard_normal(images[:50].shape) * 0.3
    loss = model.train_on_batch(images[:50])
    # the loss is that of the noisy inputs against the *clean* targets ...
    assert loss == pytest.approx(twin.evaluate(images[:50] + noise, images[:50]), rel=1e-12)
    # ... and not against the noisy ones (which lie outside the sigmoid's (0, 1): a warning says so)
    with pytest.warns(UserWarning, match="outputs lie in"):
        assert loss != pytest.approx(twin.evaluate(images[:50] + noise), rel=1e-3)
    # evaluation is noise free: evaluating twice gives the same number
    assert model.evaluate(images) == model.evaluate(images)


def test_tied_weights_share_one_matrix(images):
    model = npae.Autoencoder([30, 8], tied=True, seed=0)
    assert [w.shape for w in model.get_weights()] == [(30, 8), (8,), (30,)]
    model.fit(images, epochs=2, verbose=0)
    encoder, decoder = model.layers
    # after training, the decoder still decodes with the encoder's (trained) matrix, transposed
    x = images[:5].astype(np.float64)
    h = np.maximum(x @ encoder.W + encoder.b, 0)
    expected = 1 / (1 + np.exp(-(h @ encoder.W.T.astype(np.float64) + decoder.b)))
    np.testing.assert_allclose(model.reconstruct(images[:5]), expected, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(encoder.W, npae.Autoencoder([30, 8], tied=True, seed=0).layers[0].W)  # it learned


def test_fit_without_shuffling_takes_the_batches_in_order(images):
    """shuffle=False: one epoch is train_on_batch on x[0:B], x[B:2B], ... in that order, bitwise."""
    x = images[:100]
    fitted, by_hand = (npae.Autoencoder([30, 8], seed=0) for _ in range(2))
    history = fitted.fit(x, epochs=1, batch_size=32, shuffle=False, verbose=0)
    losses = [by_hand.train_on_batch(x[start:start + 32]) for start in range(0, 100, 32)]
    for a, b in zip(fitted.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)
    sizes = [32, 32, 32, 4]
    assert history.history["loss"][0] == pytest.approx(np.dot(losses, sizes) / 100, rel=1e-12)
    shuffled = npae.Autoencoder([30, 8], seed=0)
    shuffled.fit(x, epochs=1, batch_size=32, verbose=0)
    assert not np.array_equal(shuffled.get_weights()[0], fitted.get_weights()[0])


def test_a_model_built_with_a_custom_initialiser_saves_and_loads(tmp_path, rng):
    """A custom initialiser is not stored (a function is not data), but the weights it made are."""
    def small_normal(shape, generator, dtype):
        return (0.01 * generator.standard_normal(shape)).astype(dtype)

    layers = [npae.Dense(6, 3, "tanh", init=small_normal, dtype="float64", rng=0),
              npae.Dense(3, 6, init=small_normal, dtype="float64", rng=1)]
    model = npae.Sequential(layers, loss="mse")
    assert np.abs(model.layers[0].W).max() < 0.06
    model.save(tmp_path / "custom_init.npz")
    loaded = npae.load(tmp_path / "custom_init.npz")
    x = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    by_sizes = npae.Autoencoder([6, 3], init=small_normal, seed=0)
    by_sizes.save(tmp_path / "sizes.npz")
    np.testing.assert_array_equal(npae.load(tmp_path / "sizes.npz").get_weights()[0], by_sizes.get_weights()[0])


def test_penalties_are_part_of_the_loss(images):
    plain = npae.Autoencoder([30, 8], seed=0)
    penalised = npae.Autoencoder([30, 8], seed=0, l2=0.01)
    weights = plain.get_weights()
    expected = 0.01 * (np.sum(weights[0].astype(np.float64) ** 2) + np.sum(weights[2].astype(np.float64) ** 2))
    assert penalised.evaluate(images) - plain.evaluate(images) == pytest.approx(expected, rel=1e-5)


def test_sgd_optimizer_and_names():
    assert isinstance(npae.Autoencoder([4, 2], optimizer="sgd").optimizer, npae.SGD)
    assert isinstance(npae.Autoencoder([4, 2]).optimizer, npae.Adam)
    assert npae.Autoencoder([4, 2], loss="binary_crossentropy").loss.name == "bce"


def test_set_weights_validates_before_changing_anything():
    model = npae.Autoencoder([4, 2], seed=0)
    original = model.get_weights()
    bad = [w.copy() for w in original]
    bad[3] = np.full(4, np.nan)
    with pytest.raises(ValueError, match=r"weights\[3\]"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="list of 4"):
        model.set_weights(original[:2])
    with pytest.raises(ValueError, match="list of 4 arrays"):
        model.set_weights(None)
    for before, after in zip(original, model.get_weights()):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("bad, message", [
    (np.ones((5, 7)), r"shape \(5, 7\), expected \(N, 6\)"),
    (np.ones(6), r"for a single observation use x\[None\]"),
    (np.ones((0, 6)), "empty"),
    (np.full((3, 6), np.nan), "NaN or infinity"),
    (np.array([["a"] * 6]), "real numbers"),
    (np.full((3, 6), 255.0), r"\[0, 1\].*divide 8-bit pixels by 255, or use loss='mse'"),
    (np.full((3, 6), 1e39), r"beyond float32's range"),
])
def test_bad_input_names_the_problem(bad, message):
    model = npae.Autoencoder([6, 2], seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(bad, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sizes=[784]), "at least two"),
    (dict(sizes=[784, 0]), "sizes entry"),
    (dict(sizes=[4, 2], activation="rellu"), r"activation='rellu' is not one of \['elu'"),
    (dict(sizes=[4, 2], loss="hinge"), "loss='hinge'"),
    (dict(sizes=[4, 2], output_activation="relu"), "needs output_activation='sigmoid'"),
    (dict(sizes=[4, 2], encoder=[npae.Dense(4, 2)], decoder=[npae.Dense(2, 4)]), "not both"),
    (dict(encoder=[npae.Dense(4, 2)], decoder=[npae.Dense(2, 4)]), "give the loss"),
    (dict(encoder=[npae.Dense(4, 2)], decoder=[npae.Dense(2, 4)], loss="mse", activation="tanh"),
     "activation only apply to Autoencoder"),
    (dict(encoder=[npae.Dense(4, 2)], decoder=[npae.Dense(3, 4)], loss="mse"), r"decoder\[0\] does not fit"),
    (dict(encoder=[npae.Dense(4, 2)], decoder=[npae.Dense(2, 5)], loss="mse"), "give back its input's shape"),
    (dict(sizes=[4, 2], dtype="float16"), "dtype"),
    (dict(sizes=[4, 2], optimizer="rmsprop"), "optimizer='rmsprop'"),
    (dict(sizes=[4, 2], noise=-1), "noise"),
    (dict(sizes=[4, 2], l2=-0.1), "l2"),
    (dict(sizes=[4, 2], seed=1.5), "seed"),
    (dict(sizes=[4, 2], init="ones"), "init='ones'"),
])
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        npae.Autoencoder(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs"), (dict(batch_size=-1), "batch_size"),
    (dict(validation_split=1.0), "validation_split"),
    (dict(validation_split=0.2, validation_data=np.zeros((2, 4))), "not both"),
])
def test_bad_fit_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        npae.Autoencoder([4, 2]).fit(np.zeros((10, 4)), verbose=0, **kwargs)


def test_divergence_restores_the_weights_and_the_optimizer_state_of_the_epoch_start(rng):
    x = rng.uniform(0, 1, (64, 6))
    model = npae.Autoencoder([6, 3], activation="identity", output_activation="identity", loss="mse",
                             optimizer=npae.SGD(learning_rate=1e6, momentum=0.5), seed=0)
    model.fit(x, epochs=1, batch_size=64, verbose=0)  # one step: finite, but far off
    start_weights, (start_iterations, start_state) = model.get_weights(), model.optimizer.get_state()
    with pytest.raises(FloatingPointError, match="restored"):
        model.fit(x, epochs=50, batch_size=8, verbose=0)
    for saved, now in zip(start_weights, model.get_weights()):
        np.testing.assert_array_equal(saved, now)
    iterations, state = model.optimizer.get_state()
    assert iterations == start_iterations == 1
    for saved, now in zip(start_state, state):
        np.testing.assert_array_equal(saved, now)


def test_an_update_that_overflows_is_undone(rng):
    """The loss is finite, but the step itself makes a weight infinite: checked after the update too."""
    x = rng.uniform(0, 1000, (8, 4))
    model = npae.Autoencoder([4, 2], activation="identity", output_activation="identity", loss="mse",
                             optimizer=npae.SGD(learning_rate=1e308), dtype="float64", seed=0)
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        model.train_on_batch(x)
    for saved, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(saved, now)
    assert model.optimizer.iterations == 0


def test_mnist_first_epochs_match_the_paper_scale(mnist):
    """On real data: one epoch on the 60,000 MNIST images brings the per-pixel validation BCE from ~0.69
    (an untrained sigmoid outputs 0.5) to about 0.16; Keras and PyTorch reach ~0.16-0.17 there too,
    on the way to the paper's 0.078 after 30 epochs."""
    (x_train, _), (x_test, _) = mnist
    model = npae.Autoencoder([784, 64], seed=0)
    assert model.evaluate(x_test[:2000]) > 0.6
    history = model.fit(x_train, epochs=1, validation_data=x_test[:2000], verbose=0)
    assert 0.12 < history.history["val_loss"][0] < 0.18


def test_unbounded_targets_for_a_sigmoid_output_warn_once(rng):
    """MSE with the default sigmoid output on data outside [0, 1] cannot fit it: say so, once per model."""
    x = rng.uniform(0, 5, (40, 6))
    model = npae.Autoencoder([6, 2], loss="mse", seed=0)
    with pytest.warns(UserWarning, match=r"values in \[0.0.*, 4.9.*\].*outputs lie in \[0.0, 1.0\].*"
                                         r"output_activation='identity'.*with layers"):
        model.fit(x, epochs=1, verbose=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, epochs=1, verbose=0)  # once is enough
        npae.Autoencoder([6, 2], loss="mse", output_activation="identity", seed=0).fit(x, epochs=1, verbose=0)


def test_a_model_without_parameters_trains_as_a_no_op(rng):
    x = rng.random((20, 2, 3)).astype(np.float32)
    model = npae.Sequential([npae.Flatten(), npae.Reshape((2, 3))], loss="mse")
    assert model.fit(x, epochs=2, verbose=0).history["loss"] == [0.0, 0.0]  # output = input, nothing to learn
    assert model.train_on_batch(x) == 0.0 and model.parameters() == []


@pytest.mark.parametrize("call, message", [
    (lambda x: npae.Autoencoder([6, 3]).fit(x, shuffle="no", verbose=0), "shuffle must be True or False"),
    (lambda x: npae.Autoencoder([6, 3], tied="yes"), "tied must be True or False"),
])
def test_flags_that_python_would_read_as_true_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.ones((8, 6), np.float32))


def test_all_lists_every_public_name_and_no_private_module():
    import types
    public = {name for name, value in vars(npae).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(npae.__all__) - {"__version__"} == public
    assert all(hasattr(npae, name) for name in npae.__all__)
    assert not any(name.startswith("_") for name in npae.__all__ if name != "__version__")


def test_the_engine_imports_no_console_module():
    """training.py prints its epoch line from npae.callbacks; npae.progress (the console) is not its import."""
    import ast
    import pathlib
    source = pathlib.Path(npae.training.__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert "progress" not in imported


@pytest.mark.parametrize("rows", [100, 1000])
def test_divergence_leaves_weights_whose_loss_is_finite(rows):
    """SGD(1e38): the first update leaves finite but huge weights.  With 100 rows (one batch an epoch) the loss
    first fails at the start of epoch 2, so that epoch's start is no good: the previous one's is restored."""
    x = np.random.default_rng(0).standard_normal((rows, 6)).astype(np.float32)
    model = npae.Autoencoder([6, 3], loss="mse", output_activation="identity", optimizer=npae.SGD(1e38), seed=0)
    initial = model.get_weights()
    with pytest.raises(FloatingPointError, match="the last whose loss was finite"):
        model.fit(x, epochs=5, verbose=0)
    assert np.isfinite(model.evaluate(x))
    for restored, start in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(restored, start)
    assert model.optimizer.iterations == 0


def test_a_constraint_that_makes_a_weight_nan_is_caught(rng):
    """The finite check runs after the constraints, not only after the optimiser's step."""
    @npae.register
    class PoisonedDense(npae.Dense):
        calls = 0

        def apply_constraints(self):
            PoisonedDense.calls += 1
            if PoisonedDense.calls == 3:
                self.W[0, 0] = np.nan

    model = npae.Sequential([PoisonedDense(6, 3, "tanh", rng=0), npae.Dense(3, 6, rng=1)], loss="mse", seed=0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        model.fit(x, epochs=3, batch_size=16, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.evaluate(x))


def test_a_divergence_that_undoes_the_previous_epoch_forgets_its_record_too(rng):
    """The last update of epoch 1 leaves finite weights so large that epoch 2's first loss overflows: fit goes
    back to the start of epoch 1 (the last weights whose loss was finite), and history_ no longer lists epoch 1,
    whose end the weights no longer hold."""
    x = rng.uniform(0.5, 1, (8, 4))
    model = npae.Autoencoder([4, 2], activation="identity", output_activation="identity", loss="mse",
                             optimizer=npae.SGD(learning_rate=1e150), dtype="float64", seed=0)
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="start of the previous epoch"):
        model.fit(x, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for saved, now in zip(before, model.get_weights()):
        np.testing.assert_array_equal(saved, now)
    assert model.history_.epoch == [] and model.history_.history["loss"] == []
