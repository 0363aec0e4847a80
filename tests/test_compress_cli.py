"""`npae compress` / `npae decompress`: an exact round trip of the codes, atomic writes, validated reads."""
import numpy as np
import pytest

import npae
from npae.cli import main
from npae.compress_cli import compress_rows, model_fingerprint, read_compressed


@pytest.fixture
def model_and_data(tmp_path, rng):
    x = (rng.random((60, 12)) < 0.3).astype(np.float32)
    model = npae.Autoencoder([12, 4], seed=0)
    model.fit(x, epochs=3, batch_size=16, verbose=0)
    model.save(tmp_path / "model.npz")
    np.save(tmp_path / "x.npy", x)
    return model, x, tmp_path


def test_round_trip_on_the_command_line(model_and_data, capsys):
    model, x, folder = model_and_data
    assert main(["compress", "-m", str(folder / "model.npz"), str(folder / "x.npy"), "-o",
                 str(folder / "x.npac"), "--bits", "5"]) == 0
    assert "arithmetic-coded stream" in capsys.readouterr().out
    assert main(["decompress", "-m", str(folder / "model.npz"), str(folder / "x.npac"), "-o",
                 str(folder / "back.npy")]) == 0
    decoded = np.load(folder / "back.npy")
    encoded = compress_rows(model, x, 5)
    np.testing.assert_array_equal(read_compressed(folder / "x.npac").codes, encoded.codes)
    np.testing.assert_allclose(decoded, model.decode(encoded.values()), atol=1e-6)
    # 5-bit codes lose at most half a step per code number: the decoding is close to the model's own
    assert np.abs(decoded - model.reconstruct(x)).max() < 0.2


def test_damaged_truncated_and_foreign_files_are_one_line_errors(model_and_data, capsys):
    _, _, folder = model_and_data
    main(["compress", "-q", "-m", str(folder / "model.npz"), str(folder / "x.npy"), "-o", str(folder / "x.npac")])
    data = (folder / "x.npac").read_bytes()
    cases = {"damaged.npac": data[:-5] + bytes([data[-5] ^ 0x10]) + data[-4:], "short.npac": data[:-3],
             "foreign.npac": b"GIF89a" + data[6:], "empty.npac": b""}
    for name, content in cases.items():
        (folder / name).write_bytes(content)
        assert main(["decompress", "-m", str(folder / "model.npz"), str(folder / name), "-o",
                     str(folder / "out.npy")]) == 1
        error = capsys.readouterr().err
        assert name in error and "error" in error and "Traceback" not in error
    assert not (folder / "out.npy").exists()


def test_another_model_is_refused(model_and_data, capsys, rng):
    _, _, folder = model_and_data
    main(["compress", "-q", "-m", str(folder / "model.npz"), str(folder / "x.npy"), "-o", str(folder / "x.npac")])
    other = npae.Autoencoder([12, 4], seed=1)
    other.fit(rng.random((20, 12)).astype(np.float32), epochs=1, verbose=0)
    other.save(folder / "other.npz")
    assert main(["decompress", "-m", str(folder / "other.npz"), str(folder / "x.npac"), "-o",
                 str(folder / "out.npy")]) == 1
    assert "not made with this model" in capsys.readouterr().err
    assert model_fingerprint(other) != model_fingerprint(npae.load(folder / "model.npz"))


def test_bad_bits_and_bad_output(model_and_data, capsys):
    _, _, folder = model_and_data
    assert main(["compress", "-m", str(folder / "model.npz"), str(folder / "x.npy"), "-o", str(folder / "x.npac"),
                 "--bits", "16"]) == 1
    assert "bits must be an integer from 1 to 15" in capsys.readouterr().err
    assert main(["compress", "-m", str(folder / "model.npz"), str(folder / "x.npy"), "-o", str(folder / "x.npy")]) == 1
    assert not (folder / "x.npac").exists()
