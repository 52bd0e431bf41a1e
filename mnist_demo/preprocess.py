"""Turn any drawing or image into the 28x28 input MNIST models expect (numpy, PIL and torch only).

Accepted inputs: a PIL image of any mode; a numpy array (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) of
uint8, other integers, bool or floats; a file path or the file's bytes; a Gradio ImageEditor/Sketchpad
value {"background", "layers", "composite"}; None (nothing drawn).

The MNIST recipe, applied to the drawing:
1. Ink map (0 = background, high = ink), by this rule:
   - alpha: when the image has an alpha channel and its border is mostly transparent (a Sketchpad
     canvas: opaque strokes on a transparent sheet), ink = alpha above the border's alpha; colour is
     ignored (Gradio exports RGB 0 under alpha 0);
   - otherwise luminance, after compositing any transparent pixels over the border's colour. The
     background level is the median luminance of the border: when it is light (>= 128) the ink is
     darker than it (ink = background - luminance), when dark the ink is lighter (luminance - background).
2. Blank check: no ink of at least BLANK_LEVEL/255 anywhere means nothing is drawn (`to_mnist` gives None).
3. Crop to the ink's bounding box (ink below a noise floor is set to 0), area-average it to a working
   size, thicken strokes thinner than MNIST's thinnest, then area-average to 20 px on the longer side,
   aspect kept, and stretch so the darkest ink is 255 (thin strokes on huge canvases survive).
4. Paste in a 28x28 black canvas so the centre of mass is at the centre (14, 14) (pixel i spans
   [i, i+1)), shifted by whole pixels and clamped so the digit stays in frame.
"""

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from mnist_demo.data import normalize
from mnist_demo.errors import ImageError

SIZE = 28  # the MNIST canvas
BOX = 20  # the longer side of the digit inside it
MAX_PIXELS = 25_000_000  # larger images are refused
BLANK_LEVEL = 32  # ink (0-255) needed somewhere for the image not to count as blank
NOISE_FLOOR = 16  # ink below max(NOISE_FLOOR, peak / 4) is background
WORK = 4 * BOX  # working resolution for the stroke-width check
MIN_STROKE = 6.0  # at WORK scale (1.5 px at 20 px): MNIST's 5th percentile is about 6.7
TARGET_STROKE = 8.0  # thin strokes are thickened to about this (MNIST's median is about 10)
BLANK_MESSAGE = "Draw a digit"
EXIF_ORIENTATION = 0x0112  # the EXIF tag for how a photo is rotated; 1 is upright


@dataclass(frozen=True)
class Preprocessed:
    """A drawing made MNIST-like: `image28` uint8 [28, 28] (ink 255, background 0) and its model input."""

    image28: np.ndarray
    ink_from: str  # "alpha", "dark-on-light" or "light-on-dark"
    box: tuple[int, int, int, int]  # the digit's bounding box in the source image: left, top, right, bottom

    @property
    def tensor(self) -> torch.Tensor:
        """float [1, 1, 28, 28]: the model input, scaled by `data.normalize` exactly as in training."""
        return normalize(torch.tensor(self.image28)[None])

    def preview(self, scale: int = 10) -> np.ndarray:
        """uint8 [28*scale, 28*scale], nearest-neighbour enlarged: what the model sees."""
        scale = max(1, int(scale))
        return np.repeat(np.repeat(self.image28, scale, axis=0), scale, axis=1)


