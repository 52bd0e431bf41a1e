"""The benchmark's measuring core: the operations it times, the clock, timed runs and their medians, and the
stop checks. Pure PyTorch; it imports no other module of the benchmark (`sweep` runs the sweep with it).

- The device is synchronised before every clock read, so queued GPU work is counted where it happens.
- Each cell gets untimed warm-up runs, then timed runs, up to `repeats` or until its time budget is spent
  (at least MIN_RUNS runs). Figures are medians with the p10-p90 spread.
- Stop (a `threading.Event`) is checked before every run, outside the clock reads, and, in a run that may be
  long, between its layers (hooks; see LONG_RUN_S).
"""

import gc
import math
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Callable

import torch
from torch import nn

from mnist_demo.devices import sync

MAX_BATCH_SIZE = 65536
MIN_RUNS = 3  # timed runs per cell before the time budget may stop it (fewer only if repeats < 3)
LEARNING_RATE = 1e-3  # for the timed optimizer steps; the value does not change the time
# A run (warm-up or timed) that took longer than this makes the next run of the cell check Stop between its
# layers too (hooks), not only between runs. The hooks cost 18-33 us per mlp inference at batch 1 (+14-21%
# there), so runs shorter than this are never hooked; for a longer one it is under 0.05%. The first run of a
# cell is hooked when it is a warm-up run (its length is not known yet); with warmup 0 it is not.
LONG_RUN_S = 0.2

TRAIN, INFER, COPY = "train_step", "inference", "host_to_device"
EPOCH_TUTORIAL, EPOCH_ENGINE = "epoch_tutorial", "epoch_engine"
OP_LABELS = {TRAIN: "train step", INFER: "inference", COPY: "host->device copy",
             EPOCH_TUTORIAL: "epoch, tutorial loop", EPOCH_ENGINE: "epoch, engine train()"}


# ---------------------------------------------------------------- devices

def release(device: torch.device, collect: bool = True) -> None:
    """Drop unreferenced tensors (a garbage collection, ~0.16 s here, unless `collect` is False) and give
    cached accelerator memory back."""
    if collect:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's OutOfMemoryError, a RuntimeError saying "out of memory", or the host's MemoryError."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


# ---------------------------------------------------------------- stopping

class BenchStopped(Exception):
    """Stop was asked for (the `stop` event was set): raised between runs, or between layers of a long run."""


def _never() -> bool:
    return False


def stop_predicate(stop: threading.Event | None) -> Callable[[], bool]:
    """`stop` as a cheap predicate (Event.is_set costs well under a microsecond)."""
    return stop.is_set if stop is not None else _never


def check_stop(stopped: Callable[[], bool]) -> None:
    if stopped():
        raise BenchStopped()


@contextmanager
def layer_checks(model: nn.Module, stopped: Callable[[], bool]):
    """While inside, every leaf module of `model` checks `stopped` before its forward, and the backward node of
    its output checks it before computing that layer's gradients: a long step ends within one layer's time.

    Backward uses node pre-hooks rather than module backward hooks: those wrap outputs in a view, which the
    convolutional models' in-place ReLUs would then modify, an autograd error.
    """
    def before_forward(module, inputs):
        check_stop(stopped)

    def before_backward(grad_outputs):
        check_stop(stopped)

    def after_forward(module, inputs, output):
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            output.grad_fn.register_prehook(before_backward)  # a new node every step: nothing accumulates

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(before_forward) for m in leaves]
    handles += [m.register_forward_hook(after_forward) for m in leaves]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def thread_checks(stopped: Callable[[], bool]):
    """Like `layer_checks` for models built out of reach (the tutorial's own loop builds its model): every
    module's forward in this thread checks `stopped`. A global hook, so it ignores other threads' modules."""
    owner = threading.get_ident()

    def before_forward(module, inputs):
        if threading.get_ident() == owner:
            check_stop(stopped)

    handle = nn.modules.module.register_module_forward_pre_hook(before_forward)
    try:
        yield
    finally:
        handle.remove()


