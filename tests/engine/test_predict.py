"""Predictions: a quickly trained CNN reads drawn digits; blanks, bad files, threads and checkpoints."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_demo.checkpoints import save_checkpoint
from mnist_demo.config import make_config
from mnist_demo.data import cached_mnist
from mnist_demo.errors import CheckpointError, ImageError
from mnist_demo.models import build_model
from mnist_demo.predict import BLANK, Predictor, cached_predictor, predict_files
from mnist_demo.train import train
from tests.support.digits import draw

FAST_MODEL = make_config("fast").model


@pytest.fixture(scope="session")
def trained():
    """The fast preset's CNN trained for one epoch on 10000 MNIST images (97% test accuracy; ~10-40 s on 2 cores)."""
    result = train(make_config("fast", limit=10000), cached_mnist())
    return result.model


@pytest.fixture(scope="session")
def predictor(trained):
    return Predictor(trained, "quick")


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return Predictor(build_model("cnn"), "untrained")


DRAWINGS = [  # canvas, box (left, top, width, height), stroke width
    ((400, 400), (110, 60, 180, 280), 28),
    ((800, 800), (80, 380, 250, 380), 40),  # small and off-centre on a Sketchpad-sized canvas
    ((120, 90), (40, 10, 40, 70), 9),
    ((1500, 1000), (300, 100, 500, 800), 12),  # thin pen on a large canvas
]


@pytest.mark.parametrize("mode", ["white", "alpha"], ids=["ink-on-white", "sketchpad-alpha"])
@pytest.mark.parametrize("canvas, box, width", DRAWINGS)
@pytest.mark.parametrize("digit", [0, 1, 7])
def test_drawn_digits_are_recognised(predictor, digit, canvas, box, width, mode):
    result = predictor.predict(draw(digit, canvas, box, width, mode=mode))
    assert result.digit == digit, result.probabilities
    assert set(result.probabilities) == {str(d) for d in range(10)}
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert result.confidence == max(result.probabilities.values()) > 0.5
    assert result.preview.shape == (280, 280) and result.preview.dtype == np.uint8
    assert not result.blank and result.message == ""


def test_numpy_sketchpad_value(predictor):
    sheet = np.array(draw(7, (800, 800), (250, 150, 300, 500), 40, mode="alpha"))
    result = predictor({"background": None, "layers": [sheet], "composite": sheet})
    assert result.digit == 7


def test_blank_drawing(predictor):
    for blank in (None, Image.new("RGBA", (800, 800)), np.full((300, 300, 3), 255, np.uint8),
                  {"background": None, "layers": [], "composite": None}):
        result = predictor.predict(blank)
        assert result is BLANK and result.blank
        assert result.probabilities is None and result.digit is None and result.preview is None
        assert result.message == "Draw a digit"


def test_unreadable_image_raises_image_error(predictor):
    with pytest.raises(ImageError):
        predictor.predict(b"not an image")


def test_the_predictor_keeps_its_own_frozen_copy(trained):
    predictor = Predictor(trained)
    before = predictor(draw(1)).probabilities
    trained.train()  # someone fine-tuning the original must not disturb the predictor
    try:
        assert not predictor.model.training
        assert all(not p.requires_grad for p in predictor.model.parameters())
        assert predictor(draw(1)).probabilities == before
    finally:
        trained.eval()


def test_concurrent_callers_get_the_same_answers(predictor):
    images = [draw(d, mode=m) for d in (0, 1, 7) for m in ("white", "alpha")]
    expected = [predictor(image).probabilities for image in images]
    results, errors = {}, []

    def work(worker: int):
        try:
            for round_ in range(5):
                for i, image in enumerate(images):
                    results[worker, round_, i] = predictor(image).probabilities
        except Exception as err:  # noqa: BLE001 - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4 * 5 * len(images)
    for (_, _, i), probs in results.items():
        assert probs == pytest.approx(expected[i], abs=1e-6)


def _save(model, name, directory, architecture=FAST_MODEL):
    return save_checkpoint(model, name, {"model": architecture, "accuracy": 0.97}, directory)


