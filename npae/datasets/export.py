"""``npae data export``: MNIST or Fashion-MNIST as plain files that every command (and any tool) reads.

For a data set ``name`` and a format (``npy`` or ``csv``), four files in one folder:

    <name>-train-images.<ext>   (60000, 784) pixels 0..255, one image per row (uint8 in .npy)
    <name>-train-labels.<ext>   (60000,) class numbers 0..9
    <name>-test-images.<ext>    (10000, 784)
    <name>-test-labels.<ext>    (10000,)

CSV files start with a line of column names (``pixel0,...,pixel783``, ``label``), which the npae
commands recognise as such.  The pixels stay 0..255: ``--scale auto`` of the commands divides them by
255.  When the full data cannot be had (offline, nothing found) the embedded sample is exported with the
NOTICE of :func:`npae.datasets.find_or_sample`, and the names say so: ``<name>-sample-train-images...``.

Each file is written atomically; existing files are never replaced unless ``force`` is true, and that
is checked for all four before the first one is written.
"""
import os

import numpy as np

from .._files import atomic_open, writable_target
from .loaders import FoundData, find_or_sample, load_dataset

FORMATS = ("npy", "csv")
ROWS_PER_WRITE = 2000  # CSV text is built and written in blocks: bounded memory for 60,000 x 784 values


def export_paths(name, folder, file_format, used_sample):
    """``{(split, kind): path}`` of the four files :func:`export` writes."""
    stem = f"{name}-sample" if used_sample else name
    return {(split, kind): os.path.join(folder, f"{stem}-{split}-{kind}.{file_format}")
            for split in ("train", "test") for kind in ("images", "labels")}


def _write_npy(path, array):
    with atomic_open(path) as stream:
        np.save(stream, array, allow_pickle=False)


def _write_csv(path, array, header):
    """Whole numbers 0..255 as CSV text: each value's text is looked up rather than formatted anew."""
    texts = np.array([str(value) for value in range(256)], dtype=object)
    with atomic_open(path) as stream:
        stream.write((header + "\n").encode("ascii"))
        rows = array.reshape(len(array), -1)
        for start in range(0, len(rows), ROWS_PER_WRITE):
            block = texts[rows[start:start + ROWS_PER_WRITE]]
            stream.write("".join(",".join(row) + "\n" for row in block).encode("ascii"))


def export(name, folder, file_format="npy", *, force=False, data_dir=None, download=True, sample=False):
    """Write data set ``name`` to ``folder`` in ``file_format``; returns ``(paths, found)``.

    ``paths`` is the ``{(split, kind): path}`` of :func:`export_paths`; ``found`` the
    :class:`~npae.datasets.FoundData` exported (print ``found.message`` when ``found.used_sample``).
    ``sample=True`` exports the embedded sample even when the full data exists.  Raises ValueError
    (before writing anything) when a file exists and ``force`` is false.
    """
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FORMATS)}, got {file_format!r}")
    if sample:
        found = FoundData(load_dataset(name, normalize=False, sample=True), True, f"{name}: the embedded sample")
    else:
        found = find_or_sample(name, data_dir, download=download, normalize=False)
    paths = export_paths(name, folder, file_format, found.used_sample)
    existing = [path for path in paths.values() if os.path.exists(path)]
    if existing and not force:
        raise ValueError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "use --force to replace them")
    for path in existing:  # every target checked before the first write: never a half-replaced set
        writable_target(path, "the output")
    for (split, kind), path in paths.items():
        array = found.data[("train", "test").index(split)][0 if kind == "images" else 1]
        if file_format == "npy":
            _write_npy(path, array)
        else:
            header = ",".join(f"pixel{j}" for j in range(array.shape[1])) if kind == "images" else "label"
            _write_csv(path, array, header)
    return paths, found
