"""Loaders for MNIST and Fashion-MNIST, the embedded sample, the fallback the main job uses, and the
paper's anomaly test set.

``load_mnist()`` works like Keras' ``mnist.load_data()`` (same ``(x_train, y_train), (x_test, y_test)``
layout) but finds the files on the search path of :mod:`npae.datasets.locate`, verifies them, and
downloads them (:mod:`npae.datasets.download`) only when no copy exists.

Layouts returned, for N images:

    =========================  ==========================  =================================
    flatten / normalize        images                      labels
    =========================  ==========================  =================================
    True / True  (default)     float32 (N, 784), [0, 1]     uint8 (N,)
    False / True               float32 (N, 28, 28), [0, 1]  uint8 (N,)
    True / False               uint8 (N, 784), 0..255       uint8 (N,)
    False / False (Keras)      uint8 (N, 28, 28), 0..255    uint8 (N,)
    =========================  ==========================  =================================

The two flags act independently; ``dtype`` (float32 or float64) applies only when ``normalize=True``.
Normalisation divides by 255 in the target dtype, which is what ``x.astype("float32") / 255`` gives.
Every returned array is a fresh, writable, C-contiguous array.
"""
import os
import sys
from typing import NamedTuple

import numpy as np

from .._backend import resolve_dtype
from .._npz import ArchiveError, NpzArchive
from .catalog import dataset_spec
from .errors import CorruptFileError, DataNotFoundError
from .locate import Location, download_root, probe, read_verified, search_path
from .sample import SAMPLE_SIZES, sample_path

SPLITS = ("train", "test")
LOADER_NAMES = {"mnist": "load_mnist", "fashion-mnist": "load_fashion_mnist"}

# Fashion-MNIST test image 0 is an ankle boot (class 9): the "one shoe" of the paper's anomaly test.
PAPER_SHOE_INDEX = 0


def _check_flag(value, argument):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{argument} must be True or False, got {value!r}")
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Finding the full data, or explaining why it is not there.

def _not_found(spec, probes, data_dir, download_error):
    """The DataNotFoundError for ``spec``: every place searched, the download outcome, what to do.

    ``download_error``: None (offline: not tried), the OSError of the download, or the string of a
    failure remembered from an earlier run (:mod:`npae.datasets.offline`)."""
    lines = [f"{spec.title} ('{spec.name}') was not found. Searched, in order:"]
    if data_dir is None:
        lines.append("  -  data_dir argument: not given")
    if not os.environ.get("NPAE_DATA"):
        lines.append("  -  NPAE_DATA: not set")
    for place_number, found in enumerate(probes, start=1):
        lines.append(f"  {place_number}. {found.location}: {found.describe()}")
    target = download_root(data_dir)[0] / spec.name
    if download_error is None:
        lines.append("Downloading was not tried: offline (--offline, or download=False).")
        outcome = "downloading was not tried (offline)"
    elif isinstance(download_error, str):
        lines.append(f"Downloading into {target} failed {download_error}")
        outcome = "the mirrors were unreachable " + download_error.splitlines()[0].rstrip(":")
    else:
        lines.append(f"Downloading into {target} failed: " + str(download_error).replace("\n", "\n    "))
        failures = getattr(download_error, "failures", None)
        first = f"{failures[0][1]}" if failures else str(download_error).splitlines()[0]
        outcome = f"it could not be downloaded ({first})"
    file_names = ", ".join(file_spec.gz_name for file_spec in spec.files)
    lines += [
        "To provide the data, do one of:",
        f"  - set NPAE_DATA to a directory holding {spec.name}/ with {file_names} (or uncompressed);",
        "  - run `npae data fetch` on a machine that reaches the internet (or set NPAE_MIRROR=<base URL>"
        f" of a mirror holding {spec.name}/<file>);",
        "  - pass data_dir=<directory> to the loader;",
        f"  - or use the small embedded sample: {LOADER_NAMES[spec.name]}(sample=True).",
    ]
    searched = [(found.location.place, str(found.location.path), found.describe()) for found in probes]
    summary = (f"{spec.name} is not on this machine (`npae data info` lists the places searched) and {outcome}.\n"
               f"For the full data: set NPAE_DATA to a folder holding {spec.name}/, or run `npae data fetch` "
               "where the internet is reachable.")
    return DataNotFoundError("\n".join(lines), searched, summary)


