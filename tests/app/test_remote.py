"""What crosses between a Dask worker and the web process (mnist_demo/app/core/jobs/remote.py): a job's items as plain
msgpack messages rebuilt as the engine's events, and its result as plain data and tensors, checked like a
checkpoint upload before anyone uses it. Real trainings, real bytes; no cluster needed."""

import io
import pickle

import msgpack
import pytest
import torch

from mnist_demo.app.core.jobs import remote
from mnist_demo.app.core.jobs.runner import Placed
from mnist_demo.app.core.runs.finetune import Stage
from mnist_demo.app.core.runs.training import Phase, SampleAccuracy, StartAccuracy
from mnist_demo.config import make_config
from mnist_demo.errors import CheckpointError, DataError
from mnist_demo.finetune import finetune
from mnist_demo.train import EpochEnd, Progress, train


@pytest.fixture(scope="module")
def trained(mnist):
    events = []
    result = train(make_config("fast", limit=600, batch_size=100, device="cpu"), mnist, on_event=events.append)
    return result, events


def test_every_item_a_job_emits_crosses_as_plain_msgpack_and_comes_back_equal(trained):
    _, events = trained
    items = [*events, Phase("live.training_on", (("device", "cpu"),)), StartAccuracy(0.1, 0.11),
             SampleAccuracy(12, 0.4, 0.8), Stage("finetune.stage_loading"), {"op": "train", "ms_median": 1.5}]
    assert any(isinstance(e, Progress) for e in events) and any(isinstance(e, EpochEnd) for e in events)
    for item in items:
        message = remote.encode(item)
        back = remote.decode(msgpack.unpackb(msgpack.packb(message)))  # what the scheduler's event log carries
        if isinstance(item, EpochEnd):  # the 10,000 predictions stay on the worker until the result
            assert back.evaluation.accuracy == item.evaluation.accuracy and back.log_lines() == item.log_lines()
        else:
            assert back == item, (item, back)
    assert remote.decode({"type": "placed", "host": "h", "worker": "tcp://w"}) == Placed("h", "tcp://w")
    with pytest.raises(ValueError):
        remote.decode({"type": "os.system", "fields": {}})


def test_a_training_result_comes_back_checked_and_whole(trained):
    result, _ = trained
    back = remote.unpack(remote.pack(result), "train 1")
    assert back.config == result.config and back.steps == result.steps and back.stopped == result.stopped
    assert back.evaluation.accuracy == result.evaluation.accuracy
    assert torch.equal(back.evaluation.predicted, result.evaluation.predicted)  # the Mistakes tab reuses them
    assert all(torch.equal(a, b) for a, b in zip(back.model.state_dict().values(), result.model.state_dict().values()))
    assert [e.evaluation.accuracy for e in back.history] == [e.evaluation.accuracy for e in result.history]


def test_a_fine_tune_and_a_benchmark_report_come_back(trained, mnist):
    result, _ = trained
    images = mnist.test_images[:20].numpy()
    labels = mnist.test_labels[:20].numpy()
    tuned = finetune(result.model, images, labels, mnist, steps=3)
    back = remote.unpack(remote.pack(tuned), "finetune 1")
    assert (back.before, back.after, back.steps, back.digits) == (tuned.before, tuned.after, tuned.steps, tuned.digits)
    report = {"rows": [{"op": "train", "ms_median": 2.5}], "stopped": False, "model": "mlp"}
    assert remote.unpack(remote.pack(report), "benchmark 1") == report
    assert remote.unpack(remote.pack(None), "train 2") is None


def tampered(result, change) -> bytes:
    content = torch.load(io.BytesIO(remote.pack(result)), weights_only=True)
    change(content)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def test_a_result_that_is_not_one_of_ours_is_refused_with_one_reason(trained):
    result, _ = trained

    def nan_weights(content):
        state = content["checkpoint"]["state_dict"]
        key = next(iter(state))
        state[key] = torch.full_like(state[key], float("nan"))

    def wrong_shape(content):
        state = content["checkpoint"]["state_dict"]
        key = next(iter(state))
        state[key] = torch.zeros(3)

    def bad_accuracy(content):
        content["evaluation"]["accuracy"] = 7.0

    def short_predictions(content):
        content["evaluation"]["predicted"] = content["evaluation"]["predicted"][:5]

    for change, code in ((nan_weights, "file_not_finite"), (wrong_shape, "file_wrong_shape"),
                         (bad_accuracy, "result_refused"), (short_predictions, "result_refused")):
        with pytest.raises(CheckpointError) as err:
            remote.unpack(tampered(result, change), "train 3")
        assert err.value.code == code and "train 3" in str(err.value), (change.__name__, err.value)

    class Boom:
        def __reduce__(self):
            return (print, ("this must never run in the web process",))

    with pytest.raises(CheckpointError) as err:  # a pickle that would run code: weights_only refuses it
        remote.unpack(pickle.dumps({"type": "train", "x": Boom()}), "train 4")
    assert err.value.code == "result_refused"


def test_an_error_raised_on_a_worker_keeps_its_code_and_values():
    err = pickle.loads(pickle.dumps(DataError("MNIST not found", code="mnist_missing", where="/data")))
    assert isinstance(err, DataError) and err.code == "mnist_missing" and err.values == {"where": "/data"}
    assert str(err) == "MNIST not found"


def test_stop_is_asked_of_the_scheduler_at_most_every_poll():
    class Event:
        asked = 0

        def is_set(self):
            Event.asked += 1
            return Event.asked >= 3

    stop = remote.RemoteStop(Event())
    seen = [stop.is_set() for _ in range(1000)]  # a training asks between every two batches
    assert Event.asked == 1 and not any(seen)
