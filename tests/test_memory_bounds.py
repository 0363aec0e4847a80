"""Small crafted files cannot make npae allocate much: each case is loaded in a child process whose peak
resident memory is compared with a child that only imported npae (tests/support.py).

The target (issue 14): at most about 100 MB above what a valid file of the declared sizes needs.  Each
crafted file is about a megabyte on disk but claims or holds a gigabyte; before the fixes these cases
took 0.8 to 2.1 GB.  The cases import nothing from npae in this process, so that they can be run
against another checkout: ``cd /tmp && PYTHONPATH=<checkout> python -m pytest <this file>`` (from
another folder, because ``python -c`` puts the current folder first on the children's path).
``pytest -s`` prints each child's peak.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from support import MB, Member, extra_peak_bytes, metadata_member, npy_bytes, npy_header, write_gzip, write_npz

BUDGET = 100 * MB
GIB = 1 << 30
MNIST_IMAGES_HEADER = bytes.fromhex("00000803" "0000ea60" "0000001c" "0000001c")   # uint8 (60000, 28, 28)
MNIST_IMAGES_BYTES = 60000 * 28 * 28

SETUP = """
from npae.datasets import read_idx, load_mnist
from npae.datasets.commands import data_info
from npae.compression import load_compressed
import io
"""


@pytest.fixture(scope="module")
def data_root():
    if not os.environ.get("NPAE_DATA"):
        pytest.skip("NPAE_DATA is not set")
    return Path(os.environ["NPAE_DATA"])


def bounded_run(code, valid_bytes=0, env=None):
    """Run ``code`` in a child; assert it ended normally within ``valid_bytes`` + BUDGET; return the run."""
    run, extra = extra_peak_bytes(code, setup=SETUP, env=env)
    print(f"peak {extra / MB:.0f} MB above the baseline")
    assert run.returncode == 0, run.stderr
    assert extra < valid_bytes + BUDGET, (f"peak {extra / MB:.0f} MB above the baseline, allowed "
                                          f"{(valid_bytes + BUDGET) / MB:.0f} MB; error: {run.error}")
    return run


def mnist_copy(data_root, root, images):
    """``root/mnist/``: the real labels and test files, and ``images`` written by the caller's function."""
    directory = root / "mnist"
    directory.mkdir(parents=True)
    for source in (data_root / "mnist").glob("*-ubyte.gz"):
        if source.name != "train-images-idx3-ubyte.gz":
            (directory / source.name).symlink_to(source)
    images(directory / "train-images-idx3-ubyte.gz")
    return directory


def gzip_bomb(path):
    """A valid MNIST image header, the 47 MB it declares, then a GiB more zeros: a 1 MB gzip file."""
    return write_gzip(path, MNIST_IMAGES_HEADER, zeros=MNIST_IMAGES_BYTES + GIB)


def test_read_idx_of_a_gzip_bomb_stops_one_byte_past_the_declared_size(tmp_path):
    path = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz")
    assert path.stat().st_size < 2 * MB
    run = bounded_run(f"read_idx({str(path)!r})", valid_bytes=MNIST_IMAGES_BYTES)
    assert run.error[0] == "ValueError" and "trailing bytes" in run.error[1] and str(path) in run.error[1]


def test_read_idx_of_a_long_uncompressed_file_is_refused_from_its_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "wb") as file:
        file.write(MNIST_IMAGES_HEADER)
        file.truncate(len(MNIST_IMAGES_HEADER) + MNIST_IMAGES_BYTES + GIB)   # sparse: no disk used
    run = bounded_run(f"read_idx({str(path)!r})")
    assert run.error[0] == "ValueError" and f"{GIB} trailing bytes" in run.error[1]


def test_load_mnist_with_a_gzip_bomb_in_data_dir(data_root, tmp_path):
    mnist_copy(data_root, tmp_path, gzip_bomb)
    run = bounded_run(f"load_mnist(data_dir={str(tmp_path)!r}, normalize=False, download=False)",
                      valid_bytes=MNIST_IMAGES_BYTES)
    assert run.error[0] == "CorruptFileError" and "trailing bytes" in run.error[1]