# ---------------------------------------------------------------- timing

def clock(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of `fn` takes, the device synchronised before both clock reads."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def time_runs(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int,
              budget_s: float | None, stop: threading.Event | None = None,
              model: nn.Module | None = None) -> list[float]:
    """Warm up, then time `fn` up to `repeats` times (fewer once `budget_s` of timed work is spent).

    Raises BenchStopped once `stop` is set: it is checked before every run, outside the clock reads, and,
    where `model` is given, between the layers of a run that may be long (see LONG_RUN_S).
    """
    stopped = stop_predicate(stop)
    # The first run's length is unknown, so its layers check Stop - if it is a warm-up run: a timed run is
    # hooked only after a run longer than LONG_RUN_S, where the hooks' cost is negligible.
    hooked = model is not None and stop is not None and warmup > 0

    def run() -> float:
        nonlocal hooked
        check_stop(stopped)
        with layer_checks(model, stopped) if hooked else nullcontext():
            seconds = clock(fn, device)
        hooked = model is not None and stop is not None and seconds > LONG_RUN_S
        return seconds

    spent = 0.0
    for _ in range(warmup):  # untimed; stops early if warm-up alone exceeds the budget (one run at least)
        spent += run()
        if budget_s is not None and spent >= budget_s:
            break
    times, spent = [], 0.0
    while len(times) < repeats:
        times.append(run())
        spent += times[-1]
        if budget_s is not None and spent >= budget_s and len(times) >= MIN_RUNS:
            break
    return times


def _percentile(ordered: list[float], q: float) -> float:
    """Linear-interpolation percentile of an ascending list, q in [0, 1]."""
    pos = q * (len(ordered) - 1)
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(times_s: list[float], batch_size: int) -> dict:
    """Median and spread in milliseconds, and samples/s at the median."""
    ordered = sorted(times_s)
    median = _percentile(ordered, 0.5)
    return {"ms_median": 1000 * median, "ms_p10": 1000 * _percentile(ordered, 0.1),
            "ms_p90": 1000 * _percentile(ordered, 0.9), "ms_min": 1000 * ordered[0],
            "ms_max": 1000 * ordered[-1], "runs": len(ordered),
            "samples_per_s": batch_size / median if median > 0 else None}


# ---------------------------------------------------------------- the timed operations

def make_optimizer(model_name: str, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of the model's usual recipe: SGD for the tutorial model, Adam otherwise, PyTorch's defaults.

    Not train.make_optimizer: its fused kernels would change what is timed (an mlp step at batch 1 took 0.59x
    as long with them here), and its schedule is not stepped here; docs/cpu-vs-cuda.md has the figures."""
    if model_name == "tutorial":
        return torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    return torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def random_batch(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised-looking images [B, 1, 28, 28] and labels [B], made on the device (no copy timed)."""
    x = torch.randn(batch_size, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    return x, y


def make_train_step(model: nn.Module, optimizer, batch_size: int, device: torch.device) -> Callable[[], object]:
    """One training step on a fixed batch: forward, loss, backward, optimizer step."""
    x, y = random_batch(batch_size, device)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        model.train()
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def make_inference(model: nn.Module, batch_size: int, device: torch.device) -> Callable[[], object]:
    """One inference forward on a fixed batch (eval mode, no autograd)."""
    x, _ = random_batch(batch_size, device)

    def forward():
        model.eval()
        with torch.inference_mode():
            return model(x)

    return forward


def make_host_copy(batch_size: int, device: torch.device) -> Callable[[], object]:
    """Copy one batch as the tutorial's DataLoader yields it (float32 images + int64 labels, pageable host
    memory) to the device."""
    x = torch.rand(batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,))

    def copy():
        return x.to(device), y.to(device)

    return copy
