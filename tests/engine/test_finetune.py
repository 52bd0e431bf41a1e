"""Fine-tuning on drawings: the checks, the held-out split, the fine-tune itself (through train()), its
metadata, and reading an ImageFolder. Small and real: the shipped model, MNIST digits turned a quarter
turn (a style it reads badly), a few dozen steps."""

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo import finetune as ft
from mnist_demo import image_folders
from mnist_demo.checkpoints import clean_meta, load_checkpoint, save_checkpoint
from mnist_demo.data import MNIST, load_mnist
from mnist_demo.errors import DemoError
from mnist_demo.finetune import FineTuneError, FineTuneResult, check_drawings, finetune, finetune_meta, split_held_out
from mnist_demo.predict import Predictor
from mnist_demo.train import EpochEnd, Progress, evaluate


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def small(mnist):
    """MNIST with 2,000 test images: the fine-tune's MNIST measure, at a fifth of the cost."""
    return MNIST(mnist.train_images, mnist.train_labels, mnist.test_images[:2000], mnist.test_labels[:2000],
                 mnist.source)


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint("default")


def turned(images: torch.Tensor, labels: torch.Tensor, per_digit: int, skip: int = 0):
    """`per_digit` of each digit, a quarter turn anticlockwise: the shipped model reads about a quarter right."""
    idx = torch.cat([(labels == d).nonzero().flatten()[skip:skip + per_digit] for d in range(10)])
    return torch.rot90(images[idx], 1, (1, 2)).contiguous(), labels[idx].clone()


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- check_drawings

def _images(n: int) -> torch.Tensor:
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 10:18, 12:16] = 255
    return images


@pytest.mark.parametrize("images,labels,message", [
    (_images(0), [], "no drawings"),
    (_images(3), [4, 4, 4], "all the drawings are of the digit 4"),
    (_images(2), [1, 10], "label 10 is not a digit"),
    (_images(2), [-1, 3], "label -1 is not a digit"),
    (_images(2), [1.5, 3], "whole numbers"),
    (_images(3), [1, 2], "3 drawings but 2 labels"),
    (torch.zeros(2, 28, 27, dtype=torch.uint8), [1, 2], "28x28"),
    (torch.zeros(2, 28, 28), [1, 2], "uint8"),
    (np.zeros((2, 28, 28), np.float32), [1, 2], "uint8"),
    ("images", [1, 2], "uint8"),
    (torch.zeros(2, 28, 28, dtype=torch.uint8), [1, 2], "drawing 1 is blank"),
    (_images(ft.MAX_DRAWINGS + 1), [i % 10 for i in range(ft.MAX_DRAWINGS + 1)], "the limit is 1000"),
])
def test_check_drawings_refuses_with_a_clear_message(images, labels, message):
    with pytest.raises(FineTuneError, match=message) as err:
        check_drawings(images, labels)
    assert isinstance(err.value, DemoError) and "\n" not in str(err.value)


def test_check_drawings_accepts_numpy_and_tensors():
    check_drawings(_images(2).numpy(), np.array([3, 7]))
    check_drawings(_images(2), torch.tensor([3, 7]))


# --------------------------------------------------------------------------- split_held_out

def test_split_holds_aside_a_fifth_of_each_digit_when_every_digit_has_five():
    images = _images(15)
    images[:, 0, 0] = torch.arange(15, dtype=torch.uint8)  # tell them apart
    labels = torch.tensor([2] * 5 + [7] * 10)
    train_images, train_labels, test_images, test_labels = split_held_out(images, labels, seed=3)
    assert sorted(test_labels.tolist()) == [2, 7, 7]  # one of the 5, two of the 10
    assert len(train_images) == 12 and sorted(train_labels.tolist()) == [2] * 4 + [7] * 8
    ids = sorted(train_images[:, 0, 0].tolist() + test_images[:, 0, 0].tolist())
    assert ids == list(range(15))  # each drawing in exactly one part
    again = split_held_out(images, labels, seed=3)
    assert torch.equal(again[2], test_images)  # the seed decides
    other = [split_held_out(images, labels, seed=s)[2][:, 0, 0].tolist() for s in range(6)]
    assert len({tuple(o) for o in other}) > 1


def test_split_trains_and_measures_on_all_when_a_digit_has_fewer_than_five():
    images, labels = _images(9), np.array([1] * 5 + [8] * 4)
    train_images, train_labels, test_images, test_labels = split_held_out(images.numpy(), labels)
    assert isinstance(test_images, np.ndarray) and len(test_images) == len(train_images) == 9
    assert np.array_equal(test_labels, labels)