def test_load_mnist_refuses_a_wrong_header_before_inflating_anything(data_root, tmp_path):
    header = bytes.fromhex("00000803" "00100000" "0000001c" "0000001c")   # (1048576, 28, 28): 822 MB declared
    mnist_copy(data_root, tmp_path, lambda path: write_gzip(path, header, zeros=(1 << 20) * 784))
    run = bounded_run(f"load_mnist(data_dir={str(tmp_path)!r}, normalize=False, download=False)")
    assert run.error[0] == "CorruptFileError" and "expected train-images-idx3-ubyte as uint8" in run.error[1]


def test_data_info_with_a_gzip_bomb_on_the_search_path(data_root, tmp_path):
    mnist_copy(data_root, tmp_path, gzip_bomb)
    code = f"""
output = io.StringIO()
status = data_info(output, data_dir={str(tmp_path)!r})
assert status == 1 and "trailing bytes" in output.getvalue(), output.getvalue()
"""
    # data info verifies every copy it finds, one file at a time: the largest is 47 MB.
    run = bounded_run(code, valid_bytes=MNIST_IMAGES_BYTES)
    assert run.error is None


def test_keras_npz_declaring_a_huge_array_is_refused_before_reading_it(data_root, tmp_path):
    npz = tmp_path / "keras" / "datasets" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    header = npy_header((1 << 20, 28, 28), "|u1")
    write_npz(npz, {"x_train": Member(header, zeros=(1 << 20) * 784), "y_train": np.zeros(60000, np.uint8),
                    "x_test": np.zeros((10000, 28, 28), np.uint8), "y_test": np.zeros(10000, np.uint8)})
    assert npz.stat().st_size < 2 * MB
    env = {"KERAS_HOME": str(tmp_path / "keras"), "NPAE_DATA": "", "HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    run = bounded_run("load_mnist(download=False)", env=env)
    assert run.error[0] == "CorruptFileError" and "(1048576, 28, 28)" in run.error[1]


# -- compressed sets ------------------------------------------------------------------------------------

def compressed_set_members(latent_size=3, n_samples=10):
    """The members of a valid float32 compressed set with a one-layer linear decoder to 4 outputs."""
    metadata = {"format": "npae-compressed", "version": 1, "storage": "float32", "n_samples": n_samples,
                "latent_size": latent_size, "output_size": 4,
                "decoder": [{"in_features": latent_size, "out_features": 4, "activation": "linear",
                             "dtype": "float32"}]}
    return {"metadata": metadata_member(metadata), "codes": np.zeros((n_samples, latent_size), np.float32),
            "decoder_W0": np.ones((latent_size, 4), np.float32), "decoder_b0": np.zeros(4, np.float32)}


def test_a_compressed_set_with_a_huge_extra_member_loads_without_reading_it(tmp_path):
    path = write_npz(tmp_path / "set.npz", {**compressed_set_members(),
                                             "padding": Member(npy_header((GIB,), "|u1"), zeros=GIB)})
    run = bounded_run(f"codes, decoder = load_compressed({str(path)!r}); assert codes.n_samples == 10")
    assert run.error is None


def test_a_compressed_set_with_gigabyte_metadata_is_refused_before_reading_it(tmp_path):
    members = compressed_set_members()
    members["metadata"] = Member(npy_header((), f"<U{GIB // 4}"), zeros=GIB)
    path = write_npz(tmp_path / "set.npz", members)
    run = bounded_run(f"load_compressed({str(path)!r})")
    assert run.error[0] == "ValueError" and "more than the 1000000 npae reads" in run.error[1]


def test_a_compressed_set_member_inflating_beyond_its_header_is_refused(tmp_path):
    members = compressed_set_members()
    members["codes"] = Member(npy_bytes(np.zeros((10, 3), np.float32)), zeros=GIB)   # 1 GiB after the array
    path = write_npz(tmp_path / "set.npz", members)
    run = bounded_run(f"load_compressed({str(path)!r})")
    assert run.error[0] == "ValueError" and "'codes' is not valid" in run.error[1]


def test_a_long_csv_of_short_lines_costs_its_table_not_python_objects_per_line(tmp_path):
    # 5 million one-value lines (10 MB of text): the table is 40 MB of float64.  Read line by line into
    # Python strings and tuples, the same file took ~600 MB; NumPy's streaming parser needs the table.
    path = tmp_path / "column.csv"
    path.write_bytes(b"1\n" * 5_000_000)
    run = bounded_run(f"from npae.userfiles import read_array\nassert read_array({str(path)!r}, 'data').shape "
                      "== (5_000_000, 1)", valid_bytes=5_000_000 * 8)
    assert not run.error
