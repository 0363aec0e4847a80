"""``npae compress`` and ``npae decompress``: a saved autoencoder's codes, arithmetic-coded into one file.

    npae compress -m MODEL.npz DATA -o CODES.npac [--bits 6]     encode, quantise, arithmetic-code
    npae decompress -m MODEL.npz CODES.npac -o OUT.npy          decode the codes back into rows

The file (:mod:`npae.entropy_coding`): a header, the quantiser (an offset and a step per code number),
one frequency table per code number, a CRC-32, and the arithmetic-coded stream.  It names its model by a
CRC-32 of the model's weights, so decompressing with another model is refused rather than producing
rubbish.  Writes are atomic (a temporary file renamed into place); reads check every field before use.
"""
import os
import zlib

import numpy as np

from . import entropy_coding
from ._files import atomic_write
from ._memory import check_allocation

EXTENSION = ".npac"


def model_fingerprint(model):
    """CRC-32 of every weight of ``model``, in order: the 32-bit name a compressed file gives its model."""
    checksum = 0
    for parameter in model.parameters():
        checksum = zlib.crc32(np.ascontiguousarray(parameter).tobytes(), checksum)
    return checksum


def compress_rows(model, x, bits):
    """The :class:`EncodedCodes` of rows x (N, d) under ``model``'s encoder, each code number quantised
    uniformly to 2^bits levels over its range in x (:func:`npae.entropy_coding.uniform_quantize`)."""
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))):
        raise ValueError(f"compress needs an autoencoder (a model with encode and decode), got {type(model).__name__}")
    latent = np.asarray(model.encode(x), dtype=np.float64)
    if latent.ndim != 2:
        raise ValueError(f"the model's codes have shape {latent.shape[1:]}; compress takes flat codes (N, q)")
    codes, offset, step = entropy_coding.uniform_quantize(latent, bits)
    return entropy_coding.EncodedCodes(codes, 2 ** bits, "uniform", offset, step,
                                       model_id=model_fingerprint(model))


def write_compressed(path, encoded):
    """Write ``encoded`` to ``path`` atomically; returns the sizes of :func:`npae.entropy_coding.pack`."""
    data, sizes = entropy_coding.pack(encoded)
    atomic_write(path, lambda stream: stream.write(data))
    return sizes


def read_compressed(path):
    """The :class:`EncodedCodes` of a file written by :func:`write_compressed`; a ValueError naming the file
    for anything else (missing, a folder, too large to read, damaged, truncated, foreign)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder, not a compressed file")
    if not os.path.isfile(path):
        raise ValueError(f"compressed file {path!r} does not exist")
    check_allocation(os.path.getsize(path), f"reading {path!r}")
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        return entropy_coding.unpack(data)
    except ValueError as error:
        raise ValueError(f"{path!r}: {error}") from None


def decompress_codes(model, encoded, path="the file"):
    """Rows decoded by ``model`` from ``encoded``, after checking that they were made by this model."""
    if encoded.kind != "uniform":
        raise ValueError(f"{path} holds code indices (a VQ-VAE's), not an autoencoder's quantised codes")
    if encoded.model_id != model_fingerprint(model):
        raise ValueError(f"{path} was not made with this model (its model fingerprint {encoded.model_id:08x} is not "
                         f"this model's {model_fingerprint(model):08x})")
    latent_size = getattr(model, "latent_size", None)
    if latent_size != encoded.codes.shape[1]:
        raise ValueError(f"{path} holds codes of {encoded.codes.shape[1]} numbers; the model's code has {latent_size}")
    return model.decode(encoded.values())
