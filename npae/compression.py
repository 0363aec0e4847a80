"""The encoder as a learned, lossy compressor (paper section 3.6).

A 28 x 28 image is 784 bytes.  The encoder turns it into q numbers (the latent code); whoever holds the
*decoder* can turn the code back into an image, and nobody else can: the code means nothing without
it.  How many bytes a code takes depends on how each of its q numbers is stored:

    storage   bytes per image    how a latent value h becomes a stored value
    float32   4 q                as is
    float16   2 q                rounded to half precision (11 significant bits, ~3 decimal digits)
    uint8     1 q  (+ 8 q per set)  per-feature affine quantisation to 256 levels:
                                    c = round((h - offset_j) / scale_j),  h^ = offset_j + c scale_j
                                    offset_j = min h_j, scale_j = (max h_j - min h_j) / 255 over the set,
                                    so |h - h^| <= scale_j / 2

    compression ratio = (784 N bytes of pixels) / (bytes of the stored codes)

The quality of what comes back is measured with the mean squared error to the original pixels and the
PSNR, 10 log10(1 / MSE) for pixels in [0, 1] (:func:`npae.metrics.psnr`).

:func:`save_compressed` writes the codes *and the decoder* (its weights and activations, not the
encoder) to one ``.npz`` file with JSON metadata; :func:`load_compressed` reads it back and validates
every array, so the set can be restored anywhere npae is installed.
"""
import json
import os
from dataclasses import dataclass

import numpy as np

from ._files import as_path, atomic_write
from ._npz import ArchiveError, NpzArchive
from .metrics import psnr

__all__ = ["STORAGES", "CompressedSet", "Decoder", "quantize", "compress", "decompress", "compression_ratio",
           "storage_table", "save_compressed", "load_compressed"]

STORAGES = ("float32", "float16", "uint8")

FORMAT_NAME = "npae-compressed"
FORMAT_VERSION = 1

# 8-bit codes take the values 0..255.
_LEVELS = 255


@dataclass(frozen=True)
class CompressedSet:
    """N latent codes stored as ``storage``.

    codes (N, q): float32, float16 or uint8.  scale, offset (q,) float32: the per-feature affine map of
    the uint8 storage (None otherwise).
    """

    codes: np.ndarray
    storage: str
    scale: np.ndarray = None
    offset: np.ndarray = None

    @property
    def n_samples(self):
        return self.codes.shape[0]

    @property
    def latent_size(self):
        return self.codes.shape[1]

    @property
    def nbytes(self):
        """Bytes needed to store the codes, including the per-feature scale and offset of uint8 codes."""
        extra = 0 if self.scale is None else self.scale.nbytes + self.offset.nbytes
        return self.codes.nbytes + extra

    def latent(self):
        """The latent codes as float32 (N, q), ready for a decoder: h^ = offset + c * scale for uint8."""
        if self.storage == "uint8":
            return self.offset + self.codes.astype(np.float32) * self.scale
        return self.codes.astype(np.float32)


