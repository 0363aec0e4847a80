"""Hostile model files: small files that declare huge arrays, compressed bombs, and fuzzed bytes.

Loading any of them must end in a ValueError naming the file, within about 100 MB of resident memory
beyond what the interpreter already holds, and never in a crash.  The memory is measured in a child
process (its peak resident set, ``ru_maxrss``), so that nothing else in the test run counts.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import npae

MEMORY_MARGIN_MB = 100

LOAD_AND_MEASURE = textwrap.dedent("""
    import resource, sys
    import npae
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        npae.load(sys.argv[1])
        outcome = "loaded"
    except ValueError as error:
        outcome = "ValueError: " + str(error)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024)   # ru_maxrss counts KiB on Linux
    print(outcome)
""")


def load_in_child(path):
    """(extra peak MB, outcome line) of npae.load(path) in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"status {result.returncode}:\n{result.stderr}"
    extra, outcome = result.stdout.strip().splitlines()[-2:]
    return int(extra), outcome


def saved_model(tmp_path, rng):
    model = npae.Autoencoder([12, 6, 3], seed=0)
    model.fit(rng.uniform(0, 1, (40, 12)).astype(np.float32), epochs=1, batch_size=20, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write(path, contents, deflated=()):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            if callable(data):
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as member:
                    data(member)
            else:
                archive.writestr(name, data, zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED)


def npy_header(shape, dtype="<f4"):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    import io

    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue()


def gigabyte_of_zeros_after(header):
    """A member writer: the header, then 1 GiB of zeros, deflated on the fly (about 1 MB on disk)."""
    def write_member(member):
        member.write(header)
        block = bytes(1 << 24)
        for _ in range(64):
            member.write(block)
    return write_member


def architecture(sizes):
    return json.dumps({"class": "Autoencoder", "config": {"sizes": sizes, "seed": 0}})


def test_a_small_file_declaring_a_huge_architecture_is_refused_before_allocating(tmp_path, rng):
    contents = saved_model(tmp_path, rng)
    contents["architecture.json"] = architecture([784, 200_000, 3])  # 8 arrays, as the file has
    write(tmp_path / "huge.npz", contents)
    assert (tmp_path / "huge.npz").stat().st_size < 20_000
    extra, outcome = load_in_child(tmp_path / "huge.npz")
    assert outcome.startswith("ValueError: ") and "huge.npz" in outcome and "parameter_0.npy" in outcome
    assert extra < MEMORY_MARGIN_MB


def test_an_architecture_beyond_the_machine_is_refused_even_with_matching_headers(tmp_path, rng):
    """Every header agrees with the (absurd) architecture: the memory check refuses it anyway."""
    contents = {"format.json": json.dumps({"format": "npae.model", "version": 2}),
                "architecture.json": architecture([784, 10 ** 9]),
                "training.json": json.dumps({"optimizer_iterations": 0})}
    shapes = [(784, 10 ** 9), (10 ** 9,), (10 ** 9, 784), (784,)]
    for index, shape in enumerate(shapes):
        contents[f"parameter_{index}.npy"] = npy_header(shape)  # headers only: the sizes do not match
    write(tmp_path / "absurd.npz", contents)
    extra, outcome = load_in_child(tmp_path / "absurd.npz")
    assert outcome.startswith("ValueError: ") and "absurd.npz" in outcome
    assert extra < MEMORY_MARGIN_MB


def test_a_compressed_member_that_inflates_to_a_gigabyte_is_refused_from_its_header(tmp_path, rng):
    contents = saved_model(tmp_path, rng)
    contents["parameter_0.npy"] = gigabyte_of_zeros_after(npy_header((16384, 16384)))
    write(tmp_path / "bomb.npz", contents)
    assert (tmp_path / "bomb.npz").stat().st_size < 3_000_000
    extra, outcome = load_in_child(tmp_path / "bomb.npz")
    assert outcome.startswith("ValueError: ") and "needs float32 (12, 6)" in outcome
    assert extra < MEMORY_MARGIN_MB


def test_a_member_with_data_beyond_its_array_is_refused(tmp_path, rng):
    contents = saved_model(tmp_path, rng)
    contents["parameter_1.npy"] = gigabyte_of_zeros_after(npy_header((6,)))
    write(tmp_path / "trailing.npz", contents)
    extra, outcome = load_in_child(tmp_path / "trailing.npz")
    assert outcome.startswith("ValueError: ") and "parameter_1.npy" in outcome
    assert extra < MEMORY_MARGIN_MB


def test_a_huge_json_member_is_refused_from_its_declared_size(tmp_path, rng):
    contents = saved_model(tmp_path, rng)
    contents["architecture.json"] = lambda member: [member.write(b" " * (1 << 24)) for _ in range(16)]
    write(tmp_path / "json.npz", contents)
    extra, outcome = load_in_child(tmp_path / "json.npz")
    assert outcome.startswith("ValueError: ") and "more than the 1 MB" in outcome
    assert extra < MEMORY_MARGIN_MB


def test_an_archive_declaring_a_million_members_is_refused(tmp_path):
    path = tmp_path / "members.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.json", json.dumps({"format": "npae.model", "version": 2}))
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = (65535).to_bytes(2, "little") * 2  # entries on this disk, entries in all
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="declares 65,535 members"):
        npae.load(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_model_files_only_ever_raise_value_errors(tmp_path_factory, data):
    """Random byte flips, truncations and insertions anywhere in a valid file: a ValueError or a model
    that loads (when the bytes hit padding), never any other exception."""
    folder = tmp_path_factory.mktemp("fuzz")
    original = fuzz_seed_file(tmp_path_factory)
    mutated = bytearray(original)
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
    path = folder / "fuzzed.npz"
    path.write_bytes(bytes(mutated))
    try:
        model = npae.load(path)
    except ValueError as error:
        assert "fuzzed.npz" in str(error)
    else:
        assert all(np.isfinite(w).all() for w in model.get_weights())


_FUZZ_SEED = {}


def fuzz_seed_file(tmp_path_factory):
    if "bytes" not in _FUZZ_SEED:
        path = tmp_path_factory.mktemp("seed") / "seed.npz"
        model = npae.Autoencoder([5, 2], seed=0)
        model.fit(np.random.default_rng(0).uniform(0, 1, (10, 5)), epochs=1, verbose=0)
        model.save(path)
        _FUZZ_SEED["bytes"] = path.read_bytes()
    return _FUZZ_SEED["bytes"]


def test_loading_never_executes_what_the_file_names(tmp_path, rng):
    """A class name that is an import path is looked up in the registry, never imported."""
    contents = saved_model(tmp_path, rng)
    document = json.loads(contents["architecture.json"])
    document["config"] = {"layers": [{"class": "os.system", "config": {"command": "touch pwned"}}], "loss": "mse"}
    document["class"] = "Sequential"
    contents["architecture.json"] = json.dumps(document)
    write(tmp_path / "evil.npz", contents)
    with pytest.raises(ValueError, match="'os.system' is not registered"):
        npae.load(tmp_path / "evil.npz")
    assert not os.path.exists("pwned") and not (tmp_path / "pwned").exists()
