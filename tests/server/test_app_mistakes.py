"""The Mistakes tab through a running `demo.py`: the shipped model's confusion matrix, its cells' test images
and worst mistakes (the very images of the test set), a run's own evaluation reused, and visitors kept apart."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_demo.checkpoints import load_checkpoint
from mnist_demo.data import normalize
from tests.support.app_server import TINY, new_client, wait_idle

OUTPUTS = ("model", "status", "matrix", "true", "read_as", "cell_title", "cell", "worst", "per_digit")


def mistakes(client, choice: str) -> dict:
    return dict(zip(OUTPUTS, client.predict(choice, api_name="/mistakes"), strict=True))


def cell(client, choice: str, true: int, read: int) -> dict:
    out = client.predict(choice, str(true), str(read), api_name="/mistakes_cell")
    return dict(zip(("status", "true", "read_as", "cell_title", "cell"), out, strict=True))


def matrix_of(result: dict) -> np.ndarray:
    table = result["matrix"]
    assert table["headers"][1:] == [str(d) for d in range(10)]
    assert [row[0] for row in table["data"]] == [str(d) for d in range(10)]
    return np.array([[int(v) for v in row[1:]] for row in table["data"]])


def test_the_shipped_models_matrix_sums_to_10000_with_its_bars_and_worst_mistakes(client, mnist):
    result = mistakes(client, "default")
    matrix = matrix_of(result)
    assert matrix.shape == (10, 10) and matrix.sum() == 10000
    assert np.trace(matrix) >= 9930
    assert re.search(r"99\.\d\d% of 10,000 test images right", result["status"]), result["status"]
    bars = result["per_digit"]["value"]["data"]
    assert [b[0] for b in bars] == [str(d) for d in range(10)]
    labels = mnist.test_labels.numpy()
    for digit, accuracy in bars:
        d = int(digit)
        assert accuracy == pytest.approx(100 * matrix[d, d] / (labels == d).sum(), abs=0.01)
    worst = result["worst"]
    assert len(worst) == 24
    for item in worst:
        true, read = map(int, re.fullmatch(r"(\d) → (\d) · \d+%", item["caption"]).groups())
        assert true != read and matrix[true, read] > 0
    # the matrix opens on the most frequent mistake, its images shown
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    assert (int(result["true"]), int(result["read_as"])) == np.unravel_index(off.argmax(), off.shape)
    assert len(result["cell"]) == off.max()


def test_a_cells_images_are_those_test_images_misread_with_that_probability(client, mnist, ckpt_dir):
    shipped = load_checkpoint("default", ckpt_dir).model.eval()
    matrix = matrix_of(mistakes(client, "default"))
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    true, read = (int(v) for v in np.unravel_index(off.argmax(), off.shape))
    result = cell(client, "default", true, read)
    assert (result["true"], result["read_as"]) == (str(true), str(read))
    assert f"of a {true} read as {read}" in result["cell_title"]
    assert len(result["cell"]) == matrix[true, read]
    for item in result["cell"]:
        index = int(re.fullmatch(r"#(\d+) · \d+%", item["caption"]).group(1))
        assert mnist.test_labels[index] == true
        with torch.no_grad():
            probs = torch.softmax(shipped(normalize(mnist.test_images[index:index + 1])), dim=1)[0]
        assert int(probs.argmax()) == read and item["caption"] == f"#{index} · {100 * float(probs[read]):.0f}%"
        shown = np.asarray(Image.open(item["image"]).convert("L"))
        expected = np.repeat(np.repeat(mnist.test_images[index].numpy(), 3, axis=0), 3, axis=1)
        np.testing.assert_array_equal(shown, expected)
    right = cell(client, "default", 1, 1)
    assert len(right["cell"]) == 40 and f"{matrix[1, 1]:,} test images of a 1 read right" in right["cell_title"]
    empty = cell(client, "default", 0, 9) if matrix[0, 9] == 0 else None
    if empty is not None:
        assert empty["cell"] == [] and "No test image of a 0 was read as 9" in empty["cell_title"]


@pytest.mark.parametrize("choice", ["nope", "../default", "@current"])
def test_a_model_not_available_is_refused_and_nothing_else_changes(fresh, choice):
    result = mistakes(fresh, choice)
    assert result["status"].startswith("**Not done.**") and "not available" in result["status"], result["status"]
    assert all(result[name] == {"__type__": "update"} for name in OUTPUTS if name != "status"), result


def test_a_finished_run_reuses_its_last_test_pass_and_stays_its_visitors_own(server):
    mine, other = new_client(server), new_client(server)
    wait_idle(mine)
    assert "Done." in mine.predict(*TINY, api_name="/train")[0]
    result = mistakes(mine, "@current")
    assert "your current model" in result["status"] and "its run's last test pass" in result["status"]
    assert matrix_of(result).sum() == 10000
    assert "Your current model" in result["model"]["choices"][0][0]
    refused = mistakes(other, "@current")
    assert refused["status"].startswith("**Not done.**") and "not available" in refused["status"]
    assert cell(other, "@current", 4, 9)["status"].startswith("**Not done.**")
