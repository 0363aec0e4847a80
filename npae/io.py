"""Saving and loading models: one ``.npz`` file, no pickle, checked before anything is allocated.

Layout (format "npae.model", version 2), as ``np.savez`` writes it (``np.load`` reads it too):

    format          JSON: {"format": "npae.model", "version": 2}
    architecture    JSON: {"class": "Autoencoder", "config": model.get_config()}: layer classes by name
    training        JSON: {"optimizer_iterations": t, "random_state": {"shuffle": ..., "noise": ...}}: the
                    step count and the generators' states, so that training resumes exactly
    parameter_<i>   the arrays of get_weights(), in order
    optimizer_<i>   the optimiser's state arrays (Adam: every m, then every v)

JSON is stored as 0-d unicode arrays, as in npae's other files.  Files of the first format
("npae.autoencoder", version 1, written by npae 0.1) load too.

What loading guarantees (see also docs/guarantees.md):
* nothing in the file is executed: no pickle (``npae._npz`` reads the arrays and refuses object arrays),
  and layer classes are looked up by name among the registered ones (npae.registry), never imported;
* nothing is allocated before it is known to be needed: npae._npz bounds every entry's size by its
  header and its compressed size and caps the JSON; the model is first built as a skeleton whose
  parameters take no memory (:func:`_placeholder`, handed to the layers' ``new_parameter`` through
  ``npae.layers.base.loader_arrays``); every array entry's header (shape,
  dtype) is compared with the skeleton's parameters before any array data is read; the memory the
  model needs is compared with what the machine has; only then are the arrays read, straight into the
  model's parameters;
* every value is checked: parameters and optimiser state finite, Adam's second moments >= 0, the step
  count a whole number >= 1 when there is state, the generators' states well formed;
* any problem is a ValueError that names the file (FileNotFoundError when there is no file at all).

Writes are atomic (npae._files): a crash never leaves a half-written model behind.
"""
import contextlib
import json
import os

import numpy as np

from ._files import atomic_write
from ._memory import check_allocation
from ._npz import NpzArchive
from .layers.base import loader_arrays
from .registry import layers_from_config, lookup, registered_names

FORMAT_NAME = "npae.model"
FORMAT_VERSION = 2
OLD_FORMAT_NAME = "npae.autoencoder"  # version 1


def save_model(model, path):
    """Save ``model`` (any npae model) to ``path``; see the module docstring for the layout."""
    iterations, state = model.optimizer.get_state()
    documents = {
        "format": {"format": FORMAT_NAME, "version": FORMAT_VERSION},
        "architecture": {"class": type(model).__name__, "config": model.get_config()},
        "training": {"optimizer_iterations": int(iterations),
                     "random_state": {"shuffle": model.shuffle_rng.bit_generator.state,
                                      "noise": model.noise_rng.bit_generator.state}},
    }
    # JSON first: a config that cannot be written fails before the file is touched
    arrays = {name: np.array(json.dumps(document, sort_keys=True, allow_nan=False))
              for name, document in documents.items()}
    arrays.update({f"parameter_{index}": weight for index, weight in enumerate(model.parameters())})
    arrays.update({f"optimizer_{index}": array for index, array in enumerate(state)})
    atomic_write(path, lambda stream: np.savez(stream, **arrays))


# --------------------------------------------------------------------------------------------------
# Loading

