"""The shipped model: >= 99.3% on the MNIST test set and it reads digits drawn the way people draw them."""

import pytest

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.predict import Predictor
from mnist_demo.train import evaluate
from tests.support.digits import draw

VARIANTS = {
    "centred": {},
    "small, in a corner": {"box": (20, 20, 60, 100), "width": 8},
    "large": {"box": (60, 10, 300, 380), "width": 40},
    "thin strokes": {"width": 5},
    "thick strokes": {"width": 45},
    "slanted": {"slant": 0.35},
    "ink in alpha": {"mode": "alpha"},
    "off-centre": {"box": (250, 150, 120, 220)},
}


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint("default")


def test_test_accuracy_at_least_99_3(shipped, mnist):
    result = evaluate(shipped.model, mnist.test_images, mnist.test_labels)
    assert result.accuracy >= 0.993
    assert shipped.meta["accuracy"] == pytest.approx(result.accuracy, abs=1e-4)
    assert shipped.meta["model"] == "cnn" and shipped.meta["config"]["augment"] is True


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_reads_drawn_digits(shipped, variant):
    predictor = Predictor(shipped.model)
    read = [predictor.predict(draw(d, **VARIANTS[variant])).digit for d in range(10)]
    assert read == list(range(10))
