"""The app through its API (gradio_client), launched with `python demo.py` in a subprocess on a free port.

Real data and a real model: the shipped checkpoints/default.pt when present (copied into a temporary
checkpoint folder), else a small model trained here through the engine. Trainings are tiny (`limit`).
"""

import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints" / "default.pt"
TINY = ("fast", "cnn", "adam", 0.003, 128, 1, False, "cpu", 2000)  # preset, model, ..., device, limit
LONG = ("fast", "cnn", "adam", 0.003, 128, 3, False, "cpu", 60000)
FIELDS = ("preset", "model", "optimizer", "lr", "batch_size", "epochs", "augment", "device", "limit")
START_TIMEOUT_S = 60


# --------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python demo.py ...` in a subprocess; `url` once it answers HTTP."""

    def __init__(self, tmp: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = tmp / f"server-{self.port}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        self.log = open(self.log_path, "w")
        started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, str(REPO / "demo.py"), "--port", str(self.port), *args],
                                     cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() - started < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo.py exited early:\n{self.output()}")
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"demo.py did not answer within {START_TIMEOUT_S} s:\n{self.output()}")
        self.ready_s = time.monotonic() - started

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def make_default_checkpoint(directory: Path) -> None:
    """The shipped model if present, else a small model trained now (fast preset, augmented)."""
    directory.mkdir(parents=True, exist_ok=True)
    if SHIPPED.is_file():
        shutil.copy2(SHIPPED, directory / "default.pt")
        return
    from mnist_demo.checkpoints import metadata, save_checkpoint
    from mnist_demo.config import make_config
    from mnist_demo.data import cached_mnist
    from mnist_demo.train import train

    config = make_config("fast", augment=True, limit=30000)
    result = train(config, cached_mnist())
    meta = metadata(config.to_dict(), result.evaluation, result.epochs_completed, result.steps)
    save_checkpoint(result.model, "default", meta, directory)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("checkpoints")
    make_default_checkpoint(directory)
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("server")
    srv = Server(tmp, "--checkpoint-dir", str(ckpt_dir), "--max-trainings", "1", "--queue-size", "1",
                 "--max-epochs", "3", "--max-train-seconds", "120", "--max-saves", "2", "--max-upload-mb", "1")
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> Client:
    return Client(server.url, verbose=False)


def new_client(server) -> Client:
    return Client(server.url, verbose=False)


def queue_status(client: Client) -> dict:
    return client.predict(api_name="/queue_status")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def wait_idle(client: Client, timeout: float = 60.0) -> None:
    assert wait_for(lambda: not (s := queue_status(client))["running"] and not s["waiting"], timeout), \
        queue_status(client)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- images

def draw(digit: int, d: ImageDraw.ImageDraw, box, fill, width: int) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if digit == 0:
        d.ellipse([x0 + 0.15 * w, y0, x1 - 0.15 * w, y1], outline=fill, width=width)
    elif digit == 1:
        d.line([(x0 + 0.5 * w, y0), (x0 + 0.5 * w, y1)], fill=fill, width=width)
    elif digit == 3:
        d.arc([x0 + 0.1 * w, y0, x1 - 0.1 * w, y0 + 0.55 * h], 200, 90, fill=fill, width=width)
        d.arc([x0 + 0.1 * w, y0 + 0.45 * h, x1 - 0.1 * w, y1], 270, 160, fill=fill, width=width)
    elif digit == 4:
        d.line([(x0 + 0.2 * w, y0), (x0 + 0.1 * w, y0 + 0.6 * h), (x1 - 0.05 * w, y0 + 0.6 * h)], fill=fill,
               width=width, joint="curve")
        d.line([(x0 + 0.7 * w, y0 + 0.1 * h), (x0 + 0.7 * w, y1)], fill=fill, width=width)
    elif digit == 7:
        d.line([(x0 + 0.1 * w, y0), (x1 - 0.1 * w, y0), (x0 + 0.4 * w, y1)], fill=fill, width=width, joint="curve")


