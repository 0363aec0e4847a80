"""Saving and loading models: one zip file (``.npz``), no pickle, checked before anything is allocated.

Layout (format "npae.model", version 2), each member a file in the zip:

    format.json        {"format": "npae.model", "version": 2}
    architecture.json  {"class": "Autoencoder", "config": model.get_config()}: layer classes by name
    training.json      {"optimizer_iterations": t, "random_state": {"shuffle": ..., "noise": ...}}:
                       the step count and the generators' states, so that training resumes exactly
    parameter_<i>.npy  the arrays of get_weights(), in order
    optimizer_<i>.npy  the optimiser's state arrays (Adam: every m, then every v)

``np.load`` can open such a file (``.npy`` members as arrays, ``.json`` members as bytes).  Files of the
first format ("npae.autoencoder", version 1, written by npae 0.1) load too.

What loading guarantees (see also docs/guarantees.md):
* nothing in the file is executed: no pickle (``.npy`` headers are parsed as literals by NumPy), and
  layer classes are looked up by name among the registered ones (npae.registry), never imported;
* nothing is allocated before it is known to be needed: the JSON members are capped in size; the model
  is first built as a skeleton whose parameters take no memory (npae.layers.base, "placeholder" mode);
  every ``.npy`` member's header (shape, dtype) and size are compared with the skeleton's parameters
  before any array data is read; the memory the model needs is compared with what the machine has;
  only then are the arrays read, straight into the model's parameters;
* every value is checked: parameters and optimiser state finite, Adam's second moments >= 0, the step
  count a whole number >= 1 when there is state, the generators' states well formed;
* any problem is a ValueError that names the file (FileNotFoundError when there is no file at all).

Writes are atomic (npae._files): a crash never leaves a half-written model behind.
"""
import json
import os
import struct
import zipfile

import numpy as np

from ._files import atomic_write
from ._memory import check_allocation, format_bytes
from .layers.base import construction_mode
from .registry import layers_from_config, lookup, registered_names

FORMAT_NAME = "npae.model"
FORMAT_VERSION = 2
OLD_FORMAT_NAME = "npae.autoencoder"  # version 1

MAX_JSON_BYTES = 1 << 20   # an architecture of thousands of layers fits in far less
MAX_MEMBERS = 10_000       # parameters + optimiser state of a very deep model


def save_model(model, path):
    """Save ``model`` (any npae model) to ``path``; see the module docstring for the layout."""
    iterations, state = model.optimizer.get_state()
    documents = {
        "format.json": {"format": FORMAT_NAME, "version": FORMAT_VERSION},
        "architecture.json": {"class": type(model).__name__, "config": model.get_config()},
        "training.json": {"optimizer_iterations": int(iterations),
                          "random_state": {"shuffle": model.shuffle_rng.bit_generator.state,
                                           "noise": model.noise_rng.bit_generator.state}},
    }
    arrays = {f"parameter_{index}.npy": weight for index, weight in enumerate(model.parameters())}
    arrays.update({f"optimizer_{index}.npy": array for index, array in enumerate(state)})
    encoded = {name: json.dumps(document, sort_keys=True, allow_nan=False).encode("utf-8")
               for name, document in documents.items()}  # before opening: a config error writes nothing

    def write(stream):
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, payload in encoded.items():
                archive.writestr(name, payload)
            for name, array in arrays.items():
                with archive.open(name, "w", force_zip64=array.nbytes > 2 ** 30) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)

    atomic_write(path, write)


# --------------------------------------------------------------------------------------------------
# Loading