def quantize(latent, storage="uint8"):
    """Store latent codes (N, q) as ``storage`` (one of :data:`STORAGES`); returns a :class:`CompressedSet`.

    For ``"uint8"`` each of the q features gets its own ``offset`` (its minimum over the N codes) and
    ``scale`` (its range / 255): a feature with a small range keeps a fine step.  A constant feature
    gets scale 1 and code 0, so it is restored exactly.
    """
    latent = np.asarray(latent)
    if latent.ndim != 2 or latent.shape[0] == 0 or latent.shape[1] == 0:
        raise ValueError(f"latent must be a non-empty 2-D array (n_samples, latent_size), got shape {latent.shape}")
    if latent.dtype.kind not in "biuf" or not np.all(np.isfinite(latent)):
        raise ValueError("latent must be numeric and finite (no NaN or inf)")
    if storage not in STORAGES:
        raise ValueError(f"storage={storage!r} is not one of {list(STORAGES)}")
    if np.max(np.abs(latent)) > np.finfo(np.float32).max / 2:
        # beyond float32's range, or so near it that max - min (the uint8 scale) overflows to infinity
        raise ValueError(f"latent has values of magnitude up to {float(np.max(np.abs(latent))):.3g}; codes are "
                         f"stored in float32, whose range (+-{float(np.finfo(np.float32).max):.3g}) they must "
                         "stay well within (at most half of it)")
    latent = latent.astype(np.float32, copy=False)
    if storage == "float32":
        return CompressedSet(latent.copy(), storage)
    if storage == "float16":
        if np.max(np.abs(latent)) > np.finfo(np.float16).max:
            raise ValueError("latent has values beyond float16's range (65504): use storage='uint8' or 'float32'")
        return CompressedSet(latent.astype(np.float16), storage)
    offset = latent.min(axis=0)                                 # (q,)
    value_range = latent.max(axis=0) - offset                   # (q,)
    scale = np.where(value_range > 0, value_range / np.float32(_LEVELS), np.float32(1)).astype(np.float32)
    codes = np.clip(np.rint((latent - offset) / scale), 0, _LEVELS).astype(np.uint8)   # (N, q)
    return CompressedSet(codes, storage, scale, offset.astype(np.float32))


class Decoder:
    """The decoding half of an autoencoder, on its own: what a receiver of compressed codes needs.

    ``layers``: a list of :class:`npae.layers.Dense`, applied in order: h (N, q) -> x~ (N, d).
    Build one from a trained model with :meth:`from_autoencoder`; tied weights are copied out as the
    transposed encoder matrix they are, and a model whose loss applies the output sigmoid (BCE from
    logits) gets that sigmoid back in its last layer, so that ``decode`` returns pixels.
    """

    def __init__(self, layers):
        if not layers:
            raise ValueError("layers is empty: a decoder needs at least one Dense layer")
        self.layers = list(layers)

    @classmethod
    def from_autoencoder(cls, model):
        """Copy the decoder layers of a trained feed-forward :class:`npae.Autoencoder` (weights not shared)."""
        from .activations import activation_config
        from .layers import Dense

        if not isinstance(getattr(model, "decoder", None), (list, tuple)):
            raise ValueError(f"Decoder.from_autoencoder takes an npae Autoencoder (with encoder and decoder "
                             f"layers), got {type(model).__name__}")
        if not model.decoder or not all(isinstance(layer, Dense) for layer in model.decoder):
            raise ValueError("Decoder.from_autoencoder needs an autoencoder whose decoder is made of Dense layers")
        layers = []
        for index, layer in enumerate(model.decoder):
            activation = activation_config(layer.activation)
            if index == len(model.decoder) - 1 and getattr(model.loss, "from_logits", False):
                activation = "sigmoid"  # the loss applied it during training; a receiver wants pixels
            copy = Dense(layer.in_features, layer.out_features, activation=activation, init="zeros",
                         dtype=layer.dtype)
            copy.W[...] = layer.W
            copy.b[...] = layer.b
            layers.append(copy)
        return cls(layers)

    @property
    def latent_size(self):
        return self.layers[0].in_features

    @property
    def output_size(self):
        return self.layers[-1].out_features

    @property
    def nbytes(self):
        """Bytes of the decoder's weights and biases: the fixed cost a receiver pays once."""
        return sum(layer.W.nbytes + layer.b.nbytes for layer in self.layers)

    def decode(self, latent):
        """x~ = f(h) for latent codes h (N, q): each layer's a = f(h W + b) in turn.  Returns (N, d)."""
        latent = np.asarray(latent)
        if latent.ndim != 2 or latent.shape[1] != self.latent_size:
            raise ValueError(f"latent must have shape (n_samples, {self.latent_size}), got {latent.shape}")
        output = latent.astype(self.layers[0].dtype, copy=False)
        for layer in self.layers:
            output = layer.forward(output, training=False)
        return output

    def __repr__(self):
        sizes = [self.latent_size] + [layer.out_features for layer in self.layers]
        return f"Decoder({'-'.join(map(str, sizes))})"