def read_full(spec, data_dir, splits, download):
    """``({(split, kind): uint8 array}, description of the source)`` from the first complete copy on
    the search path, downloading one when there is none and ``download`` is true.

    A copy that fails verification raises CorruptFileError: it is never skipped for the next one.
    """
    probes = []
    for location in search_path(spec, data_dir):
        found = probe(location, spec)
        probes.append(found)
        if found.status == "complete":
            return read_verified(location, spec, splits), str(location)
    if not download:
        raise _not_found(spec, probes, data_dir, None)
    from . import offline
    from .download import fetch, mirror_urls  # deferred: imports urllib on use only

    mirrors = mirror_urls(spec.name)
    recent = offline.recent_failure(spec.name, mirrors)
    if recent is not None:  # offline a moment ago: do not try every mirror again on every run
        ago, wait, reason = recent
        when = "under a minute ago" if ago < 60 else f"{ago / 60:.0f} min ago"
        raise _not_found(spec, probes, data_dir, f"{when}; not retried for another {max(wait / 60, 1):.0f} min "
                         "(`npae data fetch` retries now):\n    " + reason.replace("\n", "\n    "))
    root, place = download_root(data_dir)
    print(f"npae: {spec.name} was not found locally; downloading it into {root / spec.name}", file=sys.stderr)
    try:
        location = Location(place, fetch(spec.name, data_dir))
    except OSError as error:  # DownloadError, or a target directory that cannot be created
        offline.remember(spec.name, mirrors, error)
        raise _not_found(spec, probes, data_dir, error) from error
    return read_verified(location, spec, splits), f"{location}, downloaded"


def read_sample(spec, splits):
    """The embedded sample's uint8 arrays, ``{(split, kind): array}``, checked for layout.

    Each member's header is checked against the sample's fixed sizes before its data is read.
    """
    path = sample_path(spec.name)
    remedy = "Reinstall npae, or rebuild the sample with `python -m npae.datasets.sample.build`"
    if not path.is_file():
        raise FileNotFoundError(f"the embedded sample {path} is missing. {remedy}")

    def expect(split, kind):
        count = SAMPLE_SIZES[spec.name][SPLITS.index(split)]
        shape = (count, 28, 28) if kind == "images" else (count,)

        def check(header):
            if header.dtype != np.uint8 or header.shape != shape:
                raise CorruptFileError(path, f"holds {split} {kind} as {header.dtype} {header.shape}, expected "
                                             f"uint8 {shape}", remedy)
        return check

    arrays = {}
    try:
        with NpzArchive(path, allow_lzma=True) as archive:  # every shape is fixed: LZMA's ratio cannot mislead
            for split in splits:
                for kind in ("images", "labels"):
                    arrays[split, kind] = archive.read(("x_" if kind == "images" else "y_") + split,
                                                       expect(split, kind))
    except RuntimeError as error:  # zipfile's way of saying this Python was built without lzma
        raise RuntimeError(f"reading {path} needs Python's lzma module: {error}") from None
    except ArchiveError as error:  # not a zip, bad CRC (zipfile checks one per member), missing array
        raise CorruptFileError(path, f"cannot be read ({error.problem})", remedy) from None
    for split in splits:
        labels = arrays[split, "labels"]
        if labels.size and labels.max() >= len(spec.class_names):
            raise CorruptFileError(path, f"holds {split} labels up to {labels.max()}, expected labels below "
                                         f"{len(spec.class_names)}", remedy)
    return arrays


def _read(name, data_dir, splits, sample, download):
    """Raw uint8 arrays of ``splits`` from the sample or the full data, and where they came from."""
    spec = dataset_spec(name)
    if _check_flag(sample, "sample"):
        return read_sample(spec, splits), f"embedded sample ({sample_path(name)})"
    return read_full(spec, data_dir, splits, _check_flag(download, "download"))


