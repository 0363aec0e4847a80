"""Which classes a saved model may name: the built-in ones and those you register.

A model file stores its architecture as JSON: for each layer a class name and its ``get_config()``.
Loading must turn those names back into classes without ever importing or running anything the file
asks for (a file that could name ``os.system`` would be a program, not data).  So ``npae.load`` looks
names up here, and only here:

    @npae.register            # a layer: stored under its class name, "Scale"
    class Scale(npae.Layer): ...

    @npae.register            # an activation: stored under its ``name``, "swish", usable as
    class Swish(npae.Activation):   Dense(..., activation="swish"), and as a layer under "Swish"
        name = "swish"

Registering a second, different class under a name that is taken is a ValueError (a saved file would
otherwise load as whichever came last).  Registering the same class again is harmless.
"""

import inspect
import json

_REGISTRY = {}  # (kind, name) -> class; kind is "layer", "activation", "loss", "optimizer" or "model"


def _kinds(cls):
    """The (kind, name) keys a class is registered under.  Each base class says which kinds its subclasses
    are (``_registry_kinds``: Layer "layer", Activation "layer" and "activation", Loss "loss", Optimizer
    "optimizer", Model "model"); layers and models are stored under their class name, the others under
    their ``name``."""
    kinds = getattr(cls, "_registry_kinds", None) if isinstance(cls, type) else None
    if not kinds:
        raise ValueError(f"npae.register takes a subclass of npae.Layer, npae.Activation, npae.Loss, an "
                         f"optimiser or a model, got {cls!r:.200}")
    keys = []
    for kind in kinds:
        if kind in ("layer", "model"):
            keys.append((kind, cls.__name__))
            continue
        if not isinstance(cls.name, str) or not cls.name:
            raise ValueError(f"{cls.__name__} needs a class attribute name = '...' (how configs refer to it)")
        keys.append((kind, cls.name))
    return keys


def register(cls):
    """Make ``cls`` loadable from saved models (use as a decorator); returns ``cls`` unchanged.

    A name belongs to one class: registering another class under a taken name is a ValueError, whether
    the name is npae's own (``Dense``) or another module's (two libraries' ``Scale``).  The same class
    defined again in its own module (a script run twice in one session, a reloaded module) replaces it."""
    keys = _kinds(cls)
    for key in keys:
        known = _REGISTRY.get(key)
        if known is not None and known is not cls and \
                (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"the {key[0]} name {key[1]!r:.100} is already registered for {known.__module__}."
                             f"{known.__qualname__}; rename {cls.__module__}.{cls.__qualname__}")
    for key in keys:
        _REGISTRY[key] = cls
    return cls


def register_all(classes):
    """register() each class (how npae's modules register their built-in classes)."""
    for cls in classes:
        register(cls)


def instantiate(kind, spec, argument, aliases=None, **options):
    """An instance of the class registered as ``kind`` that ``spec`` names: a name (``"adam"``) or a config
    dict (``{"name": "adam", "learning_rate": 0.01}``); ``options`` add constructor arguments.  A name that is
    not registered, or options the class does not take, are a ValueError naming ``argument``."""
    if isinstance(spec, dict):
        options = {**spec, **options}
        spec = options.pop("name", None)
    name = (aliases or {}).get(spec, spec) if isinstance(spec, str) else spec
    cls = lookup(name, kind)
    if cls is None:
        raise ValueError(f"{argument}={spec!r:.100} is not one of {registered_names(kind)}")
    try:
        return cls(**options)
    except TypeError as error:
        raise ValueError(f"{argument} {name!r:.100} does not take the options {options!r:.200}: {error}") from None


def lookup(name, kind):
    """The class registered as ``kind`` ("layer", "activation", "loss", "optimizer") under ``name``, or None."""
    if not isinstance(name, str):
        return None
    return _REGISTRY.get((kind, name))


def registered_names(kind):
    return sorted(name for registered_kind, name in _REGISTRY if registered_kind == kind)


# --------------------------------------------------------------------------------------------------
# Layers as JSON: what a saved model's architecture is made of.

def layers_config(layers):
    """[{"class": name, "config": layer.get_config()}, ...]; a layer that shares another's weights (TiedDense:
    its ``encoder_layer``) also names that layer's position in ``layers`` ("tied_to")."""
    positions = {id(layer): index for index, layer in enumerate(layers)}
    entries = []
    for index, layer in enumerate(layers):
        name = type(layer).__name__
        if lookup(name, "layer") is not type(layer):
            raise ValueError(f"layers[{index}] is a {name}, which is not registered: decorate its class with "
                             "@npae.register so that a saved model can name it")
        entry = {"class": name, "config": _checked_config(layer, index)}
        tied_to = getattr(layer, "encoder_layer", None)
        if tied_to is not None:
            if id(tied_to) not in positions:
                raise ValueError(f"layers[{index}] is tied to a layer outside this model")
            entry["tied_to"] = positions[id(tied_to)]
        entries.append(entry)
    return entries


def _checked_config(layer, index):
    """``layer.get_config()``, checked at save time so that the file will load: JSON values only (no NumPy
    scalars, no NaN), and arguments its class's ``__init__`` accepts and needs."""
    config = layer.get_config()
    name = type(layer).__name__
    if not isinstance(config, dict):
        raise ValueError(f"layers[{index}] ({name}): get_config() must return a dict, got {type(config).__name__}")
    for key, value in config.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"layers[{index}] ({name}): get_config()[{key!r}] = {value!r:.80} cannot be saved as JSON "
                             f"({error}); return plain int, float, str, bool, list or dict values "
                             "(e.g. int(n), not a NumPy integer; no NaN or infinity)") from None
    if getattr(layer, "encoder_layer", None) is None:
        try:
            inspect.signature(type(layer)).bind(**config)
        except TypeError as error:
            raise ValueError(f"layers[{index}] ({name}): its saved config {config!r:.200} would not rebuild it "
                             f"({error}): define get_config() returning the arguments of {name}.__init__, so that "
                             f"{name}(**layer.get_config()) builds the same layer") from None
        except ValueError:
            pass  # no signature to check (a built-in type)
    return config


def layers_from_config(entries, argument="layers"):
    """Layers built from ``layers_config`` entries (positions in "tied_to" count from the first entry);
    only registered classes are ever instantiated."""
    if not isinstance(entries, list):
        raise ValueError(f"{argument} must be a list of layer entries, got {type(entries).__name__}")
    layers = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("class"), str) \
                or not isinstance(entry.get("config", {}), dict):
            raise ValueError(f"{argument}[{index}] must be {{'class': name, 'config': {{...}}}}, got {entry!r:.200}")
        cls = lookup(entry["class"], "layer")
        if cls is None:
            raise ValueError(f"{argument}[{index}]: the layer class {entry['class']!r:.100} is not registered (known: "
                             f"{', '.join(registered_names('layer'))}); register your own with @npae.register")
        config = dict(entry.get("config", {}))
        try:
            if "tied_to" in entry:
                tied_to = entry["tied_to"]
                if isinstance(tied_to, bool) or not isinstance(tied_to, int) or not 0 <= tied_to < len(layers):
                    raise ValueError(f"tied_to must be the position of an earlier layer, got {tied_to!r:.50}")
                config["encoder_layer"] = layers[tied_to]
            layers.append(cls(**config))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{argument}[{index}] ({entry['class']}): {error}") from None
    return layers
