"""Where the data sets are looked for, and how a copy that was found is verified before it is used.

Search order for a data set called ``name`` (``"mnist"`` or ``"fashion-mnist"``):

1. ``<data_dir>/<name>/``: the ``data_dir`` argument of the loaders;
2. ``$NPAE_DATA/<name>/``;
3. ``<user cache>/<name>/``, the user cache being ``$XDG_CACHE_HOME/npae`` or ``~/.cache/npae``
   (where downloads go when neither of the above is given);
4. for Fashion-MNIST only, ``/usr/share/datasets/fashion-mnist/`` (Debian's ``dataset-fashion-mnist``);
5. the Keras cache, ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``: ``mnist.npz`` or ``fashion-mnist/``.

A directory counts as a copy when it holds all four files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each either
uncompressed or with ``.gz``; when both exist the uncompressed one is read (no decompression).
The first complete copy is the one used.  A directory holding only some of the files is skipped (the
downloader completes it when it is the download target).

"Verified" means: each file parses as a strict IDX file (:mod:`npae.datasets.idx`) of the expected
shape, and the SHA-256 of its decompressed bytes equals the one in :mod:`npae.datasets.catalog`.
A file that fails is a :class:`CorruptFileError`; the loaders raise it rather than fall back to the
next copy, so a damaged file is always reported and never loaded.
"""
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalog import DEBIAN_FASHION_MNIST_DIR, DatasetSpec
from .errors import CorruptFileError
from .._files import as_path
from .._npz import ArchiveError, NpzArchive
from .idx import IdxReader, encode_idx

REMEDY = (
    "Delete the damaged file and run `npae data fetch` to download a fresh copy, "
    "or point NPAE_DATA at a good one"
)


@dataclass(frozen=True)
class Location:
    """One place on the search path: ``path`` is a directory of IDX files (``kind="idx"``) or a Keras
    ``.npz`` file (``kind="keras-npz"``); ``place`` says why it is searched (``"NPAE_DATA"``...)."""

    place: str
    path: Path
    kind: str = "idx"

    def __str__(self):
        return f"{self.place} ({self.path})"


@dataclass
class Probe:
    """What a location holds, found from file names alone (nothing is read).

    ``files`` maps each present FileSpec name to the path that would be read; ``missing`` lists the
    FileSpecs with no file.
    """

    location: Location
    files: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """``"complete"``, ``"incomplete"`` (some files) or ``"absent"`` (none)."""
        if not self.missing:
            return "complete"
        return "incomplete" if self.files else "absent"

    def describe(self) -> str:
        if self.status == "incomplete":
            names = ", ".join(spec.name + "[.gz]" for spec in self.missing)
            return f"incomplete, missing {names}"
        return {"complete": "found", "absent": "not present"}[self.status]


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/npae``, or ``~/.cache/npae`` when the variable is unset, empty or relative
    (the XDG Base Directory specification says to ignore relative paths)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "npae"


def keras_datasets_dir() -> Path:
    """``$KERAS_HOME/datasets`` or ``~/.keras/datasets``, where Keras' ``get_file`` caches downloads."""
    base = os.environ.get("KERAS_HOME", "")
    return (Path(base) if base else Path.home() / ".keras") / "datasets"


def download_root(data_dir=None):
    """``(root, place)``: the data root a download writes into, ``<root>/<name>/`` being the target.

    ``data_dir`` when given, else ``$NPAE_DATA`` when set, else the user cache: the first of the
    searched roots that the user named, so that the next load finds the files where they went.
    """
    if data_dir is not None:
        return as_path(data_dir, "data_dir"), "data_dir argument"
    if os.environ.get("NPAE_DATA"):
        return Path(os.environ["NPAE_DATA"]), "NPAE_DATA"
    return user_cache_dir(), "user cache"


def search_path(spec: DatasetSpec, data_dir=None) -> list:
    """The Locations searched for ``spec``, in order (see the module docstring); duplicates removed."""
    locations = []
    if data_dir is not None:
        locations.append(Location("data_dir argument", as_path(data_dir, "data_dir") / spec.name))
    if os.environ.get("NPAE_DATA"):
        locations.append(Location("NPAE_DATA", Path(os.environ["NPAE_DATA"]) / spec.name))
    locations.append(Location("user cache", user_cache_dir() / spec.name))
    if spec.name == "fashion-mnist":
        locations.append(Location("Debian package dataset-fashion-mnist", Path(DEBIAN_FASHION_MNIST_DIR)))
    if spec.keras_npz:
        locations.append(Location("Keras cache", keras_datasets_dir() / spec.keras_npz, "keras-npz"))
    if spec.keras_dir:
        locations.append(Location("Keras cache", keras_datasets_dir() / spec.keras_dir))
    unique, seen = [], set()
    for location in locations:
        key = os.path.abspath(location.path)
        if key not in seen:
            seen.add(key)
            unique.append(location)
    return unique


