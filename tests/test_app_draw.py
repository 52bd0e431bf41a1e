"""The Draw tab through a running `demo.py`: predictions from Gradio's API and from the plain route /api/predict."""

import shutil

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_server import predict_file, rest, save, top
from tests.digits import CENTRED, draw, encode


# --------------------------------------------------------------------------- predictions

@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
@pytest.mark.parametrize("style,size,box,width,fmt", [
    ("white", (280, 280), (60, 40, 160, 200), 18, "JPEG"),   # centred, JPEG
    ("alpha", (800, 600), (500, 300, 120, 260), 14, "PNG"),          # small, off-centre, ink in alpha
    ("white", (64, 64), (4, 4, 26, 36), 3, "PNG"),           # tiny, in a corner
    ("alpha", (1200, 1200), (200, 200, 800, 800), 60, "PNG"),      # large canvas, thick strokes
    ("blue-on-cream", (300, 200), (120, 20, 80, 160), 12, "JPEG"),  # coloured ink on a coloured page
])
def test_predicts_drawn_digits(client, tmp_path, digit, style, size, box, width, fmt):
    path = save(draw(digit, size, box, width, mode=style), tmp_path / f"d.{fmt.lower()}", format=fmt)
    result = predict_file(client, path)
    label, confidence = top(result)
    assert label == str(digit) and result["label"] == str(digit), result
    assert len(result["confidences"]) == 10
    assert abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-3


