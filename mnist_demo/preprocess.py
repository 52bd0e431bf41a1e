"""Turn any drawing or image into the 28x28 input MNIST models expect (numpy, PIL and torch only).

Accepted inputs: whatever `images.as_array` reads (PIL images, arrays, tensors, files and their bytes,
Sketchpad values, None for nothing drawn), within its limits: at most MAX_PIXELS, and reduced to at most
WORK_PIXELS before any of the steps below.

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

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from mnist_demo.data import normalize
from mnist_demo.images import MAX_LAYERS, MAX_PIXELS, WORK_PIXELS, as_array, image_size, read  # noqa: F401 (the

# limits and readers are part of this module's interface too: callers import them from here)

SIZE = 28  # the MNIST canvas
BOX = 20  # the longer side of the digit inside it
BLANK_LEVEL = 32  # ink (0-255) needed somewhere for the image not to count as blank
NOISE_FLOOR = 16  # ink below max(NOISE_FLOOR, peak / 4) is background
WORK = 4 * BOX  # working resolution for the stroke-width check
MIN_STROKE = 6.0  # at WORK scale (1.5 px at 20 px): MNIST's 5th percentile is about 6.7
TARGET_STROKE = 8.0  # thin strokes are thickened to about this (MNIST's median is about 10)
BLANK_MESSAGE = "Draw a digit"


@dataclass(frozen=True)
class Preprocessed:
    """A drawing made MNIST-like: `image28` uint8 [28, 28] (ink 255, background 0) and its model input."""

    image28: np.ndarray
    ink_from: str  # "alpha", "dark-on-light" or "light-on-dark"
    box: tuple[int, int, int, int]  # the digit's bounding box in the source image: left, top, right, bottom
    # (for an image reduced on reading, to within the reduction factor)

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
    pixels, factor = read(image)
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
    box = tuple(int(edge) * factor for edge in (left, top, right, bottom))
    return Preprocessed(centre(digit), ink_from, box)


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