def test_split_refuses_what_check_drawings_refuses():
    with pytest.raises(FineTuneError, match="at least two different digits"):
        split_held_out(_images(6), [5] * 6)


# --------------------------------------------------------------------------- the fine-tune

def test_finetune_teaches_a_new_style_and_leaves_the_start_untouched(mnist, small, shipped):
    images, labels = turned(mnist.train_images, mnist.train_labels, 10)
    unseen, unseen_labels = turned(mnist.test_images, mnist.test_labels, 20)  # other source digits
    start = state(shipped.model)
    events = []
    result = finetune(shipped.model, images, labels, small, steps=60, on_event=events.append)
    assert isinstance(result, FineTuneResult) and result.model is not shipped.model
    for key, value in shipped.model.state_dict().items():
        assert torch.equal(value, start[key]), key
    assert not shipped.model.training
    # 10 per digit: 2 of each held aside, measured before and after
    assert result.held_out == 20 and result.drawings == 80 and result.steps == 60 and not result.stopped
    assert result.before < 0.5 and result.after > result.before
    before = evaluate(shipped.model, unseen, unseen_labels).accuracy
    after = evaluate(result.model, unseen, unseen_labels).accuracy
    assert before < 0.5 and after >= before + 0.25, (before, after)
    assert result.mnist_before == evaluate(shipped.model, small.test_images, small.test_labels).accuracy
    assert result.mnist_after == evaluate(result.model, small.test_images, small.test_labels).accuracy
    assert result.mnist_after > 0.97
    assert any(isinstance(e, Progress) for e in events) and isinstance(events[-1], EpochEnd)
    assert events[-1].evaluation.accuracy == result.mnist_after
    summary = json.loads(json.dumps(result.summary()))
    assert set(summary) == {"before", "after", "mnist_before", "mnist_after", "held_out", "drawings", "steps",
                            "train_s", "stopped"}
    assert summary["steps"] == 60 and summary["train_s"] > 0


def test_finetune_starts_from_a_model_frozen_for_serving(mnist, small, shipped):
    """The app hands over a Predictor's model, whose parameters are frozen: the fine-tune trains its own copy."""
    served = Predictor(shipped.model)
    images, labels = turned(mnist.train_images, mnist.train_labels, 2)
    result = finetune(served.model, images, labels, small, steps=5)
    assert result.steps == 5 and not result.stopped
    assert not any(p.requires_grad for p in served.model.parameters())  # still frozen, still serving


def test_finetune_without_holding_out_trains_and_measures_on_all(mnist, small, shipped):
    images, labels = turned(mnist.train_images, mnist.train_labels, 5)
    result = finetune(shipped.model, images, labels, small, steps=4, hold_out=False)
    assert result.held_out == 0 and result.drawings == 50 and result.steps == 4


def test_stop_ends_the_fine_tune_between_batches(mnist, small, shipped):
    images, labels = turned(mnist.train_images, mnist.train_labels, 3)
    stop = threading.Event()

    def on_event(event):
        if isinstance(event, Progress) and event.step >= 2:
            stop.set()

    start = state(shipped.model)
    result = finetune(shipped.model, images, labels, small, steps=200, stop=stop, on_event=on_event)
    assert result.stopped and 2 <= result.steps < 200 and result.summary()["stopped"] is True
    stopped_at_once = finetune(shipped.model, images, labels, small, steps=50, stop=stop)
    assert stopped_at_once.stopped and stopped_at_once.steps == 0
    assert stopped_at_once.after == stopped_at_once.before
    assert all(torch.equal(v, start[k]) for k, v in shipped.model.state_dict().items())


@pytest.mark.parametrize("steps", [0, ft.MAX_STEPS + 1, "many"])
def test_finetune_refuses_a_bad_step_count(small, shipped, steps):
    with pytest.raises(FineTuneError, match="steps"):
        finetune(shipped.model, _images(4), [0, 1, 0, 1], small, steps=steps)


def test_finetune_refuses_bad_drawings_before_any_work(small, shipped):
    with pytest.raises(FineTuneError, match="no drawings"):
        finetune(shipped.model, _images(0), [], small)