class _File:
    """The zip archive of ``path`` with the checks every member read goes through."""

    def __init__(self, path):
        self.path = path
        _check_member_count(path)
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as error:
            raise self.error(f"not an npae model file ({_describe(error)})") from None
        self.names = set(self.archive.namelist())

    def error(self, reason):
        return ValueError(f"{self.path}: {reason}")

    def close(self):
        self.archive.close()

    def read_json(self, name, required=True):
        if name not in self.names:
            if required:
                raise self.error(f"not an npae model file (no {name!r} member)")
            return None
        info = self.archive.getinfo(name)
        if info.file_size > MAX_JSON_BYTES:
            raise self.error(f"member {name!r} declares {format_bytes(info.file_size)}, more than the "
                             f"{format_bytes(MAX_JSON_BYTES)} a model's JSON may take")
        try:
            with self.archive.open(info) as stream:
                text = stream.read(MAX_JSON_BYTES + 1)
            return json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            raise self.error(f"member {name!r} is nested too deeply") from None
        except Exception as error:  # zlib.error, BadZipFile (CRC), UnicodeDecodeError, JSONDecodeError...
            raise self.error(f"member {name!r} is not readable JSON ({_describe(error)})") from None

    def array_header(self, name):
        """(shape, dtype, data offset) of the ``.npy`` member ``name``, reading only its header."""
        info = self.archive.getinfo(name)
        try:
            with self.archive.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                offset = stream.tell()
        except Exception as error:
            raise self.error(f"member {name!r} is not a readable .npy array ({_describe(error)})") from None
        if fortran_order or dtype.hasobject:
            raise self.error(f"member {name!r} must be a C-ordered array of numbers")
        return tuple(shape), dtype, offset

    def check_array_member(self, name, shape, dtype):
        """The member holds exactly an array of ``shape`` and ``dtype``: header and declared size agree."""
        found_shape, found_dtype, offset = self.array_header(name)
        if found_shape != tuple(shape) or found_dtype != np.dtype(dtype):
            raise self.error(f"{name} holds {found_dtype} {found_shape}, but the architecture needs "
                             f"{np.dtype(dtype)} {tuple(shape)}")
        expected = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if self.archive.getinfo(name).file_size != expected:
            raise self.error(f"{name} is {self.archive.getinfo(name).file_size} bytes, expected {expected}")
        return offset

    def read_array_into(self, name, target):
        """Read the checked member ``name`` straight into ``target`` (no second copy in memory)."""
        offset = self.check_array_member(name, target.shape, target.dtype)
        try:
            with self.archive.open(name) as stream:
                stream.read(offset)
                view = memoryview(target.reshape(-1).view(np.uint8))
                filled = 0
                while filled < len(view):
                    count = stream.readinto(view[filled:])
                    if not count:
                        raise EOFError(f"{name} ends after {filled} of {len(view)} data bytes")
                    filled += count
                if stream.read(1):
                    raise ValueError(f"{name} has data after its array")
        except Exception as error:  # zlib.error, bad CRC, truncation
            raise self.error(f"member {name!r} could not be read ({_describe(error)})") from None


