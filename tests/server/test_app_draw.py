"""The Draw tab through a running `demo.py`: predictions from Gradio's API and from the plain route /api/predict;
teaching it your handwriting (keep drawings with their labels, MNIST files out and in, fine-tune, save)."""

import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.collection import MAX_DRAWINGS, write_idx
from mnist_demo.data import read_idx
from tests.support.app_server import LONG, new_client, predict_file, queue_status, rest, save, top, wait_for, wait_idle
from tests.support.digits import CENTRED, draw, encode

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


# --------------------------------------------------------------------------- teach it your handwriting

def pad_value(path) -> dict:
    """What the Sketchpad sends: its composite image."""
    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def drawing(tmp_path, digit: int, variant: int = 0):
    """A Sketchpad-like drawing of `digit` (ink in alpha), placed and slanted a little differently per variant."""
    box = (100 + 20 * (variant % 3), 60 + 10 * (variant % 2), 180 + 10 * (variant % 4), 280)
    return save(draw(digit, box=box, width=22 + 2 * (variant % 3), slant=0.1 * (variant % 3) - 0.1, mode="alpha"),
                tmp_path / f"d{digit}-{variant}.png")


def counts(counter: str) -> list[int]:
    """The ten counts from the counter's table."""
    row = counter.strip().splitlines()[-1]
    return [int(cell.strip(" *")) for cell in row.strip("|").split("|")][:10]


def collect(client, tmp_path, digit, variant=0, label=None):
    """Keep a drawing of `digit` as `label` (default: the digit drawn), as the "Right?" buttons do: (message, kept,
    counter, drawing)."""
    return client.predict(str(digit if label is None else label), pad_value(drawing(tmp_path, digit, variant)),
                          api_name="/collect")


def test_collect_keeps_drawings_with_labels_counts_them_and_sends_only_what_changed(client, tmp_path):
    for digit in (7, 1, 7):
        answer = collect(client, tmp_path, digit)
        assert len(answer) == 4  # never the whole gallery again: the message, kept, the counts, the new drawing
        message, kept, counter, image = answer
        assert f"Kept as a **{digit}**" in message and kept == 1
        thumb = Image.open(image)
        assert thumb.size == (28, 28) and np.asarray(thumb.convert("L")).max() == 255  # the model's 28x28, ink 255
    assert counts(counter) == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0] and "**3**" in counter
    files = client.predict(api_name="/download_drawings")[1]["value"]
    labels = next(Path(p) for p in files if "labels" in Path(p).name)
    assert read_idx(labels, 1).tolist() == [7, 1, 7]
    message, kept, counter, image = client.predict("x", pad_value(drawing(tmp_path, 7)), api_name="/collect")
    assert "not a digit" in message and kept == 0 and image is None and sum(counts(counter)) == 3  # refused


@pytest.mark.parametrize("label,image,expected", [
    ("7", None, "The pad is empty"),
    ("10", "seven", "not a digit"),
    ("x", "seven", "not a digit"),
    ("", "seven", "not a digit"),
])
def test_a_blank_pad_or_a_label_outside_0_to_9_keeps_nothing(client, tmp_path, label, image, expected):
    collect(client, tmp_path, 3)
    pad = pad_value(drawing(tmp_path, 7)) if image else None
    message, kept, *rest = client.predict(label, pad, api_name="/collect")
    assert expected in message and "Not done" in message and kept == 0
    assert "Your 1 drawing as MNIST files" in client.predict(api_name="/download_drawings")[0]


def test_remove_the_selected_drawing_and_refuse_without_a_selection(client, tmp_path):
    for digit in (2, 5, 8):
        collect(client, tmp_path, digit)
    message, counter, gallery, selected, download = client.predict(1, api_name="/remove_drawing")  # newest first
    assert "Removed a **5**" in message and selected == -1
    assert counts(counter) == [0, 0, 1, 0, 0, 0, 0, 0, 1, 0] and [g["caption"] for g in gallery] == ["8", "2"]
    for position in (-1, 2, "x"):
        message, *rest = client.predict(position, api_name="/remove_drawing")
        assert "Pick a drawing in the gallery first" in message, position
    assert "Your 2 drawings" in client.predict(api_name="/download_drawings")[0]