def digit_image(digit: int, style: str, size=(280, 280), box=(60, 40, 220, 240), width=18) -> Image.Image:
    if style == "dark-on-light":
        image = Image.new("RGB", size, "white")
        draw(digit, ImageDraw.Draw(image), box, "black", width)
    elif style == "alpha":  # a Sketchpad-like export: black strokes on a transparent sheet
        image = Image.new("RGBA", size, (0, 0, 0, 0))
        draw(digit, ImageDraw.Draw(image), box, (0, 0, 0, 255), width)
    elif style == "blue-on-cream":
        image = Image.new("RGB", size, (250, 245, 225))
        draw(digit, ImageDraw.Draw(image), box, (20, 40, 160), width)
    else:
        raise ValueError(style)
    return image


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def predict_file(client: Client, path: Path) -> dict:
    return client.predict(handle_file(str(path)), api_name="/predict")


def top(result: dict) -> tuple[str, float]:
    assert result["confidences"], result
    best = result["confidences"][0]
    return best["label"], best["confidence"]


# --------------------------------------------------------------------------- the page

def test_page_answers_quickly_with_the_four_tabs_and_stable_ids(server):
    assert server.ready_s < 20, f"took {server.ready_s:.1f} s to answer"  # 6-7 s on an idle 2-core machine
    config = httpx.get(server.url + "config", timeout=10).json()
    components = config["components"]
    tabs = [c["props"].get("label") for c in components if c.get("type") == "tabitem"]
    assert tabs == ["Train", "Draw", "CPU vs CUDA", "Checkpoints"]
    ids = {c["props"].get("elem_id") for c in components}
    for elem_id in ("draw-pad", "draw-label", "draw-preview", "draw-clear", "train-button", "stop-button",
                    "train-log", "loss-plot", "accuracy-plot", "save-name", "save-button", "checkpoint-table",
                    "train-status", "train-progress", "draw-model", "bench-button", "bench-table", "bench-plot"):
        assert elem_id in ids, elem_id
    accordions = [c for c in components if c.get("type") == "accordion" and c["props"]["elem_id"].startswith("teach")]
    assert len(accordions) >= 5 and all(c["props"].get("open") is False for c in accordions)


def test_api_lists_the_public_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/train", "/stop", "/save", "/list_checkpoints", "/load_checkpoint", "/upload_checkpoint",
            "/delete_checkpoint", "/bench", "/queue_status", "/model_info"} <= names


# --------------------------------------------------------------------------- predictions

@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
@pytest.mark.parametrize("style,size,box,width,fmt", [
    ("dark-on-light", (280, 280), (60, 40, 220, 240), 18, "JPEG"),   # centred, JPEG
    ("alpha", (800, 600), (500, 300, 620, 560), 14, "PNG"),          # small, off-centre, ink in alpha
    ("dark-on-light", (64, 64), (4, 4, 30, 40), 3, "PNG"),           # tiny, in a corner
    ("alpha", (1200, 1200), (200, 200, 1000, 1000), 60, "PNG"),      # large canvas, thick strokes
    ("blue-on-cream", (300, 200), (120, 20, 200, 180), 12, "JPEG"),  # coloured ink on a coloured page
])
def test_predicts_drawn_digits(client, tmp_path, digit, style, size, box, width, fmt):
    path = save(digit_image(digit, style, size, box, width), tmp_path / f"d.{fmt.lower()}", format=fmt)
    result = predict_file(client, path)
    label, confidence = top(result)
    assert label == str(digit) and result["label"] == str(digit), result
    assert len(result["confidences"]) == 10
    assert abs(sum(c["confidence"] for c in result["confidences"]) - 1) < 1e-3


