"""Saving and loading models: one ``.npz`` file, no pickle.

Layout (format "npae.autoencoder", version 1):
    __format__    JSON: {"format": "npae.autoencoder", "version": 1}
    config        JSON: the constructor arguments (Autoencoder.get_config())
    weight_<i>    the arrays of get_weights(), in order
    optimizer_<i> the optimiser's state arrays (Adam's m then v), and optimizer_iterations, so that
                  training can resume exactly where it stopped

Writes are atomic: the file is written under a temporary name in the same folder, flushed to disk, then
renamed over the target, so a crash never leaves a half-written model behind.  Loads use
``allow_pickle=False`` (a model file cannot run code) and check every array against the architecture
before anything is built; any problem is a ValueError that names the file.
"""
import json
import os
import zipfile

import numpy as np

from ._files import atomic_open

FORMAT_NAME = "npae.autoencoder"
FORMAT_VERSION = 1


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it to ``path``
    (see npae._files.atomic_open).  A missing folder is a ValueError, before anything is written."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path!r}: the folder {directory!r} does not exist")
    with atomic_open(path) as stream:
        write(stream)


def save_model(model, path):
    """Save an Autoencoder to ``path`` (see the module docstring for the layout)."""
    arrays = {"__format__": np.array(json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION})),
              "config": np.array(json.dumps(model.get_config(), sort_keys=True))}
    for index, weight in enumerate(model.get_weights()):
        arrays[f"weight_{index}"] = weight
    for index, state in enumerate(model.optimizer_.state_arrays()):
        arrays[f"optimizer_{index}"] = state
    arrays["optimizer_iterations"] = np.array(model.optimizer_.iterations, dtype=np.int64)
    atomic_write(path, lambda stream: np.savez(stream, **arrays))


def _read_json(archive, key, path):
    try:
        value = archive[key]
    except KeyError:
        raise ValueError(f"{path}: not an npae model file (no {key!r} entry)") from None
    if value.shape != () or value.dtype.kind != "U":
        raise ValueError(f"{path}: entry {key!r} is not a JSON string")
    try:
        return json.loads(str(value))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: entry {key!r} is not valid JSON ({error})") from None


def _numbered_arrays(archive, names, prefix):
    """archive[prefix0], archive[prefix1], ... up to the first missing number (a gap shows up later as a
    count that does not match the architecture)."""
    arrays = []
    while f"{prefix}{len(arrays)}" in names:
        arrays.append(archive[f"{prefix}{len(arrays)}"])
    return arrays


def load(path):
    """Load a model written by ``Autoencoder.save``; a damaged or foreign file raises a ValueError."""
    from .model import Autoencoder

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = _read_json(archive, "__format__", path)
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise ValueError(f"{path}: not an npae model file (format {header!r})")
            if header.get("version") != FORMAT_VERSION:
                raise ValueError(f"{path}: model format version {header.get('version')!r} is not supported "
                                 f"(this npae reads version {FORMAT_VERSION})")
            config = _read_json(archive, "config", path)
            names = set(archive.files)
            weights = _numbered_arrays(archive, names, "weight_")
            states = _numbered_arrays(archive, names, "optimizer_")
            iterations = int(archive["optimizer_iterations"]) if "optimizer_iterations" in names else 0
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
        raise ValueError(f"{path}: not a readable npae model file ({type(error).__name__}: {error})") from None
    except ValueError as error:
        if str(error).startswith(path):
            raise
        raise ValueError(f"{path}: not a readable npae model file ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config must be a JSON object")
    try:
        model = Autoencoder(**config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: invalid architecture in config ({error})") from None
    try:
        model.set_weights(weights)
    except ValueError as error:
        raise ValueError(f"{path}: weights do not match the architecture ({error})") from None
    parameters = model.parameters()
    if states:
        expected_shapes = [p.shape for p in parameters] * model.optimizer_.arrays_per_parameter
        if [state.shape for state in states] != expected_shapes or any(s.dtype.kind != "f" for s in states):
            raise ValueError(f"{path}: optimiser state does not match the architecture")
        model.optimizer_.set_state(iterations, [s.astype(model.dtype) for s in states])
    return model