def _format_images(images, flatten, normalize, dtype):
    """uint8 (N, 28, 28) -> the layout of the module docstring's table, as a new writable array."""
    if normalize:
        result = np.empty(images.shape, dtype=dtype)
        # One pass, no uint8 -> float temporary: converting and dividing in the ufunc's inner loop.
        np.divide(images, dtype.type(255), out=result)
    else:
        result = np.array(images, dtype=np.uint8, copy=True)
    return result.reshape(len(result), -1) if flatten else result


def _assemble(arrays, flatten, normalize, dtype):
    """``((x_train, y_train), (x_test, y_test))`` from the raw arrays, in the requested layout."""
    return tuple(
        (_format_images(arrays[split, "images"], flatten, normalize, dtype), arrays[split, "labels"].copy())
        for split in SPLITS
    )


# ---------------------------------------------------------------------------------------------
# Public loaders.

def load_dataset(name, data_dir=None, *, flatten=True, normalize=True, dtype="float32", sample=False,
                 download=True):
    """Load data set ``name`` (``"mnist"`` or ``"fashion-mnist"``) as ``(x_train, y_train), (x_test, y_test)``.

    Parameters
    ----------
    data_dir : directory searched first, as ``<data_dir>/<name>/``; also where a download goes.
    flatten : images as (N, 784) rather than (N, 28, 28).
    normalize : float pixels in [0, 1] (``dtype``) rather than uint8 0..255.
    dtype : "float32" (default) or "float64"; used only when ``normalize`` is True.
    sample : load the small embedded sample instead of the full data (see ``sample/README.md``).
    download : when no copy is found, fetch one from the mirrors (``False``: raise DataNotFoundError).

    Raises DataNotFoundError (no copy, no download), CorruptFileError (a ValueError: the copy found
    fails verification; it is never skipped in favour of another one), ValueError for bad arguments.
    """
    normalize = _check_flag(normalize, "normalize")
    flatten = _check_flag(flatten, "flatten")
    dtype = resolve_dtype(dtype)
    arrays, _ = _read(name, data_dir, SPLITS, sample, download)
    return _assemble(arrays, flatten, normalize, dtype)


def load_mnist(data_dir=None, *, flatten=True, normalize=True, dtype="float32", sample=False, download=True):
    """MNIST: 60,000 training and 10,000 test digits, ``(x_train, y_train), (x_test, y_test)``.

    Defaults: float32 in [0, 1], flattened to 784; labels uint8 0..9.  ``normalize=False,
    flatten=False`` gives Keras' uint8 (N, 28, 28).  See :func:`load_dataset` for every argument.
    """
    return load_dataset("mnist", data_dir, flatten=flatten, normalize=normalize, dtype=dtype,
                        sample=sample, download=download)


def load_fashion_mnist(data_dir=None, *, flatten=True, normalize=True, dtype="float32", sample=False,
                       download=True):
    """Fashion-MNIST: 60,000 + 10,000 images of 10 clothing classes (names in ``FASHION_MNIST_CLASSES``).

    Same layout and arguments as :func:`load_mnist`.
    """
    return load_dataset("fashion-mnist", data_dir, flatten=flatten, normalize=normalize, dtype=dtype,
                        sample=sample, download=download)


class FoundData(NamedTuple):
    """What :func:`find_or_sample` returns.

    ``data`` is ``((x_train, y_train), (x_test, y_test))``; ``used_sample`` says whether it is the
    embedded sample; ``message`` is one line saying where the data came from, or a NOTICE (several
    lines) explaining why the sample is used and how to provide the full data.
    """

    data: tuple
    used_sample: bool
    message: str


