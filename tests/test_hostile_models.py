"""Hostile model files: small files that declare huge arrays, compressed bombs, and fuzzed bytes.

Loading any of them must end in a ValueError naming the file, within about 100 MB of resident memory
beyond what a child that only imports npae needs, and never in a crash (tests/support.py measures the
child's peak).
"""
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from support import MB, Member, extra_peak_bytes, metadata_member, npy_bytes, npy_header, write_npz

import npae

MARGIN = 100 * MB


def saved_entries(tmp_path):
    """A small trained model's file, as {entry: .npy bytes}."""
    model = npae.Autoencoder([12, 6, 3], seed=0)
    model.fit(np.random.default_rng(0).uniform(0, 1, (40, 12)).astype(np.float32), epochs=1, batch_size=20,
              verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as archive:
        return {name: npy_bytes(archive[name]) for name in archive.files}


def architecture(sizes):
    return npy_bytes(metadata_member({"class": "Autoencoder", "config": {"sizes": sizes, "seed": 0}}))


def load_in_child(path):
    run, extra = extra_peak_bytes(f"npae.load({str(path)!r})", setup="import npae")
    assert run.returncode == 0 and run.error is not None and run.error[0] == "ValueError", run
    assert str(path) in run.error[1]
    return run.error[1], extra


def test_a_small_file_declaring_a_huge_architecture_is_refused_before_allocating(tmp_path):
    """npae 0.1 built the model first: 3.1 GB and 6 s for this 6 KB file."""
    contents = saved_entries(tmp_path)
    contents["architecture"] = architecture([784, 200_000, 3])  # 8 arrays, as the file has
    write_npz(tmp_path / "huge.npz", contents)
    assert (tmp_path / "huge.npz").stat().st_size < 20_000
    message, extra = load_in_child(tmp_path / "huge.npz")
    assert "parameter_0" in message and "needs float32 (784, 200000)" in message
    assert extra < MARGIN


def test_an_architecture_beyond_the_machine_is_refused_even_with_matching_headers(tmp_path):
    """Every header agrees with an absurd architecture (the data is not there): refused all the same."""
    shapes = [(784, 10 ** 9), (10 ** 9,), (10 ** 9, 784), (784,)]
    contents = {"format": npy_bytes(metadata_member({"format": "npae.model", "version": 2})),
                "architecture": architecture([784, 10 ** 9]),
                "training": npy_bytes(metadata_member({"optimizer_iterations": 0}))}
    for index, shape in enumerate(shapes):
        contents[f"parameter_{index}"] = Member(npy_header(shape, "<f4"), claimed_size=2 ** 31)
    write_npz(tmp_path / "absurd.npz", contents)
    message, extra = load_in_child(tmp_path / "absurd.npz")
    assert extra < MARGIN


def test_an_entry_that_inflates_to_a_gigabyte_is_refused_from_its_header(tmp_path):
    """npae 0.1 read 1.08 GB of this 1 MB file before the shape check."""
    contents = saved_entries(tmp_path)
    contents["parameter_0"] = Member(npy_header((16384, 16384), "<f4"), zeros=2 ** 30)
    write_npz(tmp_path / "bomb.npz", contents)
    assert (tmp_path / "bomb.npz").stat().st_size < 3 * MB
    message, extra = load_in_child(tmp_path / "bomb.npz")
    assert "needs float32 (12, 6)" in message
    assert extra < MARGIN


def test_an_entry_holding_a_gigabyte_beyond_its_array_is_refused(tmp_path):
    contents = saved_entries(tmp_path)
    contents["parameter_1"] = Member(npy_header((6,), "<f4"), zeros=2 ** 30)
    write_npz(tmp_path / "trailing.npz", contents)
    message, extra = load_in_child(tmp_path / "trailing.npz")
    assert "parameter_1" in message
    assert extra < MARGIN


def test_an_entry_that_lies_about_its_size_is_refused(tmp_path):
    """The zip directory says 416 bytes, the deflate stream holds a gigabyte: reading stops at 416."""
    contents = saved_entries(tmp_path)
    header = npy_header((12, 6), "<f4")
    contents["parameter_0"] = Member(header, zeros=2 ** 30, claimed_size=len(header) + 12 * 6 * 4)
    write_npz(tmp_path / "liar.npz", contents)
    message, extra = load_in_child(tmp_path / "liar.npz")
    assert "parameter_0" in message
    assert extra < MARGIN


def test_a_huge_json_entry_is_refused_from_its_header(tmp_path):
    contents = saved_entries(tmp_path)
    contents["architecture"] = Member(npy_header((), "<U268435456"), zeros=2 ** 30)
    write_npz(tmp_path / "json.npz", contents)
    message, extra = load_in_child(tmp_path / "json.npz")
    assert "architecture" in message
    assert extra < MARGIN


def test_an_archive_declaring_sixty_thousand_entries_is_refused(tmp_path):
    path = tmp_path / "entries.npz"
    write_npz(path, {"format": metadata_member({"format": "npae.model", "version": 2})})
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = (65535).to_bytes(2, "little") * 2  # entries on this disk, entries in all
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="declares 65,535 members"):
        npae.load(path)