def _describe(error):
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def _check_member_count(path):
    """Refuse an archive that declares more members than a model can have, before zipfile reads its
    central directory (each entry becomes a Python object: millions of them would take gigabytes)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - (1 << 16) - 22))
            tail = stream.read()
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({_describe(error)})") from None
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < 22:
        return  # not a zip: zipfile says so, with its own words
    total_entries = struct.unpack("<H", tail[position + 10:position + 12])[0]
    zip64 = tail.rfind(b"PK\x06\x06", 0, position)
    if zip64 >= 0 and len(tail) - zip64 >= 40:
        total_entries = max(total_entries, struct.unpack("<Q", tail[zip64 + 32:zip64 + 40])[0])
    if total_entries > MAX_MEMBERS:
        raise ValueError(f"{path}: the archive declares {total_entries:,} members; an npae model has at most "
                         f"{MAX_MEMBERS:,}")


def _build(file, class_name, config):
    """The model of ``class_name`` from ``config``; its constructor's errors become the file's."""
    cls = lookup(class_name, "model")
    if cls is None:
        raise file.error(f"the model class {class_name!r:.100} is not one of {registered_names('model')}")
    if not isinstance(config, dict):
        raise file.error("the architecture's config must be a JSON object")
    options = dict(config)
    try:
        for key in ("layers", "encoder", "decoder"):
            if key in options:
                options[key] = layers_from_config(options[key], key)
        return cls(**options)
    except (TypeError, ValueError) as error:
        raise file.error(f"invalid architecture ({error})") from None


def _expected_state_count(model, iterations, members):
    names = model.optimizer.state_names
    expected = len(names) * len(model.parameters())
    if members == 0 and iterations == 0:
        return 0
    if members != expected:
        raise ValueError(f"the optimiser state has {members} arrays, the architecture needs {expected} "
                         f"({', '.join(names)} per parameter)")
    return expected


def load(path):
    """Load a model written by ``model.save(path)``; see the module docstring for what is checked."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ValueError(f"path must be a file name, got {type(path).__name__} {path!r}")
    path = os.fsdecode(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a file")
    file = _File(path)
    try:
        return _load(file)
    finally:
        file.close()


def _load(file):
    header = file.read_json("format.json", required=False)
    if header is None:
        return _load_version_1(file)
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise file.error(f"not an npae model file (format {header!r:.100})")
    if header.get("version") != FORMAT_VERSION:
        raise file.error(f"model format version {header.get('version')!r:.20} is not supported (this npae reads "
                         f"version {FORMAT_VERSION}, and version 1 files)")
    architecture = file.read_json("architecture.json")
    training = file.read_json("training.json")
    if not isinstance(architecture, dict) or not isinstance(architecture.get("class"), str):
        raise file.error("architecture.json must be {\"class\": name, \"config\": {...}}")
    if not isinstance(training, dict):
        raise file.error("training.json must be a JSON object")
    iterations = _check_iterations(file, training.get("optimizer_iterations", 0))
    parameter_names = _numbered(file, "parameter_", ".npy")
    state_names = _numbered(file, "optimizer_", ".npy")
    model = _checked_model(file, architecture["class"], architecture.get("config"), parameter_names,
                           state_names, iterations)
    _read_values(file, model, parameter_names, state_names, iterations)
    random_state = training.get("random_state")
    if random_state is not None:
        _restore_random_state(file, model, random_state)
    return model


def _numbered(file, prefix, suffix, others=()):
    """prefix0suffix, prefix1suffix, ... up to the first missing number; any other member starting with
    ``prefix`` (except ``others``) is an error: a gap would silently drop arrays."""
    names = []
    while f"{prefix}{len(names)}{suffix}" in file.names:
        names.append(f"{prefix}{len(names)}{suffix}")
    stray = sorted(name for name in file.names if name.startswith(prefix) and name not in names
                   and name not in others)
    if stray:
        raise file.error(f"unexpected member {stray[0]!r} (members {prefix}0{suffix}... must be numbered "
                         "without gaps)")
    return names


def _check_iterations(file, iterations):
    # 2^53: beyond it a step count is not even a float64 integer (and beta ** t would overflow first)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 0 <= iterations <= 2 ** 53:
        raise file.error(f"optimizer_iterations must be a whole number in [0, 2^53], got {iterations!r:.50}")
    return iterations


def _checked_model(file, class_name, config, parameter_names, state_names, iterations):
    """Build the skeleton, compare every member with it, check the memory, then build the real model."""
    with construction_mode("placeholder"):
        skeleton = _build(file, class_name, config)
    parameters = skeleton.parameters()
    if len(parameter_names) != len(parameters):
        raise file.error(f"the file has {len(parameter_names)} parameter arrays, the architecture needs "
                         f"{len(parameters)}")
    for name, parameter in zip(parameter_names, parameters):
        file.check_array_member(name, parameter.shape, parameter.dtype)
    try:
        count = _expected_state_count(skeleton, iterations, len(state_names))
    except ValueError as error:
        raise file.error(str(error)) from None
    if count:
        for name, parameter in zip(state_names, parameters * len(skeleton.optimizer.state_names)):
            file.check_array_member(name, parameter.shape, parameter.dtype)
    nbytes = sum(p.size for p in parameters) * skeleton.dtype.itemsize * (2 + len(skeleton.optimizer.state_names))
    try:
        check_allocation(nbytes, f"the model in {file.path} (parameters, gradients and optimiser state)")
    except ValueError as error:
        raise file.error(str(error)) from None
    with construction_mode("empty"):
        return _build(file, class_name, config)


def _read_values(file, model, parameter_names, state_names, iterations):
    for name, parameter in zip(parameter_names, model.parameters()):
        file.read_array_into(name, parameter)
        if not _finite(parameter):
            raise file.error(f"{name} contains NaN or infinity")
    state = []
    for name, parameter in zip(state_names, model.parameters() * len(model.optimizer.state_names)):
        array = np.empty_like(parameter)
        file.read_array_into(name, array)
        state.append(array)
    try:
        model.optimizer.set_state(iterations, state)
    except ValueError as error:
        raise file.error(f"optimiser state: {error}") from None


def _finite(array, chunk=1 << 20):
    """np.isfinite(array).all(), a block at a time (no boolean array of the whole size)."""
    flat = array.reshape(-1)
    return all(np.isfinite(flat[start:start + chunk]).all() for start in range(0, flat.size, chunk))


def _restore_random_state(file, model, random_state):
    if not isinstance(random_state, dict):
        raise file.error("random_state must be a JSON object")
    for key, generator in (("shuffle", model.shuffle_rng), ("noise", model.noise_rng)):
        if key not in random_state:
            continue
        state = random_state[key]
        if not isinstance(state, dict) or state.get("bit_generator") != type(generator.bit_generator).__name__:
            raise file.error(f"random_state[{key!r}] is not a {type(generator.bit_generator).__name__} state")
        try:
            generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise file.error(f"random_state[{key!r}] is not a valid generator state ({_describe(error)})") from None


def _load_version_1(file):
    """npae 0.1's format: npz arrays __format__ and config (JSON strings), weight_<i>, optimizer_<i>,
    optimizer_iterations; the config is the Autoencoder constructor's arguments."""
    header = _version_1_json(file, "__format__.npy")
    if not isinstance(header, dict) or header.get("format") != OLD_FORMAT_NAME or header.get("version") != 1:
        raise file.error(f"not an npae model file (format {header!r:.100})")
    config = _version_1_json(file, "config.npy")
    if not isinstance(config, dict):
        raise file.error("config must be a JSON object")
    config = dict(config)
    if isinstance(config.get("optimizer"), dict):
        config["optimizer"] = dict(config["optimizer"])
    iterations = 0
    if "optimizer_iterations.npy" in file.names:
        value = np.empty((), np.int64)
        file.read_array_into("optimizer_iterations.npy", value)
        iterations = _check_iterations(file, int(value))
    parameter_names = _numbered(file, "weight_", ".npy")
    state_names = _numbered(file, "optimizer_", ".npy", others={"optimizer_iterations.npy"})
    model = _checked_model(file, "Autoencoder", config, parameter_names, state_names, iterations)
    _read_values(file, model, parameter_names, state_names, iterations)
    return model


def _version_1_json(file, name):
    if name not in file.names:
        raise file.error(f"not an npae model file (no {name!r} member)")
    shape, dtype, _ = file.array_header(name)
    if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_JSON_BYTES * 4:
        raise file.error(f"member {name!r} is not a JSON string")
    value = np.empty((), dtype)
    file.read_array_into(name, value)
    try:
        return json.loads(str(value), parse_constant=_refuse_constant)
    except RecursionError:
        raise file.error(f"member {name!r} is nested too deeply") from None
    except (json.JSONDecodeError, ValueError) as error:
        raise file.error(f"member {name!r} is not valid JSON ({error})") from None