def find_or_sample(name, data_dir=None, *, download=True, flatten=True, normalize=True, dtype="float32"):
    """Load the full data set ``name``, or fall back to the embedded sample when it cannot be had.

    For the main job (``npae reproduce``): it runs everywhere, and says loudly when it ran on the
    sample.  Print ``result.message`` when ``result.used_sample`` is true.

    The fallback happens only when the data is *absent*: nowhere on the search path and not
    downloadable (:class:`DataNotFoundError`).  A copy that exists but fails verification still raises
    :class:`CorruptFileError`, because a damaged file is something to fix, not to work around.
    """
    normalize = _check_flag(normalize, "normalize")
    flatten = _check_flag(flatten, "flatten")
    dtype = resolve_dtype(dtype)
    spec = dataset_spec(name)
    try:
        arrays, source = _read(name, data_dir, SPLITS, False, download)
        used_sample = False
    except DataNotFoundError as error:
        arrays, source = read_sample(spec, SPLITS), None
        reason = error.summary
        used_sample = True
    data = _assemble(arrays, flatten, normalize, dtype)
    n_train, n_test = len(data[0][1]), len(data[1][1])
    if not used_sample:
        message = f"{name}: {n_train:,} training + {n_test:,} test images from {source}, verified"
    else:
        message = (
            f"NOTICE: using the embedded {name} sample ({n_train:,} training + {n_test:,} test images) instead of "
            f"the full data set; results will differ from the paper's.\n  " + reason.replace("\n", "\n  ")
        )
    return FoundData(data, used_sample, message)


# ---------------------------------------------------------------------------------------------
# The anomaly-detection test set of the paper (its figures 9-11; paper-notes.md, experiment 4).

class AnomalySet(NamedTuple):
    """MNIST test images with Fashion-MNIST test images mixed in, as returned by :func:`anomaly_set`.

    For M MNIST images and n inserted ones (M = 10,000 for the full data):

    x              (M + n, 784) float32 by default (layout as in :func:`load_mnist`)
    is_anomaly     (M + n,) bool, True on the Fashion-MNIST rows
    labels         (M + n,) uint8: the digit for MNIST rows, the Fashion-MNIST class for the others
    anomaly_index  (n,) int64: rows of ``x`` holding the inserted images
    source_index   (n,) int64: their indices in the Fashion-MNIST test set, aligned with ``anomaly_index``
    """

    x: np.ndarray
    is_anomaly: np.ndarray
    labels: np.ndarray
    anomaly_index: np.ndarray
    source_index: np.ndarray


def _choose_fashion(fashion_labels, fashion_indices, n_anomalies, classes, rng):
    """The Fashion-MNIST test indices to insert (int64, in the order they are appended)."""
    available = len(fashion_labels)
    if fashion_indices is not None and n_anomalies is not None:
        raise ValueError("give fashion_indices or n_anomalies, not both")
    if n_anomalies is None:
        indices = np.atleast_1d(np.asarray(PAPER_SHOE_INDEX if fashion_indices is None else fashion_indices))
        if indices.ndim != 1 or indices.size == 0 or indices.dtype.kind not in "iu":
            raise ValueError(f"fashion_indices must be an int or a non-empty sequence of ints, got {fashion_indices!r}")
        if indices.min() < 0 or indices.max() >= available or len(np.unique(indices)) != len(indices):
            raise ValueError(f"fashion_indices must be distinct and in [0, {available}), got {fashion_indices!r}")
        return indices.astype(np.int64)
    if classes is None:
        pool = np.arange(available)
    else:
        wanted = np.asarray(classes).ravel()
        if wanted.dtype.kind not in "iu" or wanted.size == 0 or wanted.min() < 0 or wanted.max() > 9:
            raise ValueError(f"classes must be class numbers in 0..9, got {classes!r}")
        pool = np.flatnonzero(np.isin(fashion_labels, wanted))
    if isinstance(n_anomalies, bool) or not isinstance(n_anomalies, (int, np.integer)) \
            or not 1 <= n_anomalies <= len(pool):
        raise ValueError(f"n_anomalies must be an int in [1, {len(pool)}], got {n_anomalies!r}")
    # Sorted so that the inserted images come in test-set order whatever the draw order.
    return np.sort(rng.choice(pool, size=int(n_anomalies), replace=False)).astype(np.int64)