def _as_decoder(decoder):
    return decoder if isinstance(decoder, Decoder) else Decoder.from_autoencoder(decoder)


def _check_compressed(compressed, argument="compressed"):
    if not isinstance(compressed, CompressedSet):
        raise ValueError(f"{argument} must be a CompressedSet (from quantize, compress or load_compressed), got "
                         f"{type(compressed).__name__}")
    return compressed


def compress(model, x, storage="uint8"):
    """Encode ``x`` (N, d) with a trained ``model`` and store the codes as ``storage``: a :class:`CompressedSet`."""
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"compress takes a trained npae autoencoder (a model with encode), got {type(model).__name__}")
    return quantize(model.encode(x), storage)


def decompress(compressed, decoder):
    """Images (N, d) back from a :class:`CompressedSet`; ``decoder`` is a :class:`Decoder` or a trained model."""
    return _as_decoder(decoder).decode(_check_compressed(compressed).latent())


def compression_ratio(compressed, bytes_per_sample=784, decoder=None):
    """``bytes_per_sample * N / compressed.nbytes``: 784 uint8 pixels per MNIST image by default.

    With a ``decoder``, its weights are counted too (the ratio of a self-contained file): they cost
    the same whether the set holds ten images or a million, so this ratio grows with N.
    """
    stored = _check_compressed(compressed).nbytes + (0 if decoder is None else _as_decoder(decoder).nbytes)
    return bytes_per_sample * compressed.n_samples / stored


def storage_table(model, x, storages=STORAGES, bytes_per_sample=784):
    """One row per storage: how much the codes of ``x`` (N, d in [0, 1]) shrink and what comes back.

    Each row is a dict: storage, bytes_per_image (codes only), ratio (pixels / codes), ratio_with_decoder,
    mse and psnr (dB) of the restored images against ``x``.
    """
    x = np.asarray(x)
    decoder = Decoder.from_autoencoder(model)
    latent = model.encode(x)
    rows = []
    for storage in storages:
        compressed = quantize(latent, storage)
        restored = decoder.decode(compressed.latent())
        mse = float(np.mean((x.astype(np.float64) - restored) ** 2))
        rows.append({
            "storage": storage,
            "latent_size": compressed.latent_size,
            "bytes_per_image": compressed.nbytes / compressed.n_samples,
            "ratio": compression_ratio(compressed, bytes_per_sample),
            "ratio_with_decoder": compression_ratio(compressed, bytes_per_sample, decoder),
            "mse": mse,
            "psnr": psnr(x, restored),
        })
    return rows


# -- files ------------------------------------------------------------------------------------------

def save_compressed(path, compressed, decoder):
    """Write codes and decoder to one ``.npz`` at ``path`` (the exact name given), atomically.

    Arrays: ``codes``, ``scale`` and ``offset`` (uint8 storage only), ``decoder_W{i}``, ``decoder_b{i}``;
    and ``metadata``, a JSON string: format name and version, storage, shapes, each decoder layer's
    sizes and activation.  The file is written to a temporary name in the same folder, then renamed,
    so an interrupted save never leaves a half-written file under ``path``.
    """
    as_path(path)
    if not isinstance(compressed, CompressedSet):
        raise ValueError(f"compressed must be a CompressedSet, got {type(compressed).__name__}")
    from .activations import activation_config

    decoder = _as_decoder(decoder)
    if decoder.latent_size != compressed.latent_size:
        raise ValueError(f"the decoder takes codes of size {decoder.latent_size}, but the codes have size "
                         f"{compressed.latent_size}")
    metadata = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "storage": compressed.storage,
        "n_samples": compressed.n_samples,
        "latent_size": compressed.latent_size,
        "output_size": decoder.output_size,
        "decoder": [{"in_features": layer.in_features, "out_features": layer.out_features,
                     "activation": activation_config(layer.activation), "dtype": layer.dtype.name}
                    for layer in decoder.layers],
    }
    arrays = {"metadata": np.array(json.dumps(metadata)), "codes": compressed.codes}
    if compressed.storage == "uint8":
        arrays["scale"] = compressed.scale
        arrays["offset"] = compressed.offset
    for index, layer in enumerate(decoder.layers):
        arrays[f"decoder_W{index}"] = np.asarray(layer.W)
        arrays[f"decoder_b{index}"] = layer.b

    atomic_write(path, lambda stream: np.savez(stream, **arrays))