def test_from_checkpoint(trained, predictor, tmp_path):
    _save(trained, "quick", tmp_path)
    loaded = Predictor.from_checkpoint("quick", tmp_path)
    assert loaded.name == "quick" and loaded.meta["model"] == FAST_MODEL
    image = draw(0)
    assert loaded(image).probabilities == pytest.approx(predictor(image).probabilities, abs=1e-6)
    with pytest.raises(CheckpointError):
        Predictor.from_checkpoint("absent", tmp_path)


def test_predictors_are_cached_and_a_missing_model_is_explained(trained, tmp_path):
    with pytest.raises(CheckpointError, match="No trained model yet.*default.pt"):
        cached_predictor(directory=tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint 'absent' does not exist"):
        cached_predictor("absent", tmp_path)
    path = _save(trained, "default", tmp_path)
    first = cached_predictor(directory=tmp_path)
    assert cached_predictor("default.pt", tmp_path) is first
    assert first(draw(7)).digit == 7
    time.sleep(0.01)
    _save(build_model("cnn"), "default", tmp_path, "cnn")  # replaced on disk: loaded again
    assert path.exists() and cached_predictor(directory=tmp_path) is not first
    (tmp_path / "default.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        cached_predictor(directory=tmp_path)


def test_predict_files_reports_each_file(predictor, tmp_path):
    draw(7).save(tmp_path / "seven.png")
    draw(1, mode="alpha").save(tmp_path / "one.png")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    (tmp_path / "notes.txt").write_text("hello")
    paths = [tmp_path / "seven.png", str(tmp_path / "one.png"), tmp_path / "blank.png",
             tmp_path / "notes.txt", tmp_path / "missing.png", tmp_path]
    rows = predict_files(paths, predictor)
    assert [row["image"] for row in rows] == [str(p) for p in paths]
    assert rows[0]["digit"] == 7 and rows[1]["digit"] == 1
    for row in rows[:2]:
        assert set(row) == {"image", "digit", "probability", "probabilities"}
        assert row["probability"] == row["probabilities"][str(row["digit"])]
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    for row in rows[2:]:
        assert set(row) == {"image", "error"} and row["error"]
    assert "blank" in rows[2]["error"] and "no such file" in rows[4]["error"]
    for row, path in zip(rows[2:], paths[2:]):  # the row names the file; its message does not again
        assert str(path) not in row["error"], row


def test_the_engine_does_not_import_gradio():
    code = "import sys, mnist_demo.predict, mnist_demo.preprocess; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F", "CMYK", "numpy-float", "numpy-uint16"]


@st.composite
def random_images(draw):
    height, width = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    mode = draw(st.sampled_from(MODES))
    kind = draw(st.sampled_from(["noise", "strokes", "constant"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = {"RGB": 3, "RGBA": 4, "LA": 2, "CMYK": 4}.get(mode, 1)
    shape = (height, width, channels) if channels > 1 else (height, width)
    if kind == "noise":
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    elif kind == "constant":
        pixels = np.full(shape, rng.integers(0, 256), np.uint8)
    else:
        pixels = np.full(shape, 255, np.uint8)
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, height), rng.integers(0, width)
            pixels[y:y + rng.integers(1, 60), x:x + rng.integers(1, 60)] = rng.integers(0, 256)
    if mode == "numpy-float":
        return pixels.astype(np.float32) / rng.choice([1.0, 255.0])
    if mode == "numpy-uint16":
        return pixels.astype(np.uint16) * 257
    if channels > 1:
        return Image.frombytes(mode, (width, height), pixels.tobytes())
    if mode == "I;16":
        return Image.fromarray(pixels.astype(np.uint16) * 257)
    return Image.fromarray(pixels).convert(mode)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=random_images())
def test_any_image_gives_probabilities_or_a_clear_error(untrained, image):
    try:
        result = untrained.predict(image)
    except ImageError:
        return
    if result.blank:
        assert result.message == "Draw a digit"
        return
    assert len(result.probabilities) == 10
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert 0 <= result.digit <= 9 and result.preview.shape == (280, 280)
