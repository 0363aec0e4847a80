"""The embedded sample: the first images of MNIST and Fashion-MNIST, shipped inside the package.

See README.md in this directory for what it holds, its licences and how :mod:`.build` makes it.
``load_mnist(sample=True)`` and ``load_fashion_mnist(sample=True)`` read it.
"""
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent

# (training images, test images) taken from the start of each original file.  Sized so that both
# files stay under 2 MB together: LZMA stores an MNIST digit in ~139 bytes, a Fashion-MNIST image in ~375.
SAMPLE_SIZES = {"mnist": (6000, 1000), "fashion-mnist": (1500, 1000)}


def sample_path(name: str) -> Path:
    """The .npz file holding the sample of data set ``name``."""
    return SAMPLE_DIR / f"{name}-sample.npz"
