"""What npae knows about each data set: file names, shapes, checksums, mirrors, licences, class names.

Two kinds of checksum, for two different questions:

* ``md5_gz``: the MD5 of the ``.gz`` file *as served by the public mirrors*.  Only a download is checked
  against it, because the same data re-compressed (as in ``../shared/data``) has other ``.gz`` bytes.
* ``sha256``: the SHA-256 of the *decompressed* IDX file.  It identifies the data whatever the
  compression (``.gz``, uncompressed, or the arrays of a Keras ``.npz`` rebuilt into IDX bytes), so every
  file found on the search path is checked against it before anything is returned.  Hashing the 47 MB
  of MNIST's training images takes about 26 ms here (SHA-NI), a tenth of the gzip decompression, so the
  check runs on every load and nothing needs caching.

The values come from ``../shared/data/README.md`` and ``../shared/data/*/SHA256SUMS.raw``.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a data set.

    ``name`` is the uncompressed file name (``train-images-idx3-ubyte``); on disk it may also carry ``.gz``.
    ``split`` is ``"train"`` or ``"test"``, ``kind`` is ``"images"`` or ``"labels"``, ``shape`` the array
    shape that the IDX header must declare.
    """

    name: str
    split: str
    kind: str
    shape: tuple
    md5_gz: str
    sha256: str

    @property
    def gz_name(self) -> str:
        return self.name + ".gz"

    @property
    def raw_size(self) -> int:
        """Bytes of the uncompressed IDX file: a header of 4 + 4 ndim bytes, then one byte per pixel or label."""
        count = 1
        for length in self.shape:
            count *= length
        return 4 + 4 * len(self.shape) + count

    @property
    def max_download_bytes(self) -> int:
        """The most bytes a download of ``gz_name`` may take: a gzip can be larger than its data only by
        deflate's block overhead (zlib's ``deflateBound``: n/4096 + n/16384 + 13 bytes, rounded up here to
        n/1000) and its header, which may carry a file name and a comment (64 kB allowed).  Mirrors serve
        far less (MNIST's training images: 9.9 MB of gzip for 47 MB of data); the MD5 then checks the bytes."""
        return self.raw_size + self.raw_size // 1000 + 65536


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its four files, where to download them, and what to tell a user about it."""

    name: str            # directory name inside a data root, and the key of DATASETS
    title: str
    licence: str
    files: tuple         # of FileSpec, in download order
    mirrors: tuple       # base URLs that hold the four .gz files directly
    class_names: tuple
    keras_npz: str = ""  # file name in ~/.keras/datasets, when Keras stores the set as one .npz
    keras_dir: str = ""  # directory name in ~/.keras/datasets, when Keras keeps the .gz files

    def file(self, split: str, kind: str) -> FileSpec:
        for spec in self.files:
            if spec.split == split and spec.kind == kind:
                return spec
        raise KeyError((split, kind))


def _files(train_images, train_labels, test_images, test_labels):
    """The four FileSpecs of a 60,000 + 10,000 set of 28x28 images; each argument is (md5_gz, sha256)."""
    return (
        FileSpec("train-images-idx3-ubyte", "train", "images", (60000, 28, 28), *train_images),
        FileSpec("train-labels-idx1-ubyte", "train", "labels", (60000,), *train_labels),
        FileSpec("t10k-images-idx3-ubyte", "test", "images", (10000, 28, 28), *test_images),
        FileSpec("t10k-labels-idx1-ubyte", "test", "labels", (10000,), *test_labels),
    )


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits (Y. LeCun, C. Cortes, C. Burges)",
    licence="CC BY-SA 3.0",
    files=_files(
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ("d53e105ee54ea40749a09fcbcd1e9432", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ("9fb629c4189551a2d022fa330f9573f3", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("ec29112dd5afa0611ce80d1b7f02629c", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    class_names=tuple(str(digit) for digit in range(10)),
    keras_npz="mnist.npz",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Zalando Research)",
    licence="MIT",
    files=_files(
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ("25c81989df183df01b3e8a0aad5dffbe", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ("bef4ecab320f06d8554ea6380940ec79", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ("bb300cfdad3c16e7a12a480ee83cd310", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    class_names=FASHION_MNIST_CLASSES,
    keras_dir="fashion-mnist",
)

DATASETS = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}

# Debian's package dataset-fashion-mnist installs the four .gz files directly in this directory.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def dataset_spec(name: str) -> DatasetSpec:
    """The DatasetSpec called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"name={name!r} is not one of {sorted(DATASETS)}") from None
