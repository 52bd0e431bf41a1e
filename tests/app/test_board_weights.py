"""A posted run's weights: a really trained model goes in and comes out answering the same; weights that are too big,
of another model, tampered with (wrong shapes, NaN, a foreign payload) are refused on the way in, and on the way out
when the file was changed behind the board's back."""

import io
import sqlite3

import pytest
import torch

from mnist_demo.app.core.board import rules
from mnist_demo.app.core.board.rules import BoardError, make_record, pack, unpack
from mnist_demo.app.core.board.store import Board
from mnist_demo.checkpoints import FORMAT, CheckpointError, payload
from mnist_demo.config import make_config
from mnist_demo.data import MNIST, normalize
from mnist_demo.models import build_model
from mnist_demo.train import train
from tests.support.board import fresh_weights, record


@pytest.fixture(scope="module")
def trained(mnist):
    """A cnn-small trained for real on 1,024 MNIST images (16 steps), evaluated on 500 test images."""
    small = MNIST(mnist.train_images, mnist.train_labels, mnist.test_images[:500], mnist.test_labels[:500],
                  mnist.source)
    config = make_config("fast", device="cpu", limit=1024, batch_size=64, log_every=4)
    result = train(config, small)
    return config, result


@pytest.fixture
def board(tmp_path):
    with Board(tmp_path / "w.db") as b:
        yield b


def tampered(change) -> bytes:
    content = payload(build_model("cnn-small"), {"model": "cnn-small"})
    change(content)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def test_a_trained_model_comes_back_answering_the_same(board, trained, mnist):
    config, result = trained
    meta = {"model": config.model, "accuracy": result.evaluation.accuracy, "config": config.to_dict()}
    curve = [(e.step * config.batch_size, 100 * e.evaluation.accuracy) for e in result.history]
    run = make_record(config, 100 * result.evaluation.accuracy, result.elapsed_s, result.samples_seen / result.train_s,
                      curve)
    post_id = board.post("o", "Trainer", run, pack(result.model, meta))
    back = board.model(post_id)
    assert back.name == f"board-{post_id}" and back.meta["accuracy"] == result.evaluation.accuracy
    assert back.meta["config"]["limit"] == 1024 and not back.model.training
    images = normalize(mnist.test_images[:256])
    result.model.eval()
    with torch.no_grad():
        assert torch.equal(back.model(images).argmax(1), result.model(images).argmax(1))
        assert torch.allclose(back.model(images), result.model(images), atol=1e-5)
    assert board.get(post_id).accuracy_pct == pytest.approx(100 * result.evaluation.accuracy)


def test_every_registered_model_fits_under_the_weight_bound():
    from mnist_demo.models import MODELS

    sizes = {name: len(fresh_weights(name)) for name in MODELS}
    assert max(sizes.values()) < rules.MAX_WEIGHT_BYTES, sizes


@pytest.mark.parametrize("change, code", [
    (lambda c: c["state_dict"].update({"classifier.1.weight": torch.zeros(3, 3)}), "file_wrong_shape"),
    (lambda c: c["state_dict"]["classifier.1.weight"].fill_(float("nan")), "file_not_finite"),
    (lambda c: c["state_dict"]["classifier.3.bias"].fill_(float("inf")), "file_not_finite"),
    (lambda c: c.update(format="something-else"), "file_foreign"),
    (lambda c: c.update(model="resnet152"), "file_unknown_model"),
    (lambda c: c["state_dict"].update({"extra": "not a tensor"}), "file_not_tensors"),
])
def test_tampered_weights_are_refused_on_the_way_in(board, change, code):
    with pytest.raises(CheckpointError) as caught:
        board.post("o", "Bo", record(), tampered(change))
    assert caught.value.code == code and board.count() == 0


@pytest.mark.parametrize("blob, code", [
    (b"\x00" * 100, "file_unreadable"),
    (b"PK\x03\x04 not really a zip", "file_unreadable"),
])
def test_bytes_that_are_no_checkpoint_are_refused(board, blob, code):
    with pytest.raises(CheckpointError) as caught:
        board.post("o", "Bo", record(), blob)
    assert caught.value.code == code and board.count() == 0


def test_a_foreign_payload_is_refused(board):
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    with pytest.raises(CheckpointError) as caught:
        board.post("o", "Bo", record(), buffer.getvalue())
    assert caught.value.code == "file_foreign"


def test_weights_over_the_bound_are_refused_before_reading_them(board):
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", record(), b"\x00" * (rules.MAX_WEIGHT_BYTES + 1))
    assert caught.value.code == "board_weights_size" and caught.value.values["limit_mib"] == "3"
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", record(), "not bytes")
    assert caught.value.code == "board_weights_type" and board.count() == 0


def test_weights_of_another_model_than_the_run_are_refused(board):
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", record(model="cnn-small"), fresh_weights("cnn"))
    assert caught.value.code == "board_weights_mismatch" and board.count() == 0


def test_weights_changed_in_the_file_are_refused_on_the_way_out(board):
    post_id = board.post("o", "Bo", record(), fresh_weights())
    bad = tampered(lambda c: c["state_dict"]["classifier.1.weight"].fill_(float("nan")))
    with sqlite3.connect(board.path) as raw:
        raw.execute("UPDATE weights SET data = ? WHERE post_id = ?", (bad, post_id))
    with pytest.raises(CheckpointError) as caught:
        board.model(post_id)
    assert caught.value.code == "file_not_finite" and f"board post {post_id}" in str(caught.value)
    with pytest.raises(BoardError) as caught:
        board.model(post_id + 1)
    assert caught.value.code == "board_no_post"


def test_unpack_names_its_label(board):
    with pytest.raises(CheckpointError, match="the thing"):
        unpack(tampered(lambda c: c.update(format=FORMAT + "x")), "the thing")
