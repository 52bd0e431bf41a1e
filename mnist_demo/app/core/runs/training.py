"""A training run as the Train tab shows it (no gradio): the work to hand to the jobs queue, and `LiveRun`,
which turns the engine's events into the tutorial-style log, the curves and the progress figures.

The engine reports a Progress event every `log_every` batches and an EpochEnd (full test set) after each
epoch. For curves that grow while an epoch runs, the work also measures accuracy on a fixed sample of the
test set (SAMPLE_SIZE images) at most every SAMPLE_EVERY_S seconds, between two batches.

A LiveRun writes its phase and its own log lines in the visitor's language (`lang`, the `live.*` texts of the
app's locale files, read lazily: no gradio here); the tutorial's log lines stay as the tutorial prints them.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, replace

from mnist_demo.app.core.jobs.reasons import STOPPED, reason_text, start_text
from mnist_demo.app.core.jobs.runner import Cancelled, Failed, Finished, Placed, Started, Tick, Waiting
from mnist_demo.config import LOG_EVERY, TRAIN_SIZE, TrainConfig
from mnist_demo.data import cached_mnist
from mnist_demo.devices import resolve_device
from mnist_demo.texts import tr
from mnist_demo.train import EpochEnd, Progress, TrainResult, epoch_header, evaluate, init_model, train

UPDATE_STEPS = tuple(d for d in range(1, LOG_EVERY + 1) if LOG_EVERY % d == 0)  # so every log line is emitted
UPDATES_PER_EPOCH = 15
SAMPLE_SIZE = 1000
SAMPLE_EVERY_S = 1.5
MAX_LOG_LINES = 3000
SAMPLE = "sample"  # accuracy on SAMPLE_SIZE test images, measured during the epoch
FULL = "full"  # accuracy on the full test set, at the start and at each epoch's end


@dataclass(frozen=True)
class Phase:
    """What the run is doing when it is not training (loading data, building the model): a `live.*` text's key
    and its values, so that each page says it in its visitor's language."""

    key: str
    values: tuple = ()  # (name, value) pairs

    def text(self, lang: str | None = None) -> str:
        return tr(lang, self.key, **dict(self.values))



@dataclass(frozen=True)
class StartAccuracy:
    """The untrained model's accuracy (about 10%: chance), on the sample and on the full test set."""

    sample: float
    full: float


@dataclass(frozen=True)
class SampleAccuracy:
    step: int
    epoch: float  # fractional epochs done
    accuracy: float


