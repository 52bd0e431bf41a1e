"""What crosses between the web process and a Dask worker, and the wrapper a job's work runs in on the worker.

Nothing the web process receives is an object the worker built:
- a job's items (progress, epoch ends, phases, benchmark cells) travel as plain messages through the scheduler's
  event log (`log_event`, msgpack: numbers, strings, lists, dicts) and are rebuilt here as the engine's dataclasses;
- its result travels as bytes written by `torch.save` and is read back with `torch.load(weights_only=True)` (plain
  data and tensors only), then checked: a model goes through `checkpoints.checked`, the checks a checkpoint upload
  gets, its figures through `_evaluation`'s types, sizes and ranges.

`run_task` runs on the worker: it says where it runs, polls the run's stop event (a `distributed.Event` the web
process sets on Stop), lowers its thread's priority, and marks its last item so that the web process hands the
result on only after every item.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import socket
import time
import uuid

import torch

from mnist_demo.app.core.jobs.runner import Placed, lower_priority, lower_process_priority
from mnist_demo.app.core.runs.finetune import Stage
from mnist_demo.app.core.runs.training import Phase, SampleAccuracy, StartAccuracy
from mnist_demo.checkpoints import checked, payload
from mnist_demo.config import TrainConfig, validate
from mnist_demo.errors import CheckpointError
from mnist_demo.finetune import FineTuneResult, registry_name
from mnist_demo.train import EpochEnd, Evaluation, Progress, TrainResult

TOPIC = "mnist-demo-jobs"  # the scheduler's event topic every job's items go through
STOP_POLL_S = 0.2  # how often a running job asks whether Stop was pressed: each ask is a round trip (~1-9 ms)
DATA_DIR_ENV = "MNIST_DEMO_DATA_DIR"  # a worker's own MNIST folder (`python -m mnist_demo worker --data-dir`)
EVENTS = {cls.__name__: cls for cls in (Progress, EpochEnd, Phase, StartAccuracy, SampleAccuracy, Stage)}
END = "end"  # the last item of a run: everything it emitted has been sent


# --------------------------------------------------------------------------- items

def _plain(value):
    """A value as msgpack carries it: tuples become lists, an Evaluation its figures (without its 10,000
    predictions, which only the final result carries)."""
    if isinstance(value, Evaluation):
        return {"accuracy": value.accuracy, "avg_loss": value.avg_loss, "per_class": list(value.per_class),
                "total": value.total}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def encode(item) -> dict:
    """One item a job emitted, as a plain message."""
    if isinstance(item, dict):  # a benchmark's cell
        return {"type": "row", "fields": _plain(item)}
    fields = {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}
    return {"type": type(item).__name__, "fields": fields}


def decode(message: dict):
    """The item a plain message stands for (`encode`'s inverse); ValueError for a message no job sends."""
    kind, fields = message.get("type"), message.get("fields") or {}
    if kind == "row":
        return dict(fields)
    if kind == "placed":
        return Placed(str(message["host"]), str(message["worker"]))
    cls = EVENTS.get(kind)
    if cls is None:
        raise ValueError(f"unknown item {kind!r}")
    if cls is EpochEnd:
        fields = dict(fields, evaluation=Evaluation(**fields["evaluation"]))
    if cls is Phase:
        fields = dict(fields, values=tuple(tuple(pair) for pair in fields["values"]))
    return cls(**fields)


# --------------------------------------------------------------------------- results

def pack(result) -> bytes:
    """A job's result as bytes of plain data and tensors (`torch.save`), its model as a checkpoint payload."""
    if isinstance(result, TrainResult):
        content = {"type": "train", "checkpoint": payload(result.model, {"model": result.config.model}),
                   "config": result.config.to_dict(), "evaluation": dataclasses.asdict(result.evaluation),
                   "history": [encode(e)["fields"] for e in result.history], "losses": [list(p) for p in result.losses],
                   **{name: getattr(result, name) for name in ("epochs_completed", "steps", "samples_seen",
                                                                "elapsed_s", "train_s", "stopped", "precision")}}
    elif isinstance(result, FineTuneResult):
        content = {"type": "finetune", "checkpoint": payload(result.model, {"model": registry_name(result.model)}),
                   "config": result.config.to_dict() if result.config else None,
                   "mnist_evaluation": dataclasses.asdict(result.mnist_evaluation) if result.mnist_evaluation else None,
                   **{name: getattr(result, name) for name in ("before", "after", "mnist_before", "mnist_after",
                                                                "held_out", "drawings", "steps", "train_s", "stopped",
                                                                "digits")}}
    elif isinstance(result, dict):  # a benchmark's report: what its JSON output holds
        content = {"type": "report", "report": json.dumps(result)}
    elif result is None:
        content = {"type": "none"}
    else:
        raise TypeError(f"a job returned a {type(result).__name__}, which cannot leave its worker")
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def unpack(blob: bytes, label: str):
    """The result `pack` wrote, read as plain data and checked; CheckpointError (naming `label`) if anything in it
    is not what a job of ours returns."""
    try:
        content = torch.load(io.BytesIO(blob), weights_only=True)
        kind = content["type"]
        if kind == "none":
            return None
        if kind == "report":
            return _report(json.loads(content["report"]))
        model = checked(content["checkpoint"], label).model
        if kind == "train":
            config = validate(TrainConfig(**content["config"]), max_epochs=10**6, max_batch_size=10**6)
            return TrainResult(model=model, config=config, evaluation=_evaluation(content["evaluation"]),
                               epochs_completed=_number(content["epochs_completed"]), steps=int(content["steps"]),
                               samples_seen=int(content["samples_seen"]), elapsed_s=_number(content["elapsed_s"]),
                               train_s=_number(content["train_s"]), stopped=bool(content["stopped"]),
                               precision=str(content["precision"]),
                               history=[decode({"type": "EpochEnd", "fields": e}) for e in content["history"]],
                               losses=[(int(s), _number(v, nan=True)) for s, v in content["losses"]])
        if kind == "finetune":
            mnist = content["mnist_evaluation"]
            config = content["config"]
            return FineTuneResult(
                model=model, **{n: _number(content[n]) for n in ("before", "after", "mnist_before", "mnist_after",
                                                                 "train_s")},
                held_out=int(content["held_out"]), drawings=int(content["drawings"]), steps=int(content["steps"]),
                stopped=bool(content["stopped"]),
                config=validate(TrainConfig(**config), max_epochs=10**6, max_batch_size=10**6) if config else None,
                mnist_evaluation=_evaluation(mnist) if mnist else None, digits=[int(d) for d in content["digits"]])
        raise ValueError(f"unknown result {kind!r}")
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever is wrong with it, the result is refused with one reason
        raise CheckpointError(f"{label}: the result from its worker is not one of ours ({type(err).__name__})",
                              code="result_refused", file=label) from None


def _number(value, nan: bool = False) -> float:
    number = float(value)
    if not math.isfinite(number) and not nan:
        raise ValueError("not a finite number")
    return number


def _evaluation(fields: dict) -> Evaluation:
    """An Evaluation from plain data, with its types, sizes and ranges checked."""
    total = int(fields["total"])
    accuracy, avg_loss = _number(fields["accuracy"]), _number(fields["avg_loss"], nan=True)
    per_class = [_number(a) for a in fields["per_class"]]
    if not 0.0 <= accuracy <= 1.0 or len(per_class) != 10 or not 0 < total <= 10**6:
        raise ValueError("figures out of range")
    confusion = fields.get("confusion")
    if confusion is not None:
        confusion = [[int(c) for c in row] for row in confusion]
        if len(confusion) != 10 or any(len(row) != 10 for row in confusion):
            raise ValueError("not a 10x10 confusion matrix")
    predicted, confidence = fields.get("predicted"), fields.get("confidence")
    for tensor, dtype in ((predicted, torch.uint8), (confidence, torch.float32)):
        if tensor is not None and (not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype
                                   or tuple(tensor.shape) != (total,)):
            raise ValueError("predictions of the wrong kind or size")
    return Evaluation(accuracy, avg_loss, per_class, total, confusion, predicted, confidence)


def _report(report) -> dict:
    """A benchmark's report: plain data only (what its JSON output holds)."""
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise ValueError("not a benchmark report")
    return report


# --------------------------------------------------------------------------- on the worker

class RemoteStop:
    """The run's stop event as the engine reads it (`is_set()` between batches), asked at most every STOP_POLL_S."""

    def __init__(self, event):
        self.event = event
        self.asked, self.seen = 0.0, False

    def is_set(self) -> bool:
        if not self.seen and time.monotonic() - self.asked >= STOP_POLL_S:
            self.asked = time.monotonic()
            self.seen = self.event.is_set()
        return self.seen


def check_worker(data_dir: str, threads: int | None = None) -> dict:
    """Run once on each worker as it joins: load and check MNIST from its data folder (its own, `DATA_DIR_ENV`, when it
    was given one), which also warms it up (torch imported, the data read once for every later job), set its torch
    threads and lower its priority. What it found: its host, its devices, and the problem that keeps it from
    training (None: ready)."""
    from mnist_demo.data import cached_mnist
    from mnist_demo.devices import available_devices
    from mnist_demo.errors import DataError

    if threads:
        torch.set_num_threads(threads)
    lower_process_priority()
    problem = None
    try:
        cached_mnist(os.environ.get(DATA_DIR_ENV) or data_dir)
    except DataError as err:
        problem = str(err)
    return {"host": socket.gethostname(), "devices": available_devices(), "problem": problem}


def run_task(work: functools.partial, run_id: str, stop_name: str) -> bytes:
    """Run a job's work on this worker: its items go to the scheduler's event log under TOPIC, the run's stop event is
    polled, and the result comes back packed (`pack`). A worker started with its own MNIST folder
    (`DATA_DIR_ENV`) trains from that folder."""
    from distributed import Event, get_worker

    worker = get_worker()
    attempt = uuid.uuid4().hex  # this try of the run: a copy the scheduler starts elsewhere is told apart

    def send(message: dict) -> None:
        worker.log_event(TOPIC, {"run": run_id, "attempt": attempt, **message})

    lower_priority()
    send({"type": "placed", "host": socket.gethostname(), "worker": worker.address})
    own = os.environ.get(DATA_DIR_ENV)
    if own and "data_dir" in work.keywords:
        work = functools.partial(work.func, *work.args, **{**work.keywords, "data_dir": own})
    try:
        return pack(work(RemoteStop(Event(stop_name)), lambda item: send(encode(item))))
    finally:
        send({"type": END})
