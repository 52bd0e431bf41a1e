"""Where a model goes wrong (`mnist_demo.mistakes`, and what `train.evaluate` keeps for it): the confusion matrix,
accuracy per digit, the worst mistakes and a cell's examples, each checked against the model's own outputs
computed here independently; and `evaluate --confusion` / `--json` on the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_demo.checkpoints import load_checkpoint, metadata
from mnist_demo.config import make_config
from mnist_demo.data import normalize
from mnist_demo.mistakes import NoPredictions, analyse, format_matrix, from_evaluation
from mnist_demo.models import build_model
from mnist_demo.train import Evaluation, evaluate, train

ROOT = Path(__file__).resolve().parents[2]


def probabilities(model, images) -> np.ndarray:
    """float64 [N, 10]: the model's softmax for each image, 500 at a time (nothing from mnist_demo but normalize)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), 500):
            out.append(torch.softmax(model(normalize(images[start:start + 500])).double(), dim=1))
    return torch.cat(out).numpy()


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint("default").model


@pytest.fixture(scope="module")
def outputs(shipped, mnist):
    """(probabilities, labels) of the shipped model on the whole test set, computed independently."""
    return probabilities(shipped, mnist.test_images), mnist.test_labels.numpy()


@pytest.fixture(scope="module")
def found(shipped, mnist):
    return analyse(shipped, mnist.test_images, mnist.test_labels)


def test_the_matrix_equals_one_counted_by_hand_and_sums_to_10000(found, outputs):
    probs, labels = outputs
    expected = np.zeros((10, 10), dtype=np.int64)
    for true, read in zip(labels, probs.argmax(axis=1)):
        expected[true, read] += 1
    assert found.confusion.sum() == 10000 == found.total
    np.testing.assert_array_equal(found.confusion, expected)
    assert found.accuracy == pytest.approx(np.trace(expected) / 10000)
    assert found.per_digit() == pytest.approx([expected[d, d] / expected[d].sum() for d in range(10)])
    assert 20 <= found.total - np.trace(expected) <= 100  # the shipped model: >= 99.3%, and not perfect


def test_the_worst_mistakes_are_misread_with_that_probability_most_confident_first(found, outputs):
    probs, labels = outputs
    worst = found.worst(24)
    assert len(worst) == 24
    for example in worst:
        assert example.wrong and labels[example.index] == example.true
        assert probs[example.index].argmax() == example.predicted
        assert example.probability == pytest.approx(probs[example.index, example.predicted], abs=1e-5)
    shown = [e.probability for e in worst]
    assert shown == sorted(shown, reverse=True)
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)
    top = np.sort(probs[wrong].max(axis=1))[::-1][:24]
    assert shown == pytest.approx(list(top), abs=1e-5)  # no confident mistake was left out


def test_a_cells_examples_have_that_pair_and_its_count(found, outputs):
    probs, labels = outputs
    read = probs.argmax(axis=1)
    off = found.confusion.copy()
    np.fill_diagonal(off, 0)
    true, predicted = np.unravel_index(off.argmax(), off.shape)
    examples = found.cell(int(true), int(predicted))
    assert len(examples) == found.confusion[true, predicted] > 0
    assert {e.index for e in examples} == set(np.flatnonzero((labels == true) & (read == predicted)))
    assert all(e.true == true and e.predicted == predicted for e in examples)
    mistakes = [e.probability for e in examples]
    assert mistakes == sorted(mistakes, reverse=True)  # off the diagonal: the most confident first
    right = found.cell(3, 3, k=5)
    assert len(right) == 5 and all(e.true == e.predicted == 3 for e in right)
    assert [e.probability for e in right] == sorted(e.probability for e in right)  # the least sure first
    assert right[0].probability == pytest.approx(probs[(labels == 3) & (read == 3), 3].min(), abs=1e-5)
    for bad in ((10, 0), (0, -1), (1.5, 2), ("3", 3), (True, 1)):
        with pytest.raises(ValueError, match="digit"):
            found.cell(*bad)


def test_a_runs_evaluation_gives_the_same_without_another_pass(found, shipped, mnist):
    evaluation = evaluate(shipped, mnist.test_images, mnist.test_labels)
    again = from_evaluation(evaluation, mnist.test_labels)
    np.testing.assert_array_equal(again.predicted, found.predicted)
    np.testing.assert_array_equal(again.confusion, np.array(evaluation.confusion))
    assert evaluation.accuracy == pytest.approx(found.accuracy)
    assert evaluation.per_class == pytest.approx(found.per_digit())
    with pytest.raises(NoPredictions):
        from_evaluation(Evaluation(0.5, 1.0, [0.5] * 10, 10000), mnist.test_labels)
    with pytest.raises(NoPredictions, match="10000 images, not these 100"):
        from_evaluation(evaluation, mnist.test_labels[:100])


def test_any_model_on_any_images_matches_its_own_outputs(mnist):
    torch.manual_seed(0)
    for name in ("tutorial", "cnn-small"):
        model = build_model(name)
        images, labels = mnist.test_images[:300], mnist.test_labels[:300]
        probs = probabilities(model, images)
        found = analyse(model, images, labels)
        np.testing.assert_array_equal(found.predicted, probs.argmax(axis=1))
        np.testing.assert_allclose(found.confidence, probs.max(axis=1), atol=1e-5)
        assert found.confusion.sum() == 300


def test_summaries_and_checkpoint_metadata_stay_plain_and_small(mnist):
    config = make_config("fast", model="mlp", epochs=1, limit=512, batch_size=128, augment=False)
    result = train(config, mnist)
    assert result.evaluation.predicted is not None and len(result.evaluation.predicted) == 10000
    assert result.evaluation.predicted.dtype == torch.uint8  # 10 KB, not 80, for each epoch a run keeps
    summary = json.dumps(result.summary())
    meta = json.dumps(metadata(config.to_dict(), result.evaluation, result.epochs_completed, result.steps))
    assert len(summary) < 4000 and len(meta) < 4000
    assert "predicted" not in summary and "confidence" not in meta


def test_the_matrix_as_text_is_aligned_with_headers():
    matrix = np.arange(100).reshape(10, 10) * 13
    lines = format_matrix(matrix).splitlines()
    assert len(lines) == 11 and len({len(line) for line in lines}) == 1
    assert lines[0].split()[1:] == [str(d) for d in range(10)]
    assert lines[10].split() == ["9", *[str(v) for v in matrix[9]]]


def cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mnist_demo", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_cli_prints_the_matrix_and_json_includes_it(found):
    done = cli("evaluate", "--confusion", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("Confusion matrix (rows: true digit, columns: predicted digit)")
    assert lines[start + 1].split() == ["true\\pred", *[str(d) for d in range(10)]]
    rows = [[int(v) for v in line.split()] for line in lines[start + 2:start + 12]]
    assert [r[0] for r in rows] == list(range(10))
    np.testing.assert_array_equal(np.array([r[1:] for r in rows]), found.confusion)
    assert "Confusion matrix" not in cli("evaluate", "--device", "cpu").stdout  # only when asked
    done = cli("evaluate", "--json", "--device", "cpu")
    report = json.loads(done.stdout)
    np.testing.assert_array_equal(np.array(report["confusion"]), found.confusion)
    assert report["accuracy"] == pytest.approx(found.accuracy)


def test_the_benchmark_script_has_help():
    done = subprocess.run([sys.executable, "benchmarks/mistakes_speed.py", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr
