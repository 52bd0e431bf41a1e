"""Any image input -> a bounded uint8 array: the limits every drawing, upload and API request goes through.

Accepted: a PIL image of any mode; a numpy array (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) of uint8, other
integers, bool or floats; a torch tensor; a file path or the file's bytes (PNG, JPEG, GIF, BMP, WebP, TIFF);
a Gradio ImageEditor/Sketchpad value {"background", "layers", "composite"}; None (nothing drawn).

Limits, each checked before the costly step it guards (figures measured on this project's 2-core machine,
docs/measurements.md, "Hostile images and clients"):
- MAX_PIXELS, from the header or the shape, before anything is decoded. 4096x4096 (16.8 megapixels) keeps a
  12-megapixel phone photo (4032x3024) while a drawing needs well under one. Reading one that large takes
  0.3-0.5 s and raises peak memory by 144 MB (the decode at 4 bytes a pixel, then a premultiplied copy for
  the reduction), so two at once (two prediction workers) stay under 300 MB; 25 MP took +202 MB each.
- WORK_PIXELS: larger images are area-averaged by a whole factor (PIL's `reduce`) straight after decoding,
  so the ink map, crop and resizing never handle more than 2048x2048 pixels.
- Bit depth: 16-bit colour is decoded straight to 8 bits by PIL; 16-bit grey, int and float arrays are
  scaled to uint8 a block of rows at a time (no whole-image float copies).
- MAX_LAYERS for an editor value, whose sheets count as one image against MAX_PIXELS.
- FORMATS: only these decoders are offered untrusted bytes.
"""

import contextlib
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_demo.errors import ImageError

MAX_PIXELS = 4096 * 4096  # larger images are refused before decoding (see above)
WORK_PIXELS = 2048 * 2048  # larger images are reduced right after decoding
MAX_LAYERS = 4  # the Draw tab's Sketchpad sends one layer; an editor with layers may send a few
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")  # JPEG includes MPO (phone JPEGs with a preview)
CHUNK = 1 << 20  # values converted to uint8 at a time: float temporaries of 4 MB
EXIF_ORIENTATION = 0x0112  # the EXIF tag for how a photo is rotated; 1 is upright
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # PIL mode by channel count
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr", "RGBX")  # modes PIL's reduce averages as is


# --- reading: anything -> uint8 array (H, W[, C]) of at most WORK_PIXELS --------------------------

def as_array(image) -> np.ndarray | None:
    """uint8 [H, W] (grey), [H, W, 2] (grey + alpha), [H, W, 3] (RGB) or [H, W, 4] (RGBA); None: no image.

    An image over WORK_PIXELS comes back area-averaged by a whole factor (`reduction`) to at most WORK_PIXELS,
    so everything after reading costs the same for a 16-megapixel photo as for a 4-megapixel one.
    """
    return read(image)[0]


def read(image) -> tuple[np.ndarray | None, int]:
    """`as_array(image)` and the factor it was reduced by (1: full size)."""
    width, height = _size(image)
    factor = reduction(width, height) if width > 0 and height > 0 else None
    return _pixels(image, factor), factor or 1


def _pixels(image, factor: int | None) -> np.ndarray | None:
    """`as_array`, reduced by `factor` (None: by the image's own `reduction`)."""
    if image is None:
        return None
    if isinstance(image, dict):
        return _from_editor(image)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _read(image, factor)
    if isinstance(image, Image.Image):
        return _from_pil(image, factor)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = (image.float() if image.is_floating_point() else image).numpy()
    if isinstance(image, np.ndarray):
        return _from_numpy(image, factor)
    raise ImageError(f"Cannot use a {type(image).__name__} as an image")


