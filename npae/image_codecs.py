"""The classical codecs that learned codes are measured against: JPEG, WebP and PNG through Pillow, and
zlib / lzma over a whole set.

Each image is a file of its own, as a web page would serve it, and its size is counted two ways:

- **with the container**: the whole file (JPEG: markers, quantisation and Huffman tables, the scan; WebP:
  the RIFF header and the VP8/VP8L chunk; PNG: signature, IHDR, IDAT, IEND chunks);
- **payload only**: the entropy-coded data the format could not do without for this image (JPEG: the scan
  between the SOS header and EOI; WebP: the VP8/VP8L chunk's data; PNG: the IDAT chunks' data).  A JPEG's
  headers alone (~300 bytes with its tables) are comparable to a 784-byte digit; a set of images sharing
  one codec configuration could store them once, which the payload-only count stands for.

Pillow comes with matplotlib (npae's plotting dependency) and is imported on first use.
"""
import io
import lzma
import struct
import zlib

import numpy as np

__all__ = ["CODECS", "encode_image", "decode_image", "payload_size", "run_codec", "generic_compression"]

# codec name -> (Pillow format, options for a quality setting; None: lossless)
CODECS = {
    "JPEG": ("JPEG", lambda quality: {"quality": int(quality), "optimize": True}),
    "WebP": ("WEBP", lambda quality: {"quality": int(quality), "method": 4}),
    # method 4 (libwebp's default effort): method 6 saves ~1 byte a digit at 30x the time (15 ms an image)
    "WebP lossless": ("WEBP", lambda quality: {"lossless": True, "quality": 100, "method": 4}),
    "PNG": ("PNG", lambda quality: {"optimize": True}),
}


def _pillow():
    from PIL import Image

    return Image


def encode_image(image, codec, quality=None):
    """The file bytes of one uint8 grey image (H, W) in ``codec`` (a key of :data:`CODECS`)."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {list(CODECS)}, got {codec!r}")
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be a 2-D uint8 array, got {image.dtype} of shape {image.shape}")
    file_format, options = CODECS[codec]
    buffer = io.BytesIO()
    _pillow().fromarray(image, mode=None).save(buffer, format=file_format, **options(quality))
    return buffer.getvalue()


def decode_image(data):
    """The uint8 grey pixels (H, W) of an image file's bytes (colour is converted to luminance)."""
    with _pillow().open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def _jpeg_payload(data):
    """Bytes of the entropy-coded scan: from the end of the SOS segment to the EOI marker."""
    position = 2                                          # after SOI (FF D8)
    while position + 4 <= len(data):
        marker, length = data[position + 1], struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker == 0xDA:                                # start of scan: the data runs to EOI (FF D9)
            return len(data) - (position + 2 + length) - 2
        position += 2 + length
    raise ValueError("no JPEG scan found")


def _chunks(data, start, header, size_first):
    """(kind, data length) of each chunk of a RIFF (size after the name) or PNG (size first) file."""
    position = start
    while position + 8 <= len(data):
        if size_first:
            length, kind = struct.unpack(">I", data[position:position + 4])[0], data[position + 4:position + 8]
            position += 12 + length                       # size, kind, data, CRC
        else:
            kind, length = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
            position += 8 + length + (length & 1)         # RIFF chunks are padded to an even size
        yield kind, length


def payload_size(data, codec):
    """The payload-only bytes of an image file in ``codec`` (see the module docstring)."""
    file_format = CODECS[codec][0]
    if file_format == "JPEG":
        return _jpeg_payload(data)
    if file_format == "WEBP":
        return sum(length for kind, length in _chunks(data, 12, None, False) if kind in (b"VP8 ", b"VP8L"))
    return sum(length for kind, length in _chunks(data, 8, None, True) if kind == b"IDAT")


def run_codec(images, codec, quality=None):
    """Compress each image (N, H, W) uint8 on its own; returns (decoded uint8 (N, H, W), file bytes (N,),
    payload bytes (N,))."""
    images = np.asarray(images)
    decoded = np.empty_like(images)
    file_bytes = np.empty(images.shape[0], dtype=np.int64)
    payload_bytes = np.empty(images.shape[0], dtype=np.int64)
    for index, image in enumerate(images):
        data = encode_image(image, codec, quality)
        decoded[index] = decode_image(data)
        file_bytes[index], payload_bytes[index] = len(data), payload_size(data, codec)
    return decoded, file_bytes, payload_bytes


def generic_compression(images):
    """{"zlib": bytes, "lzma": bytes} of the whole set (N, H, W) uint8 compressed as one block (level 9 /
    preset 9): generic, lossless compression's cost per set."""
    raw = np.ascontiguousarray(images, dtype=np.uint8).tobytes()
    return {"zlib": len(zlib.compress(raw, 9)), "lzma": len(lzma.compress(raw, preset=9))}