def one(size=(200, 200)) -> Image.Image:
    return digit_image(1, "dark-on-light", size, (size[0] // 4, size[1] // 8, 3 * size[0] // 4, 7 * size[1] // 8),
                       max(2, min(size) // 14))


@pytest.mark.parametrize("name,make", [
    ("1bit.png", lambda: one().convert("1")),
    ("grey.png", lambda: one().convert("L")),
    ("grey-alpha.png", lambda: one().convert("LA")),
    ("palette.png", lambda: one().convert("P")),
    ("palette-transparent.png", lambda: digit_image(1, "alpha", (200, 200), (50, 25, 150, 175), 14).convert("P")),
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
        buffer = io.BytesIO()
        digit_image(7, "dark-on-light").save(buffer, format="PNG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
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

def rest(server, body=None, *, files=None, params=None, content_type="image/png", auth=None, method="POST"):
    headers = {} if files is not None or content_type is None else {"Content-Type": content_type}
    return httpx.request(method, server.url + "api/predict", content=body, files=files, params=params,
                         headers=headers, auth=auth, timeout=30)


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
def test_rest_route_reads_digits_sent_as_the_body_or_as_a_form(server, digit):
    image = digit_image(digit, "alpha", (800, 800), (250, 150, 510, 630), 40)
    jpeg = png_bytes(digit_image(digit, "dark-on-light"), "JPEG")
    for reply in (rest(server, png_bytes(image)), rest(server, files={"image": ("d.jpg", jpeg, "image/jpeg")})):
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["digit"] == digit and body["blank"] is False and body["model"] == "default", body
        assert set(body["probabilities"]) == {str(d) for d in range(10)}
        assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
        assert body["confidence"] == max(body["probabilities"].values())


def test_rest_route_says_blank_for_an_empty_drawing(server):
    reply = rest(server, png_bytes(Image.new("RGBA", (300, 300), (0, 0, 0, 0))))
    assert reply.status_code == 200
    assert reply.json() == {"model": "default", "blank": True, "digit": None, "confidence": None,
                            "probabilities": None, "message": "Draw a digit"}


def truncated_png() -> bytes:
    data = png_bytes(digit_image(7, "dark-on-light"))
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
        kwargs["body"] = png_bytes(Image.new("L", (6000, 5000), 255))
    elif "params" in kwargs:
        kwargs["body"] = png_bytes(digit_image(7, "dark-on-light"))
    reply = rest(server, kwargs.pop("body", None), **kwargs)
    assert reply.status_code == status, (case, reply.status_code, reply.text)
    assert expected in reply.text, (case, reply.text)
    if status != 405:
        assert set(reply.json()) == {"error"} and "Traceback" not in reply.text and "/tmp" not in reply.text


def test_rest_route_uses_a_saved_checkpoint_by_name(server, ckpt_dir):
    copy = ckpt_dir / "rest-copy.pt"
    shutil.copy2(ckpt_dir / "default.pt", copy)
    try:
        reply = rest(server, png_bytes(digit_image(4, "dark-on-light")), params={"model": "rest-copy"})
        assert reply.status_code == 200 and reply.json()["digit"] == 4 and reply.json()["model"] == "rest-copy"
        copy.write_bytes(b"not a checkpoint")
        reply = rest(server, png_bytes(digit_image(4, "dark-on-light")), params={"model": "rest-copy"})
        assert reply.status_code == 400 and "rest-copy" in reply.json()["error"], reply.text
    finally:
        copy.unlink(missing_ok=True)


def test_auth_protects_the_page_the_gradio_api_and_the_rest_route(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("auth")
    srv = Server(tmp, "--checkpoint-dir", str(ckpt_dir), "--auth", "alice:s3cret")
    try:
        seven = png_bytes(digit_image(7, "dark-on-light"))
        for auth in (None, ("alice", "wrong"), ("bob", "s3cret")):
            reply = rest(srv, seven, auth=auth)
            assert reply.status_code == 401 and "login required" in reply.json()["error"], reply.text
            assert reply.headers["www-authenticate"].startswith("Basic")
        reply = rest(srv, seven, auth=("alice", "s3cret"))
        assert reply.status_code == 200 and reply.json()["digit"] == 7
        assert httpx.get(srv.url + "gradio_api/info", timeout=10).status_code == 401
        with pytest.raises(Exception):
            Client(srv.url, verbose=False)
        c = Client(srv.url, auth=("alice", "s3cret"), verbose=False)
        assert c.predict(api_name="/model_info")["choice"] == "default"
    finally:
        srv.stop()


# --------------------------------------------------------------------------- training

def test_tiny_training_streams_updates_and_ends_with_an_accuracy(server):
    c = new_client(server)
    wait_idle(c)
    job = c.submit(*TINY, api_name="/train")
    updates = [out for out in job]
    final = job.result()
    status, progress, log = final[0], final[1], final[2]
    assert len(updates) >= 3
    assert "Done." in status and "Test accuracy" in status, status
    assert "Epoch 1\n-------------------------------" in log and "loss:" in log and "Accuracy:" in log
    assert "[    0/ 2000]" in log and log.rstrip().endswith("Done!")
    assert "samples/s" in progress
    loss_plot, accuracy_plot = final[3], final[4]
    assert len(loss_plot["data"]) >= 2 and len(accuracy_plot["data"]) >= 1
    info = c.predict(api_name="/model_info")
    assert info["choice"] == "@current" and info["current"]["model"] == "cnn" and info["current"]["steps"] == 16
    assert info["current"]["accuracy"] > 0.5


INVALID = [
    ("preset", ""), ("preset", None), ("preset", "turbo"), ("preset", 5),
    ("model", ""), ("model", "resnet"), ("model", None),
    ("optimizer", ""), ("optimizer", "rmsprop"), ("optimizer", None),
    ("lr", None), ("lr", ""), ("lr", -1), ("lr", 0), ("lr", 1e9), ("lr", "nan"), ("lr", "abc"), ("lr", "inf"),
    ("batch_size", None), ("batch_size", 0), ("batch_size", -5), ("batch_size", 10**9), ("batch_size", 1.5),
    ("batch_size", 20000), ("batch_size", "abc"), ("batch_size", "nan"),
    ("epochs", None), ("epochs", 0), ("epochs", -1), ("epochs", 4), ("epochs", 1000), ("epochs", 2.5), ("epochs", "x"),
    ("augment", "yes"), ("augment", None), ("augment", 3),
    ("device", ""), ("device", "tpu"), ("device", None), ("device", "../cpu"),
    ("limit", None), ("limit", 0), ("limit", -1), ("limit", 10**7), ("limit", "abc"), ("limit", 0.5),
]
LABELS = {"preset": "Preset", "model": "Model", "optimizer": "Optimizer", "lr": "Learning rate",
          "batch_size": "Batch size", "epochs": "Epochs", "augment": "Augmentation", "device": "Device",
          "limit": "Training images"}


@pytest.fixture(scope="module")
def fresh(server) -> Client:
    return Client(server.url, verbose=False)


@pytest.mark.parametrize("field,value", INVALID)
def test_invalid_training_values_are_refused_naming_the_field(fresh, field, value):
    args = list(TINY)
    args[FIELDS.index(field)] = value
    outputs = fresh.predict(*args, api_name="/train")
    status = outputs[0]
    assert status.startswith("**Not done.**") and f"{LABELS[field]} ({field})" in status, status
    assert queue_status(fresh)["running"] == [] and queue_status(fresh)["waiting"] == []
    assert fresh.predict(api_name="/model_info")["current"] is None  # nothing started, nothing changed


def test_unavailable_cuda_is_refused_where_absent(fresh):
    import torch

    if torch.cuda.is_available():
        pytest.skip(reason="this machine has CUDA")
    status = fresh.predict(*TINY[:7], "cuda", TINY[8], api_name="/train")[0]
    assert "Device (device)" in status and "not available" in status


def test_two_clients_one_runs_the_other_waits_each_gets_its_own_model(server, tmp_path):
    a, b, busy, watcher = (new_client(server) for _ in range(4))
    wait_idle(watcher)
    job_a = a.submit("fast", "cnn", "adam", 0.003, 128, 1, False, "cpu", 15000, api_name="/train")
    assert wait_for(lambda: queue_status(watcher)["running"], 30)
    job_b = b.submit("fast", "mlp", "adam", 0.001, 64, 1, False, "cpu", 3000, api_name="/train")
    assert wait_for(lambda: queue_status(watcher)["waiting"], 30)
    # the line holds one (--queue-size 1): a third is told to come back
    third = busy.predict(*TINY, api_name="/train")[0]
    assert "busy" in third.lower() and "try again in a minute" in third
    # predictions are served while the training runs, and quickly
    seven = save(digit_image(7, "alpha", (400, 400), (100, 80, 300, 320), 28), tmp_path / "7.png")
    started = time.monotonic()
    assert top(predict_file(watcher, seven))[0] == "7"
    assert time.monotonic() - started < 3.0
    assert queue_status(watcher)["running"], "the training should still be running"
    statuses_b = [out[0] for out in job_b]
    assert any("Waiting in line: you are number 1" in s for s in statuses_b), statuses_b
    final_a, final_b = job_a.result(), job_b.result()
    assert "Done." in final_a[0] and "Done." in final_b[0]
    info_a, info_b = a.predict(api_name="/model_info"), b.predict(api_name="/model_info")
    assert info_a["current"]["model"] == "cnn" and info_b["current"]["model"] == "mlp"
    assert info_a["current"]["run_id"] != info_b["current"]["run_id"]
    assert busy.predict(api_name="/model_info")["current"] is None
    server_side = queue_status(watcher)["predict"]
    assert server_side["n"] >= 1 and server_side["median_ms"] < 200


def test_stop_ends_the_run_and_keeps_the_partial_model(server):
    c = new_client(server)
    wait_idle(c)
    job = c.submit(*LONG, api_name="/train")
    # stop once it has trained a while (two log lines: 100+ batches), whatever the data load and first evaluation took
    assert wait_for(lambda: any(len(out) > 2 and str(out[2]).count("loss:") >= 2 for out in job.outputs()), 60)
    stop_said = c.predict(api_name="/stop")
    assert "Stopping" in stop_said
    started = time.monotonic()
    final = job.result(timeout=60)
    assert time.monotonic() - started < 15
    assert "Stopped" in final[0] and "stopped by you" in final[0] and "partial model" in final[0], final[0]
    info = c.predict(api_name="/model_info")
    assert info["current"]["origin"] == "stopped early" and 0 < info["current"]["epochs"] < 3
    wait_idle(c, 10)


def test_a_cancelled_client_frees_its_slot(server):
    c, watcher = new_client(server), new_client(server)
    wait_idle(watcher)
    job = c.submit(*LONG, api_name="/train")
    assert wait_for(lambda: queue_status(watcher)["running"], 30)
    job.cancel()
    started = time.monotonic()
    wait_idle(watcher, 20)
    assert time.monotonic() - started < 20


def test_a_client_that_disconnects_frees_its_slot(server, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(f"""
        from gradio_client import Client
        job = Client({server.url!r}, verbose=False).submit(*{LONG!r}, api_name="/train")
        for _ in job:
            pass
    """))
    watcher = new_client(server)
    wait_idle(watcher)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO)
    try:
        assert wait_for(lambda: queue_status(watcher)["running"], 60)
    finally:
        proc.kill()
        proc.wait(10)
    started = time.monotonic()
    wait_idle(watcher, 30)
    assert time.monotonic() - started < 30
    assert wait_for(lambda: queue_status(watcher)["job_threads"] == 0, 10)  # no thread left behind


# --------------------------------------------------------------------------- checkpoints

def names_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture(scope="module")
def trained(server) -> Client:
    """A client with a (tiny) current model."""
    c = Client(server.url, verbose=False)
    wait_idle(c)
    assert "Done." in c.predict(*TINY, api_name="/train")[0]
    return c


def test_diverged_training_is_reported_and_the_previous_model_kept(trained):
    before = trained.predict(api_name="/model_info")
    status = trained.predict("fast", "mlp", "sgd", 10, 128, 1, False, "cpu", 3000, api_name="/train")[0]
    assert "Training diverged" in status and "NaN" in status and "previous model" in status, status
    assert trained.predict(api_name="/model_info") == before
    assert queue_status(trained)["running"] == []


def test_save_without_a_model_is_refused(fresh):
    status = fresh.predict("x", api_name="/save")[0]
    assert status.startswith("**Not done.**") and "No model to save" in status


@pytest.mark.parametrize("name,expected", [
    ("", "empty"), ("   ", "empty"), ("../evil", "not allowed"), ("/etc/passwd", "not allowed"),
    ("a/b", "not allowed"), ("..", "not allowed"), (".hidden", "not allowed"), ("x" * 65, "not allowed"),
    ("bad name", "not allowed"), ("default", "shipped model"), ("default.pt", "shipped model"),
    ("C:\\temp\\x", "not allowed"), ("nul\x00", "not allowed"),
])
def test_bad_checkpoint_names_are_refused_and_nothing_is_written(trained, ckpt_dir, name, expected):
    before, default_hash = names_in(ckpt_dir), sha(ckpt_dir / "default.pt")
    status = trained.predict(name, api_name="/save")[0]
    assert status.startswith("**Not done.**") and expected in status, status
    assert names_in(ckpt_dir) == before and sha(ckpt_dir / "default.pt") == default_hash


def test_save_list_ownership_quota_and_delete(server, trained, ckpt_dir):
    other = new_client(server)
    wait_idle(other)
    assert "Done." in other.predict(*TINY, api_name="/train")[0]
    default_hash = sha(ckpt_dir / "default.pt")

    out = trained.predict("mine-1", api_name="/save")
    assert out[0].startswith("**Saved**"), out[0]
    assert (ckpt_dir / "mine-1.pt").is_file()
    table = trained.predict(api_name="/list_checkpoints")[0]
    rows = {r[0]: r for r in table["data"]}
    assert rows["mine-1"][7] == "you" and rows["default"][7] == "shipped" and rows["mine-1"][8] == "usable"
    assert rows["mine-1"][1] == "cnn" and rows["mine-1"][2].endswith("%") and "adam" in rows["mine-1"][4]
    assert {r[0]: r for r in other.predict(api_name="/list_checkpoints")[0]["data"]}["mine-1"][7] == "another visitor"

    def download(name):
        out = other.predict(name, api_name="/download_checkpoint")
        return out.get("value") if isinstance(out, dict) else out

    assert Path(download("mine-1")).read_bytes() == (ckpt_dir / "mine-1.pt").read_bytes()
    assert download("../default") is None and download("nope") is None

    mine_hash = sha(ckpt_dir / "mine-1.pt")
    refused = other.predict("mine-1", api_name="/save")[0]
    assert "already exists" in refused and "only overwrite your own" in refused
    assert "not saved by you" in other.predict("mine-1", api_name="/delete_checkpoint")[0]
    assert "cannot be deleted" in other.predict("default", api_name="/delete_checkpoint")[0]
    assert "cannot be deleted" in trained.predict("default", api_name="/delete_checkpoint")[0]
    assert "not allowed" in trained.predict("../default", api_name="/delete_checkpoint")[0]
    assert sha(ckpt_dir / "mine-1.pt") == mine_hash and sha(ckpt_dir / "default.pt") == default_hash

    assert trained.predict("mine-1", api_name="/save")[0].startswith("**Saved**")  # overwriting your own is fine
    assert trained.predict("mine-2", api_name="/save")[0].startswith("**Saved**")
    quota = trained.predict("mine-3", api_name="/save")[0]  # --max-saves 2
    assert "most allowed per visitor" in quota and not (ckpt_dir / "mine-3.pt").exists()

    assert "Deleted" in trained.predict("mine-2", api_name="/delete_checkpoint")[0]
    assert not (ckpt_dir / "mine-2.pt").exists()
    assert "Deleted" in trained.predict("mine-1", api_name="/delete_checkpoint")[0]
    assert sha(ckpt_dir / "default.pt") == default_hash


def test_corrupt_checkpoints_are_listed_as_unusable_and_others_still_load(client, ckpt_dir):
    (ckpt_dir / "broken.pt").write_bytes(b"not a checkpoint at all")
    try:
        rows = {r[0]: r for r in client.predict(api_name="/list_checkpoints")[0]["data"]}
        assert rows["broken"][8].startswith("unusable") and rows["default"][8] == "usable"
        assert "not a readable checkpoint" in client.predict("broken", api_name="/load_checkpoint")[0]
        assert client.predict("default", api_name="/load_checkpoint")[0].startswith("**Loaded**")
        assert client.predict(api_name="/model_info")["current"]["origin"] == "checkpoint default"
    finally:
        (ckpt_dir / "broken.pt").unlink()


@pytest.mark.parametrize("name", ["../default", "/etc/passwd", "nope", "", "default/../default"])
def test_loading_bad_names_is_refused(fresh, name):
    status = fresh.predict(name, api_name="/load_checkpoint")[0]
    assert status.startswith("**Not done.**"), status
    assert fresh.predict(api_name="/model_info")["current"] is None


def test_uploads_are_checked(fresh, tmp_path, ckpt_dir):
    def upload(path):
        return fresh.predict(handle_file(str(path)), api_name="/upload_checkpoint")[0]

    (tmp_path / "notes.txt").write_text("hello")
    assert "not a .pt file" in upload(tmp_path / "notes.txt")
    (tmp_path / "random.pt").write_bytes(os.urandom(2000))
    assert "not a readable checkpoint" in upload(tmp_path / "random.pt")
    (tmp_path / "big.pt").write_bytes(b"\x00" * (1024 * 1024 + 10))  # --max-upload-mb 1
    big = upload(tmp_path / "big.pt")
    assert "too large" in big and "1.0 MB" in big
    import torch

    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    assert "not an mnist-demo checkpoint" in upload(tmp_path / "foreign.pt")
    assert fresh.predict(api_name="/model_info")["current"] is None  # nothing changed so far
    shutil.copy2(ckpt_dir / "default.pt", tmp_path / "mine.pt")
    if (tmp_path / "mine.pt").stat().st_size > 1024 * 1024:
        pytest.skip(reason="the shipped model is over this test server's 1 MB upload limit")
    assert upload(tmp_path / "mine.pt").startswith("**Uploaded**")
    assert fresh.predict(api_name="/model_info")["current"]["origin"] == "upload mine.pt"
    assert names_in(ckpt_dir) >= {"default.pt"} and not (ckpt_dir / "mine.pt").exists()  # uploads are not saved


# --------------------------------------------------------------------------- CPU vs CUDA

@pytest.mark.parametrize("model,sizes,repeats,field", [
    ("mlp", "", 3, "Batch sizes"), ("mlp", "0", 3, "Batch sizes"), ("mlp", "70000", 3, "Batch sizes"),
    ("mlp", "abc", 3, "Batch sizes"), ("mlp", "1,,2", 3, "Batch sizes"), ("mlp", "-1", 3, "Batch sizes"),
    ("mlp", "1", 0, "Repeats"), ("mlp", "1", 1001, "Repeats"), ("mlp", "1", "x", "Repeats"), ("mlp", "1", None, "Repeats"),
    ("resnet", "1", 3, "Model"), ("", "1", 3, "Model"),
])
def test_benchmark_inputs_are_validated(fresh, model, sizes, repeats, field):
    status = fresh.predict(model, sizes, repeats, api_name="/bench")[0]
    assert status.startswith("**Not done.**") and field in status, status
    assert queue_status(fresh)["running"] == []


def test_benchmark_runs_the_cpu_side_and_says_what_ran(client):
    import torch

    wait_idle(client)
    status, table, plot, reading = client.predict("mlp", "1,16", 2, api_name="/bench")
    assert status.startswith("Ran:") and "mlp" in status and "1, 16" in status
    devices = {row[0] for row in table["data"]}
    assert "cpu" in devices
    cpu_train = [r for r in table["data"] if r[0] == "cpu" and r[1] == "train step"]
    assert [r[2] for r in cpu_train] == [1, 16] or [str(r[2]) for r in cpu_train] == ["1", "16"]
    assert "Reading." in reading
    if not torch.cuda.is_available():
        assert "not available" in status
        config = httpx.get(client.src.rstrip("/") + "/config", timeout=10).json()
        note = next(c for c in config["components"] if c["props"].get("elem_id") == "bench-gpu-note")
        assert "No GPU here" in note["props"]["value"]


# --------------------------------------------------------------------------- faults, sharing

def test_corrupt_data_dir_train_explains_and_draw_still_works_and_share_offline(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("corrupt")
    raw = tmp / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03truncated")
    srv = Server(tmp, "--data-dir", str(tmp / "data"), "--checkpoint-dir", str(ckpt_dir), "--share")
    try:
        c = Client(srv.url, verbose=False)
        status = c.predict(*TINY, api_name="/train")[0]
        assert "Training failed" in status and "How to fix" in status and "--data-dir" in status, status
        assert "truncated" in status or "not an IDX" in status
        assert c.predict(api_name="/model_info")["current"] is None
        seven = save(digit_image(7, "alpha", (400, 400), (100, 80, 300, 320), 28), tmp / "7.png")
        assert top(predict_file(c, seven))[0] == "7"
        out = srv.output()
        assert "Warning: --share without --auth" in out
        share_lines = [line for line in out.splitlines() if "share link" in line]
        if share_lines:  # offline: exactly one clear line, and the app keeps serving
            assert len(share_lines) == 1 and "keeps serving locally" in share_lines[0], out
        assert httpx.get(srv.url, timeout=5).status_code == 200
    finally:
        srv.stop()


def test_library_save_faults_leave_the_earlier_file_intact(tmp_path, monkeypatch):
    import errno

    import torch

    from mnist_demo.app.library import Library
    from mnist_demo.errors import CheckpointError
    from mnist_demo.models import build_model

    library = Library(tmp_path)
    model = build_model("cnn")
    meta = {"model": "cnn", "config": {"model": "cnn"}, "accuracy": 0.5}
    library.save(model, meta, "mine", owner="me")
    before = sha(tmp_path / "mine.pt")
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES):
        def broken(*args, _code=code, **kwargs):
            raise OSError(_code, os.strerror(_code))

        monkeypatch.setattr("mnist_demo.checkpoints.os.replace", broken)
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        with pytest.raises(CheckpointError) as err:
            library.save(model, meta, "mine", owner="me")
        assert "could not save" in str(err.value) and "intact" in str(err.value)
        assert sha(tmp_path / "mine.pt") == before
        assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
        monkeypatch.undo()


def test_library_folder_caps(tmp_path):
    from mnist_demo.app.library import Library
    from mnist_demo.errors import CheckpointError
    from mnist_demo.models import build_model

    model = build_model("cnn")
    meta = {"model": "cnn", "config": {"model": "cnn"}, "accuracy": 0.5}
    small = Library(tmp_path / "a", max_total_bytes=100_000)
    with pytest.raises(CheckpointError, match="folder is full"):
        small.save(model, meta, "x", owner="me")
    few = Library(tmp_path / "b", max_files=1, max_per_owner=5)
    few.save(model, meta, "x", owner="me")
    with pytest.raises(CheckpointError, match="folder is full"):
        few.save(model, meta, "y", owner="someone")
    per_bytes = Library(tmp_path / "c", max_bytes_per_owner=100_000)
    with pytest.raises(CheckpointError, match="allowed per visitor"):
        per_bytes.save(model, meta, "x", owner="me")
    assert not any((tmp_path / "a").glob("*.pt")) and not any((tmp_path / "c").glob("*.pt"))
