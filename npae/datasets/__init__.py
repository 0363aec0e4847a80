"""MNIST and Fashion-MNIST for npae: an IDX reader/writer, loaders that find, download and verify the
files, a small embedded sample for offline runs, and the paper's anomaly test set.

Quick start::

    from npae.datasets import load_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist()   # float32 (60000, 784) in [0, 1], uint8 labels

Where the files are looked for, and how to provide them, is in :mod:`npae.datasets.locate`
(``NPAE_DATA=<dir holding mnist/ and fashion-mnist/>`` is the usual way; ``npae data fetch``
downloads them).  Module map:

    idx.py       the IDX format (read_idx, write_idx)
    catalog.py   file names, shapes, checksums, mirrors, class names
    locate.py    search path and verification of a copy found
    download.py  mirrors, MD5, atomic writes, progress
    loaders.py   load_mnist, load_fashion_mnist, find_or_sample, anomaly_set, inject_anomalies
    timeseries.py  load_series, load_ucr_classification (labelled series in NPAE_DATA/timeseries/)
    commands.py  what `npae data info` and `npae data fetch` run
    sample/      the embedded sample, its README and its build script
"""
from .catalog import DATASETS, FASHION_MNIST_CLASSES
from .download import fetch
from .errors import ChecksumError, CorruptFileError, DataNotFoundError, DownloadError
from .idx import read_idx, write_idx
from .loaders import (
    PAPER_SHOE_INDEX,
    AnomalySet,
    FoundData,
    anomaly_set,
    find_or_sample,
    inject_anomalies,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "DATASETS", "FASHION_MNIST_CLASSES", "PAPER_SHOE_INDEX",
    "AnomalySet", "FoundData",
    "ChecksumError", "CorruptFileError", "DataNotFoundError", "DownloadError",
    "anomaly_set", "fetch", "find_or_sample", "inject_anomalies", "load_dataset", "load_fashion_mnist", "load_mnist",
    "read_idx", "write_idx",
]

from .timeseries import LabelledSeries, load_series, load_ucr_classification  # noqa: E402
__all__ += ["LabelledSeries", "load_series", "load_ucr_classification"]
