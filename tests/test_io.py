"""Saving and loading models: round trips, exact resumption, atomic writes, and damaged or foreign files.

(Hostile files crafted to blow up memory or crash the loader are in tests/test_hostile_models.py.)
"""
import io
import json
import os
import zipfile

import numpy as np
import pytest
from support import foreign_files, metadata_member, npy_bytes, write_npz

import npae


@pytest.fixture
def trained(rng):
    x = rng.uniform(0, 1, (100, 12)).astype(np.float32)
    model = npae.Autoencoder([12, 6, 3], seed=0, l2=1e-4, noise=0.1)
    model.fit(x, epochs=2, batch_size=20, verbose=0)
    return model, x


def test_round_trip_restores_weights_config_and_optimizer(trained, tmp_path):
    model, x = trained
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = npae.load(path)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10


def test_training_resumes_exactly_after_save_and_load(trained, tmp_path):
    """The shuffle and noise generators are saved too: fit after load equals fit without the break."""
    model, x = trained
    model.save(tmp_path / "model.npz")
    loaded = npae.load(tmp_path / "model.npz")
    model.fit(x, epochs=2, batch_size=20, verbose=0)
    loaded.fit(x, epochs=2, batch_size=20, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tied_model_round_trip(tmp_path, rng):
    model = npae.Autoencoder([8, 3], tied=True, dtype="float64", seed=1)
    model.save(tmp_path / "tied.npz")
    loaded = npae.load(tmp_path / "tied.npz")
    assert loaded.tied and loaded.dtype == np.float64
    assert loaded.decoder[0].encoder_layer is loaded.encoder[0]
    x = rng.uniform(0, 1, (4, 8))
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))