def reduction(width: int, height: int) -> int:
    """The smallest whole factor that brings a width x height image to at most WORK_PIXELS."""
    factor = max(1, math.isqrt(width * height // WORK_PIXELS))  # a lower bound: fewer blocks are too many
    while math.ceil(width / factor) * math.ceil(height / factor) > WORK_PIXELS:
        factor += 1
    return factor


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError("The image is empty (0 pixels)", code="image_empty")
    if width * height > MAX_PIXELS:
        raise ImageError(f"The image is too large ({width}x{height}, {width * height / 1e6:.1f} megapixels); "
                         f"the limit is {MAX_PIXELS / 1e6:.1f} megapixels", code="image_too_large",
                         size=f"{width}x{height}", megapixels=f"{width * height / 1e6:.1f}",
                         limit=f"{MAX_PIXELS / 1e6:.1f}")


@contextlib.contextmanager
def _opened(source):
    """The PIL image of a path or bytes with only its header read, its size checked; ImageError, naming the
    source, for anything that goes wrong while the caller reads it too."""
    is_path = isinstance(source, (str, os.PathLike))
    label = os.fspath(source) if is_path else "the uploaded data"
    shown = os.fspath(source) if is_path else None  # the error's `file` value: None for uploaded bytes
    if is_path and not os.path.isfile(source):
        raise ImageError(f"{label}: no such file", code="image_no_file", file=label) if not os.path.exists(source) \
            else ImageError(f"{label}: not a file", code="image_not_file", file=label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source if is_path else io.BytesIO(bytes(source)), formats=FORMATS) as image:
                _check_size(*image.size)
                yield image
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: the image is too large (the limit is {MAX_PIXELS / 1e6:.1f} megapixels)",
                         code="image_file_too_large", file=shown, limit=f"{MAX_PIXELS / 1e6:.1f}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file, or not one of {', '.join(FORMATS)}", code="image_not_image",
                         file=shown, formats=", ".join(FORMATS)) from None
    except Exception as err:  # noqa: BLE001 - truncated or corrupt files raise OSError, ValueError, RuntimeError...
        raise ImageError(f"{label}: the image cannot be read ({type(err).__name__})", code="image_unreadable",
                         file=shown, reason=type(err).__name__) from None


def image_size(source) -> tuple[int, int]:
    """(width, height) of an image file or its bytes from its header alone (ImageError if unreadable or too large)."""
    with _opened(source) as image:
        return image.size


def _read(source, factor: int | None) -> np.ndarray:
    """Decode a path or bytes to a uint8 array, upright per EXIF, reduced; ImageError for anything unreadable.

    8-bit PNGs (what the Sketchpad and most API clients send) are decoded by libpng through torchvision when it
    can (`_decode_png`); everything else, and everything when it cannot, by PIL, which decodes 16-bit colour
    straight to 8 bits.
    """
    with _opened(source) as image:
        factor = factor or reduction(*image.size)
        if image.format == "PNG":
            data = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else bytes(source)
            pixels = _decode_png(data) if _plain_png(image, data) else None
            if pixels is not None:
                return _from_numpy(pixels, factor)
        image.load()
        return _from_pil(_upright(image), factor)


def _plain_png(image: Image.Image, data: bytes) -> bool:
    """An 8-bit grey, grey+alpha, RGB or RGBA PNG without a colour key or EXIF (PIL turns eXIf upright).

    The bit depth is byte 24 (IHDR always comes first). 16-bit PNGs open in PIL as RGB/RGBA too, but libpng
    would hand them over as uint16: 4 s and 1.4 GB for a 4999x4999 RGBA one through float copies.
    """
    return (image.mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in image.info
            and data[24:25] == b"\x08" and b"eXIf" not in data)


def _decode_png(data: bytes) -> np.ndarray | None:
    """uint8 [H, W, C] pixels of an 8-bit grey, grey+alpha, RGB or RGBA PNG as stored, or None without libpng.

    libpng (torchvision.io) decodes an 800x800 RGBA drawing in about 3 ms where PIL takes 4-8 ms here: the
    largest single cost of a prediction (benchmarks/load.py). torchvision 0.29 marks its decoders deprecated
    in favour of TorchCodec; when they are gone this returns None and PIL decodes instead.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_png
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pixels = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
    return pixels.permute(1, 2, 0).numpy()  # libpng fills H x W x C; the permute undoes torchvision's view


def _upright(image: Image.Image) -> Image.Image:
    """The image turned upright per its EXIF orientation; the same object when it has none (exif_transpose
    would copy it: about 1 ms for an 800x800 RGBA drawing, a tenth of a prediction)."""
    if image.getexif().get(EXIF_ORIENTATION, 1) in (0, 1):
        return image
    return ImageOps.exif_transpose(image)


def _from_pil(image: Image.Image, factor: int | None) -> np.ndarray:
    """The PIL image's pixels as uint8, through a mode that keeps its grey levels and alpha, reduced."""
    _check_size(*image.size)
    factor = factor or reduction(*image.size)
    if factor > 1 and image.mode in REDUCIBLE and "transparency" not in image.info:
        image, factor = image.reduce(factor), 1  # average first: the conversions below see the small image
    mode = image.mode
    if mode in ("1", "L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;"):
        if "transparency" not in image.info:
            return _from_numpy(np.asarray(image), factor)
    transparent = "A" in mode or "a" in mode or "transparency" in image.info
    for target in ("RGBA", "LA") if transparent else ("RGB", "L"):
        try:
            return _from_numpy(np.asarray(image.convert(target)), factor)
        except ValueError:  # PIL has no direct conversion between some modes
            continue
    raise ImageError(f"Images of PIL mode {mode!r} are not supported")


def _from_numpy(array: np.ndarray, factor: int | None) -> np.ndarray:
    """Check the shape and size, scale the values to uint8, then reduce."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[0] == 1 and array.shape[-1] not in (2, 3, 4):
        array = array[0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}")
    _check_size(array.shape[1], array.shape[0])
    return _reduce(to_uint8(array), factor or reduction(array.shape[1], array.shape[0]))


def _reduce(pixels: np.ndarray, factor: int) -> np.ndarray:
    """uint8 pixels averaged over factor x factor blocks (PIL's reduce; the last row and column of blocks may
    be partial). 0.2 s for 16.8 megapixels of RGBA by 2 here."""
    if factor <= 1:
        return pixels
    mode = MODES[1 if pixels.ndim == 2 else pixels.shape[-1]]
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels), mode).reduce(factor))


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Values as uint8: uint8 kept; bool -> 0/255; floats in [0, 1] x255; 16-bit /257; other ranges min-max.

    Converted a block of rows at a time, so the float temporaries stay near 4 MB whatever the image's size
    (whole-array float copies took +209 MB for a 4096x4096 float64 array; blocks take +31 MB, 17 of them the
    answer).
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * np.uint8(255)
    if array.size == 0:
        return array.astype(np.uint8)
    integer = np.issubdtype(array.dtype, np.integer)
    if not (integer or np.issubdtype(array.dtype, np.floating)):
        raise ImageError(f"Image values must be numbers, not {array.dtype}")
    step = max(1, CHUNK // max(1, array[0].size))
    blocks = [array[start:start + step] for start in range(0, array.shape[0], step)]
    if integer:
        low, high = float(array.min()), float(array.max())
    else:
        ranges = [(float(v.min()), float(v.max())) for v in map(_finite_float32, blocks)]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if low >= 0 and high <= 1 and not integer:
        offset, scale = 0.0, 255.0
    elif low >= 0 and high <= 255:
        offset, scale = 0.0, 1.0
    elif low >= 0 and high <= 65535 and integer:
        offset, scale = 0.0, 1.0 / 257.0
    else:
        offset, scale = low, (255.0 / (high - low) if high > low else 0.0)
    out = np.empty(array.shape, np.uint8)
    for start, block in zip(range(0, array.shape[0], step), blocks):
        values = _finite_float32(block)
        out[start:start + len(block)] = np.clip(np.rint((values - offset) * scale, out=values), 0, 255, out=values)
    return out


def _finite_float32(block: np.ndarray) -> np.ndarray:
    """A float32 copy with NaN and infinities as 0."""
    return np.nan_to_num(block.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def _size(image) -> tuple[int, int]:
    """(width, height) without decoding: a file's header, an array's shape, an editor value's composite or
    first sheet; (0, 0) for what reading refuses anyway."""
    if isinstance(image, dict):
        sheets = [image.get("composite"), image.get("background"), *(image.get("layers") or [])]
        return next((_size(sheet) for sheet in sheets if sheet is not None), (0, 0))
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return image_size(image)
    if isinstance(image, Image.Image):
        return image.size
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) == 3 and shape[0] == 1 and shape[-1] not in (2, 3, 4):
        shape = shape[1:]
    return (int(shape[1]), int(shape[0])) if len(shape) in (2, 3) else (0, 0)


def _from_editor(value: dict) -> np.ndarray | None:
    """A Gradio ImageEditor value: its composite, else its layers (MAX_LAYERS at most) composited over the
    background.

    The sheets count as one image: their sizes together must stay within MAX_PIXELS, checked before any is
    decoded, and each is reduced by the first sheet's factor as soon as it is read.
    """
    composite = value.get("composite")
    if composite is not None:
        return as_array(composite)
    layers = value.get("layers") or []
    if len(layers) > MAX_LAYERS:
        raise ImageError(f"The drawing has {len(layers)} layers; the limit is {MAX_LAYERS}", code="image_layers",
                         layers=len(layers), limit=MAX_LAYERS)
    sources = [sheet for sheet in [value.get("background"), *layers] if sheet is not None]
    if not sources:
        return None
    sizes = [_size(sheet) for sheet in sources]
    total = sum(width * height for width, height in sizes)
    if total > MAX_PIXELS:
        raise ImageError(f"The drawing's layers are too large together ({total / 1e6:.1f} megapixels); "
                         f"the limit is {MAX_PIXELS / 1e6:.1f} megapixels", code="image_layers_too_large",
                         megapixels=f"{total / 1e6:.1f}", limit=f"{MAX_PIXELS / 1e6:.1f}")
    factor = reduction(*sizes[0]) if min(sizes[0]) > 0 else None
    canvas = None
    for source in sources:
        pixels = _pixels(source, factor)
        if pixels is None:
            continue
        sheet = _rgba(pixels)
        if canvas is None:
            canvas = sheet
            continue
        if sheet.size != canvas.size:
            padded = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
            padded.paste(sheet, (0, 0))
            sheet = padded
        canvas = Image.alpha_composite(canvas, sheet)
    return None if canvas is None else np.asarray(canvas)


def _rgba(array: np.ndarray) -> Image.Image:
    mode = MODES[1 if array.ndim == 2 else array.shape[-1]]
    return Image.fromarray(np.ascontiguousarray(array), mode).convert("RGBA")
