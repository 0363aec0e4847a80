"""Labelled time series: the UCR anomaly series, GutenTAG's synthetic ECG, and two UCR classification sets.

    from npae.datasets import load_series, load_ucr_classification
    series = load_series("ucr-anomaly-135")      # .train (1200,) anomaly-free, .test (7501,), .labels (7501,)
    series.anomalies                             # [(4187, 4198)]: first and last index, inclusive
    (x_train, y_train), (x_test, y_test) = load_ucr_classification("gunpoint")   # (50, 150), labels 1 or 2

Where the files are looked for, in order (the first folder holding the data set's files is used):

1. ``<data_dir>/timeseries/<name>/`` and ``<data_dir>/<name>/``: the ``data_dir`` argument;
2. ``$NPAE_DATA/timeseries/<name>/``;
3. ``<user cache>/timeseries/<name>/`` (``$XDG_CACHE_HOME/npae`` or ``~/.cache/npae``);
4. ``sample=True``, or nothing found with ``sample=None`` (the default for ``load_series``): the copy embedded
   in the package, for "ucr-anomaly-135" only (see ``sample/timeseries/README.md``).

The files are those of aeon 1.6.0's wheel (see the data folder's README: sources, licences), verified by
SHA-256 before use: a file that differs is a :class:`CorruptFileError`, never a silently different result;
a file larger than ``MAX_FILE_BYTES`` is refused before it is read.
Formats: ``.csv`` with a header ``timestamp,value,is_anomaly``; ``.ts`` (sktime/aeon): ``#`` comments, ``@``
header lines, then one series per line, ``v_1,...,v_n:label``.
"""
import hashlib
import io
import lzma
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CorruptFileError, DataNotFoundError
from .locate import user_cache_dir
from .sample import SAMPLE_DIR

# name -> {"train": file, "test": file}: anomaly-free training part, labelled test part
SERIES = {
    "ucr-anomaly-135": {"train": "train.csv", "test": "test.csv"},
    "gutentag-ecg": {"train": "train-normal.csv", "test": "test.csv"},
}
CLASSIFICATION = {
    "gunpoint": {"train": "GunPoint_TRAIN.ts", "test": "GunPoint_TEST.ts"},
    "italy-power-demand": {"train": "ItalyPowerDemand_TRAIN.ts", "test": "ItalyPowerDemand_TEST.ts"},
}
CHECKSUMS = {  # SHA-256 of each file, from the data folder's SHA256SUMS
    "gunpoint/GunPoint_TEST.ts": "79332750788a6227b325b96bd0d70130c8eb707b9731f8d7dec62b7a7d36017e",
    "gunpoint/GunPoint_TRAIN.ts": "f842401779fd9800d247d8b33121a1a4643710a19b24917dbdd9a060ca8630d5",
    "gutentag-ecg/test.csv": "39794565d99ccb4934f4955e45fc0fbe30397499ca38fd689f43a1d3e2518aec",
    "gutentag-ecg/train-normal.csv": "cb45388a065c2f8bd3dd745ad5f93d759d92d48aa9144dcbff5f4e2ffe1b7b73",
    "gutentag-ecg/train-with-anomalies.csv": "d1ab703124f9ad4359bdb6718bc01a75299fc0a79c23ca259c6235c67dee7be0",
    "italy-power-demand/ItalyPowerDemand_TEST.ts": "26122451f87dd0387ef90b18bc8a86c041371b8a1c068004922b939971247144",
    "italy-power-demand/ItalyPowerDemand_TRAIN.ts": "341269cb7e6cef96846b30e774580beec79addb93848ba360145219115a74b7c",
    "ucr-anomaly-135/test.csv": "fe26577b94896943e8205d04d56bf2511fe05c008df535a1ec3826adff3597e2",
    "ucr-anomaly-135/train.csv": "a531b6f4f556b17c0321d144c3f6b4a7bdf5e8464b2218566181702e77962c2b",
}
SAMPLE_SERIES = ("ucr-anomaly-135",)
MAX_FILE_BYTES = 4 << 20  # the largest file is 291 KB: anything beyond 4 MB is not one of them, and is not read
TIMESERIES_SAMPLE_DIR = SAMPLE_DIR / "timeseries"


@dataclass(frozen=True)
class LabelledSeries:
    """A univariate series in two parts: ``train`` (anomaly-free) and ``test`` with 0/1 ``labels``."""

    name: str
    train: np.ndarray    # (T_train,) float64
    test: np.ndarray     # (T_test,) float64
    labels: np.ndarray   # (T_test,) uint8, 1 inside an anomaly
    source: str          # the folder read, or "embedded sample"

    @property
    def anomalies(self):
        """[(first, last)] index ranges of the labelled anomalies in ``test``, inclusive."""
        edges = np.diff(np.r_[0, self.labels.astype(np.int8), 0])
        return [(int(start), int(stop) - 1) for start, stop in zip(np.flatnonzero(edges == 1),
                                                                    np.flatnonzero(edges == -1))]


def search_path(name, data_dir=None):
    """The folders looked at for data set ``name``, in order: [(place, Path)] (see the module docstring)."""
    places = []
    if data_dir is not None:
        places += [("data_dir", Path(data_dir) / "timeseries" / name), ("data_dir", Path(data_dir) / name)]
    if os.environ.get("NPAE_DATA"):
        places.append(("NPAE_DATA", Path(os.environ["NPAE_DATA"]) / "timeseries" / name))
    places.append(("user cache", user_cache_dir() / "timeseries" / name))
    return places