def anomaly_set(data_dir=None, *, fashion_indices=None, n_anomalies=None, classes=None, seed=0, shuffle=False,
                flatten=True, normalize=True, dtype="float32", sample=False, download=True):
    """The paper's anomaly test set: MNIST test images plus Fashion-MNIST test images, labelled.

    Two modes:

    * the paper's (default): the 10,000 MNIST test images followed by ONE shoe, Fashion-MNIST test
      image ``PAPER_SHOE_INDEX`` = 0 (an ankle boot); ``anomaly_index`` is then ``[10000]``.
      ``fashion_indices`` (an int or a sequence of ints) picks other Fashion-MNIST test images.
    * ROC-style: ``n_anomalies=n`` draws n distinct Fashion-MNIST test images with
      ``np.random.default_rng(seed)``, from the classes in ``classes`` (default: all ten; the
      shoes are 5, 7, 9).

    The inserted images are appended after the MNIST ones; ``shuffle=True`` then permutes all rows with
    the same generator (``anomaly_index`` follows them).  ``sample=True`` uses the embedded samples
    (1,000 MNIST + 1,000 Fashion-MNIST test images).  ``flatten``, ``normalize``, ``dtype``,
    ``data_dir`` and ``download`` are as in :func:`load_mnist`.  Same arguments, same result.
    """
    normalize = _check_flag(normalize, "normalize")
    flatten = _check_flag(flatten, "flatten")
    dtype = resolve_dtype(dtype)
    _check_seed(seed)
    _check_flag(shuffle, "shuffle")
    mnist, _ = _read("mnist", data_dir, ("test",), sample, download)
    fashion, _ = _read("fashion-mnist", data_dir, ("test",), sample, download)
    mixed = inject_anomalies(mnist["test", "images"], mnist["test", "labels"], fashion["test", "images"],
                             fashion["test", "labels"], fashion_indices=fashion_indices, n_anomalies=n_anomalies,
                             classes=classes, seed=seed, shuffle=shuffle)
    return mixed._replace(x=_format_images(mixed.x, flatten, normalize, dtype))


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")


def inject_anomalies(normal, normal_labels, fashion, fashion_labels, *, fashion_indices=None, n_anomalies=None,
                     classes=None, seed=0, shuffle=False):
    """``normal`` (M, ...) followed by chosen rows of ``fashion`` (F, ...), as an :class:`AnomalySet`: what
    :func:`anomaly_set` builds from the files, for arrays already in memory (any layout, e.g. the float
    (N, 784) arrays ``load_mnist`` returns; ``x`` keeps it).  The choice of rows, ``shuffle`` and ``seed`` work
    as in :func:`anomaly_set`: the same arguments choose the same images."""
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    normal_labels, fashion_labels = np.asarray(normal_labels), np.asarray(fashion_labels)
    if len(normal) != len(normal_labels) or len(fashion) != len(fashion_labels) \
            or np.shape(normal)[1:] != np.shape(fashion)[1:]:
        raise ValueError(f"normal {np.shape(normal)} / normal_labels {normal_labels.shape} and fashion "
                         f"{np.shape(fashion)} / fashion_labels {fashion_labels.shape} must pair up row by row, "
                         "with one image shape")
    source_index = _choose_fashion(fashion_labels, fashion_indices, n_anomalies, classes, rng)
    n_normal, n_inserted = len(normal_labels), len(source_index)
    images = np.concatenate([normal, np.asarray(fashion)[source_index]])     # (M + n, ...)
    labels = np.concatenate([normal_labels, fashion_labels[source_index]])
    is_anomaly = np.arange(n_normal + n_inserted) >= n_normal
    anomaly_index = np.arange(n_normal, n_normal + n_inserted, dtype=np.int64)
    if _check_flag(shuffle, "shuffle"):
        order = rng.permutation(n_normal + n_inserted)  # new row r holds old row order[r]
        images, labels, is_anomaly = images[order], labels[order], is_anomaly[order]
        new_position = np.empty_like(order)
        new_position[order] = np.arange(len(order))
        anomaly_index = new_position[anomaly_index].astype(np.int64)
    return AnomalySet(images, is_anomaly, labels, anomaly_index, source_index)
