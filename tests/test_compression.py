"""npae.compression: quantisation error bounds, ratios, the file format and its validation."""
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import npae
from npae import Adam, Autoencoder
from npae.compression import (CompressedSet, Decoder, compress, compression_ratio, decompress, load_compressed,
                              quantize, save_compressed, storage_table)
from npae.layers import Dense
from support import foreign_files


def small_decoder(rng, latent_size=3, hidden=5, output_size=7):
    """A two-layer decoder with random weights: relu hidden layer, sigmoid output (the paper's choice)."""
    first = Dense(latent_size, hidden, activation="relu", rng=rng)
    second = Dense(hidden, output_size, activation="sigmoid", rng=rng)
    first.b[...] = rng.standard_normal(hidden).astype(np.float32)
    second.b[...] = rng.standard_normal(output_size).astype(np.float32)
    return Decoder([first, second])


# -- quantisation ---------------------------------------------------------------------------------------

def test_uint8_quantisation_hand_worked():
    # Feature 0 spans [0, 2.55]: scale 0.01, so 1.0 is code 100.  Feature 1 is constant: restored exactly.
    latent = np.array([[0.0, 7.0], [1.0, 7.0], [2.55, 7.0]], dtype=np.float32)
    compressed = quantize(latent, "uint8")
    np.testing.assert_array_equal(compressed.codes, [[0, 0], [100, 0], [255, 0]])
    np.testing.assert_allclose(compressed.scale, [0.01, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(compressed.offset, [0.0, 7.0])
    np.testing.assert_allclose(compressed.latent(), latent, atol=1e-6)


def test_uint8_error_is_at_most_half_a_step(rng):
    latent = (rng.standard_normal((500, 6)) * np.array([0.01, 0.1, 1, 10, 100, 1000])).astype(np.float32)
    compressed = quantize(latent, "uint8")
    assert compressed.codes.dtype == np.uint8
    np.testing.assert_array_equal(compressed.codes.min(axis=0), 0)     # the full 0..255 range is used
    np.testing.assert_array_equal(compressed.codes.max(axis=0), 255)
    error = np.abs(compressed.latent() - latent)
    # Half a step per feature, plus float32 rounding of offset + code * scale.
    assert np.all(error <= compressed.scale / 2 + 1e-6 * np.abs(latent).max(axis=0))


def test_float_storages(rng):
    latent = rng.standard_normal((50, 4)).astype(np.float32)
    np.testing.assert_array_equal(quantize(latent, "float32").latent(), latent)
    half = quantize(latent, "float16")
    assert half.codes.dtype == np.float16
    # float16 keeps 11 significant bits: relative rounding error at most 2^-11 (normal numbers).
    normal = np.abs(latent) > 1e-4
    assert np.all(np.abs(half.latent() - latent)[normal] <= 2.0 ** -11 * np.abs(latent)[normal])
    with pytest.raises(ValueError, match="float16"):
        quantize(latent * 1e5, "float16")


def test_compression_ratio_counts_bytes(rng):
    latent = rng.standard_normal((100, 8)).astype(np.float32)
    assert compression_ratio(quantize(latent, "float32")) == pytest.approx(784 / 32)
    assert compression_ratio(quantize(latent, "float16")) == pytest.approx(784 / 16)
    # uint8: 8 bytes per image plus 8 floats of scale and 8 of offset for the whole set.
    assert compression_ratio(quantize(latent, "uint8")) == pytest.approx(784 * 100 / (800 + 64))
    decoder = small_decoder(rng, latent_size=8)
    with_decoder = compression_ratio(quantize(latent, "float32"), decoder=decoder)
    assert with_decoder == pytest.approx(784 * 100 / (3200 + decoder.nbytes))


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError, match="storage"):
        quantize(np.ones((2, 2)), "int4")
    with pytest.raises(ValueError, match="2-D"):
        quantize(np.ones(3), "uint8")
    with pytest.raises(ValueError, match="finite"):
        quantize(np.array([[np.nan, 1.0]]), "uint8")
    for storage in ("uint8", "float32"):  # the range max - min would overflow (uint8), or the values (float32)
        with pytest.raises(ValueError, match="well within"):
            quantize(np.array([[-3e38], [3e38]], np.float32), storage)
        with pytest.raises(ValueError, match="well within"):
            quantize(np.array([[1e300], [2.0]]), storage)


# -- decoder and files ------------------------------------------------------------------------------------

def test_decoder_computes_the_layers(rng):
    decoder = small_decoder(rng)
    h = rng.standard_normal((4, 3)).astype(np.float32)
    first, second = decoder.layers
    hidden = np.maximum(h @ first.W + first.b, 0)
    expected = 1 / (1 + np.exp(-(hidden @ second.W + second.b)))
    np.testing.assert_allclose(decoder.decode(h), expected, rtol=1e-5, atol=1e-6)
    assert decoder.nbytes == 4 * (3 * 5 + 5 + 5 * 7 + 7)
    with pytest.raises(ValueError, match="shape"):
        decoder.decode(np.ones((2, 4)))


@pytest.mark.parametrize("storage", ["float32", "float16", "uint8"])
def test_save_load_round_trip(storage, tmp_path, rng):
    decoder = small_decoder(rng)
    compressed = quantize(rng.standard_normal((10, 3)), storage)
    path = tmp_path / "set.npz"
    save_compressed(path, compressed, decoder)
    assert sorted(os.listdir(tmp_path)) == ["set.npz"]          # no temporary file left behind
    loaded, loaded_decoder = load_compressed(path)
    assert loaded.storage == storage
    np.testing.assert_array_equal(loaded.codes, compressed.codes)
    np.testing.assert_array_equal(decompress(loaded, loaded_decoder), decompress(compressed, decoder))
    assert [layer.activation.name for layer in loaded_decoder.layers] == ["relu", "sigmoid"]


def rewrite(path, **changes):
    """Copy the arrays of an .npz, apply ``changes`` (None deletes), and write it back."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)


@pytest.fixture
def saved_set(tmp_path, rng):
    """``(path, good bytes, metadata)`` of a valid uint8 compressed set with a two-layer decoder."""
    path = tmp_path / "set.npz"
    save_compressed(path, quantize(rng.standard_normal((10, 3)), "uint8"), small_decoder(rng))
    with np.load(path) as archive:
        metadata = json.loads(str(archive["metadata"]))
    return path, path.read_bytes(), metadata


def test_load_rejects_damaged_files(saved_set):
    path, good, metadata = saved_set

    def expect(message, **changes):
        path.write_bytes(good)
        rewrite(path, **changes)
        with pytest.raises(ValueError, match=message) as error:
            load_compressed(path)
        assert str(path) in str(error.value)

    expect("missing", scale=None)
    expect("decoder_W1", decoder_W1=np.ones((5, 6), dtype=np.float32))
    expect("NaN or inf", decoder_b0=np.full(5, np.nan, dtype=np.float32))
    expect("codes", codes=np.ones((10, 3), dtype=np.float32))
    expect("version 99", metadata=np.array(json.dumps({**metadata, "version": 99})))
    expect("format", metadata=np.array(json.dumps({**metadata, "format": "other"})))
    expect("activation", metadata=np.array(json.dumps(
        {**metadata, "decoder": [{**metadata["decoder"][0], "activation": {"name": "swish"}},
                                 metadata["decoder"][1]]})))
    expect("previous stage", metadata=np.array(json.dumps({**metadata, "latent_size": 4}),),
           codes=np.zeros((10, 4), dtype=np.uint8), scale=np.ones(4, np.float32), offset=np.ones(4, np.float32))
    # Object arrays need pickle, which load refuses: a file cannot run code.
    expect("Python objects", codes=np.array([{"a": 1}], dtype=object))

    path.write_bytes(good[: len(good) // 2])                    # truncated
    with pytest.raises(ValueError, match="not a valid npae compressed set: damaged .npz archive"):
        load_compressed(path)


@pytest.mark.parametrize("content, what", foreign_files())
def test_foreign_files_are_not_npae_compressed_sets(tmp_path, content, what):
    path = tmp_path / "set.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not an npae compressed-set file") as error:
        load_compressed(path)
    assert what in str(error.value) and "allow_pickle" not in str(error.value)


def test_another_npz_is_not_a_compressed_set(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not an npae compressed-set file: it has no 'metadata'"):
        load_compressed(tmp_path / "other.npz")


def test_path_arguments(tmp_path):
    with pytest.raises(ValueError, match="path must be a file or folder name"):
        load_compressed(3)
    with pytest.raises(ValueError, match="path must be a file or folder name"):
        save_compressed(None, quantize(np.ones((2, 3)), "uint8"), small_decoder(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="is a directory"):
        load_compressed(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_compressed(tmp_path / "missing.npz")


def test_a_compressed_npz_loads_and_damaged_deflate_data_is_a_value_error(saved_set):
    path, good, _ = saved_set
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["codes"] = np.tile(arrays["codes"], (100, 1))            # enough bytes to damage in the middle
    metadata = json.loads(str(arrays["metadata"]))
    arrays["metadata"] = np.array(json.dumps({**metadata, "n_samples": 1000}))
    np.savez_compressed(path, **arrays)
    codes, _ = load_compressed(path)
    assert codes.n_samples == 1000
    data = bytearray(path.read_bytes())
    start = data.index(b"codes.npy") + len("codes.npy") + 20     # past the local header: deflate data
    data[start:start + 40] = bytes(40)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="'codes' is damaged") as error:
        load_compressed(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("change, message", [
    ({"n_samples": float("inf")}, "Infinity is not a number"),
    ({"latent_size": float("nan")}, "NaN is not a number"),
    ({"n_samples": "10"}, "n_samples must be an integer >= 1, got '10'"),
    ({"n_samples": 10.0}, "n_samples must be an integer"),
    ({"output_size": True}, "output_size must be an integer"),
    ({"n_samples": 0}, "n_samples must be an integer >= 1"),
    ({"version": True}, "version True is not supported"),
    ({"storage": ["uint8"]}, "unknown storage"),
    ({"decoder": {"0": 1}}, "'decoder' must be a list"),
    ({"decoder": []}, "no layers"),
    ({"decoder": ["relu"]}, "bad description"),
])
def test_metadata_fields_are_checked_for_type_and_range(saved_set, change, message):
    path, good, metadata = saved_set
    rewrite(path, metadata=np.array(json.dumps({**metadata, **change})))
    with pytest.raises(ValueError, match=message):
        load_compressed(path)


@pytest.mark.parametrize("dtype", ["object", "complex64", "float16", "<U4", 3])
def test_decoder_dtypes_other_than_float32_and_float64_are_refused(saved_set, dtype):
    path, good, metadata = saved_set
    layers = [{**metadata["decoder"][0], "dtype": dtype}, metadata["decoder"][1]]
    rewrite(path, metadata=np.array(json.dumps({**metadata, "decoder": layers})))
    with pytest.raises(ValueError, match="is not float32 or float64"):
        load_compressed(path)


def test_deeply_nested_metadata_is_a_value_error(saved_set):
    path, good, metadata = saved_set
    text = json.dumps({**metadata, "extra": 0}).replace("0}", "[" * 100_000 + "]" * 100_000 + "}")
    rewrite(path, metadata=np.array(text))
    with pytest.raises(ValueError, match="nested too deeply"):
        load_compressed(path)


@pytest.mark.parametrize("scale, offset, message", [
    (3e38, 0.0, "feature 0 decodes beyond float32's range"),
    (1e36, 3.3e38, "feature 0 decodes beyond float32's range"),
    (-0.5, 0.0, "negative"),
])
def test_scale_and_offset_must_decode_to_finite_numbers(saved_set, scale, offset, message):
    path, good, _ = saved_set
    rewrite(path, scale=np.array([scale, 1, 1], dtype=np.float32), offset=np.array([offset, 0, 0], dtype=np.float32))
    with pytest.raises(ValueError, match=message):
        load_compressed(path)


@pytest.mark.parametrize("name, value", [
    ("codes", np.ones((10, 3), dtype=np.complex64)),
    ("scale", np.ones(3, dtype=np.complex64)),
    ("decoder_W0", np.ones((3, 5), dtype=np.complex64)),
    ("decoder_b1", np.ones(7, dtype=object)),
])
def test_complex_and_object_arrays_are_refused(saved_set, name, value):
    path, good, _ = saved_set
    rewrite(path, **{name: value})
    with pytest.raises(ValueError, match=f"'{name}'"):
        load_compressed(path)


# -- fuzzing ---------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
METADATA_KEYS = ["format", "version", "storage", "n_samples", "latent_size", "output_size", "decoder"]


def _assert_loads_or_value_error(path):
    try:
        compressed, decoder = load_compressed(path)
    except ValueError as error:
        assert str(path) in str(error)
        return
    # Accepted: then everything in it is usable.
    assert np.all(np.isfinite(compressed.latent()))
    assert decoder.decode(compressed.latent()).shape == (compressed.n_samples, decoder.output_size)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(METADATA_KEYS + ["layer"]), value=JSON_VALUES, layer_key=st.sampled_from(
    ["in_features", "out_features", "activation", "dtype"]))
def test_any_metadata_value_loads_or_is_a_value_error(saved_set, key, value, layer_key):
    path, good, metadata = saved_set
    path.write_bytes(good)
    changed = json.loads(json.dumps(metadata))
    if key == "layer":
        changed["decoder"][0][layer_key] = value
    else:
        changed[key] = value
    rewrite(path, metadata=np.array(json.dumps(changed)))
    _assert_loads_or_value_error(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), compressed=st.booleans())
def test_a_mutated_compressed_set_loads_or_is_a_value_error(saved_set, data, compressed):
    path, good, _ = saved_set
    path.write_bytes(good)
    if compressed:
        with np.load(path) as archive:
            np.savez_compressed(path, **{name: archive[name] for name in archive.files})
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(content) - 1))
        kind = data.draw(st.sampled_from(["flip", "truncate", "zero"]))
        if kind == "flip":
            content[position] ^= data.draw(st.integers(1, 255))
        elif kind == "truncate":
            del content[max(position, 1):]
        else:
            content[position:position + 8] = bytes(len(content[position:position + 8]))
    path.write_bytes(bytes(content))
    _assert_loads_or_value_error(path)


def test_save_rejects_a_decoder_of_another_size(tmp_path, rng):
    with pytest.raises(ValueError, match="size"):
        save_compressed(tmp_path / "x.npz", quantize(np.ones((2, 4)), "uint8"), small_decoder(rng, latent_size=3))
    assert os.listdir(tmp_path) == []


# -- with the real autoencoder ------------------------------------------------------------------------------

@pytest.mark.parametrize("tied", [False, True])
def test_decoder_from_autoencoder_decodes_like_the_model(tied, rng):
    model = Autoencoder([20, 8, 3], tied=tied, seed=0)
    x = rng.random((64, 20)).astype(np.float32)
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    decoder = Decoder.from_autoencoder(model)
    h = model.encode(x)
    np.testing.assert_allclose(decoder.decode(h), model.decode(h), rtol=1e-6, atol=1e-7)
    assert [layer.W.shape for layer in decoder.layers] == [(3, 8), (8, 20)]
    # A copy: training the model further does not change a decoder that was already shipped.
    before = decoder.decode(h)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(decoder.decode(h), before)


def test_storage_table_and_file_with_a_trained_model(tmp_path, rng):
    x = np.zeros((300, 16), dtype=np.float32)               # 4x4 images with one bright row
    x.reshape(300, 4, 4)[np.arange(300), rng.integers(0, 4, 300)] = 1.0
    model = Autoencoder([16, 4], optimizer=Adam(learning_rate=0.01), seed=0)
    model.fit(x, epochs=30, batch_size=32, verbose=0)
    rows = {row["storage"]: row for row in storage_table(model, x, bytes_per_sample=16)}
    assert rows["float32"]["mse"] < 1e-3                     # the model has learnt the four images
    assert rows["float32"]["ratio"] == pytest.approx(16 / 16)
    assert rows["float16"]["ratio"] == pytest.approx(16 / 8)
    # Rounding the codes can only cost a little: within 5 % of the float32 error here.
    assert rows["float16"]["mse"] == pytest.approx(rows["float32"]["mse"], rel=0.05)
    assert rows["uint8"]["mse"] == pytest.approx(rows["float32"]["mse"], rel=0.05)
    assert rows["float32"]["psnr"] == pytest.approx(10 * np.log10(1 / rows["float32"]["mse"]))

    path = tmp_path / "codes.npz"
    save_compressed(path, compress(model, x, "uint8"), model)
    codes, decoder = load_compressed(path)
    np.testing.assert_allclose(decompress(codes, decoder), decompress(codes, model), rtol=1e-6, atol=1e-7)


def test_objects_of_the_wrong_kind_are_named(rng):
    x = rng.random((20, 6)).astype(np.float32)
    model = npae.Autoencoder([6, 3], seed=0)
    codes = compress(model, x)
    for call, message in [(lambda: compress(npae.PCA(2).fit(x), x), "got PCA"),
                          (lambda: Decoder.from_autoencoder(npae.Sequential([npae.Dense(6, 3)])), "got Sequential"),
                          (lambda: decompress(3, model), "compressed must be a CompressedSet"),
                          (lambda: compression_ratio(codes, decoder=3), "got int")]:
        with pytest.raises(ValueError, match=message):
            call()