def test_sequential_of_layers_round_trip(tmp_path, rng):
    model = npae.Sequential([npae.Dense(5, 4, activation={"name": "elu", "alpha": 0.5}, rng=0), npae.Tanh(),
                             npae.Dense(4, 2, rng=1)], loss="mse", optimizer=npae.SGD(0.1, momentum=0.9))
    x, y = rng.standard_normal((20, 5)), rng.standard_normal((20, 2))
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    model.save(tmp_path / "sequential.npz")
    loaded = npae.load(tmp_path / "sequential.npz")
    assert isinstance(loaded, npae.Sequential) and isinstance(loaded.layers[1], npae.Tanh)
    assert loaded.layers[0].activation.alpha == 0.5 and isinstance(loaded.optimizer, npae.SGD)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_files_of_npae_0_1_still_load(tmp_path, rng):
    """Format 1 (npae 0.1): npz arrays __format__ and config (JSON strings), weight_i, optimizer_i."""
    model = npae.Autoencoder([6, 3], seed=0)
    x = rng.uniform(0, 1, (30, 6)).astype(np.float32)
    model.fit(x, epochs=1, batch_size=10, verbose=0)
    _, state = model.optimizer.get_state()
    config = {"sizes": [6, 3], "activation": "relu", "latent_activation": None, "output_activation": "sigmoid",
              "loss": "bce", "optimizer": {"name": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                                           "epsilon": 1e-07}, "l1": 0.0, "l2": 0.0, "tied": False, "noise": 0.0,
              "dtype": "float32", "seed": 0, "init": "glorot_uniform"}
    arrays = {"__format__": np.array(json.dumps({"format": "npae.autoencoder", "version": 1})),
              "config": np.array(json.dumps(config)), "optimizer_iterations": np.array(3, np.int64)}
    arrays.update({f"weight_{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update({f"optimizer_{i}": a for i, a in enumerate(state)})
    np.savez(tmp_path / "old.npz", **arrays)
    loaded = npae.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.optimizer.iterations == 3


def test_save_is_atomic_and_leaves_no_temporary_files(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    path.write_bytes(b"previous content")
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    with pytest.raises(ValueError, match="does not exist"):
        model.save(tmp_path / "missing-folder" / "model.npz")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_save_keeps_the_old_file_when_the_config_cannot_be_written(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()
    model.get_config = lambda: {"not serialisable": object()}
    with pytest.raises(TypeError):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_truncated_file_is_a_clear_error(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    data = path.read_bytes()
    for length in (0, 10, len(data) // 2, len(data) - 30):
        broken = tmp_path / f"broken-{length}.npz"
        broken.write_bytes(data[:length])
        with pytest.raises(ValueError, match="broken"):
            npae.load(broken)


def test_corrupted_bytes_are_a_clear_error(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 200] = bytes(200)
    (tmp_path / "corrupt.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt.npz"):
        npae.load(tmp_path / "corrupt.npz")


def entries(path):
    """Every entry of a model file as raw bytes of its .npy (so that edits can replace any of them)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: npy_bytes(archive[name]) for name in archive.files}


def edit_json(name, change):
    def edit(contents):
        document = json.loads(str(np.load(io.BytesIO(contents[name]))))
        change(document)
        contents[name] = npy_bytes(metadata_member(document))
    return edit


def replace_json(name, text):
    return lambda contents: contents.update({name: npy_bytes(metadata_member(text))})


def replace_array(name, array):
    return lambda contents: contents.update({name: npy_bytes(array)})


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("format") and c.pop("architecture"), "no 'format' entry"),
    (replace_json("format", json.dumps({"format": "other", "version": 2})), "not an npae model"),
    (replace_json("format", json.dumps({"format": "npae.model", "version": 99})), "version 99"),
    (replace_json("architecture", "{not json"), "not readable JSON"),
    (replace_json("architecture", "[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (edit_json("architecture", lambda d: d["config"].update(activation="nope")), "invalid architecture"),
    (edit_json("architecture", lambda d: d.update({"class": "os.system"})), "is not one of"),
    (replace_json("architecture", '{"class": "Autoencoder", "config": {"sizes": [12, 3], "l2": NaN}}'),
     "NaN is not a number"),
    (replace_json("architecture", '{"class": "Autoencoder", "config": {"sizes": [12, 3], "l2": 1e999}}'),
     "beyond the range"),
    (replace_array("parameter_0", np.zeros((3, 3), np.float32)), "needs float32 \\(12, 6\\)"),
    (replace_array("parameter_0", np.zeros((12, 6), np.float64)), "needs float32"),
    (replace_array("parameter_0", np.zeros((12, 6), np.complex64)), "needs float32"),
    (lambda c: c.pop("parameter_7"), "needs 8"),
    (lambda c: c.pop("parameter_5"), "numbered without gaps"),
    (replace_array("parameter_9", np.zeros(3, np.float32)), "unexpected entry"),
    (replace_array("parameter_1", np.full(6, np.nan, np.float32)), "NaN or infinity"),
    (replace_array("optimizer_0", np.zeros(3, np.float32)), "needs float32"),
    (lambda c: c.pop("optimizer_15"), "optimiser state has"),
    (replace_array("optimizer_9", np.full(6, np.nan, np.float32)), "NaN or infinity"),
    (replace_array("optimizer_8", -np.ones((12, 6), np.float32)), "negative"),
    (edit_json("training", lambda d: d.update(optimizer_iterations=-1)), "whole number"),
    (edit_json("training", lambda d: d.update(optimizer_iterations=[3])), "whole number"),
    (edit_json("training", lambda d: d.update(optimizer_iterations=2.5)), "whole number"),
    (edit_json("training", lambda d: d.update(optimizer_iterations=0)), "iterations >= 1"),
    (edit_json("training", lambda d: d.update(optimizer_iterations=10 ** 30)), "whole number"),
    (edit_json("training", lambda d: d["random_state"]["shuffle"].update(bit_generator="MT19937")),
     "not a PCG64 state"),
    (edit_json("training", lambda d: d["random_state"]["noise"]["state"].update(state="x")),
     "not a valid generator state"),
])
def test_foreign_or_inconsistent_files(trained, tmp_path, change, message):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    contents = entries(path)
    change(contents)
    write_npz(tmp_path / "edited.npz", contents)
    with pytest.raises(ValueError, match=message) as error:
        npae.load(tmp_path / "edited.npz")
    assert "edited.npz" in str(error.value)


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as stream:
        np.savez(stream, __format__=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        npae.load(path)


@pytest.mark.parametrize("content, description", foreign_files(), ids=["pickle", "npy", "random", "empty"])
def test_foreign_files_are_not_a_model(tmp_path, content, description):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an npae model file") as error:
        npae.load(path)
    assert description in str(error.value) and "allow_pickle" not in str(error.value)


def test_missing_file_not_a_zip_and_not_a_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        npae.load(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="text.npz"):
        npae.load(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an npae model file"):
        npae.load(tmp_path / "array.npy")
    with pytest.raises(ValueError, match="path must be a file name"):
        npae.load(3)
    with pytest.raises(ValueError, match="not a file"):
        npae.load(tmp_path)


def test_a_tied_decoder_of_a_layer_built_autoencoder_loads_tied_to_the_right_layer(tmp_path, rng):
    """tied_to is a position in encoder + decoder, written and read in that one frame (it was read within the
    decoder alone: the first model could not be loaded, the second loaded tied to the wrong layer)."""
    x = rng.uniform(0, 1, (5, 6))
    alone = npae.Dense(6, 4, "relu", dtype="float64", rng=0)
    encoder = [npae.Dense(6, 4, "relu", dtype="float64", rng=1), npae.Dense(4, 4, "relu", dtype="float64", rng=2)]
    models = [npae.Autoencoder(encoder=[alone], decoder=[npae.TiedDense(alone)], loss="mse"),
              # a layer before the TiedDense in the decoder, whose shape would also fit the wrong tie
              npae.Autoencoder(encoder=encoder, decoder=[npae.Dense(4, 4, "relu", dtype="float64", rng=3),
                                                         npae.TiedDense(encoder[0])], loss="mse")]
    for index, model in enumerate(models):
        model.save(tmp_path / f"tied{index}.npz")
        loaded = npae.load(tmp_path / f"tied{index}.npz")
        tied = [(layer, original) for layer, original in zip(loaded.decoder, model.decoder)
                if isinstance(original, npae.TiedDense)]
        assert len(tied) == 1
        for layer, original in tied:
            assert loaded.layers.index(layer.encoder_layer) == model.layers.index(original.encoder_layer)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