class _File:
    """The model file's NpzArchive, with this module's wording for what goes wrong."""

    def __init__(self, path):
        self.path = path
        try:
            self.archive = NpzArchive(path)
        except ValueError as error:  # npae._npz.ArchiveError: a foreign or damaged file
            raise self.error(f"not an npae model file ({getattr(error, 'problem', error)})") from None
        self.names = set(self.archive.names)

    def error(self, reason):
        return ValueError(f"{self.path}: {reason}")

    def read_json(self, name):
        if name not in self.names:
            raise self.error(f"not an npae model file (no {name!r} entry)")
        try:
            return self.archive.read_json(name)
        except ValueError as error:
            raise self.error(f"entry {name!r} is not readable JSON ({getattr(error, 'problem', error)})") from None

    def check_array(self, name, shape, dtype):
        """The entry holds an array of exactly ``shape`` and ``dtype``; only its header is read."""
        try:
            header = self.archive.header(name)
        except ValueError as error:
            raise self.error(getattr(error, "problem", str(error))) from None
        if header.shape != tuple(shape) or header.dtype != np.dtype(dtype) or header.fortran_order:
            order = " in Fortran order" if header.fortran_order else ""
            raise self.error(f"{name} holds {header.dtype} {header.shape}{order}, but the architecture needs "
                             f"{np.dtype(dtype)} {tuple(shape)}" + (" in C order" if order else ""))

    def read_into(self, name, target):
        try:
            self.archive.read_into(name, target)
        except ValueError as error:
            raise self.error(getattr(error, "problem", str(error))) from None

    def close(self):
        self.archive.close()


def _build(file, class_name, config):
    """The model of ``class_name`` from ``config``; its constructor's errors become the file's."""
    cls = lookup(class_name, "model")
    if cls is None:
        raise file.error(f"the model class {class_name!r:.100} is not one of {registered_names('model')}")
    if not isinstance(config, dict):
        raise file.error("the architecture's config must be a JSON object")
    options = dict(config)
    try:
        built = ()
        if isinstance(options.get("encoder"), list) and isinstance(options.get("decoder"), list):
            # one frame, as layers_config wrote it: a decoder's TiedDense names its encoder layer by its
            # position in encoder + decoder
            split = len(options["encoder"])
            layers = layers_from_config(options["encoder"] + options["decoder"], "encoder + decoder")
            options["encoder"], options["decoder"], built = layers[:split], layers[split:], ("encoder", "decoder")
        for key in ("layers", "encoder", "decoder"):
            if key in options and key not in built:
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
    if "format" not in file.names and "__format__" in file.names:
        return _load_version_1(file)
    header = file.read_json("format")
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise file.error(f"not an npae model file (format {header!r:.100})")
    if header.get("version") != FORMAT_VERSION:
        raise file.error(f"model format version {header.get('version')!r:.20} is not supported (this npae reads "
                         f"version {FORMAT_VERSION}, and version 1 files)")
    architecture = file.read_json("architecture")
    training = file.read_json("training")
    if not isinstance(architecture, dict) or not isinstance(architecture.get("class"), str):
        raise file.error("the architecture must be {\"class\": name, \"config\": {...}}")
    if not isinstance(training, dict):
        raise file.error("the training entry must be a JSON object")
    iterations = _check_iterations(file, training.get("optimizer_iterations", 0))
    parameter_names = _numbered(file, "parameter_")
    state_names = _numbered(file, "optimizer_")
    model = _checked_model(file, architecture["class"], architecture.get("config"), parameter_names,
                           state_names, iterations)
    _read_values(file, model, parameter_names, state_names, iterations)
    random_state = training.get("random_state")
    if random_state is not None:
        _restore_random_state(file, model, random_state)
    return model


def _numbered(file, prefix, others=()):
    """prefix0, prefix1, ... up to the first missing number; any other entry starting with ``prefix``
    (except ``others``) is an error: a gap would silently drop arrays."""
    names = []
    while f"{prefix}{len(names)}" in file.names:
        names.append(f"{prefix}{len(names)}")
    stray = sorted(name for name in file.names if name.startswith(prefix) and name not in names
                   and name not in others)
    if stray:
        raise file.error(f"unexpected entry {stray[0]!r} (entries {prefix}0... must be numbered without gaps)")
    return names