def test_finetune_meta_says_fine_tuned_and_survives_a_save(tmp_path, mnist, small, shipped):
    images, labels = turned(mnist.train_images, mnist.train_labels, 2)
    result = finetune(shipped.model, images, labels, small, steps=3)
    meta = finetune_meta(shipped.meta, result, "default")
    assert meta == clean_meta(meta)  # all of it is kept by the checkpoint schema
    assert meta["fine_tuned_from"] == "default" and meta["drawings"] == 20 and meta["steps"] == 3
    assert meta["accuracy"] == result.mnist_after and meta["mnist_before"] == result.mnist_before
    assert meta["model"] == "cnn" and "fine-tuned from default on 20 drawings" in meta["source"]
    assert meta["config"]["augment"] is True
    save_checkpoint(result.model, "mine", meta, tmp_path)
    loaded = load_checkpoint("mine", tmp_path)
    assert loaded.meta["fine_tuned_from"] == "default" and loaded.meta["drawings_after"] == result.after
    x = torch.rot90(mnist.test_images[:50], 1, (1, 2)).contiguous()
    assert evaluate(loaded.model, x, mnist.test_labels[:50]).accuracy == \
        evaluate(result.model, x, mnist.test_labels[:50]).accuracy


def test_registry_name_knows_each_architecture():
    from mnist_demo.models import MODELS, build_model

    assert [ft.registry_name(build_model(name)) for name in MODELS] == list(MODELS)
    with pytest.raises(FineTuneError, match="none of the registered models"):
        ft.registry_name(torch.nn.Linear(784, 10))


# --------------------------------------------------------------------------- ImageFolder

def write_folder(root, mnist, per_digit=2, digits=range(10), dark_on_light=True):
    for digit in digits:
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
        idx = (mnist.test_labels == digit).nonzero().flatten()[:per_digit]
        for i, j in enumerate(idx.tolist()):
            pixels = mnist.test_images[j].numpy()
            big = Image.fromarray(255 - pixels if dark_on_light else pixels).resize((84, 84))
            big.save(root / str(digit) / f"{i}.png")
    return root


def test_read_image_folder_reads_each_file_through_the_preprocessing(tmp_path, mnist):
    from mnist_demo.preprocess import to_mnist

    root = write_folder(tmp_path / "mine", mnist, per_digit=2, digits=(3, 8))
    (root / ".hidden").write_text("skipped")
    (root / "README.txt").write_text("files beside the digit folders are not read")
    images, labels = image_folders.read_image_folder(root)
    assert images.dtype == np.uint8 and images.shape == (4, 28, 28) and labels.tolist() == [3, 3, 8, 8]
    assert np.array_equal(images[2], to_mnist(root / "8" / "0.png").image28)
    check_drawings(images, labels)


def test_read_image_folder_refuses_with_the_file_named(tmp_path, mnist, monkeypatch):
    root = write_folder(tmp_path / "mine", mnist, per_digit=1, digits=(0, 1))
    Image.new("L", (40, 40), 255).save(root / "1" / "blank.png")
    with pytest.raises(FineTuneError, match=r"blank\.png: the image is blank"):
        image_folders.read_image_folder(root)
    (root / "1" / "blank.png").write_bytes(b"not an image")
    with pytest.raises(FineTuneError, match=r"blank\.png: not an image file"):
        image_folders.read_image_folder(root)
    (root / "1" / "blank.png").unlink()
    monkeypatch.setattr(image_folders, "MAX_FILE_BYTES", 100)
    with pytest.raises(FineTuneError, match=r"0\.png: .* too large for a digit image"):
        image_folders.read_image_folder(root)
    monkeypatch.undo()
    monkeypatch.setattr(image_folders, "MAX_DRAWINGS", 1)
    with pytest.raises(FineTuneError, match="more than 1 images"):
        image_folders.read_image_folder(root)
    monkeypatch.undo()
    (root / "cats").mkdir()
    with pytest.raises(FineTuneError, match="subfolders must be named 0 to 9"):
        image_folders.read_image_folder(root)


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "absent", "does not exist"),
    (lambda p: (p / "file").write_text("x") and p / "file", "is not a folder"),
    (lambda p: (p / "empty" / "3").mkdir(parents=True) or p / "empty", "holds no images"),
])
def test_read_image_folder_refuses_a_folder_that_is_not_one(tmp_path, make, message):
    with pytest.raises(FineTuneError, match=message):
        image_folders.read_image_folder(make(tmp_path))
