"""Hand-drawn digits for tests and benchmarks: each digit as pen strokes in a unit box, drawn with PIL or a mouse.

Coordinates are (x, y) in [0, 1], y downwards; `place` maps them into a box on a canvas, with an
optional slant, so the same strokes serve off-centre, small, large and slanted drawings.
"""

import io
import math

from PIL import Image, ImageDraw


def _arc(cx, cy, rx, ry, start_deg, end_deg, n=24):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in (start_deg + (end_deg - start_deg) * i / n for i in range(n + 1))]


STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.47, 0, 360, 32)],
    1: [[(0.35, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [_arc(0.5, 0.28, 0.32, 0.27, 200, 360, 12) + _arc(0.5, 0.28, 0.32, 0.27, 0, 60, 6)
        + [(0.12, 1.0), (0.9, 1.0)]],
    3: [_arc(0.5, 0.26, 0.3, 0.25, 200, 450, 16), _arc(0.5, 0.74, 0.34, 0.26, 270, 520, 16)],
    4: [[(0.6, 0.0), (0.08, 0.68), (0.92, 0.68)], [(0.68, 0.3), (0.68, 1.0)]],
    5: [[(0.85, 0.0), (0.22, 0.0), (0.16, 0.45)] + _arc(0.5, 0.68, 0.36, 0.32, 230, 500, 18)],
    6: [[(0.7, 0.0), (0.35, 0.3)] + _arc(0.5, 0.7, 0.32, 0.3, 180, 540, 24)],
    7: [[(0.08, 0.0), (0.92, 0.0), (0.4, 1.0)]],
    8: [_arc(0.5, 0.25, 0.27, 0.25, 90, 450, 20), _arc(0.5, 0.74, 0.33, 0.26, -90, 270, 20)],
    9: [_arc(0.48, 0.3, 0.32, 0.3, 0, 360, 24), [(0.8, 0.3), (0.72, 1.0)]],
}


def place(digit, left: float, top: float, width: float, height: float, slant: float = 0.0):
    """The strokes of `digit` (0-9, or strokes of its own in the unit box, e.g. LINE) in canvas pixels: box at
    (left, top) of size width x height, slanted by `slant`."""
    strokes = STROKES[digit] if isinstance(digit, int) else digit
    return [[(left + (x + slant * (0.5 - y)) * width, top + y * height) for x, y in stroke] for stroke in strokes]


# mode: (PIL mode, paper, ink)
MODES = {
    "white": ("RGB", (255, 255, 255), (0, 0, 0)),          # black ink on white
    "alpha": ("RGBA", (0, 0, 0, 0), (0, 0, 0, 255)),       # a Sketchpad-like export: ink in alpha
    "blue-on-cream": ("RGB", (250, 245, 225), (20, 40, 160)),  # coloured ink on a coloured page
    "black": ("RGB", (0, 0, 0), (255, 255, 255)),          # white chalk on a blackboard
}

LINE = [[(0.5, 0.0), (0.5, 1.0)]]  # one straight down stroke: a bar, thinner and plainer than the 1's flag


CENTRED = dict(size=(280, 280), box=(60, 40, 160, 200), width=18)  # a digit in the middle of a small canvas


def draw(digit, size=(400, 400), box=(100, 60, 200, 280), width: int = 24, slant: float = 0.0,
         mode: str = "white") -> Image.Image:
    """A PIL image of `digit` (0-9, or strokes as `place` takes them) in `box` (left, top, width, height), in one
    of MODES."""
    pil_mode, paper, ink = MODES[mode]
    image = Image.new(pil_mode, size, paper)
    pen = ImageDraw.Draw(image)
    for stroke in place(digit, *box, slant=slant):
        pen.line(stroke, fill=ink, width=width, joint="curve")
        r = width / 2
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """`image` as the bytes of a `fmt` file."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def one_png() -> bytes:
    """A 280x280 greyscale PNG of a 1."""
    return encode(draw(1, size=(280, 280), box=(100, 40, 80, 200), width=20).convert("L"))