def find_file(directory: Path, file_spec) -> Path | None:
    """The file holding ``file_spec`` in ``directory``: uncompressed first, then ``.gz``; None if neither."""
    for name in (file_spec.name, file_spec.gz_name):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def probe(location: Location, spec: DatasetSpec) -> Probe:
    """Which of ``spec``'s files ``location`` holds (by name only; see :func:`read_verified` for content)."""
    result = Probe(location)
    if location.kind == "keras-npz":
        if location.path.is_file():
            result.files = {file_spec.name: location.path for file_spec in spec.files}
        else:
            result.missing = list(spec.files)
        return result
    for file_spec in spec.files:
        path = find_file(location.path, file_spec)
        if path is None:
            result.missing.append(file_spec)
        else:
            result.files[file_spec.name] = path
    return result


def verify_idx_file(path: Path, file_spec) -> np.ndarray:
    """Read ``path`` and check it is ``file_spec``'s data; return the uint8 array.

    Raises :class:`CorruptFileError` naming the file and the problem: not IDX, damaged gzip, wrong
    shape, or decompressed bytes whose SHA-256 is not the catalogued one.  The header is checked
    against ``file_spec`` before any data is read, so a file declaring another shape costs nothing.
    """
    try:
        with IdxReader(path) as reader:
            _check_array(path, reader.header.dtype, reader.header.shape, file_spec)
            data = reader.read_data()
            header_bytes, shape = reader.header_bytes, reader.header.shape
    except CorruptFileError:
        raise
    except ValueError as error:
        raise CorruptFileError(path, str(error).removeprefix(f"{path}: "), REMEDY) from None
    digest = hashlib.sha256(header_bytes)
    digest.update(data)
    _check_digest(path, digest.hexdigest(), file_spec)
    return data.reshape(shape)


def _check_array(path, dtype, shape, file_spec):
    if dtype != np.uint8 or shape != file_spec.shape:
        raise CorruptFileError(
            path,
            f"holds {dtype.newbyteorder('=')} {shape}, expected {file_spec.name} as uint8 {file_spec.shape}",
            REMEDY,
        )


def _check_digest(path, digest, file_spec):
    if digest != file_spec.sha256:
        raise CorruptFileError(
            path,
            f"the decompressed data is not the original {file_spec.name}: "
            f"SHA-256 {digest}, expected {file_spec.sha256}",
            REMEDY,
        )


def _keras_npz_arrays(path: Path, file_specs) -> dict:
    """Arrays of a Keras ``.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``), verified.

    Keras compresses differently from the IDX files, so the identity check rebuilds the IDX bytes of
    each array (:func:`encode_idx`) and compares their SHA-256 with the catalogue.  Each member's
    header is checked (shape; uint8 images, integer labels) before its data is read.
    """
    def expect(file_spec):
        images = file_spec.kind == "images"

        def check(header):
            integers = header.dtype.kind in ("u" if images else "iu") and header.dtype.itemsize <= (1 if images else 8)
            if not integers or header.shape != file_spec.shape:
                raise CorruptFileError(path, f"holds {header.dtype} {header.shape}, expected {file_spec.name} as "
                                             f"{'uint8' if images else 'integers'} {file_spec.shape}", REMEDY)
        return check

    arrays = {}
    try:
        with NpzArchive(path) as archive:
            for file_spec in file_specs:
                key = ("x_" if file_spec.kind == "images" else "y_") + file_spec.split
                if key not in archive:
                    raise CorruptFileError(path, f"has no array {key!r} (expected x_train, y_train, x_test, "
                                                 "y_test)", REMEDY)
                arrays[file_spec.name] = archive.read(key, expect(file_spec))
    except ArchiveError as error:
        raise CorruptFileError(path, f"cannot be read as a .npz file ({error.problem})", REMEDY) from None
    for file_spec in file_specs:
        array = arrays[file_spec.name]
        if file_spec.kind == "labels" and np.all((array >= 0) & (array < 256)):
            array = array.astype(np.uint8, copy=False)  # labels stored as int64 are the same data
        _check_array(path, array.dtype, array.shape, file_spec)
        _check_digest(path, hashlib.sha256(encode_idx(array)).hexdigest(), file_spec)
        arrays[file_spec.name] = array
    return arrays


def read_verified(location: Location, spec: DatasetSpec, splits=("train", "test")) -> dict:
    """Read and verify the files of ``splits`` at ``location``: ``{(split, kind): uint8 array}``.

    Arrays are fresh and writable; callers may convert them in place.
    """
    file_specs = [file_spec for file_spec in spec.files if file_spec.split in splits]
    if location.kind == "keras-npz":
        arrays = _keras_npz_arrays(location.path, file_specs)
    else:
        found = probe(location, spec).files
        arrays = {}
        for file_spec in file_specs:
            if file_spec.name not in found:  # removed since the location was probed
                raise FileNotFoundError(f"{location.path / file_spec.name}[.gz] not found")
            arrays[file_spec.name] = verify_idx_file(found[file_spec.name], file_spec)
    return {(file_spec.split, file_spec.kind): arrays[file_spec.name] for file_spec in file_specs}
