"""Preprocessing: drawings of any kind become MNIST-like 28x28 images (ink 255, centred, 20 px box)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo.data import normalize
from mnist_demo.errors import ImageError
from mnist_demo.preprocess import MAX_PIXELS, to_mnist
from tests.support.digits import LINE, draw


def ink_box(image28: np.ndarray) -> tuple[int, int]:
    """Height and width of the bounding box of the non-zero pixels."""
    rows, cols = np.flatnonzero(image28.any(1)), np.flatnonzero(image28.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(image28: np.ndarray) -> tuple[float, float]:
    """(y, x) with pixel i spanning [i, i+1), so the canvas centre is (14, 14)."""
    weights = image28.astype(np.float64)
    centres = np.arange(28) + 0.5
    return weights.sum(1) @ centres / weights.sum(), weights.sum(0) @ centres / weights.sum()


def assert_mnist_like(result):
    image = result.image28
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image.max() == 255
    height, width = ink_box(image)
    assert 18 <= max(height, width) <= 20
    cy, cx = centre_of_mass(image)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert image[0].max() == 0 or image[-1].max() == 0  # a 20 px box leaves background on both axes
    assert image[:, 0].max() == 0 or image[:, -1].max() == 0


CASES = [  # digit, canvas, box (left, top, width, height), stroke width
    (1, (400, 400), (100, 60, 200, 280), 24),
    (0, (400, 400), (120, 80, 160, 250), 20),
    (7, (400, 400), (20, 20, 180, 200), 16),
    (0, (64, 48), (10, 4, 30, 40), 4),
    (7, (1600, 1200), (700, 500, 800, 650), 60),
    (1, (800, 800), (600, 20, 100, 760), 30),
]


@pytest.mark.parametrize("mode", ["white", "alpha", "black"])
@pytest.mark.parametrize("digit, canvas, box, width", CASES)
def test_drawings_become_mnist_like(digit, canvas, box, width, mode):
    result = to_mnist(draw(digit, canvas, box, width, mode=mode))
    assert_mnist_like(result)
    assert result.ink_from == {"white": "dark-on-light", "alpha": "alpha", "black": "light-on-dark"}[mode]
    left, top, right, bottom = result.box
    assert left >= box[0] - width and right <= box[0] + box[2] + width + 1
    assert top >= box[1] - width and bottom <= box[1] + box[3] + width + 1


def test_background_is_exactly_zero_and_shape_keeps_aspect():
    image = to_mnist(draw(LINE, width=20)).image28
    height, width = ink_box(image)
    assert height == 20 and width <= 5  # a tall thin stroke stays tall and thin
    assert (image == 0).sum() > 28 * 28 - 20 * 5


def test_the_same_drawing_anywhere_gives_the_same_image():
    first = to_mnist(draw(7, box=(20, 20, 160, 220))).image28
    moved = to_mnist(draw(7, box=(200, 150, 160, 220))).image28
    assert np.array_equal(first, moved)


def test_styles_agree_and_sizes_agree():
    dark = to_mnist(draw(0)).image28.astype(int)
    alpha = to_mnist(draw(0, mode="alpha")).image28.astype(int)
    light = to_mnist(draw(0, mode="black")).image28.astype(int)
    assert np.abs(dark - alpha).max() <= 2 and np.abs(dark - light).max() <= 2
    # the same 7 five times larger, pen included (a 7, not the 0: a symmetric ring's centre of mass sits on a
    # pixel boundary, so rounding may shift the whole ring by one pixel at one scale and not the other)
    small = to_mnist(draw(7)).image28.astype(int)
    big = to_mnist(draw(7, (2000, 2000), (500, 300, 1000, 1400), 120)).image28.astype(int)
    assert np.abs(small - big).mean() < 2


def test_sketchpad_rgba_has_black_under_transparency():
    """Gradio's Sketchpad exports RGB 0 under alpha 0: the ink must come from alpha, not colour."""
    sheet = np.array(draw(LINE, (800, 800), (380, 150, 40, 500), 30, mode="alpha"))
    assert sheet[..., :3].max() == 0
    result = to_mnist(sheet)
    assert result.ink_from == "alpha"
    assert_mnist_like(result)


def test_opaque_rgba_uses_darkness():
    image = draw(7).convert("RGBA")
    result = to_mnist(image)
    assert result.ink_from == "dark-on-light"
    assert np.array_equal(result.image28, to_mnist(draw(7)).image28)


def test_grey_paper_and_pencil():
    rgb = np.array(draw(0))
    paper = np.where(rgb == 255, 190, 110).astype(np.uint8)  # grey ink on grey paper
    result = to_mnist(paper)
    assert result.ink_from == "dark-on-light"
    assert_mnist_like(result)