def _check_name(name, table):
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}, got {name!r}")


def _verified_text(data, key, where):
    """The file's text after checking its SHA-256 against CHECKSUMS[key]."""
    if hashlib.sha256(data).hexdigest() != CHECKSUMS[key]:
        raise CorruptFileError(where, f"SHA-256 differs from that of {key} in the data folder's SHA256SUMS",
                               "Replace the file with a good copy (see ../shared/data/timeseries/README.md)")
    return data.decode("utf-8")


def _read(path, key):
    """The bytes of ``path``, verified against CHECKSUMS[key]; a file too large to be it is refused unread."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorruptFileError(path, f"{size:,} bytes, far more than {key} holds (at most {MAX_FILE_BYTES:,} read)")
    return _verified_text(path.read_bytes(), key, path)


def _find(name, files, data_dir):
    """(folder, place) of the first folder on the search path holding every file of ``files``, or None."""
    searched = []
    for place, folder in search_path(name, data_dir):
        present = [(folder / file).is_file() for file in files.values()]
        searched.append((place, folder, "found" if all(present) else "incomplete" if any(present) else "absent"))
        if all(present):
            return folder, place, searched
    return None, None, searched


def _not_found(name, searched, sample_note=""):
    lines = [f"the time series {name!r} was not found; searched:"]
    lines += [f"  {place}: {folder} ({status})" for place, folder, status in searched]
    lines.append("Point NPAE_DATA at a folder holding timeseries/ (e.g. NPAE_DATA=../shared/data)" + sample_note)
    return DataNotFoundError("\n".join(lines), searched)


def parse_labelled_csv(text, where):
    """(values (T,), labels (T,) uint8) of a ``timestamp,value,is_anomaly`` CSV (the label may be 0.0)."""
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise CorruptFileError(where, f"not a timestamp,value,is_anomaly CSV: {error}") from None
    if table.shape[1] != 3 or not np.isin(table[:, 2], (0, 1)).all():
        raise CorruptFileError(where, "expected three columns timestamp,value,is_anomaly with labels 0 or 1")
    return table[:, 1].copy(), table[:, 2].astype(np.uint8)


def parse_ts(text, where):
    """(x (N, L) float64, y (N,) int) of an sktime/aeon ``.ts`` file of equal-length univariate series."""
    rows, labels, in_data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            in_data = in_data or line.lower() == "@data"
            continue
        if not in_data:
            continue
        values, _, label = line.rpartition(":")
        rows.append(np.array(values.split(","), dtype=np.float64))
        labels.append(int(label))
    if not rows or len({row.size for row in rows}) != 1:
        raise CorruptFileError(where, "expected @data lines of equal-length series 'v1,...,vn:label'")
    return np.stack(rows), np.array(labels)


def load_series(name, data_dir=None, sample=None):
    """The labelled series ``name`` (a key of ``SERIES``) as a :class:`LabelledSeries`.

    ``sample``: True reads the embedded copy; False only the folders of the search path; None (default)
    the folders, then the embedded copy when the series has one.  Not found: :class:`DataNotFoundError`.
    """
    _check_name(name, SERIES)
    files = SERIES[name]
    folder = place = None
    searched = []
    if sample is not True:
        folder, place, searched = _find(name, files, data_dir)
    if folder is None and (sample is True or (sample is None and name in SAMPLE_SERIES)):
        if name not in SAMPLE_SERIES:
            raise ValueError(f"the embedded sample holds {list(SAMPLE_SERIES)} only, not {name!r}")
        texts = {part: _verified_text(lzma.decompress((TIMESERIES_SAMPLE_DIR / f"{name}-{file}.xz").read_bytes()),
                                      f"{name}/{file}", TIMESERIES_SAMPLE_DIR / f"{name}-{file}.xz")
                 for part, file in files.items()}
        source = "embedded sample"
    elif folder is None:
        raise _not_found(name, searched, "; the embedded sample holds " + ", ".join(SAMPLE_SERIES))
    else:
        texts = {part: _read(folder / file, f"{name}/{file}") for part, file in files.items()}
        source = f"{place} ({folder})"
    train, train_labels = parse_labelled_csv(texts["train"], f"{name}/{files['train']}")
    test, labels = parse_labelled_csv(texts["test"], f"{name}/{files['test']}")
    if train_labels.any():
        raise CorruptFileError(f"{name}/{files['train']}", "the training part should be anomaly-free")
    return LabelledSeries(name, train, test, labels, source)


def load_ucr_classification(name, data_dir=None):
    """``((x_train, y_train), (x_test, y_test))`` of the UCR classification set ``name`` (a key of
    ``CLASSIFICATION``): x (N, L) float64, one series per row; y (N,) int class labels (1 and 2)."""
    _check_name(name, CLASSIFICATION)
    files = CLASSIFICATION[name]
    folder, _, searched = _find(name, files, data_dir)
    if folder is None:
        raise _not_found(name, searched)
    return tuple(parse_ts(_read(folder / file, f"{name}/{file}"), folder / file)
                 for file in (files["train"], files["test"]))