def one(size=(200, 200)) -> Image.Image:
    """A 1 in the middle of `size`, 3/4 of its height; at most 2/3 as wide as high, whatever the canvas."""
    height = 3 * size[1] // 4
    width = min(size[0] // 2, 2 * height // 3)
    return draw(1, size, ((size[0] - width) // 2, size[1] // 8, width, height), max(2, min(size) // 14))


@pytest.mark.parametrize("name,make", [
    ("1bit.png", lambda: one().convert("1")),
    ("grey.png", lambda: one().convert("L")),
    ("grey-alpha.png", lambda: one().convert("LA")),
    ("palette.png", lambda: one().convert("P")),
    ("palette-transparent.png", lambda: draw(1, (200, 200), (50, 25, 100, 150), 14, mode="alpha").convert("P")),
    ("sixteen-bit.png", lambda: Image.fromarray((np.asarray(one().convert("L"), np.uint16) * 257))),
    ("cmyk.jpg", lambda: one().convert("CMYK")),
    ("wide.png", lambda: one((1600, 200))),
    ("tall.png", lambda: one((60, 900))),
])
def test_odd_image_modes_and_sizes(client, tmp_path, name, make):
    result = predict_file(client, save(make(), tmp_path / name))
    assert top(result)[0] == "1", (name, result)


@pytest.mark.parametrize("name,make", [
    ("white.png", lambda: Image.new("RGB", (300, 300), "white")),
    ("transparent.png", lambda: Image.new("RGBA", (300, 300), (0, 0, 0, 0))),
    ("black.png", lambda: Image.new("L", (300, 300), 0)),
    ("one-pixel.png", lambda: Image.new("RGB", (1, 1), "white")),
    ("faint.png", lambda: Image.fromarray(np.full((100, 100), 250, np.uint8))),
])
def test_blank_images_say_draw_a_digit(client, tmp_path, name, make):
    result = predict_file(client, save(make(), tmp_path / name))
    assert result["label"] == "Draw a digit" and not result.get("confidences"), result


def test_noise_gets_an_answer_and_changes_nothing(client, tmp_path):
    before = client.predict(api_name="/model_info")
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    result = predict_file(client, save(Image.fromarray(noise), tmp_path / "noise.png"))
    assert result["confidences"] and abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-3
    assert client.predict(api_name="/model_info") == before


@pytest.mark.parametrize("name,content,expected", [
    ("notes.txt", b"hello, not an image", "not an image"),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not an image"),
    ("truncated.png", None, "cannot be read"),
    ("empty.png", b"", "not an image"),
    ("model.pt", b"PK\x03\x04" + b"\x00" * 64, "not an image"),
])
def test_bad_image_files_are_refused_clearly(client, tmp_path, name, content, expected):
    path = tmp_path / name
    if content is None:  # a real PNG cut short
        data = encode(draw(7, **CENTRED))
        content = data[: len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(AppError) as err:
        predict_file(client, path)
    message = str(err.value)
    assert expected in message and name in message and "/tmp/gradio" not in message, message


def test_too_large_image_is_refused(client, tmp_path):
    path = save(Image.new("L", (6000, 5000), 255), tmp_path / "huge.png", optimize=True)
    with pytest.raises(AppError, match="too large"):
        predict_file(client, path)


def test_predict_without_an_image_is_refused(client):
    with pytest.raises(AppError, match="No image"):
        client.predict(None, api_name="/predict")


# --------------------------------------------------------------------------- the plain route /api/predict

@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
def test_rest_route_reads_digits_sent_as_the_body_or_as_a_form(server, digit):
    image = draw(digit, (800, 800), (250, 150, 260, 480), 40, mode="alpha")
    jpeg = encode(draw(digit, **CENTRED), "JPEG")
    for reply in (rest(server, encode(image)), rest(server, files={"image": ("d.jpg", jpeg, "image/jpeg")})):
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["digit"] == digit and body["blank"] is False and body["model"] == "default", body
        assert set(body["probabilities"]) == {str(d) for d in range(10)}
        assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
        assert body["confidence"] == max(body["probabilities"].values())


def test_rest_route_says_blank_for_an_empty_drawing(server):
    reply = rest(server, encode(Image.new("RGBA", (300, 300), (0, 0, 0, 0))))
    assert reply.status_code == 200
    assert reply.json() == {"model": "default", "blank": True, "digit": None, "confidence": None,
                            "probabilities": None, "message": "Draw a digit"}


def truncated_png() -> bytes:
    data = encode(draw(7, **CENTRED))
    return data[: len(data) // 2]


@pytest.mark.parametrize("case,request_kwargs,status,expected", [
    ("empty body", dict(body=b""), 400, "no image"),
    ("text", dict(body=b"hello, not an image"), 400, "not an image"),
    ("fake png", dict(body=b"\x89PNG\r\n\x1a\n" + b"\x00" * 100), 400, "not an image"),
    ("truncated png", dict(body=None), 400, "cannot be read"),
    ("json", dict(body=b"{}", content_type="application/json"), 415, "unsupported content type"),
    ("text/plain", dict(body=b"7", content_type="text/plain"), 415, "unsupported content type"),
    ("over the size cap", dict(body=b"\x00" * (5 * 1024 * 1024 + 1)), 413, "too large"),
    ("form without image", dict(files={"other": ("a.png", b"x", "image/png")}), 400, "field 'image'"),
    ("form with two images", dict(files=[("image", ("a.png", b"x", "image/png")),
                                         ("image", ("b.png", b"y", "image/png"))]), 400, "exactly one"),
    ("path-like model", dict(params={"model": "../default"}), 400, "not allowed"),
    ("absolute model path", dict(params={"model": "/etc/passwd"}), 400, "not allowed"),
    ("unknown model", dict(params={"model": "nope"}), 404, "does not exist"),
    ("huge image", dict(body="huge"), 400, "too large"),
    ("GET", dict(method="GET"), 405, "Method Not Allowed"),
])
def test_rest_route_refuses_bad_requests_clearly(server, case, request_kwargs, status, expected):
    kwargs = dict(request_kwargs)
    if kwargs.get("body", b"") is None:
        kwargs["body"] = truncated_png()
    elif kwargs.get("body") == "huge":  # 30 megapixels of white: small as a file, refused before decoding
        kwargs["body"] = encode(Image.new("L", (6000, 5000), 255))
    elif "params" in kwargs:
        kwargs["body"] = encode(draw(7, **CENTRED))
    reply = rest(server, kwargs.pop("body", None), **kwargs)
    assert reply.status_code == status, (case, reply.status_code, reply.text)
    assert expected in reply.text, (case, reply.text)
    if status != 405:
        assert set(reply.json()) == {"error"} and "Traceback" not in reply.text and "/tmp" not in reply.text


def test_rest_route_uses_a_saved_checkpoint_by_name(server, ckpt_dir):
    copy = ckpt_dir / "rest-copy.pt"
    shutil.copy2(ckpt_dir / "default.pt", copy)
    try:
        reply = rest(server, encode(draw(4, **CENTRED)), params={"model": "rest-copy"})
        assert reply.status_code == 200 and reply.json()["digit"] == 4 and reply.json()["model"] == "rest-copy"
        copy.write_bytes(b"not a checkpoint")
        reply = rest(server, encode(draw(4, **CENTRED)), params={"model": "rest-copy"})
        assert reply.status_code == 400 and "rest-copy" in reply.json()["error"], reply.text
    finally:
        copy.unlink(missing_ok=True)