def to_mnist(image) -> Preprocessed | None:
    """The MNIST-style version of `image`, or None when it is blank (no ink). ImageError if unreadable."""
    pixels = as_array(image)
    if pixels is None:
        return None
    ink, ink_from = ink_map(pixels)
    peak = int(ink.max())
    if peak < BLANK_LEVEL:
        return None
    floor = max(NOISE_FLOOR, peak // 4)
    strong = ink >= floor
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[top:bottom, left:right].astype(np.float32)
    crop[crop < floor] = 0.0
    digit = fit_box(thicken(to_working_size(crop)))
    return Preprocessed(centre(digit), ink_from, (int(left), int(top), int(right), int(bottom)))


def require_digit(image) -> Preprocessed:
    """`to_mnist`, with ImageError("Draw a digit") instead of None for a blank image."""
    result = to_mnist(image)
    if result is None:
        raise ImageError(BLANK_MESSAGE)
    return result


# --- reading: anything -> uint8 array (H, W[, C]) -------------------------------------------------

def as_array(image) -> np.ndarray | None:
    """uint8 [H, W] (grey), [H, W, 2] (grey + alpha), [H, W, 3] (RGB) or [H, W, 4] (RGBA); None: no image."""
    if image is None:
        return None
    if isinstance(image, dict):
        return _from_editor(image)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _read(image)
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = (image.float() if image.is_floating_point() else image).numpy()
    if isinstance(image, np.ndarray):
        return _from_numpy(image)
    raise ImageError(f"Cannot use a {type(image).__name__} as an image")


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError("The image is empty (0 pixels)")
    if width * height > MAX_PIXELS:
        raise ImageError(f"The image is too large ({width}x{height}, {width * height / 1e6:.0f} megapixels); "
                         f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels")


def _read(source) -> np.ndarray:
    """Decode a path or bytes to a uint8 array, upright per EXIF; ImageError for anything unreadable.

    Plain 8-bit PNGs (what the Sketchpad and most API clients send) are decoded by libpng through
    torchvision when it can (`_decode_png`); everything else, and everything when it cannot, by PIL.
    """
    is_path = isinstance(source, (str, os.PathLike))
    label = os.fspath(source) if is_path else "the uploaded data"
    if is_path and not os.path.isfile(source):
        raise ImageError(f"{label}: no such file" if not os.path.exists(source) else f"{label}: not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source if is_path else io.BytesIO(bytes(source)))  # reads the header only
            _check_size(*image.size)
            if _plain_png(image):
                data = Path(source).read_bytes() if is_path else bytes(source)
                pixels = _decode_png(data) if b"eXIf" not in data else None  # eXIf: PIL turns it upright
                if pixels is not None:
                    return _from_numpy(pixels)
            image.load()
            return _from_pil(_upright(image))
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{label}: the image is too large (the limit is {MAX_PIXELS / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file (or a format PIL cannot read)") from None
    except Exception as err:  # truncated or corrupt files raise OSError, ValueError, RuntimeError...
        raise ImageError(f"{label}: the image cannot be read ({type(err).__name__})") from None


def _plain_png(image: Image.Image) -> bool:
    return image.format == "PNG" and image.mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in image.info


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
    return pixels.permute(1, 2, 0).numpy()


def _upright(image: Image.Image) -> Image.Image:
    """The image turned upright per its EXIF orientation; the same object when it has none (exif_transpose
    would copy it: about 1 ms for an 800x800 RGBA drawing, a tenth of a prediction)."""
    if image.getexif().get(EXIF_ORIENTATION, 1) in (0, 1):
        return image
    return ImageOps.exif_transpose(image)


def _from_pil(image: Image.Image) -> np.ndarray:
    """The PIL image's pixels as uint8, through a mode that keeps its grey levels and alpha."""
    _check_size(*image.size)
    mode = image.mode
    if mode in ("1", "L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;"):
        if "transparency" not in image.info:
            return _from_numpy(np.asarray(image))
    transparent = "A" in mode or "a" in mode or "transparency" in image.info
    for target in ("RGBA", "LA") if transparent else ("RGB", "L"):
        try:
            return _from_numpy(np.asarray(image.convert(target)))
        except ValueError:  # PIL has no direct conversion between some modes
            continue
    raise ImageError(f"Images of PIL mode {mode!r} are not supported")


def _from_numpy(array: np.ndarray) -> np.ndarray:
    """Check the shape and size, then scale the values to uint8."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 3 and array.shape[0] == 1 and array.shape[-1] not in (2, 3, 4):
        array = array[0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (2, 3, 4)):
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}")
    _check_size(array.shape[1], array.shape[0])
    return to_uint8(array)


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Values as uint8: uint8 kept; bool -> 0/255; floats in [0, 1] x255; 16-bit /257; other ranges min-max."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * np.uint8(255)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageError(f"Image values must be numbers, not {array.dtype}")
    values = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 1 and np.issubdtype(array.dtype, np.floating):
        values = values * 255.0
    elif low >= 0 and high <= 255:
        pass
    elif low >= 0 and high <= 65535 and np.issubdtype(array.dtype, np.integer):
        values = values / 257.0
    else:
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _from_editor(value: dict) -> np.ndarray | None:
    """A Gradio ImageEditor value: its composite, else the layers composited over the background."""
    composite = value.get("composite")
    if composite is not None:
        return as_array(composite)
    sheets = [as_array(value.get("background"))] + [as_array(layer) for layer in value.get("layers") or []]
    sheets = [_rgba(s) for s in sheets if s is not None]
    if not sheets:
        return None
    canvas = sheets[0]
    for sheet in sheets[1:]:
        if sheet.size != canvas.size:
            padded = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
            padded.paste(sheet, (0, 0))
            sheet = padded
        canvas = Image.alpha_composite(canvas, sheet)
    return np.asarray(canvas)


def _rgba(array: np.ndarray) -> Image.Image:
    channels = 1 if array.ndim == 2 else array.shape[-1]
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    return Image.fromarray(np.ascontiguousarray(array), mode).convert("RGBA")


# --- the ink map ----------------------------------------------------------------------------------

def _border(channel: np.ndarray) -> np.ndarray:
    return np.concatenate([channel[0], channel[-1], channel[:, 0], channel[:, -1]])


def _luminance(pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W] grey (ITU-R 601, as PIL's "L") of a grey, grey+alpha, RGB or RGBA array."""
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[-1] == 2:
        return pixels[..., 0]
    mode = "RGB" if pixels.shape[-1] == 3 else "RGBA"
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels), mode).convert("L"))


def ink_map(pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """uint8 [H, W] ink (0 = background) of a uint8 image, and where it came from (see the module rule)."""
    alpha = pixels[..., -1] if pixels.ndim == 3 and pixels.shape[-1] in (2, 4) else None
    if alpha is not None and alpha.min() < 255:
        background_alpha = int(np.median(_border(alpha)))
        if background_alpha < 128:
            return _above(alpha, background_alpha), "alpha"
    grey = _luminance(pixels)
    if alpha is not None and alpha.min() < 255:  # opaque border, some holes: fill them with the border's grey
        level = float(np.median(_border(grey)))
        weight = alpha.astype(np.float32) / 255.0
        grey = np.rint(grey * weight + level * (1.0 - weight)).astype(np.uint8)
    background = int(np.median(_border(grey)))
    if background >= 128:
        return _above(255 - grey, 255 - background), "dark-on-light"
    return _above(grey, background), "light-on-dark"


def _above(values: np.ndarray, level: int) -> np.ndarray:
    """uint8 max(values - level, 0)."""
    if level <= 0:
        return np.ascontiguousarray(values)
    return np.subtract(values, np.minimum(values, level), dtype=np.uint8)


# --- shaping: crop -> working size -> stroke check -> 20 px box -> centred 28x28 ------------------

def _resize(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average down (BOX), interpolate up (BILINEAR); float32 in and out."""
    shrinking = width <= ink.shape[1] and height <= ink.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(ink, "F").resize((width, height), method))


def _scaled_size(height: int, width: int, longer: int) -> tuple[int, int]:
    scale = longer / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_working_size(crop: np.ndarray) -> np.ndarray:
    """The cropped ink resized to WORK px on the longer side, its strongest ink stretched to 255."""
    work = _resize(np.ascontiguousarray(crop), *_scaled_size(*crop.shape, WORK))
    return _stretch(work)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels, as 2 x area / boundary pixels of the ink at half its peak."""
    mask = ink >= 0.5 * float(ink.max())
    padded = np.pad(mask, 1)
    inner = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
             & padded[1:-1, :-2] & padded[1:-1, 2:])
    boundary = int(np.count_nonzero(mask & ~inner))
    return 2.0 * int(np.count_nonzero(mask)) / max(boundary, 1)


def thicken(work: np.ndarray) -> np.ndarray:
    """Widen strokes thinner than MIN_STROKE to about TARGET_STROKE (grey dilation, padded to fit)."""
    width = stroke_width(work)
    if width >= MIN_STROKE:
        return work
    radius = math.ceil((TARGET_STROKE - width) / 2)
    padded = np.pad(work, radius)
    grown = Image.fromarray(padded, "F").filter(ImageFilter.MaxFilter(2 * radius + 1))
    return np.asarray(grown)


def fit_box(work: np.ndarray) -> np.ndarray:
    """float32 ink resized to BOX px on the longer side (area-averaged), darkest ink stretched to 255."""
    return _stretch(_resize(np.ascontiguousarray(work), *_scaled_size(*work.shape, BOX)))


def _stretch(ink: np.ndarray) -> np.ndarray:
    peak = float(ink.max())
    return ink * (255.0 / peak) if peak > 0 else ink


def centre(digit: np.ndarray) -> np.ndarray:
    """uint8 [28, 28]: `digit` pasted so its centre of mass is nearest (14, 14), kept wholly in frame."""
    height, width = digit.shape
    mass = float(digit.sum())
    cy = float(digit.sum(axis=1) @ (np.arange(height) + 0.5)) / mass
    cx = float(digit.sum(axis=0) @ (np.arange(width) + 0.5)) / mass
    top = min(max(round(SIZE / 2 - cy), 0), SIZE - height)
    left = min(max(round(SIZE / 2 - cx), 0), SIZE - width)
    canvas = np.zeros((SIZE, SIZE), np.uint8)
    canvas[top:top + height, left:left + width] = np.clip(np.rint(digit), 0, 255).astype(np.uint8)
    return canvas
