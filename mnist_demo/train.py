"""One training function for the CLI and the app, and the evaluation it reports after each epoch.

The path of a run: TrainConfig (validated) -> MNIST tensors on the device -> shuffled index batches ->
model -> CrossEntropyLoss -> optimizer step -> progress events -> TrainResult.
"""

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from mnist_demo.augment import augment
from mnist_demo.config import TrainConfig, validate
from mnist_demo.data import MNIST, normalize, shuffled_batches
from mnist_demo.devices import native_bf16, resolve_device
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.models import build_model

EVAL_BATCH = 2000


def epoch_header(epoch: int) -> str:
    """The tutorial's header above each epoch's log lines (tutorial.py prints it as written there)."""
    return f"Epoch {epoch}\n-------------------------------"


class TrainingDiverged(DemoError):
    """The loss became NaN or infinite; the half-trained model is thrown away."""


@dataclass(frozen=True)
class Progress:
    """Sent every `log_every` batches. `current` is the tutorial's "[current/size]" sample count."""

    epoch: int
    epochs: int
    batch: int  # within the epoch, from 0
    batches: int  # per epoch
    current: int  # samples seen in this epoch before this batch (as the tutorial prints it)
    size: int  # training samples per epoch
    step: int  # optimizer steps so far in the run, this one included
    total_steps: int
    loss: float
    lr: float
    samples_per_s: float
    elapsed_s: float

    def log_line(self) -> str:
        return f"loss: {self.loss:>7f}  [{self.current:>5d}/{self.size:>5d}]"

    @property
    def eta_s(self) -> float:
        rate = self.step / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (self.total_steps - self.step) / rate if rate > 0 else float("nan")


@dataclass(frozen=True)
class Evaluation:
    """Test-set figures: accuracy in [0, 1], mean loss per sample, accuracy per digit 0-9.

    Also what `mistakes.py` needs, kept from the same pass: each image's predicted digit and that digit's
    probability (CPU tensors, in the order of the images), and the 10x10 confusion matrix (rows: true digit,
    columns: predicted). They stay out of `summary()`s and checkpoint metadata, which hold plain figures only.
    """

    accuracy: float
    avg_loss: float
    per_class: list[float]
    total: int
    confusion: list[list[int]] | None = None
    # uint8 and float32: 50 KB per evaluation of the test set, kept for each epoch of a run's history
    predicted: torch.Tensor | None = field(default=None, repr=False, compare=False)  # uint8 [total]
    confidence: torch.Tensor | None = field(default=None, repr=False, compare=False)  # float32 [total]

    def log_lines(self) -> str:
        return f"Test Error: \n Accuracy: {100 * self.accuracy:>0.1f}%, Avg loss: {self.avg_loss:>8f} \n"


@dataclass(frozen=True)
class EpochEnd:
    """Sent after each epoch (and after a stop): the test evaluation at that point."""

    epoch: int  # 1-based number of the epoch just ended (or interrupted)
    epochs: int
    step: int
    evaluation: Evaluation
    elapsed_s: float
    partial: bool = False

    def log_lines(self) -> str:
        """The tutorial's test report for this epoch (noting an early stop), then an empty line."""
        note = " (stopped early)" if self.partial else ""
        return self.evaluation.log_lines().rstrip() + note + "\n"