_SEED_FILE = {}


def seed_file(tmp_path_factory):
    if "bytes" not in _SEED_FILE:
        path = tmp_path_factory.mktemp("seed") / "seed.npz"
        model = npae.Autoencoder([5, 2], seed=0)
        model.fit(np.random.default_rng(0).uniform(0, 1, (10, 5)), epochs=1, verbose=0)
        model.save(path)
        _SEED_FILE["bytes"] = path.read_bytes()
    return _SEED_FILE["bytes"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_model_files_only_ever_raise_value_errors(tmp_path_factory, data):
    """Random byte flips, truncations and insertions anywhere in a valid file: a ValueError or a model
    that loads (when the bytes hit padding) with finite weights, never any other exception."""
    mutated = bytearray(seed_file(tmp_path_factory))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        if action == "flip":
            mutated[position] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "truncate":
            del mutated[position:]
            if not mutated:
                break
        elif action == "insert":
            mutated[position:position] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            mutated[position:position + 64] = bytes(min(64, len(mutated) - position))
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.npz"
    path.write_bytes(bytes(mutated))
    try:
        model = npae.load(path)
    except ValueError as error:
        assert "fuzzed.npz" in str(error)
    else:
        assert all(np.isfinite(w).all() for w in model.get_weights())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6) | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12),
       st.sampled_from(["sizes", "activation", "loss", "optimizer", "l2", "noise", "seed", "dtype", "init", "tied",
                        "layers", "encoder"]))
def test_any_json_value_in_any_config_field_is_a_value_error(tmp_path_factory, value, field):
    folder = tmp_path_factory.mktemp("config")
    contents = saved_entries(folder)
    document = json.loads(str(np.load(folder / "model.npz")["architecture"]))
    document["config"][field] = value
    contents["architecture"] = npy_bytes(metadata_member(document))
    write_npz(folder / "edited.npz", contents)
    try:
        npae.load(folder / "edited.npz")
    except ValueError as error:
        assert "edited.npz" in str(error)


def test_loading_never_executes_what_the_file_names(tmp_path):
    """A class name that is an import path is looked up in the registry, never imported."""
    contents = saved_entries(tmp_path)
    contents["architecture"] = npy_bytes(metadata_member({"class": "Sequential", "config": {
        "layers": [{"class": "os.system", "config": {"command": "touch pwned"}}], "loss": "mse"}}))
    write_npz(tmp_path / "evil.npz", contents)
    with pytest.raises(ValueError, match="'os.system' is not registered"):
        npae.load(tmp_path / "evil.npz")
    assert not os.path.exists("pwned") and not (tmp_path / "pwned").exists()