def _invalid(path, reason):
    return ValueError(f"{path!r} is not a valid npae compressed set: {reason}")


def _foreign(path, reason):
    return ValueError(f"{path!r} is not an npae compressed-set file: {reason}")


def _count(metadata, key, path):
    """``metadata[key]``, which must be an int >= 1 (not a bool, a float or a string of digits)."""
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(path, f"{key} must be an integer >= 1, got {value!r}")
    return value


def _check_header(archive, name, path, dtype, shape):
    """Refuse the array ``name`` unless its header declares ``dtype`` of ``shape``; reads no data."""
    if name not in archive:
        raise _invalid(path, f"the array {name!r} is missing")
    header = archive.header(name)
    if header.dtype != np.dtype(dtype) or header.shape != shape:
        raise _invalid(path, f"{name!r} should be {np.dtype(dtype).name} of shape {shape}, "
                             f"got {header.dtype} of shape {header.shape}")


def _read_array(archive, name, path, dtype, shape):
    """The array ``name``, checked: ``dtype`` of ``shape`` (before its data is read), finite if float."""
    _check_header(archive, name, path, dtype, shape)
    array = archive.read(name)
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise _invalid(path, f"{name!r} contains NaN or inf")
    return array


def _check_affine_map(scale, offset, path):
    """uint8 codes decode to offset + c * scale for c in 0..255 (in float32, as :meth:`CompressedSet.latent`):
    all finite exactly when scale >= 0 and offset + 255 scale is finite (the map is monotonic in c)."""
    if np.any(scale < 0):
        raise _invalid(path, "'scale' has negative entries (quantize gives scale >= 0)")
    with np.errstate(over="ignore"):
        top = offset + np.float32(_LEVELS) * scale
    if not np.all(np.isfinite(top)):
        feature = int(np.flatnonzero(~np.isfinite(top))[0])
        raise _invalid(path, f"feature {feature} decodes beyond float32's range (offset {offset[feature]!r}, "
                             f"scale {scale[feature]!r}: offset + 255 * scale overflows)")