def _check_iterations(file, iterations):
    # 2^53: beyond it a step count is not even a float64 integer (and beta ** t would overflow first)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 0 <= iterations <= 2 ** 53:
        raise file.error(f"optimizer_iterations must be a whole number in [0, 2^53], got {iterations!r:.50}")
    return iterations


@contextlib.contextmanager
def _layers_built_with(make_array):
    """Inside this block every layer's new_parameter / new_gradient returns ``make_array(shape, dtype)``."""
    token = loader_arrays.set(make_array)
    try:
        yield
    finally:
        loader_arrays.reset(token)


def _placeholder(shape, dtype):
    """An array of ``shape`` that takes no memory: every element is one float (zero strides).  Writeable,
    so that a constructor that writes an initial value into its parameter runs as it does normally."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape))


def _allocated(shape, dtype):
    """Zeros (the file's values are read into them next), if this machine has the memory."""
    check_allocation(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize,
                     f"a parameter of shape {tuple(shape)}")
    return np.zeros(shape, dtype)


def _checked_model(file, class_name, config, parameter_names, state_names, iterations):
    """Build the skeleton, compare every member with it, check the memory, then build the real model."""
    with _layers_built_with(_placeholder):
        skeleton = _build(file, class_name, config)
    parameters = skeleton.parameters()
    if len(parameter_names) != len(parameters):
        raise file.error(f"the file has {len(parameter_names)} parameter arrays, the architecture needs "
                         f"{len(parameters)}")
    for name, parameter in zip(parameter_names, parameters):
        file.check_array(name, parameter.shape, parameter.dtype)
    try:
        count = _expected_state_count(skeleton, iterations, len(state_names))
    except ValueError as error:
        raise file.error(str(error)) from None
    if count:
        for name, parameter in zip(state_names, parameters * len(skeleton.optimizer.state_names)):
            file.check_array(name, parameter.shape, parameter.dtype)
    nbytes = sum(p.size for p in parameters) * skeleton.dtype.itemsize * (2 + len(skeleton.optimizer.state_names))
    try:
        check_allocation(nbytes, f"the model in {file.path} (parameters, gradients and optimiser state)")
    except ValueError as error:
        raise file.error(str(error)) from None
    with _layers_built_with(_allocated):
        return _build(file, class_name, config)


def _read_values(file, model, parameter_names, state_names, iterations):
    for name, parameter in zip(parameter_names, model.parameters()):
        file.read_into(name, parameter)
        if not _finite(parameter):
            raise file.error(f"{name} contains NaN or infinity")
    state = []
    for name, parameter in zip(state_names, model.parameters() * len(model.optimizer.state_names)):
        array = np.empty_like(parameter)
        file.read_into(name, array)
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
            raise file.error(f"random_state[{key!r}] is not a valid generator state ({type(error).__name__}: {error})") from None


def _load_version_1(file):
    """npae 0.1's format: npz arrays __format__ and config (JSON strings), weight_<i>, optimizer_<i>,
    optimizer_iterations; the config is the Autoencoder constructor's arguments."""
    header = file.read_json("__format__")
    if not isinstance(header, dict) or header.get("format") != OLD_FORMAT_NAME or header.get("version") != 1:
        raise file.error(f"not an npae model file (format {header!r:.100})")
    config = file.read_json("config")
    if not isinstance(config, dict):
        raise file.error("config must be a JSON object")
    config = dict(config)
    if isinstance(config.get("optimizer"), dict):
        config["optimizer"] = dict(config["optimizer"])
    iterations = 0
    if "optimizer_iterations" in file.names:
        value = np.empty((), np.int64)
        file.read_into("optimizer_iterations", value)
        iterations = _check_iterations(file, int(value))
    parameter_names = _numbered(file, "weight_")
    state_names = _numbered(file, "optimizer_", others={"optimizer_iterations"})
    model = _checked_model(file, "Autoencoder", config, parameter_names, state_names, iterations)
    _read_values(file, model, parameter_names, state_names, iterations)
    return model