def update_every(config: TrainConfig, size: int) -> int:
    """Batches between progress events: a few dozen batches at most, about UPDATES_PER_EPOCH per epoch."""
    batches = math.ceil(size / config.batch_size)
    target = max(1, batches // UPDATES_PER_EPOCH)
    return max(d for d in UPDATE_STEPS if d <= target)


def for_live_view(config: TrainConfig, train_size: int = TRAIN_SIZE) -> TrainConfig:
    """The config with `log_every` set for live curves (the log still shows the tutorial's every-100 lines)."""
    size = min(config.limit or train_size, train_size)
    return replace(config, log_every=update_every(config, size))


def training_work(config: TrainConfig, data_dir) -> functools.partial:
    """The training as a job's work, `work(stop, emit) -> TrainResult` (see `train_task`)."""
    return functools.partial(train_task, config=config, data_dir=str(data_dir))


def train_task(stop, emit, config: TrainConfig, data_dir: str) -> TrainResult | None:
    """Load the data, build the model, train; emit what the page shows on the way (a Phase, the start accuracy,
    every engine event, the sample accuracy at most every SAMPLE_EVERY_S). None when stopped before training.
    A module-level function of plain arguments, so that a runner may run it in another process."""
    emit(Phase("live.loading"))
    device = resolve_device(config.device)
    data = cached_mnist(data_dir, device)
    if stop.is_set():
        return None
    emit(Phase("live.training_on", (("device", device.type),)))
    model = init_model(config, device)
    sample_x, sample_y = data.test_images[:SAMPLE_SIZE], data.test_labels[:SAMPLE_SIZE]
    emit(StartAccuracy(evaluate(model, sample_x, sample_y).accuracy,
                       evaluate(model, data.test_images, data.test_labels).accuracy))
    last = [time.perf_counter()]

    def on_event(event):
        emit(event)
        if isinstance(event, Progress) and event.step < event.total_steps and not stop.is_set():
            now = time.perf_counter()
            if now - last[0] >= SAMPLE_EVERY_S:
                last[0] = now
                accuracy = evaluate(model, sample_x, sample_y).accuracy
                emit(SampleAccuracy(event.step, event.step / event.batches, accuracy))

    return train(config, data, on_event=on_event, stop=stop, model=model)


class LiveRun:
    """Everything the Train tab shows about one run, updated from the events it receives."""

    def __init__(self, config: TrainConfig, train_size: int = TRAIN_SIZE, lang: str | None = None):
        self.config = config
        self.lang = lang  # the visitor's language for the phase and this module's log lines (None: English)
        self.size = min(config.limit or train_size, train_size)
        self.batches = math.ceil(self.size / config.batch_size)
        self.lines: list[str] = []
        # Curve points carry every x the plots offer: optimizer steps, training images seen, seconds.
        self.losses: list[tuple[int, int, float, float]] = []  # (step, samples, seconds, loss)
        self.accuracies: list[tuple[int, int, float, float, str]] = []  # (step, samples, seconds, %, SAMPLE|FULL)
        self.progress: Progress | None = None
        self.phase = tr(lang, "live.waiting_slot")
        self.position = 0
        self.waiting: Waiting | None = None  # the line's last word while in line (place, expected start)
        self.host: str | None = None  # the machine the run ran on
        self.started = False
        self.result: TrainResult | None = None
        self.error: BaseException | None = None
        self.stop_reason: str | None = None
        self.cancelled: str | None = None
        self.elapsed_s = 0.0
        self.seconds = 0.0  # the training's own clock (engine events), for the curves' seconds axis

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None or self.cancelled is not None

    def apply(self, item) -> bool:
        """Take one item from `runner.run_job`; True when it is worth redrawing at once."""
        if isinstance(item, Waiting):
            changed = item.position != self.position
            self.position, self.waiting = item.position, item
            self.phase = tr(self.lang, "live.waiting", position=item.position,
                            eta=start_text(item.starts_in_s, item.measured, self.lang))
            return changed
        if isinstance(item, Placed):
            self.host = item.host
            return False
        if isinstance(item, Started):
            self.started, self.position = True, 0
            self.phase = tr(self.lang, "live.starting")
            return True
        if isinstance(item, Phase):
            self.phase = item.text(self.lang)
            return True
        if isinstance(item, Progress):
            self.progress = item
            self.elapsed_s = item.elapsed_s
            self.seconds = item.elapsed_s
            self.losses.append((item.step, self.samples_at(item.step), item.elapsed_s, item.loss))
            if item.batch == 0:
                self._log(epoch_header(item.epoch))
            if item.batch % LOG_EVERY == 0 or item.step == item.total_steps:
                self._log(item.log_line())
            return False
        if isinstance(item, StartAccuracy):
            self.accuracies.append((0, 0, 0.0, 100 * item.full, FULL))
            self.accuracies.append((0, 0, 0.0, 100 * item.sample, SAMPLE))
            return True
        if isinstance(item, SampleAccuracy):
            self.accuracies.append((item.step, self.samples_at(item.step), self.seconds, 100 * item.accuracy,
                                    SAMPLE))
            return False
        if isinstance(item, EpochEnd):
            self.seconds = max(self.seconds, item.elapsed_s)
            self.accuracies.append((item.step, self.samples_at(item.step), self.seconds,
                                    100 * item.evaluation.accuracy, FULL))
            self.elapsed_s = max(self.elapsed_s, item.elapsed_s)
            self._log(item.log_lines())
            return True
        if isinstance(item, Tick):
            self.elapsed_s = max(self.elapsed_s, item.elapsed_s)
            return False
        if isinstance(item, Finished):
            self.result, self.stop_reason, self.elapsed_s = item.result, item.stop_reason, item.elapsed_s
            if item.result is None:
                self.cancelled = reason_text(item.stop_reason, self.lang) or tr(self.lang, "live.not_begun")
            else:  # "Done!" is the tutorial's own last line
                self._log("Done!" if not item.result.stopped else
                          tr(self.lang, "live.log_stopped", reason=reason_text(item.stop_reason or STOPPED,
                                                                                 self.lang)))
            return True
        if isinstance(item, Failed):
            self.error, self.stop_reason = item.error, item.stop_reason
            return True
        if isinstance(item, Cancelled):
            self.cancelled = reason_text(item.reason, self.lang)
            return True
        return False

    def samples_at(self, step: int) -> int:
        """Training images seen after `step` optimizer steps (each epoch's last batch may be smaller)."""
        if not self.batches:
            return 0
        epochs, within = divmod(step, self.batches)
        return epochs * self.size + min(within * self.config.batch_size, self.size)

    def _log(self, text: str) -> None:
        self.lines.extend(text.split("\n"))
        if len(self.lines) > MAX_LOG_LINES:
            del self.lines[: len(self.lines) - MAX_LOG_LINES]

    def log_text(self) -> str:
        return "\n".join(self.lines)

    def fraction(self) -> float:
        if self.result is not None and not self.result.stopped:
            return 1.0
        p = self.progress
        return p.step / p.total_steps if p and p.total_steps else 0.0

    def eta_s(self) -> float | None:
        p = self.progress
        if p is None:
            return None
        eta = p.eta_s
        return eta if math.isfinite(eta) else None