@dataclass
class TrainResult:
    model: nn.Module
    config: TrainConfig
    evaluation: Evaluation
    epochs_completed: float  # fractional when stopped mid-epoch
    steps: int
    samples_seen: int
    elapsed_s: float
    train_s: float  # time in optimizer steps only, evaluation excluded
    stopped: bool
    precision: str = "fp32"  # what the forward passes ran in: "fp32" or "bf16" (autocast)
    history: list[EpochEnd] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) at each progress event

    def summary(self) -> dict:
        return {"model": self.config.model, "accuracy": round(self.evaluation.accuracy, 6),
                "avg_loss": round(self.evaluation.avg_loss, 6), "epochs": round(self.epochs_completed, 4),
                "steps": self.steps, "samples_seen": self.samples_seen, "elapsed_s": round(self.elapsed_s, 3),
                "train_s": round(self.train_s, 3), "stopped": self.stopped, "precision": self.precision,
                "per_class": [round(a, 4) for a in self.evaluation.per_class],
                "config": self.config.to_dict()}


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = EVAL_BATCH) -> Evaluation:
    """Accuracy, mean loss, per-digit accuracy, confusion matrix and per-image predictions of `model` on uint8
    `images` with `labels`, in one pass.

    Keeping the predictions costs nothing measurable. Against the earlier evaluate (hit counts only), alternating
    runs, 1 torch thread on this 2-core CPU, medians: the shipped CNN on the test set 1924 ms before, 1889 ms
    after; the mlp 177 -> 181 ms; on the live curve's 1,000-image sample 187 -> 205 ms (CNN) and 17.1 -> 16.3 ms
    (mlp): all within the noise of a shared machine. `benchmarks/mistakes_speed.py` compares it with the bare
    forward passes it makes (docs/measurements.md). The confusion matrix replaces the per-digit hit count (its
    diagonal is the hits), so no extra pass or sync is made.
    """
    was_training = model.training
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total_loss = torch.zeros((), device=images.device)
    cells = torch.zeros(100, dtype=torch.int64, device=images.device)
    predicted, confidence = [], []
    for start in range(0, len(images), batch_size):
        x, y = normalize(images[start:start + batch_size]), labels[start:start + batch_size]
        logits = model(x)
        total_loss += loss_fn(logits, y)
        top, pred = torch.softmax(logits.float(), dim=1).max(dim=1)
        cells += torch.bincount(y * 10 + pred, minlength=100)
        predicted.append(pred.to(torch.uint8))
        confidence.append(top)
    model.train(was_training)
    confusion = cells.view(10, 10).cpu()
    hits = confusion.diag().double()
    counts = torch.bincount(labels, minlength=10).cpu().clamp(min=1).double()
    n = max(len(labels), 1)
    empty = torch.zeros(0)
    return Evaluation(accuracy=float(hits.sum()) / n, avg_loss=float(total_loss) / n,
                      per_class=(hits / counts).tolist(), total=len(labels), confusion=confusion.tolist(),
                      predicted=torch.cat(predicted).cpu() if predicted else empty.to(torch.uint8),
                      confidence=torch.cat(confidence).float().cpu() if confidence else empty)


def make_optimizer(config: TrainConfig, model: nn.Module, total_steps: int):
    """The optimizer and its per-step learning-rate schedule."""
    # fused kernels update every parameter in one pass: Adam's step 0.94 -> 0.35 ms for cnn-small, SGD's
    # 0.37 -> 0.28 ms for the tutorial MLP, on this CPU (same arithmetic, in one loop instead of one per tensor)
    fused = next(model.parameters()).device.type in ("cpu", "cuda") or None
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay, fused=fused)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=max(total_steps, 8),
                                                    pct_start=config.warmup, cycle_momentum=config.optimizer == "sgd"
                                                    and config.momentum > 0)
    else:
        sched = None
    return opt, sched


def init_model(config: TrainConfig, device: torch.device) -> nn.Module:
    """The model, initialised from the run's seed without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        if config.seed is not None:
            torch.manual_seed(config.seed)
        model = build_model(config.model)
    return model.to(device)


def autocast_dtype(config: TrainConfig, model: nn.Module, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the forward pass, or None for plain fp32.

    "bf16": always (mixed precision: weights, gradients and optimizer stay fp32). "auto": bf16 only where it
    was measured faster: convolutional models on hardware with native bf16 (`devices.native_bf16`). On this
    project's AMX CPU the CNN's epoch went from 14.4 s to 11.1 s (24-48-96 widths) at the same accuracy,
    while the MLP's went from 2.4 s to 4.0 s: its matrices are too small to pay for the casts.
    """
    if config.precision == "bf16":
        if device.type not in ("cpu", "cuda"):
            raise ConfigError("precision", f"bf16 mixed precision runs on cpu or cuda, not {device.type}; use fp32")
        return torch.bfloat16
    if config.precision == "fp32" or device.type not in ("cpu", "cuda"):
        return None
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return torch.bfloat16 if convolutional and native_bf16(device) else None


