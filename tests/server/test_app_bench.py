"""The CPU vs CUDA tab through a running `demo.py`: its inputs checked, and the CPU side run."""

import httpx
import pytest

from mnist_demo.app.server.i18n import resolve
from tests.support.app_server import queue_status, wait_idle

# --------------------------------------------------------------------------- CPU vs CUDA

@pytest.mark.parametrize("model,sizes,repeats,field", [
    ("mlp", "", 3, "Batch sizes"), ("mlp", "0", 3, "Batch sizes"), ("mlp", "70000", 3, "Batch sizes"),
    ("mlp", "abc", 3, "Batch sizes"), ("mlp", "1,,2", 3, "Batch sizes"), ("mlp", "-1", 3, "Batch sizes"),
    ("mlp", "1", 0, "Repeats"), ("mlp", "1", 1001, "Repeats"), ("mlp", "1", "x", "Repeats"),
    ("mlp", "1", None, "Repeats"),
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
        assert "No GPU here" in resolve(note["props"]["value"], translations=config["i18n_translations"])