def test_download_as_mnist_files_then_upload_them_in_another_visitors_session(server, client, tmp_path):
    for variant, digit in enumerate((0, 4, 4, 9)):
        collect(client, tmp_path, digit, variant)
    message, files = client.predict(api_name="/download_drawings")
    paths = sorted((Path(p) for p in files["value"]), key=lambda p: p.name)
    assert [p.name for p in paths] == ["my-drawings-images-idx3-ubyte.gz", "my-drawings-labels-idx1-ubyte.gz"]
    assert read_idx(paths[0], 3).shape == (4, 28, 28) and read_idx(paths[1], 1).tolist() == [0, 4, 4, 9]
    other = new_client(server)
    assert "Nothing to download yet" in other.predict(api_name="/download_drawings")[0]  # visitors are apart
    message, upload, counter, gallery, selected, download = other.predict([handle_file(str(p)) for p in paths],
                                                                          api_name="/upload_drawings")
    assert "Added 4 drawings" in message and counts(counter) == [1, 0, 0, 0, 2, 0, 0, 0, 0, 1]
    again = Path(other.predict(api_name="/download_drawings")[1]["value"][0])
    assert np.array_equal(read_idx(again, 3).numpy(), read_idx(paths[0], 3).numpy())
    assert "Your 4 drawings" in client.predict(api_name="/download_drawings")[0]  # the first visitor's are unchanged
    collect(client, tmp_path, 2)
    *_, download = client.predict(0, api_name="/remove_drawing")
    assert download["visible"] is False and download["value"] is None  # no link to the earlier files stays shown


def test_corrupt_or_mismatched_uploads_change_nothing(client, tmp_path):
    for digit in (3, 6):
        collect(client, tmp_path, digit)
    images, labels = sorted((Path(p) for p in client.predict(api_name="/download_drawings")[1]["value"]),
                            key=lambda p: p.name)
    cut = tmp_path / "cut-images-idx3-ubyte.gz"
    cut.write_bytes(images.read_bytes()[:200])
    text = tmp_path / "notes-labels-idx1-ubyte.gz"
    text.write_bytes(b"hello, not MNIST")
    for files, expected in (([cut, labels], "cut short"), ([images, text], "not an MNIST IDX file"),
                            ([images], "Upload two files"), ([labels, labels], "Both files hold labels")):
        message, *rest = client.predict([handle_file(str(p)) for p in files], api_name="/upload_drawings")
        assert expected in message and "collection is unchanged" in message, message
    assert "Your 2 drawings" in client.predict(api_name="/download_drawings")[0]


def test_fine_tune_refusals_change_nothing(client, tmp_path):
    status, *rest = client.predict(5, api_name="/finetune")
    assert "No drawings to fine-tune on" in status, status
    for variant in range(3):
        collect(client, tmp_path, 4, variant)
    status, *rest = client.predict(5, api_name="/finetune")
    assert "All the drawings are of the digit 4" in status and "two different digits" in status, status
    collect(client, tmp_path, 1)
    for steps in (0, 100000, 2.5):
        status, *rest = client.predict(steps, api_name="/finetune")
        assert "Steps: " in status and "from 1 to 1000" in status and "Not done" in status, status
    assert client.predict(api_name="/model_info")["current"] is None


def test_fine_tune_makes_the_current_model_reports_before_and_after_and_saves(server, client, tmp_path, ckpt_dir):
    wait_idle(client)
    for variant in range(2):
        for digit in (1, 7):
            collect(client, tmp_path, digit, variant)
    job = client.submit(8, api_name="/finetune")
    status, progress, *picker = job.result(timeout=180)
    assert "**Done**" in status and "Fine-tuned from default (shipped)" in status, status
    assert re.search(r"Your drawings: \*\*\d+\.\d% → \d+\.\d%\*\* right, on the 4 drawings it trained on", status)
    assert re.search(r"MNIST test \(10,000 images\): \*\*\d\d\.\d\d% → \d\d\.\d\d%\*\*", status)
    assert "none were held aside" in status
    info = client.predict(api_name="/model_info")
    assert info["choice"] == "@current" and info["current"]["origin"] == "fine-tuned" and info["current"]["steps"] == 8
    seven = save(draw(7, **CENTRED), tmp_path / "seven.png")
    assert len(predict_file(client, seven)["confidences"]) == 10  # the Draw tab answers with the new model
    name = f"hand-{uuid.uuid4().hex[:8]}"
    try:
        message, *rest = client.predict(name, api_name="/save_finetuned")
        assert "**Saved**" in message, message
        meta = load_checkpoint(name, ckpt_dir).meta
        assert meta["fine_tuned_from"] == "default (shipped)" and meta["drawings"] == 4 and meta["steps"] == 8
        assert "fine-tuned" in meta["source"]
    finally:
        (ckpt_dir / f"{name}.pt").unlink(missing_ok=True)


