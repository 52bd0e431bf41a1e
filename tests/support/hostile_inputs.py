"""Big images made small on disk, for the hostile-input tests and benchmarks/hostile.py.

`png` writes PNG rows straight into zlib, so a 4999x4999 16-bit RGBA image (200 MB of pixels) is a 200 kB
file made in about a second, without ever holding the pixels in memory. Every image is the digit 1: a thick
vertical bar, ink in alpha on a transparent sheet (RGBA, LA) or black on white (RGB, L).
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image

COLOUR_TYPES = {"L": (0, 1), "RGB": (2, 3), "LA": (4, 2), "RGBA": (6, 4)}  # PNG colour type, channels


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, depth: int = 8, mode: str = "RGBA") -> bytes:
    """A `width` x `height` PNG of a "1" with `depth` bits (8 or 16) per channel, in `mode` L, LA, RGB or RGBA."""
    colour_type, channels = COLOUR_TYPES[mode]
    sample = depth // 8
    alpha = mode in ("LA", "RGBA")
    full = b"\xff" * sample
    empty = b"\x00" * sample
    paper = (empty * channels) if alpha else (full * channels)  # transparent, or white
    ink = ((empty * (channels - 1)) + full) if alpha else (empty * channels)  # opaque black
    left, right = int(width * 0.44), int(width * 0.56)
    blank_row = b"\x00" + paper * width  # filter byte 0, then the pixels
    ink_row = b"\x00" + paper * left + ink * (right - left) + paper * (width - right)
    top, bottom = int(height * 0.15), int(height * 0.85)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(ink_row if top <= y < bottom else blank_row) for y in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def costly_png(side: int) -> bytes:
    """An RGBA PNG that takes preprocessing's costliest path: an opaque white border, half-transparent holes
    all over, dark lines across the whole sheet (luminance with holes filled; the crop is the whole image)."""
    pixels = np.full((side, side, 4), 255, np.uint8)
    pixels[8:-8:4, 8:-8, :3] = 0
    pixels[10:-10:7, 10:-10:5, 3] = 100
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
