"""The shared training function: learning, events, stopping, reproducibility, divergence, devices."""

import re
import threading

import pytest
import torch

from mnist_demo.config import make_config
from mnist_demo.devices import available_devices, native_bf16, resolve_device
from mnist_demo.errors import ConfigError, DeviceError
from mnist_demo.models import build_model
from mnist_demo.train import EpochEnd, Progress, TrainingDiverged, autocast_dtype, evaluate, train


def run(mnist, **overrides):
    events = []
    config = make_config("fast", **{"limit": 3000, "log_every": 5, **overrides})
    return train(config, mnist, on_event=events.append), events


def test_short_seeded_training_lowers_the_loss(mnist):
    result, events = run(mnist, model="cnn", batch_size=64)
    losses = [e.loss for e in events if isinstance(e, Progress)]
    assert losses[-1] < losses[0] / 2
    assert result.evaluation.accuracy > 0.85  # 3000 samples, one epoch
    assert not result.stopped and result.epochs_completed == 1


def test_events_carry_the_tutorial_log_and_per_class_accuracy(mnist):
    result, events = run(mnist, model="mlp", batch_size=100, log_every=10)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].log_line() == f"loss: {progress[0].loss:>7f}  [    0/ 3000]"
    assert all(re.fullmatch(r"loss: +\d+\.\d{6}  \[ *\d+/ 3000\]", p.log_line()) for p in progress)
    assert [p.current for p in progress] == [0, 1000, 2000, 2900]
    assert all(p.samples_per_s > 0 and p.lr > 0 and p.elapsed_s >= 0 for p in progress)
    end = [e for e in events if isinstance(e, EpochEnd)]
    assert len(end) == 1 and len(end[0].evaluation.per_class) == 10
    assert "Accuracy:" in end[0].evaluation.log_lines() and end[0].evaluation.total == 10000


def test_seeded_runs_are_reproducible_on_cpu(mnist):
    a, _ = run(mnist, model="mlp", limit=1000, augment=True, seed=3)
    b, _ = run(mnist, model="mlp", limit=1000, augment=True, seed=3)
    c, _ = run(mnist, model="mlp", limit=1000, augment=True, seed=4)
    for (name, wa), wb, wc in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                                  c.model.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), c.model.state_dict().values()))


def test_stop_from_another_thread_returns_the_partial_model(mnist):
    stop = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, Progress) and event.step >= 3:
            threading.Thread(target=stop.set).start()

    config = make_config("fast", model="mlp", batch_size=32, epochs=3, log_every=1)
    result = train(config, mnist, on_event=on_event, stop=stop)
    assert result.stopped
    assert 3 <= result.steps < 20  # stopped within a few batches of the request, out of 5625
    assert result.history[-1].partial and 0 < result.evaluation.accuracy <= 1
    assert result.epochs_completed < 0.02


def test_nan_loss_reports_divergence(mnist):
    model = build_model("mlp")
    with torch.no_grad():
        model.linear_relu_stack[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="training diverged.*learning rate"):
        train(make_config("fast", model="mlp", limit=500, log_every=1), mnist, model=model)


def test_a_far_too_high_learning_rate_diverges_cleanly(mnist):
    config = make_config("fast", model="mlp", optimizer="sgd", momentum=0.99, lr=10, schedule="constant",
                         limit=5000, log_every=1)
    with pytest.raises(TrainingDiverged, match="lr|learning rate"):
        train(config, mnist)


def test_evaluate_per_class_matches_overall(mnist):
    model = build_model("cnn").eval()
    result = evaluate(model, mnist.test_images[:1000], mnist.test_labels[:1000])
    counts = torch.bincount(mnist.test_labels[:1000], minlength=10)
    overall = sum(a * n for a, n in zip(result.per_class, counts.tolist())) / 1000
    assert result.accuracy == pytest.approx(overall)


def test_devices():
    assert available_devices()[0] == "cpu"
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if "cuda" not in available_devices():
        with pytest.raises(DeviceError, match="cuda is not available on this machine"):
            resolve_device("cuda")


def test_precision_auto_uses_bf16_only_for_convolutions_on_native_bf16_hardware():
    cpu = torch.device("cpu")
    for name in ("tutorial", "mlp", "cnn", "cnn-small"):
        model = build_model(name)
        auto = autocast_dtype(make_config("fast", model=name), model, cpu)
        expected = torch.bfloat16 if name.startswith("cnn") and native_bf16(cpu) else None
        assert auto == expected, name
        assert autocast_dtype(make_config("fast", model=name, precision="fp32"), model, cpu) is None
        assert autocast_dtype(make_config("fast", model=name, precision="bf16"), model, cpu) == torch.bfloat16
    assert make_config("tutorial").precision == "fp32"  # the tutorial recipe stays as written
    with pytest.raises(ConfigError, match="precision: bf16 mixed precision runs on cpu or cuda, not mps"):
        autocast_dtype(make_config("fast", precision="bf16"), build_model("cnn"), torch.device("mps"))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_bf16_training_learns_and_keeps_fp32_weights(mnist, name):
    result, events = run(mnist, model=name, precision="bf16", batch_size=64)
    losses = [e.loss for e in events if isinstance(e, Progress)]
    assert result.precision == "bf16" and result.summary()["precision"] == "bf16"
    assert losses[-1] < losses[0] / 2 and result.evaluation.accuracy > 0.85
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