def test_thin_strokes_on_a_huge_canvas_survive():
    image = draw(7, (4000, 4000), (500, 400, 3000, 3200), 3)
    result = to_mnist(image)
    assert_mnist_like(result)
    assert (result.image28 >= 128).sum() >= 30  # thickened to MNIST-like strokes, not a faint trace


def test_tiny_drawings_are_enlarged():
    image = np.full((40, 40), 255, np.uint8)
    image[10:16, 20] = 0  # a 6 px "1"
    result = to_mnist(image)
    assert_mnist_like(result)


@pytest.mark.parametrize("blank", [
    None,
    Image.new("RGB", (300, 200), "white"),
    Image.new("RGBA", (800, 800), (0, 0, 0, 0)),
    Image.new("L", (50, 50), 0),
    Image.new("L", (50, 50), 128),
    np.full((100, 100, 3), 255, np.uint8),
    np.random.default_rng(0).integers(245, 256, (200, 200), dtype=np.uint8),  # faint scanner noise
    np.zeros((1, 1), np.uint8),
    {"background": None, "layers": [], "composite": None},
    {"background": np.full((60, 60, 3), 255, np.uint8), "layers": [np.zeros((60, 60, 4), np.uint8)],
     "composite": None},
])
def test_blank_is_none(blank):
    assert to_mnist(blank) is None



def _i16(image):
    result = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    assert result.mode == "I;16"
    return result


@pytest.mark.parametrize("convert", [
    lambda im: im.convert("L"),
    lambda im: im.convert("LA"),
    lambda im: im.convert("P"),
    lambda im: im.convert("RGBA").convert("P"),
    lambda im: im.convert("1"),
    lambda im: im.convert("CMYK"),
    lambda im: im.convert("YCbCr"),
    lambda im: im.convert("HSV"),
    lambda im: im.convert("I"),
    lambda im: im.convert("F"),
    lambda im: Image.fromarray(np.asarray(im.convert("L"), np.float32) / 255.0, "F"),
    _i16,
    lambda im: im.convert("RGBA").convert("La"),
    lambda im: im.convert("RGBA").convert("RGBa"),
], ids=["L", "LA", "P", "P-transparency", "1", "CMYK", "YCbCr", "HSV", "I", "F", "F-unit", "I;16", "La", "RGBa"])
def test_pil_modes(convert):
    reference = to_mnist(draw(7)).image28.astype(int)
    result = to_mnist(convert(draw(7)))
    assert_mnist_like(result)
    assert np.abs(result.image28.astype(int) - reference).mean() < 10


def test_transparent_palette_image_uses_alpha():
    sheet = draw(0).convert("L").convert("P")  # a grey palette: index 255 is white
    sheet.info["transparency"] = 255  # white is see-through, as in a GIF with a transparent colour
    result = to_mnist(sheet)
    assert result.ink_from == "alpha"
    assert_mnist_like(result)


@pytest.mark.parametrize("convert", [
    lambda a: a.astype(np.float32) / 255,
    lambda a: a.astype(np.float64),
    lambda a: a.astype(np.uint16) * 257,
    lambda a: a.astype(np.int64),
    lambda a: a > 127,
    lambda a: a[..., None],
    lambda a: torch.tensor(a),
    lambda a: np.asfortranarray(a),
    lambda a: a.astype(np.float32) * 1000 - 500,  # any range: min-max scaled
], ids=["float-unit", "float-255", "uint16", "int64", "bool", "HxWx1", "torch", "fortran", "any-range"])
def test_numpy_dtypes_and_shapes(convert):
    grey = np.asarray(draw(1).convert("L"))
    assert_mnist_like(to_mnist(convert(grey)))


def test_float_rgba_in_unit_range():
    sheet = np.asarray(draw(0, mode="alpha"), np.float32) / 255
    result = to_mnist(sheet)
    assert result.ink_from == "alpha"
    assert_mnist_like(result)


@pytest.mark.parametrize("bad", [np.zeros((0, 5)), np.zeros((4, 4, 5)), np.zeros((2, 2, 2, 2)),
                                 np.array([["a"]]), "", object()])
def test_unusable_inputs_raise_image_error(bad):
    with pytest.raises(ImageError):
        to_mnist(bad)


def test_one_pixel_images():
    assert to_mnist(np.zeros((1, 1, 4), np.uint8)) is None
    assert to_mnist(Image.new("L", (1, 1), 0)) is None
    image = np.full((2, 2), 255, np.uint8)
    image[0, 0] = 0
    result = to_mnist(image)  # a single dark pixel becomes a centred block
    assert result.image28.max() == 255 and max(ink_box(result.image28)) == 20