def _diverged(config: TrainConfig, step: int) -> TrainingDiverged:
    return TrainingDiverged(f"training diverged at step {step}: the loss became NaN or infinite. "
                            f"The learning rate ({config.lr:g}) is probably too high: try 10x lower.",
                            code="diverged", step=step, lr=f"{config.lr:g}")


def train(config: TrainConfig, data: MNIST, on_event: Callable | None = None,
          stop: threading.Event | None = None, model: nn.Module | None = None) -> TrainResult:
    """Train per `config` on `data`, reporting Progress and EpochEnd events; `stop.set()` ends it early.

    Returns the model with its test evaluation (also after a stop). Raises TrainingDiverged on a NaN loss.
    """
    config = validate(config, max_epochs=max(config.epochs, 1))
    device = resolve_device(config.device) if config.device else data.device
    if data.device != device:
        data = data.to(device)
    emit = on_event or (lambda event: None)
    stop = stop or threading.Event()
    images, labels = data.train_images, data.train_labels
    if config.limit:
        images, labels = images[:config.limit], labels[:config.limit]
    size = len(images)
    batches_per_epoch = math.ceil(size / config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    model = model if model is not None else init_model(config, device)
    optimizer, scheduler = make_optimizer(config, model, total_steps)
    loss_fn = nn.CrossEntropyLoss()
    dtype = autocast_dtype(config, model, device)
    history, losses = [], []
    start = time.perf_counter()
    train_s, step, seen, stopped = 0.0, 0, 0, False
    model.train()
    for epoch in range(1, config.epochs + 1):
        if stop.is_set():
            stopped = True
            break
        t0 = time.perf_counter()
        for batch, idx in enumerate(shuffled_batches(size, config.batch_size, generator, device)):
            if stop.is_set():
                stopped = True
                break
            x = normalize(images[idx])
            if config.augment:
                x = augment(x, generator)
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = loss_fn(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            step += 1
            seen += len(idx)
            if batch % config.log_every == 0 or step == total_steps:
                value = loss.item()
                if not math.isfinite(value):
                    raise _diverged(config, step)
                now = time.perf_counter()
                losses.append((step, value))
                elapsed_train = train_s + (now - t0)
                emit(Progress(epoch, config.epochs, batch, batches_per_epoch, batch * config.batch_size, size,
                              step, total_steps, value, lr, seen / max(elapsed_train, 1e-9), now - start))
        train_s += time.perf_counter() - t0
        evaluation = evaluate(model, data.test_images, data.test_labels)
        if not math.isfinite(evaluation.avg_loss):
            raise _diverged(config, step)
        end = EpochEnd(epoch, config.epochs, step, evaluation, time.perf_counter() - start, partial=stopped)
        history.append(end)
        emit(end)
        if stopped:
            break
    if not history:  # stopped before the first batch
        history.append(EpochEnd(0, config.epochs, 0, evaluate(model, data.test_images, data.test_labels),
                                time.perf_counter() - start, partial=True))
    model.eval()
    return TrainResult(model=model, config=config, evaluation=history[-1].evaluation,
                       epochs_completed=step / batches_per_epoch, steps=step, samples_seen=seen,
                       elapsed_s=time.perf_counter() - start, train_s=train_s, stopped=stopped,
                       precision="bf16" if dtype is not None else "fp32", history=history, losses=losses)