def test_fine_tune_while_the_same_visitor_trains_is_refused(server, client, tmp_path):
    for digit in (0, 1):
        collect(client, tmp_path, digit)
    wait_idle(client)
    job = client.submit(*LONG, api_name="/train")
    try:
        assert wait_for(lambda: queue_status(client)["running"], 60)
        status, *rest = client.predict(5, api_name="/finetune")
        assert "Busy" in status and "already have a train run" in status, status
    finally:
        client.predict(api_name="/stop")
        job.result(timeout=60)
    wait_idle(client)
    current = client.predict(api_name="/model_info")["current"]  # None when stopped before its first batch
    assert current is None or current["origin"] != "fine-tuned"


def test_the_collection_stops_at_a_thousand_with_a_clear_message(server, tmp_path):
    client = Client(server.url, verbose=False, download_files=False)  # 1,000 thumbnails per answer stay there
    images = np.stack([np.asarray(draw(d % 10, size=(28, 28), box=(8, 4, 12, 20), width=3).convert("L"))
                       for d in range(MAX_DRAWINGS)])
    paths = write_idx(255 - images, np.arange(MAX_DRAWINGS) % 10, tmp_path)
    message, upload, counter, *rest = client.predict([handle_file(str(p)) for p in paths], api_name="/upload_drawings")
    assert "Added 1,000 drawings" in message and counts(counter) == [100] * 10, message
    message, kept, *rest = collect(client, tmp_path, 5)
    assert "full (1,000 drawings" in message and kept == 0, message
    message, *rest = client.predict([handle_file(str(p)) for p in paths], api_name="/upload_drawings")
    assert "room for 0 more" in message and "unchanged" in message, message
    message, counter, *rest = client.predict(0, api_name="/remove_drawing")
    assert "Removed" in message and sum(counts(counter)) == 999


def test_stop_ends_a_fine_tune_and_keeps_its_model(server, client, tmp_path):
    for digit in (2, 3):
        collect(client, tmp_path, digit)
    wait_idle(client)
    job = client.submit(1000, api_name="/finetune")
    assert wait_for(lambda: any("Step " in str(out[1]) for out in job.outputs()), 90), job.outputs()
    assert client.predict(api_name="/stop") == "Nothing of yours is training."  # the Train tab's Stop is not this one's
    assert "Stopping" in client.predict(api_name="/stop_finetune")
    status, progress, *rest = job.result(timeout=60)
    assert "**Stopped** after" in status and "stopped by you" in progress, (status, progress)
    assert client.predict(api_name="/model_info")["current"]["origin"] == "fine-tuned, stopped early"
    assert client.predict(api_name="/stop_finetune") == "No fine-tune of yours is running."


def test_with_five_of_each_digit_the_report_is_on_drawings_held_aside(server, client, tmp_path, mnist):
    picks = [int(i) for d in (3, 8) for i in (mnist.test_labels == d).nonzero().flatten()[:5]]
    paths = write_idx(mnist.test_images[picks].cpu().numpy(), mnist.test_labels[picks].cpu().numpy(), tmp_path)
    message, *rest = client.predict([handle_file(str(p)) for p in paths], api_name="/upload_drawings")
    assert "Added 10 drawings" in message, message
    wait_idle(client)
    status, *rest = client.submit(5, api_name="/finetune").result(timeout=180)
    assert "on the 2 drawings held aside (never trained on" in status, status