def test_too_large_is_refused_without_reading_it():
    huge = np.broadcast_to(np.uint8(255), (6000, 5000))  # 30 megapixels, no memory behind it
    assert huge.shape[0] * huge.shape[1] > MAX_PIXELS
    with pytest.raises(ImageError, match="too large"):
        to_mnist(huge)
    with pytest.raises(ImageError, match="too large"):
        to_mnist(Image.new("1", (6000, 5000)))


def test_too_large_file_is_refused(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (6000, 5000), 1).save(path)
    with pytest.raises(ImageError, match="too large"):
        to_mnist(path)


def test_files_and_bytes(tmp_path):
    reference = to_mnist(draw(7)).image28
    png = tmp_path / "seven.png"
    draw(7).save(png)
    assert np.array_equal(to_mnist(png).image28, reference)
    assert np.array_equal(to_mnist(str(png)).image28, reference)
    assert np.array_equal(to_mnist(png.read_bytes()).image28, reference)
    jpeg = tmp_path / "seven.jpg"
    draw(7).save(jpeg, quality=60)  # compression noise around the strokes
    result = to_mnist(jpeg)
    assert_mnist_like(result)
    assert np.abs(result.image28.astype(int) - reference).mean() < 6


@pytest.mark.parametrize("libpng", [True, False], ids=["libpng", "pil-only"])
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16"])
def test_png_files_and_bytes_read_as_the_pil_image_does(mode, libpng, monkeypatch):
    """Plain PNGs are decoded by libpng when torchvision has it, others (and all without it) by PIL: same pixels."""
    from mnist_demo import images
    from mnist_demo.preprocess import as_array

    if not libpng:
        monkeypatch.setattr(images, "_decode_png", lambda data: None)

    image = draw(7, mode="alpha" if mode in ("LA", "RGBA") else "white")
    if mode == "I;16":  # 16-bit grey
        image = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    expected = as_array(Image.open(io.BytesIO(buffer.getvalue())))
    assert np.array_equal(as_array(buffer.getvalue()), expected)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_photos_turned_by_exif_are_read_upright(fmt):
    upright = draw(7, size=(300, 400), box=(60, 60, 180, 280), width=28)
    stored = upright.transpose(Image.Transpose.ROTATE_270)  # what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees to display": undoes the ROTATE_270 above
    buffer = io.BytesIO()
    stored.save(buffer, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    result = to_mnist(buffer.getvalue())
    reference = to_mnist(upright).image28
    assert np.abs(result.image28.astype(int) - reference).mean() < 4
    assert np.abs(to_mnist(stored).image28.astype(int) - reference).mean() > 10  # the turn matters


def test_unreadable_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    truncated = tmp_path / "cut.png"
    buffer = io.BytesIO()
    draw(1).save(buffer, "PNG")
    truncated.write_bytes(buffer.getvalue()[:200])
    for source, message in [(tmp_path / "notes.txt", "not an image"), (tmp_path / "missing.png", "no such file"),
                            (tmp_path, "not a file"), (truncated, "cannot be read"), (b"\x89PNG junk", "not an image")]:
        with pytest.raises(ImageError, match=message):
            to_mnist(source)


def test_gradio_editor_values(tmp_path):
    reference = to_mnist(draw(7, mode="alpha")).image28
    sheet = np.array(draw(7, mode="alpha"))
    white = np.full((400, 400, 3), 255, np.uint8)
    composite = np.array(Image.alpha_composite(Image.new("RGBA", (400, 400), "white"), draw(7, mode="alpha")))
    path = tmp_path / "layer.png"
    draw(7, mode="alpha").save(path)
    values = [
        {"background": None, "layers": [sheet], "composite": sheet},  # Sketchpad, type="numpy"
        {"background": white, "layers": [sheet], "composite": composite[..., :3]},  # flattened on white
        {"background": white, "layers": [sheet], "composite": None},  # composite missing: use the layers
        {"background": None, "layers": [np.zeros_like(sheet), sheet], "composite": None},
        {"background": None, "layers": [draw(7, mode="alpha")], "composite": None},  # type="pil"
        {"background": None, "layers": [str(path)], "composite": str(path)},  # type="filepath"
    ]
    for value in values:
        result = to_mnist(value)
        assert_mnist_like(result)
        assert np.abs(result.image28.astype(int) - reference).max() <= 2


def test_tensor_and_preview():
    result = to_mnist(draw(1))
    tensor = result.tensor
    assert tensor.shape == (1, 1, 28, 28) and tensor.dtype == torch.float32
    assert torch.equal(tensor, normalize(torch.from_numpy(result.image28.copy())[None]))  # as in training
    preview = result.preview()
    assert preview.shape == (280, 280) and preview.dtype == np.uint8
    assert np.array_equal(preview[::10, ::10], result.image28)
    assert result.preview(scale=3).shape == (84, 84)
