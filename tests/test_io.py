"""Saving and loading models: round trips, atomic writes, and damaged or foreign files."""
import json
import os
import zipfile

import numpy as np
import pytest

import npae


@pytest.fixture
def trained(rng):
    x = rng.uniform(0, 1, (100, 12)).astype(np.float32)
    model = npae.Autoencoder([12, 6, 3], seed=0, l2=1e-4)
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
    # the optimiser state came along: one more identical step on both gives identical weights
    assert loaded.optimizer_.iterations == model.optimizer_.iterations == 10
    model.train_on_batch(x[:20])
    loaded.train_on_batch(x[:20])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tied_model_round_trip(tmp_path, rng):
    model = npae.Autoencoder([8, 3], tied=True, dtype="float64", seed=1)
    model.save(tmp_path / "tied.npz")
    loaded = npae.load(tmp_path / "tied.npz")
    assert loaded.tied and loaded.dtype == np.float64
    x = rng.uniform(0, 1, (4, 8))
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))


def test_save_is_atomic_and_leaves_no_temporary_files(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    path.write_bytes(b"previous content")
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    with pytest.raises(ValueError, match="does not exist"):
        model.save(tmp_path / "missing-folder" / "model.npz")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_save_keeps_the_old_file_when_writing_fails(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()
    model.get_config_original = model.get_config
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


def _rewrite(path, target, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    with open(target, "wb") as stream:
        np.savez(stream, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("__format__"), "not an npae model file"),
    (lambda a: a.update(__format__=np.array(json.dumps({"format": "other", "version": 1}))), "not an npae model"),
    (lambda a: a.update(__format__=np.array(json.dumps({"format": "npae.autoencoder", "version": 99}))), "version 99"),
    (lambda a: a.update(config=np.array("{not json")), "not valid JSON"),
    (lambda a: a.update(config=np.array(json.dumps({"sizes": [12, 6, 3], "activation": "nope"}))), "invalid architecture"),
    (lambda a: a.update(weight_0=np.zeros((3, 3), np.float32)), "do not match"),
    (lambda a: a.pop("weight_5"), "do not match"),
    (lambda a: a.update(weight_1=np.full(6, np.nan, np.float32)), "do not match"),
    (lambda a: a.update(optimizer_0=np.zeros(3, np.float32)), "optimiser state"),
])
def test_foreign_or_inconsistent_files(trained, tmp_path, change, message):
    model, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    _rewrite(path, tmp_path / "edited.npz", change)
    with pytest.raises(ValueError, match=message):
        npae.load(tmp_path / "edited.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    with open(path, "wb") as stream:
        np.savez(stream, __format__=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        npae.load(path)


def test_missing_file_and_not_a_zip(tmp_path):
    with pytest.raises(FileNotFoundError):
        npae.load(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="text.npz"):
        npae.load(tmp_path / "text.npz")
    assert not zipfile.is_zipfile(tmp_path / "text.npz")
