"""Loaders, search path, verification, embedded sample, anomaly set and the `npae data` commands.

Real data comes from NPAE_DATA (CI: ../shared/data); the facts asserted are those of its README.
"""
import io
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from npae.datasets import (
    FASHION_MNIST_CLASSES,
    PAPER_SHOE_INDEX,
    CorruptFileError,
    DataNotFoundError,
    anomaly_set,
    find_or_sample,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    write_idx,
)
from npae.datasets.commands import data_fetch, data_info
from npae.datasets.idx import read_idx
from support import foreign_files

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="session")
def data_root():
    """The real data root, read before any test changes the environment."""
    if not os.environ.get("NPAE_DATA"):
        pytest.skip("NPAE_DATA is not set")
    return Path(os.environ["NPAE_DATA"])


def refused_url():
    """A URL on 127.0.0.1 where nothing listens: a download attempt fails at once, with no network."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """A machine with no copy of the data anywhere and no reachable mirror; returns its cache root."""
    for variable in ("NPAE_DATA", "KERAS_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NPAE_MIRROR", refused_url())
    return tmp_path / "cache" / "npae"


def linked_copy(data_root, root, name="mnist", skip=()):
    """``root/<name>/`` holding symbolic links to the real files, except those named in ``skip``."""
    (root / name).mkdir(parents=True)
    for source in sorted((data_root / name).glob("*-ubyte.gz")):
        if source.name not in skip:
            (root / name / source.name).symlink_to(source)
    return root / name


# ------------------------------------------------------------------------------------------------
# The full data sets: the facts of ../shared/data/README.md.

def test_mnist_shapes_dtypes_ranges_counts_and_mean(data_root, mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.uint8
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert abs(x_train.mean(dtype=np.float64) - 33.318 / 255) < 1e-5  # 0.1307


def test_fashion_mnist_counts_mean_and_class_names(data_root, fashion_mnist):
    (x_train, y_train), (x_test, y_test) = fashion_mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784) and x_train.dtype == np.float32
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert abs(x_train.mean(dtype=np.float64) - 72.94 / 255) < 1e-4  # 0.2860
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert len(FASHION_MNIST_CLASSES) == 10


def test_raw_layout_is_keras_layout_and_normalising_divides_by_255(data_root, mnist):
    (x_train, y_train), (x_test, _) = load_mnist(normalize=False, flatten=False)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8 and x_train.flags.writeable
    # np.array_equal, not assert_array_equal: the latter's NaN bookkeeping costs seconds at this size.
    assert np.array_equal(x_train.reshape(60000, 784) / np.float32(255), mnist[0][0])
    np.testing.assert_array_equal(y_train, mnist[0][1])


@pytest.mark.parametrize("flatten, normalize, dtype, shape, expected_dtype", [
    (True, True, "float32", (784,), np.float32),
    (False, True, "float64", (28, 28), np.float64),
    (True, False, "float32", (784,), np.uint8),
    (False, False, "float64", (28, 28), np.uint8),  # dtype applies only to normalised pixels
])
def test_layout_flags_act_independently(flatten, normalize, dtype, shape, expected_dtype):
    (x_train, y_train), (x_test, y_test) = load_mnist(flatten=flatten, normalize=normalize, dtype=dtype,
                                                      sample=True)
    assert x_train.shape == (6000, *shape) and x_test.shape == (1000, *shape)
    assert x_train.dtype == expected_dtype and y_train.dtype == np.uint8
    assert x_train.max() == (1 if normalize else 255)


@pytest.mark.parametrize("arguments, message", [
    ({"dtype": "int8"}, "dtype"),
    ({"flatten": "yes"}, "flatten"),
    ({"normalize": 1}, "normalize"),
    ({"sample": None}, "sample"),
])
def test_bad_arguments_are_value_errors_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        load_mnist(**{"sample": True, **arguments})


@pytest.mark.parametrize("data_dir", [3, ["/data"], ""])
def test_a_data_dir_that_is_no_folder_name_is_a_value_error(data_dir):
    with pytest.raises(ValueError, match="data_dir must be a file or folder name"):
        load_mnist(data_dir, download=False)
    with pytest.raises(ValueError, match="data_dir must be a file or folder name"):
        data_info(io.StringIO(), data_dir=data_dir)


def test_unknown_data_set_name():
    with pytest.raises(ValueError, match="'mnist'"):
        load_dataset("kmnist", sample=True)


# ------------------------------------------------------------------------------------------------
# The embedded sample.

def test_sample_is_the_first_rows_of_the_full_data(data_root, mnist, fashion_mnist):
    for loader, full, (n_train, n_test) in [(load_mnist, mnist, (6000, 1000)),
                                            (load_fashion_mnist, fashion_mnist, (1500, 1000))]:
        (x_train, y_train), (x_test, y_test) = loader(sample=True)
        np.testing.assert_array_equal(x_train, full[0][0][:n_train])
        np.testing.assert_array_equal(y_train, full[0][1][:n_train])
        np.testing.assert_array_equal(x_test, full[1][0][:n_test])
        np.testing.assert_array_equal(y_test, full[1][1][:n_test])


def test_sample_files_fit_the_size_budget():
    sample_dir = Path(load_mnist.__code__.co_filename).parent / "sample"
    total = sum(path.stat().st_size for path in sample_dir.iterdir() if path.is_file())
    assert total <= 2_000_000, f"the sample directory holds {total:,} bytes"


# ------------------------------------------------------------------------------------------------
# Search order and verification.

def test_data_dir_is_searched_before_npae_data(data_root, tmp_path):
    linked_copy(data_root, tmp_path)
    found = find_or_sample("mnist", tmp_path)
    assert not found.used_sample
    assert f"data_dir argument ({tmp_path / 'mnist'})" in found.message
    assert found.data[1][0].shape == (10000, 784)


def test_incomplete_directory_is_skipped(data_root, tmp_path):
    linked_copy(data_root, tmp_path, skip=("train-images-idx3-ubyte.gz",))
    found = find_or_sample("mnist", tmp_path)
    assert "NPAE_DATA" in found.message and not found.used_sample


def test_damaged_copy_is_reported_and_never_skipped_for_a_good_one(data_root, tmp_path):
    directory = linked_copy(data_root, tmp_path, skip=("train-labels-idx1-ubyte.gz",))
    labels = read_idx(data_root / "mnist" / "train-labels-idx1-ubyte.gz")
    labels[0] = (labels[0] + 1) % 10  # one wrong label: a well-formed file with the wrong content
    write_idx(directory / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(CorruptFileError, match="SHA-256") as error:
        load_mnist(tmp_path)  # NPAE_DATA holds a good copy, but the damaged one comes first
    assert isinstance(error.value, ValueError)
    assert str(directory / "train-labels-idx1-ubyte.gz") in str(error.value)
    assert "npae data fetch" in str(error.value)
    with pytest.raises(CorruptFileError):
        find_or_sample("mnist", tmp_path)  # damage is never papered over with the sample


def test_uncompressed_file_is_read_before_the_gz(data_root, tmp_path):
    directory = linked_copy(data_root, tmp_path)
    (directory / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x27\x10" + bytes(9999))
    with pytest.raises(CorruptFileError, match="truncated") as error:
        anomaly_set(tmp_path)  # reads the test files only
    assert error.value.path == str(directory / "t10k-labels-idx1-ubyte")


def test_keras_cache_npz_is_found_and_verified(data_root, no_data, tmp_path, monkeypatch):
    (x_train, y_train), (x_test, y_test) = load_mnist(data_root, normalize=False, flatten=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    npz = tmp_path / "keras" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    # Labels stored as int64, as some Keras versions do: the same data, so it verifies.
    np.savez(npz, x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test, y_test=y_test)
    found = find_or_sample("mnist", normalize=False, flatten=False)
    assert not found.used_sample and "Keras cache" in found.message
    assert np.array_equal(found.data[0][0], x_train)
    x_test[0, 14, 14] ^= 1
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(CorruptFileError, match="t10k-images-idx3-ubyte: SHA-256"):
        load_mnist()


@pytest.mark.parametrize("content, what", foreign_files())
def test_a_keras_cache_file_that_is_no_npz_is_named_so(no_data, tmp_path, monkeypatch, content, what):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    npz = tmp_path / "keras" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    npz.write_bytes(content)
    with pytest.raises(CorruptFileError, match="cannot be read as a .npz file") as error:
        load_mnist(download=False)
    assert what in str(error.value) and "allow_pickle" not in str(error.value)


def test_a_keras_npz_with_wrong_dtypes_is_refused_from_the_headers(no_data, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    npz = tmp_path / "keras" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, x_train=np.zeros((60000, 28, 28), np.float32), y_train=np.zeros(60000, np.uint8),
             x_test=np.zeros((10000, 28, 28), np.uint8), y_test=np.zeros(10000, np.uint8))
    with pytest.raises(CorruptFileError, match=r"holds float32 \(60000, 28, 28\), expected train-images"):
        load_mnist(download=False)
    np.savez(npz, x_train=np.zeros((60000, 28, 28), np.uint8), y_train=np.zeros(60000, np.complex64),
             x_test=np.zeros((10000, 28, 28), np.uint8), y_test=np.zeros(10000, np.uint8))
    with pytest.raises(CorruptFileError, match="expected train-labels-idx1-ubyte as integers"):
        load_mnist(download=False)


def test_keras_labels_stored_as_int64_are_returned_as_uint8(data_root, no_data, tmp_path, monkeypatch):
    (x_train, y_train), (x_test, y_test) = load_mnist(data_root, normalize=False, flatten=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    npz = tmp_path / "keras" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test, y_test=y_test.astype(np.int64))
    (_, y_train_loaded), (_, y_test_loaded) = load_mnist(download=False)
    assert y_train_loaded.dtype == y_test_loaded.dtype == np.uint8   # as the docstring says, whatever the file
    np.testing.assert_array_equal(y_train_loaded, y_train)


def test_damaged_gzip_in_the_cache_is_reported(no_data, data_root):
    directory = linked_copy(data_root, no_data)
    (directory / "t10k-images-idx3-ubyte.gz").unlink()
    data = (data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="damaged gzip"):
        load_mnist()


# ------------------------------------------------------------------------------------------------
# Nothing found.

def test_nothing_found_and_no_download_lists_every_place_and_the_remedies(no_data):
    with pytest.raises(DataNotFoundError) as error:
        load_mnist(download=False)
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    for expected in ["NPAE_DATA: not set", str(no_data / "mnist"), "mnist.npz", "download=False",
                     "npae data fetch", "NPAE_MIRROR", "load_mnist(sample=True)"]:
        assert expected in message, f"{expected!r} missing from:\n{message}"
    assert [place for place, _, _ in error.value.searched] == ["user cache", "Keras cache"]


def test_nothing_found_and_download_failing(no_data):
    with pytest.raises(DataNotFoundError, match="Downloading into .* failed") as error:
        load_fashion_mnist()
    assert os.environ["NPAE_MIRROR"] in str(error.value)
    assert not (no_data / "fashion-mnist").exists()  # nothing half-made left behind


def test_find_or_sample_falls_back_with_a_notice(no_data):
    found = find_or_sample("mnist")
    assert found.used_sample
    assert found.message.startswith("NOTICE: using the embedded mnist sample")
    assert "npae data fetch" in found.message
    (x_train, y_train), (x_test, y_test) = found.data
    assert x_train.shape == (6000, 784) and x_test.shape == (1000, 784) and x_train.dtype == np.float32


def test_find_or_sample_uses_the_full_data_when_present(data_root):
    found = find_or_sample("fashion-mnist", normalize=False)
    assert not found.used_sample and found.message.startswith("fashion-mnist: 60,000 training + 10,000 test")
    assert found.data[0][0].dtype == np.uint8


# ------------------------------------------------------------------------------------------------
# The anomaly test set.

def test_paper_anomaly_set_is_mnist_test_plus_one_shoe(data_root, mnist, fashion_mnist):
    result = anomaly_set()
    assert result.x.shape == (10001, 784) and result.x.dtype == np.float32
    assert result.anomaly_index.tolist() == [10000] and result.source_index.tolist() == [PAPER_SHOE_INDEX]
    assert result.is_anomaly.sum() == 1 and result.is_anomaly[10000]
    np.testing.assert_array_equal(result.x[:10000], mnist[1][0])
    np.testing.assert_array_equal(result.x[10000], fashion_mnist[1][0][PAPER_SHOE_INDEX])
    assert FASHION_MNIST_CLASSES[result.labels[10000]] == "Ankle boot"
    np.testing.assert_array_equal(result.labels[:10000], mnist[1][1])


def test_roc_variant_draws_n_images_of_the_chosen_classes(data_root, fashion_mnist):
    result = anomaly_set(n_anomalies=300, classes=(5, 7, 9), seed=3, shuffle=True, normalize=False)
    assert result.x.shape == (10300, 784) and result.x.dtype == np.uint8
    assert len(np.unique(result.source_index)) == 300 and result.is_anomaly.sum() == 300
    assert set(result.labels[result.anomaly_index].tolist()) <= {5, 7, 9}
    np.testing.assert_array_equal(result.labels[result.anomaly_index], fashion_mnist[1][1][result.source_index])
    np.testing.assert_array_equal(np.flatnonzero(result.is_anomaly), np.sort(result.anomaly_index))
    expected_pixels = np.rint(fashion_mnist[1][0][result.source_index] * 255).astype(np.uint8)
    np.testing.assert_array_equal(result.x[result.anomaly_index], expected_pixels)
    assert (result.anomaly_index < 10000).sum() > 200  # shuffled in among the digits, not left at the end
    again = anomaly_set(n_anomalies=300, classes=(5, 7, 9), seed=3, shuffle=True, normalize=False)
    other = anomaly_set(n_anomalies=300, classes=(5, 7, 9), seed=4, normalize=False)
    np.testing.assert_array_equal(again.x, result.x)
    assert not np.array_equal(other.source_index, result.source_index)


def test_anomaly_set_from_the_sample():
    result = anomaly_set(sample=True, fashion_indices=[0, 5])
    assert result.x.shape == (1002, 784)
    assert result.anomaly_index.tolist() == [1000, 1001] and result.source_index.tolist() == [0, 5]


@pytest.mark.parametrize("arguments, message", [
    ({"fashion_indices": 3, "n_anomalies": 2}, "not both"),
    ({"fashion_indices": [1, 1]}, "distinct"),
    ({"fashion_indices": [1000]}, r"\[0, 1000\)"),
    ({"fashion_indices": 1.5}, "fashion_indices"),
    ({"n_anomalies": 0}, "n_anomalies"),
    ({"n_anomalies": 96, "classes": [9]}, r"\[1, 95\]"),  # the sample has 95 ankle boots
    ({"n_anomalies": 2, "classes": [10]}, "classes"),
    ({"seed": 1.0}, "seed"),
])
def test_anomaly_set_argument_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        anomaly_set(sample=True, **arguments)


# ------------------------------------------------------------------------------------------------
# `npae data info` and `npae data fetch`.

def test_data_info_with_the_real_data(data_root):
    output = io.StringIO()
    assert data_info(output) == 0
    text = output.getvalue()
    assert text.count("<- used") == 2 and "=> ready: load_mnist() reads NPAE_DATA" in text
    assert "6,000 training + 1,000 test images" in text


def test_data_info_on_a_fresh_machine(no_data):
    output = io.StringIO()
    assert data_info(output) == 1
    text = output.getvalue()
    assert text.count("=> NOT FOUND") == 2 and "npae data fetch" in text and "NPAE_DATA:   not set" in text


def test_data_info_reports_a_damaged_file_anywhere_on_the_path(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "npae" / "mnist"
    cache.mkdir(parents=True)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    output = io.StringIO()
    assert data_info(output) == 1  # although NPAE_DATA, which comes first, is fine
    text = output.getvalue()
    assert "DAMAGED, never loaded" in text and "t10k-labels-idx1-ubyte.gz: damaged gzip" in text
    assert "=> ready: load_mnist() reads NPAE_DATA" in text


def test_data_fetch_leaves_a_verified_copy_alone(data_root):
    output = io.StringIO()
    assert data_fetch(names=("mnist",), stream=output) == 0
    assert "mnist: already present in NPAE_DATA" in output.getvalue()


def test_data_fetch_offline_fails_cleanly(no_data):
    output = io.StringIO()
    assert data_fetch(names=("mnist",), stream=output) == 1
    assert "mnist: FAILED: could not download" in output.getvalue()
    assert not (no_data / "mnist").exists()


def test_data_info_says_when_the_copy_the_loaders_pick_is_damaged(data_root, tmp_path, monkeypatch):
    damaged = tmp_path / "mnist"
    damaged.mkdir()
    for file in (data_root / "mnist").iterdir():
        if file.is_file():
            (damaged / file.name).write_bytes(file.read_bytes())
    labels = damaged / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-40])  # truncated: its checksum no longer matches
    monkeypatch.setenv("NPAE_DATA", str(tmp_path))
    output = io.StringIO()
    assert data_info(output) == 1
    mnist = output.getvalue().split("\nfashion-mnist:")[0]
    assert "the loaders pick this copy, and refuse it" in mnist and "<- used" not in mnist
    assert "=> DAMAGED: load_mnist() raises an error" in mnist