def _read_metadata(archive, path):
    """The metadata dict, checked for format, version, storage and sizes: ``(metadata, storage, sizes)``."""
    if "metadata" not in archive:
        raise _foreign(path, "it has no 'metadata' entry")
    try:
        metadata = archive.read_json("metadata")
    except ArchiveError as error:
        raise _invalid(path, f"the metadata is not readable JSON ({error.problem})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise _foreign(path, f"the metadata does not name the format {FORMAT_NAME!r}")
    # "version", as in every npae file header; files of npae 0.1 called it "format_version"
    version = metadata.get("version", metadata.get("format_version"))
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise _invalid(path, f"version {version!r} is not supported (this npae reads version {FORMAT_VERSION})")
    storage = metadata.get("storage")
    if not isinstance(storage, str) or storage not in STORAGES:
        raise _invalid(path, f"unknown storage {storage!r}")
    sizes = [_count(metadata, key, path) for key in ("n_samples", "latent_size", "output_size")]
    layer_specs = metadata.get("decoder")
    if not isinstance(layer_specs, list) or not layer_specs:
        raise _invalid(path, "the decoder has no layers" if layer_specs == [] else
                             f"'decoder' must be a list of layer descriptions, got {type(layer_specs).__name__}")
    return metadata, storage, sizes


def _layer_description(spec, index, expected_in, path):
    """``(in_features, out_features, activation, dtype)`` of decoder layer ``index``, checked."""
    if not isinstance(spec, dict):
        raise _invalid(path, f"decoder layer {index}: bad description ({spec!r:.80})")
    in_features, out_features = (_count(spec, key, path) for key in ("in_features", "out_features"))
    if in_features != expected_in:
        raise _invalid(path, f"decoder layer {index}: takes {in_features} inputs, but the previous stage gives "
                             f"{expected_in}")
    if spec.get("dtype") not in ("float32", "float64"):
        raise _invalid(path, f"decoder layer {index}: dtype {spec.get('dtype')!r} is not float32 or float64")
    if "activation" not in spec:
        raise _invalid(path, f"decoder layer {index}: no activation")
    return in_features, out_features, spec["activation"], np.dtype(spec["dtype"])


def load_compressed(path):
    """Read a file written by :func:`save_compressed`: returns ``(compressed, decoder)``.

    Read without pickle (a file cannot run code) and without trusting sizes (:mod:`npae._npz`): every
    field is checked before the data it describes is read: format and version, storage, sizes (ints >=
    1), each array's dtype and shape against the metadata, the decoder's layer sizes chaining from the
    latent size to the output size; then the values: finite floats, and uint8 codes whose scale and
    offset decode to finite float32 numbers.  Anything else is a ``ValueError`` naming the file and the
    problem ("not an npae compressed-set file" for other files: a pickle, a lone ``.npy``, another
    ``.npz``); nothing half-loaded is returned.  A missing file is a ``FileNotFoundError``.
    """
    from .layers import Dense

    path = str(as_path(path))
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory, not an npae compressed-set file")
    try:
        with NpzArchive(path) as archive:
            metadata, storage, (n_samples, latent_size, output_size) = _read_metadata(archive, path)
            descriptions, expected_in = [], latent_size
            for index, spec in enumerate(metadata["decoder"]):
                descriptions.append(_layer_description(spec, index, expected_in, path))
                expected_in = descriptions[-1][1]
            if expected_in != output_size:
                raise _invalid(path, f"the decoder ends with {expected_in} outputs, the metadata says {output_size}")
            # Every header is checked, and every layer built, before any data is read.
            layers = []
            for index, (in_features, out_features, activation, dtype) in enumerate(descriptions):
                _check_header(archive, f"decoder_W{index}", path, dtype, (in_features, out_features))
                _check_header(archive, f"decoder_b{index}", path, dtype, (out_features,))
                try:
                    layers.append(Dense(in_features, out_features, activation=activation, init="zeros", dtype=dtype))
                except (TypeError, ValueError, KeyError) as error:
                    raise _invalid(path, f"decoder layer {index}: {error}") from None
            codes = _read_array(archive, "codes", path, storage, (n_samples, latent_size))
            scale = offset = None
            if storage == "uint8":
                scale = _read_array(archive, "scale", path, np.float32, (latent_size,))
                offset = _read_array(archive, "offset", path, np.float32, (latent_size,))
                _check_affine_map(scale, offset, path)
            for index, layer in enumerate(layers):
                layer.W[...] = _read_array(archive, f"decoder_W{index}", path, layer.W.dtype, layer.W.shape)
                layer.b[...] = _read_array(archive, f"decoder_b{index}", path, layer.b.dtype, layer.b.shape)
    except ArchiveError as error:
        make = _foreign if error.foreign else _invalid
        raise make(path, error.problem) from None
    return CompressedSet(codes, storage, scale, offset), Decoder(layers)
