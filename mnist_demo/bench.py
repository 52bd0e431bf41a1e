"""CPU vs CUDA (and MPS) timing: what one training step and one inference pass cost per device and batch size.

How it measures (docs/cpu-vs-cuda.md says why):
- One-time costs come first and are reported apart: CUDA context creation, first kernel, first cuBLAS/cuDNN
  call, a cold first training step. None of them leaks into the per-step figures.
- Each cell (device, operation, batch size) gets untimed warm-up runs, then timed runs. The device is
  synchronised before every clock read, so queued GPU work is counted where it happens.
- Figures are medians with the p10-p90 spread; samples/s = batch size / median time.
- Timed runs stop at `repeats`, or earlier once a cell has spent `time_budget_s` of timed work (at least
  MIN_RUNS runs); the row says how many runs it got. This keeps the default CPU sweep to seconds.
- Copying one batch from host memory to the device is its own row (cuda/mps only: on cpu there is no copy).
  It is why this project keeps the whole data set on the device.
- Memory is capped for the host it runs on. Each cell's need is estimated (activations per sample, measured
  with hooks, times factors calibrated against measured peak RSS, plus parameters, gradients and Adam state).
  A batch size whose cpu cells would need more than half the memory the host has available is refused up
  front (ConfigError naming the batch size and the limit): nothing runs. Each cell is checked again just
  before it runs (memory may have shrunk meanwhile; a CUDA cell against the GPU's free memory) and becomes a
  "not run" row when over. A batch that still does not fit becomes an "out of memory at batch N" row; memory
  is released and the sweep goes on.
- Stop (a `threading.Event`: the app's Stop button, the jobs queue's wall-clock cap) is checked before every
  step, outside the timed region, and, in a step that takes long, between its layers: the run ends within
  about one layer's time and returns the cells finished so far, marked as stopped.
- Optionally (`epoch=True`), a full epoch: the original tutorial loop (torchvision + DataLoader, batch 64)
  against the engine's `train()` with the same model and hyperparameters, per device.

Pure PyTorch: this module never imports gradio.
"""

import gc
import json
import math
import os
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Callable

import torch
from torch import nn

from mnist_demo.config import whole_number
from mnist_demo.devices import KNOWN, available_devices, cpu_model, describe
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.models import MODELS, build_model, param_count

DEFAULT_BATCH_SIZES = (1, 64, 256, 1024, 4096)
MAX_BATCH_SIZE = 65536
MAX_REPEATS = 1000
MAX_WARMUP = 100
DEFAULT_REPEATS = 20  # timed runs per cell, at most
DEFAULT_WARMUP = 3  # untimed runs per cell before timing
MIN_RUNS = 3  # timed runs per cell before the time budget may stop it (fewer only if repeats < 3)
DEFAULT_TIME_BUDGET_S = 1.0  # seconds of timed work per cell after which repeats stop (None: no cap)
# The default model: the tutorial's 784-512-512-10 MLP (without the final-ReLU bug, which costs nothing in
# time). A CPU training step at batch 4096 takes ~0.09 s on 2 cores, so the whole default sweep runs in ~5 s;
# the "cnn" takes ~1.7 s per step there at batch 4096, ~30 s for the sweep (ask for it with --model cnn).
DEFAULT_MODEL = "mlp"
LEARNING_RATE = 1e-3  # for the timed optimizer steps; the value does not change the time
EPOCH_BATCH_SIZE = 64  # the tutorial's batch size, used by the full-epoch comparison
# Memory caps: the share of what is available that one cell may be estimated to need. The host's share is half:
# the host is shared (other processes, the app's visitors, whatever grows while the benchmark runs), and Linux
# kills an over-allocating process instead of raising MemoryError. A GPU reports its own free memory and
# raises a catchable out-of-memory error, so it may be filled further.
HOST_MEMORY_SHARE = 0.5
GPU_MEMORY_SHARE = 0.8
# Calibration of `estimated_bytes`: peak RSS growth of one cell in a fresh process, per sample, against the
# input plus the sum of all layer outputs per sample (`activation_bytes_per_sample`), at batch 1024 and 4096
# (and 16384 for cnn and mlp: linear in the batch). Measured on cpu (docs/cpu-vs-cuda.md):
#   train step: tutorial 1.24, mlp 1.22, cnn 0.98, cnn-small 1.29;  inference: 0.93, 0.89, 0.34, 0.47.
# The factors are the largest of each, rounded up: never under the measured need, at most ~3x over it.
TRAIN_MEMORY_FACTOR = 1.3
INFER_MEMORY_FACTOR = 1.0
# A run (warm-up or timed) that took longer than this makes the next run of the cell check Stop between its
# layers too (hooks), not only between runs. The hooks cost 18-33 us per mlp inference at batch 1 (+14-21%
# there), so runs shorter than this are never hooked; for a longer one it is under 0.05%. The first run of a
# cell is hooked when it is a warm-up run (its length is not known yet); with warmup 0 it is not.
LONG_RUN_S = 0.2
BUSY_WARNING = 0.2  # share of CPU time used by other processes above which the cpu figures get a caveat

TRAIN, INFER, COPY = "train_step", "inference", "host_to_device"
EPOCH_TUTORIAL, EPOCH_ENGINE = "epoch_tutorial", "epoch_engine"
OP_LABELS = {TRAIN: "train step", INFER: "inference", COPY: "host->device copy",
             EPOCH_TUTORIAL: "epoch, tutorial loop", EPOCH_ENGINE: "epoch, engine train()"}


# ---------------------------------------------------------------- input parsing and validation

def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """"1,64, 256" -> (1, 64, 256), validated (see `validate_batch_sizes`)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ConfigError("batch_sizes", "is empty; give comma-separated whole numbers, e.g. 1,64,256")
    if any(not p for p in parts):
        raise ConfigError("batch_sizes", f"{text!r} has an empty item; give comma-separated whole numbers")
    return validate_batch_sizes(parts)


def validate_batch_sizes(values) -> tuple[int, ...]:
    """Each a whole number in 1..65536; returned sorted ascending without duplicates."""
    if isinstance(values, str):
        return parse_batch_sizes(values)
    if isinstance(values, int):
        values = [values]
    values = list(values or [])
    if not values:
        raise ConfigError("batch_sizes", "is empty; give at least one batch size")
    return tuple(sorted({whole_number("batch_sizes", v, 1, MAX_BATCH_SIZE) for v in values}))


def validate_repeats(value) -> int:
    """Timed runs per cell: a whole number in 1..1000."""
    return whole_number("repeats", value, 1, MAX_REPEATS)


def validate_warmup(value) -> int:
    """Untimed runs per cell: a whole number in 0..100."""
    return whole_number("warmup", value, 0, MAX_WARMUP)


def validate_time_budget(value) -> float | None:
    """Seconds of timed work per cell before repeats stop: a number in (0, 3600], or None for no cap."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError("time_budget_s", f"{value!r} is not a number; must be seconds in (0, 3600]") from None
    if isinstance(value, bool) or not math.isfinite(number) or not 0 < number <= 3600:
        raise ConfigError("time_budget_s", f"{value!r} is out of range; must be seconds in (0, 3600]")
    return number


def validate_model(name) -> str:
    """A name from the model registry."""
    text = str(name).strip().lower() if name is not None else ""
    if text not in MODELS:
        raise ConfigError("model", f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return text


def default_devices() -> list[str]:
    """cpu and cuda always (cuda is then reported as not available where absent), mps where present."""
    return ["cpu", "cuda"] + [d for d in available_devices() if d == "mps"]


def parse_devices(text: str | None) -> list[str]:
    """"cpu,cuda" -> ["cpu", "cuda"]; empty or None -> the default list."""
    if text is None or not str(text).strip():
        return default_devices()
    return validate_devices(str(text).split(","))


def validate_devices(names) -> list[str]:
    """Known device names (cpu, cuda, mps), lower-cased and deduplicated. Absent devices are not an error."""
    if names is None:
        return default_devices()
    if isinstance(names, str):
        names = names.split(",")
    result = []
    for raw in names:
        name = str(raw).strip().lower()
        if name not in KNOWN:
            raise ConfigError("devices", f"unknown device {raw!r}; choose from {', '.join(KNOWN)}")
        if name not in result:
            result.append(name)
    if not result:
        raise ConfigError("devices", f"is empty; choose from {', '.join(KNOWN)}")
    return result


# ---------------------------------------------------------------- devices

def unavailable_reason(name: str) -> str | None:
    """None when device `name` can run here, else why not, in plain words."""
    if name in available_devices():
        return None
    if name == "cuda":
        if torch.version.cuda is None:
            return "this PyTorch build has no CUDA support"
        return (f"no CUDA GPU on this machine (PyTorch is built for CUDA {torch.version.cuda}, "
                "but torch.cuda.is_available() is False)")
    if name == "mps":
        return "MPS needs an Apple-silicon Mac (macOS 12.3+) with an MPS-enabled PyTorch build"
    return f"{name} is not available on this machine"


def device_entry(name: str) -> dict:
    """What the report says about a requested device: its name in words, or why it is not available."""
    reason = unavailable_reason(name)
    if reason is not None:
        return {"name": name, "available": False, "reason": reason}
    entry = {"name": name, "available": True, "description": describe(name)}
    if name == "cpu":
        entry.update(model=cpu_model(), threads=torch.get_num_threads())
    elif name == "cuda":
        entry.update(model=torch.cuda.get_device_name(0), cuda_version=torch.version.cuda,
                     total_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return entry


def sync(device: torch.device) -> None:
    """Block until the device's queued work is done (a no-op on cpu, whose ops return when finished)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


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


def _stopped(stop: threading.Event | None) -> Callable[[], bool]:
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
    stopped = _stopped(stop)
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
    """The optimizer of the model's usual recipe: SGD for the tutorial model, Adam otherwise."""
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


# ---------------------------------------------------------------- memory caps

def host_memory_available() -> int | None:
    """Bytes of memory the host can still give: MemAvailable (Linux), else free pages (sysconf), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def host_busy_share(window_s: float = 0.25) -> float | None:
    """Share of all CPU time (0..1) other processes used during a short idle wait, from /proc/stat."""
    def sample():
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window_s)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total1 - total0
    return None if elapsed <= 0 else max(0.0, 1.0 - (idle1 - idle0) / elapsed)


def activation_bytes_per_sample(model: nn.Module) -> int:
    """Bytes of all layer outputs for one sample (summed over leaf modules, measured at batch 2)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, 1, 28, 28, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // 2


def estimated_bytes(op: str, batch_size: int, per_sample: int, params: int) -> int:
    """What one cell is estimated to need at its peak, in bytes: per sample, the input plus all layer outputs
    times a factor calibrated against measured peak RSS (TRAIN_MEMORY_FACTOR, INFER_MEMORY_FACTOR); for
    training also the parameters' gradients and two Adam moments (and one more copy, for slack). A host copy
    holds the batch (float32 images, int64 labels) on the host and on the device."""
    sample_in = 28 * 28 * 4
    if op == TRAIN:
        return math.ceil(batch_size * TRAIN_MEMORY_FACTOR * (sample_in + per_sample)) + 4 * 4 * params
    if op == INFER:
        return math.ceil(batch_size * INFER_MEMORY_FACTOR * (sample_in + per_sample))
    return 2 * batch_size * (sample_in + 8)


def memory_limit(name: str) -> tuple[int, str] | None:
    """The most one cell on device `name` may be estimated to need, with how it was derived (for messages);
    None where it cannot be known. Host memory for cpu and mps (Apple's GPUs share it), free GPU memory for
    cuda (this query creates the CUDA context: call it after the one-time costs are measured)."""
    if name == "cuda":
        free, _total = torch.cuda.mem_get_info()
        return int(GPU_MEMORY_SHARE * free), f"{GPU_MEMORY_SHARE:.0%} of the {_size(free)} free on the GPU now"
    available = host_memory_available()
    if available is None:
        return None
    share = "half" if HOST_MEMORY_SHARE == 0.5 else f"{HOST_MEMORY_SHARE:.0%}"
    return int(HOST_MEMORY_SHARE * available), f"{share} of the {_size(available)} this host has available now"


def largest_batch(op: str, limit: int, per_sample: int, params: int) -> int:
    """The largest batch size whose `op` cell is estimated to fit in `limit` bytes (0 if none does)."""
    low, high = 0, MAX_BATCH_SIZE
    while low < high:  # estimated_bytes grows with the batch size: bisect
        mid = (low + high + 1) // 2
        if estimated_bytes(op, mid, per_sample, params) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{max(n, 0) / 2**20:.0f} MiB"


def over_limit(name: str, op: str, batch_size: int, per_sample: int, params: int, model_name: str,
               cap: tuple[int, str] | None = None) -> str | None:
    """None when the cell fits device `name`'s memory cap (`cap`, or `memory_limit(name)` now), else why it
    is refused, naming the batch size, the estimated need and the limit."""
    cap = cap or memory_limit(name)
    if cap is None:
        return None
    limit, how = cap
    need = estimated_bytes(op, batch_size, per_sample, params)
    if need <= limit:
        return None
    fits = largest_batch(op, limit, per_sample, params)
    return (f"batch size {batch_size} is too large for this machine: a '{model_name}' {OP_LABELS[op]} on {name} "
            f"needs about {_size(need)} at that batch size (estimated), over the limit of {_size(limit)} ({how}); "
            + (f"the largest batch size that fits is {fits}" if fits else "not even batch size 1 fits now"))


def check_memory(model_name: str, batch_sizes, devices=("cpu",)) -> None:
    """Refuse, before any work, batch sizes whose cells would need more host memory than the limit.

    Raises ConfigError("batch_sizes") naming the batch sizes, the estimated need and the limit. The training
    step decides (it always needs more than inference). Checks cpu (always in a run) and mps (host memory);
    cuda cells are checked just before they run, because asking a GPU for its free memory creates the CUDA
    context, whose cost the one-time costs measure.
    """
    sizes = validate_batch_sizes(batch_sizes)
    model = build_model(validate_model(model_name))
    per_sample, params = activation_bytes_per_sample(model), param_count(model)
    for name in ["cpu"] + (["mps"] if "mps" in (devices or ()) else []):
        cap = memory_limit(name)
        over = [b for b in sizes if over_limit(name, TRAIN, b, per_sample, params, model_name, cap)]
        if over:
            also = f" (also too large: {', '.join(map(str, over[1:]))})" if len(over) > 1 else ""
            raise ConfigError("batch_sizes", over_limit(name, TRAIN, over[0], per_sample, params, model_name, cap)
                              + also)


# ---------------------------------------------------------------- one-time costs

def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def one_time_costs(name: str, model_name: str, batch_size: int, stop: threading.Event | None = None) -> list[dict]:
    """Start-up costs on device `name`, each timed alone: context, first kernel, libraries, model copy, a cold
    first training step (and the second one, for comparison). Run before anything else touches the device.

    The training steps are skipped, with a note, when batch `batch_size` is over the device's memory cap.
    Raises BenchStopped once `stop` is set (checked before each item and between the layers of the steps).
    """
    device = torch.device(name)
    stopped = _stopped(stop)
    rows = []
    what_text = {"context": "CUDA context creation (first allocation on the device)",
                 "kernel": "first kernel launch", "cublas": "first matrix multiply (cuBLAS load)",
                 "cudnn": "first convolution (cuDNN load)", "alloc": "first allocation on the device",
                 "to": f"model '{model_name}' to the device",
                 "cold": f"first training step, cold (batch {batch_size})",
                 "warm": f"second training step, warm (batch {batch_size}), for comparison"}

    def record(what: str, fn: Callable[[], object], note: str = "", checks=None) -> object:
        check_stop(stopped)
        if what != "context":  # synchronising before the context exists would create it untimed
            sync(device)
        with checks or nullcontext():
            start = time.perf_counter()
            value = fn()
            sync(device)
            ms = 1000 * (time.perf_counter() - start)
        rows.append({"device": name, "what": what_text[what], "ms": ms, "note": note})
        return value

    if name == "cuda":
        note = "CUDA was already initialised in this process: the context cost is not visible" \
            if torch.cuda.is_initialized() else ""
        probe = record("context", lambda: torch.zeros(1, device=device), note)
        record("kernel", lambda: probe + 1)
        record("cublas", lambda: torch.ones(64, 64, device=device) @ torch.ones(64, 64, device=device))
    elif name == "mps":
        probe = record("alloc", lambda: torch.zeros(1, device=device))
        record("kernel", lambda: probe + 1)
    model = build_model(model_name)
    if name == "cuda" and _has_conv(model):
        record("cudnn", lambda: nn.functional.conv2d(torch.ones(1, 1, 8, 8, device=device),
                                                     torch.ones(1, 1, 3, 3, device=device)))
    if name != "cpu":  # on cpu the model is built in place: nothing to copy
        model = record("to", lambda: model.to(device))
    refused = over_limit(name, TRAIN, batch_size, activation_bytes_per_sample(model), param_count(model), model_name)
    if refused:
        rows.append({"device": name, "what": what_text["cold"], "ms": None, "note": f"not run: {refused}"})
    else:
        step = make_train_step(model, make_optimizer(model_name, model), batch_size, device)
        # the cold step's length is unknown: its layers check Stop; the warm one's only if the cold one was long
        record("cold", step, checks=layer_checks(model, stopped) if stop is not None else None)
        long = rows[-1]["ms"] > 1000 * LONG_RUN_S
        record("warm", step, checks=layer_checks(model, stopped) if stop is not None and long else None)
        del step
    del model
    release(device)
    return rows


# ---------------------------------------------------------------- the sweep

def _row(device: str, op: str, batch_size: int, **fields) -> dict:
    row = {"device": device, "op": op, "batch_size": batch_size, "status": "ok", "ms_median": None,
           "ms_p10": None, "ms_p90": None, "ms_min": None, "ms_max": None, "runs": 0, "samples_per_s": None,
           "speedup_vs_cpu": None, "note": ""}
    row.update(fields)
    return row


def _oom_row(device: str, op: str, batch_size: int, detail: str) -> dict:
    return _row(device, op, batch_size, status="oom", note=f"out of memory at batch {batch_size}" + detail)


def _refused_row(device: str, op: str, batch_size: int, reason: str) -> dict:
    return _row(device, op, batch_size, status="refused", note=f"not run: {reason}")


def _measure_cell(name: str, op: str, batch_size: int, make: Callable[[], Callable], repeats: int, warmup: int,
                  budget_s: float | None, stop: threading.Event | None = None,
                  model: nn.Module | None = None) -> dict:
    """One row: build the operation, time it, or report out of memory and release what it held.

    Raises BenchStopped (after dropping the cell's tensors) once `stop` is set; `model` lets a long run check
    it between layers."""
    device = torch.device(name)
    fn, oom, stopped = None, None, False
    try:
        fn = make()
        times = time_runs(fn, device, repeats, warmup, budget_s, stop, model)
    except BenchStopped:
        stopped = True
    except Exception as err:  # noqa: BLE001 - only out-of-memory is caught; anything else is re-raised
        if not is_out_of_memory(err):
            raise
        oom = " (host memory)" if isinstance(err, MemoryError) else ""
    fn = None  # the operation's tensors go before the memory is released
    if stopped:  # raised afresh, without the stopped run's frames; run_benchmark releases the memory once
        raise BenchStopped()
    if oom is not None:  # released here, after the exception (and its traceback's frames) is gone
        release(device)
        return _oom_row(name, op, batch_size, oom)
    row = _row(name, op, batch_size, **summarize(times, batch_size))
    row["capped"] = row["runs"] < repeats
    if row["capped"]:
        row["note"] = f"{row['runs']} of {repeats} runs: {budget_s:g} s time budget per cell"
    return row


def sweep_device(name: str, model_name: str, batch_sizes, repeats: int, warmup: int, budget_s: float | None,
                 on_row: Callable[[dict], None], stop: threading.Event | None = None) -> list[dict]:
    """Every batch size on one device: a training step, an inference pass, and (not on cpu) a host copy.

    Each cell is checked against the device's memory cap just before it runs (a "not run" row when over).
    Rows go to `on_row` as they come; raises BenchStopped once `stop` is set (the rows sent so far stand)."""
    device = torch.device(name)
    model = build_model(model_name).to(device)
    optimizer = make_optimizer(model_name, model)
    per_sample, params = activation_bytes_per_sample(model), param_count(model)
    cells = [(TRAIN, model, lambda b: make_train_step(model, optimizer, b, device)),
             (INFER, model, lambda b: make_inference(model, b, device))]
    if name != "cpu":
        cells.append((COPY, None, lambda b: make_host_copy(b, device)))
    rows = []
    for batch_size in batch_sizes:
        for op, layers, make in cells:
            check_stop(_stopped(stop))
            refused = over_limit(name, op, batch_size, per_sample, params, model_name)
            row = _refused_row(name, op, batch_size, refused) if refused else _measure_cell(
                name, op, batch_size, lambda: make(batch_size), repeats, warmup, budget_s, stop, layers)
            rows.append(row)
            on_row(row)
    del model, optimizer, cells
    release(device)
    return rows


def epoch_rows(names: list[str], data_dir, on_row: Callable[[dict], None], seed: int = 0,
               stop: threading.Event | None = None) -> list[dict]:
    """One full epoch per device: the tutorial loop (torchvision + DataLoader, batch 64) and the engine's
    `train()` with the same model ("tutorial"), SGD lr 1e-3, batch 64. Times exclude test-set evaluation.

    Raises BenchStopped once `stop` is set: the tutorial loop checks it before every layer's forward (a
    hook on this thread; the loop itself stays verbatim), the engine between batches."""
    from mnist_demo.config import make_config
    from mnist_demo.data import load_mnist
    from mnist_demo.train import train
    from mnist_demo.tutorial import run_tutorial, tutorial_datasets

    datasets = tutorial_datasets(data_dir)
    host_data = load_mnist(data_dir, "cpu")  # not the shared cache: the device copy is freed after each device
    size = len(datasets[0])
    rows = []
    for name in names:
        device = torch.device(name)
        tutorial = engine = None
        check_stop(_stopped(stop))
        try:
            with thread_checks(_stopped(stop)) if stop is not None else nullcontext():
                seed_run = run_tutorial(1, device, verbose=False, seed=seed, datasets=datasets)
            tutorial = _row(name, EPOCH_TUTORIAL, EPOCH_BATCH_SIZE, ms_median=1000 * seed_run.train_s, runs=1,
                            samples_per_s=size / seed_run.train_s, accuracy=seed_run.accuracy,
                            note="torchvision MNIST + ToTensor + DataLoader(batch_size=64, shuffle=True)")
            del seed_run
            result = train(make_config("tutorial", device=name, seed=seed), host_data.to(device), stop=stop)
            if result.stopped:
                raise BenchStopped()
            engine = _row(name, EPOCH_ENGINE, EPOCH_BATCH_SIZE, ms_median=1000 * result.train_s, runs=1,
                          samples_per_s=result.samples_seen / result.train_s,
                          accuracy=result.evaluation.accuracy,
                          note=f"data on the device; {tutorial['ms_median'] / (1000 * result.train_s):.1f}x "
                               "faster than the tutorial loop")
            del result
        except Exception as err:  # noqa: BLE001 - only out-of-memory is caught
            if not is_out_of_memory(err):
                raise
            failed = EPOCH_ENGINE if tutorial else EPOCH_TUTORIAL
            engine = _oom_row(name, failed, EPOCH_BATCH_SIZE, " (full epoch)")
        release(device)
        for row in (tutorial, engine):
            if row is None:
                continue
            rows.append(row)
            on_row(row)
    return rows


def add_speedups(rows: list[dict]) -> None:
    """Fill `speedup_vs_cpu` (cpu median / this median) for timed rows that have a cpu counterpart."""
    cpu = {(r["op"], r["batch_size"]): r["ms_median"] for r in rows
           if r["device"] == "cpu" and r["status"] == "ok" and r["ms_median"]}
    for row in rows:
        base = cpu.get((row["op"], row["batch_size"]))
        if row["status"] == "ok" and row["op"] != COPY and base and row["ms_median"]:
            row["speedup_vs_cpu"] = base / row["ms_median"]


# ---------------------------------------------------------------- reading the numbers

def _ok(rows, device: str, op: str) -> dict[int, dict]:
    return {r["batch_size"]: r for r in rows if r["device"] == device and r["op"] == op and r["status"] == "ok"}


def reading(report: dict) -> list[str]:
    """Two lines that say what the numbers show, generated from them."""
    rows, model = report["rows"], report["model"]
    accel = [d["name"] for d in report["devices"] if d["available"] and d["name"] != "cpu"
             and _ok(rows, d["name"], TRAIN)]
    cpu = _ok(rows, "cpu", TRAIN)
    absent = [d["name"] for d in report["devices"] if not d["available"]]
    if not accel:
        if not cpu and report.get("stopped"):
            return ["Stopped before a training step was timed.",
                    "Run it again and let it finish, or choose fewer or smaller batch sizes for a quicker run."]
        if not cpu:
            return ["No training step could be timed (every batch size ran out of memory or was over the memory "
                    "limit).", "Try smaller batch sizes, e.g. --batch-sizes 1,64,256."]
        small, best = min(cpu), max(cpu, key=lambda b: cpu[b]["samples_per_s"])
        if best == small:
            first = (f"CPU only: a '{model}' training step at batch {small} runs at "
                     f"{cpu[small]['samples_per_s']:,.0f} samples/s ({_ms(cpu[small]['ms_median'])} ms per step)"
                     + ("; larger batches were no faster per sample." if len(cpu) > 1 else
                        "; sweep more batch sizes to see how throughput grows with the batch."))
        else:
            first = (f"CPU only: a '{model}' training step goes from {cpu[small]['samples_per_s']:,.0f} samples/s "
                     f"at batch {small} to {cpu[best]['samples_per_s']:,.0f} at batch {best} "
                     f"({cpu[best]['samples_per_s'] / cpu[small]['samples_per_s']:.0f}x): fixed per-step overhead "
                     "dominates small batches, arithmetic the large ones.")
        idle = [n for n in available_devices() if n != "cpu"]
        if idle:
            second = (f"{', '.join(idle)} is present but was not requested: add it to --devices to see its "
                      "speed-up over this CPU per batch size and its host-copy and start-up costs.")
        else:
            missing = "No GPU here" + (f" ({', '.join(absent)}: not available)" if absent else "")
            second = (f"{missing}. With CUDA present, this table would add a cuda row per batch size with its "
                      "speed-up over this CPU, the cost of copying each batch from host memory, and the one-time "
                      "CUDA start-up cost.")
        return [first, second]
    name = accel[0]
    acc = _ok(rows, name, TRAIN)
    if not cpu:
        b = max(acc)
        return [f"{name}: {acc[b]['samples_per_s']:,.0f} samples/s per training step at batch {b}.",
                "No cpu rows to compare with: add cpu to --devices for the speed-up column."]
    shared = sorted(set(acc) & set(cpu))
    if not shared:
        return [f"{name} and cpu have no batch size in common that ran.", "Compare the rows above by batch size."]
    b1 = shared[0]
    x1 = acc[b1]["speedup_vs_cpu"] or cpu[b1]["ms_median"] / acc[b1]["ms_median"]
    if x1 < 1:
        first = (f"At batch {b1} the CPU wins ({_ms(cpu[b1]['ms_median'])} vs {_ms(acc[b1]['ms_median'])} ms "
                 f"per training step): {name} kernel-launch and synchronisation overhead dominates such small work.")
    else:
        first = (f"At batch {b1} {name} is already {x1:.1f}x faster ({_ms(acc[b1]['ms_median'])} vs "
                 f"{_ms(cpu[b1]['ms_median'])} ms per training step).")
    faster = [b for b in shared if (acc[b]["speedup_vs_cpu"] or 0) >= 1]
    top = max(shared, key=lambda b: acc[b]["speedup_vs_cpu"] or 0)
    second = (f"From batch {faster[0]} {name} is faster ({acc[faster[0]]['speedup_vs_cpu']:.1f}x), up to "
              f"{acc[top]['speedup_vs_cpu']:.0f}x at batch {top}" if faster
              else f"{name} never beats the CPU in this sweep")
    copy = _ok(rows, name, COPY).get(top)
    if copy:
        share = 100 * copy["ms_median"] / acc[top]["ms_median"]
        second += (f"; copying that batch from host memory takes {_ms(copy['ms_median'])} ms ({share:.0f}% of a "
                   "step), which is why this project keeps the data on the device.")
    else:
        second += "."
    return [first, second]


# ---------------------------------------------------------------- the whole run

def run_benchmark(devices=None, batch_sizes=DEFAULT_BATCH_SIZES, model: str = DEFAULT_MODEL,
                  repeats: int = DEFAULT_REPEATS, warmup: int = DEFAULT_WARMUP,
                  time_budget_s: float | None = DEFAULT_TIME_BUDGET_S, epoch: bool = False, data_dir=None,
                  on_row: Callable[[dict], None] | None = None, stop: threading.Event | None = None) -> dict:
    """Validate, then time every requested device that is present; returns a JSON-serialisable report.

    `devices`: names or "cpu,cuda" (None: cpu, cuda and mps where present; cpu is always added, as the
    baseline); absent ones are listed as not available, never an error. Raises ConfigError (with the field
    name) on bad input, before any work, and on batch sizes over the host's memory cap (`check_memory`).
    `stop`: once set (the app's Stop button, a wall-clock cap), the run ends within about a layer's time and
    the report holds the cells finished so far, with `stopped` True.
    """
    names = validate_devices(devices)
    added_cpu = "cpu" not in names
    if added_cpu:  # cpu always runs: it is the baseline of the speed-up column, and present everywhere
        names.insert(0, "cpu")
    sizes = validate_batch_sizes(batch_sizes)
    model = validate_model(model)
    repeats, warmup = validate_repeats(repeats), validate_warmup(warmup)
    budget_s = validate_time_budget(time_budget_s)
    present = [n for n in names if unavailable_reason(n) is None]  # checks without initialising CUDA
    check_memory(model, sizes, present)
    started = time.perf_counter()
    busy = host_busy_share() if "cpu" in present else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    one_time, rows = [], []

    def collect(row: dict) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    stopped = False
    try:
        for name in present:  # one-time costs first, before anything else (even a device query) touches it
            one_time += one_time_costs(name, model, sizes[0], stop)
        for name in present:
            sweep_device(name, model, sizes, repeats, warmup, budget_s, collect, stop)
        if epoch:
            epoch_rows(present, data_dir, collect, stop=stop)
    except BenchStopped:
        stopped = True
    if stopped:  # out of the except block, the stopped run's tensors (held by its traceback) are gone
        gc.collect()  # once for all devices
        for name in present:
            release(torch.device(name), collect=False)
    entries = [device_entry(n) for n in names]
    add_speedups(rows)
    for entry in entries:
        if entry["name"] == "cuda" and entry["available"]:
            entry["memory_allocated_after_mib"] = round(torch.cuda.memory_allocated() / 2**20, 1)
    report = {
        "model": model, "parameters": param_count(build_model(model)), "batch_sizes": list(sizes),
        "repeats": repeats, "warmup": warmup, "time_budget_s": budget_s, "min_runs": MIN_RUNS,
        "torch_version": torch.__version__, "cpu_model": cpu_model(), "cpu_threads": torch.get_num_threads(),
        "devices": entries, "unavailable": [e for e in entries if not e["available"]],
        "one_time": one_time, "rows": rows, "stopped": stopped,
        "notes": (["cpu was added to the devices: it is the baseline of the speed-up column."] if added_cpu
                  else []) + _notes(present, budget_s, busy, stopped, len(rows)),
        "host_busy_share": busy, "load_average_1min": load, "elapsed_s": None,
    }
    report["reading"] = reading(report)
    report["elapsed_s"] = time.perf_counter() - started
    return report


def _notes(present: list[str], budget_s: float | None, busy: float | None, stopped: bool = False,
           cells: int = 0) -> list[str]:
    """Plain-words caveats printed under the table."""
    notes = []
    if stopped:
        notes.append(f"Stopped before the end: {cells} cell{'s' if cells != 1 else ''} finished and are shown; "
                     "the cell that was running was dropped.")
    if "cpu" in present:
        notes.append("host->device copy: none on cpu (the batch is already in host memory); "
                     "the copy rows appear for cuda/mps.")
    if budget_s is not None:
        notes.append(f"runs: timed runs per cell (after untimed warm-up); * = stopped short of --repeats "
                     f"by the {budget_s:g} s time budget per cell (at least {MIN_RUNS} runs).")
    if busy is not None and busy > BUSY_WARNING:
        notes.append(f"Other processes were using {100 * busy:.0f}% of the {os.cpu_count()} CPU cores when the run "
                     "began: cpu timings may be inflated.")
    return notes


# ---------------------------------------------------------------- output

def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def format_table(report: dict) -> str:
    """The report as text: devices, one-time costs, the table, notes and the two-line reading."""
    out = [f"CPU vs CUDA benchmark: model '{report['model']}' ({report['parameters']:,} parameters), "
           f"torch {report['torch_version']}"]
    for entry in report["devices"]:
        text = entry["description"] if entry["available"] else f"not available: {entry['reason']}"
        out.append(f"  {entry['name']:<5} {text}")
    if report["one_time"]:
        out.append("One-time costs (measured apart, not in the per-step figures):")
        for cost in report["one_time"]:
            note = f"  ({cost['note']})" if cost["note"] else ""
            out.append(f"  {cost['device']:<5} {cost['what']:<62} {_ms(cost['ms']):>9} ms{note}")
    header = (f"{'device':<6} {'operation':<22} {'batch':>6} {'ms median':>10} {'p10-p90 ms':>19} "
              f"{'runs':>5} {'samples/s':>12} {'x CPU':>7}")
    out += ["", header, "-" * len(header)]
    for row in report["rows"]:
        if row["status"] != "ok":
            out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                       f"{row['note']}")
            continue
        spread = f"{_ms(row['ms_p10'])}-{_ms(row['ms_p90'])}" if row["runs"] > 1 else "-"
        sps = f"{row['samples_per_s']:,.0f}" if row["samples_per_s"] else "-"
        speed = f"{row['speedup_vs_cpu']:.2f}" if row["speedup_vs_cpu"] else "-"
        extra = f"  acc {100 * row['accuracy']:.1f}%" if "accuracy" in row else ""
        extra += f"  [{row['note']}]" if row["note"] and not row.get("capped") else ""
        runs = f"{row['runs']}*" if row.get("capped") else str(row["runs"])
        out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                   f"{_ms(row['ms_median']):>10} {spread:>19} {runs:>5} {sps:>12} {speed:>7}{extra}")
    out += [""] + [f"Note: {n}" for n in report["notes"]]
    out += [f"Reading: {report['reading'][0]}", f"         {report['reading'][1]}"]
    if report.get("elapsed_s") is not None:
        out.append(f"({report['elapsed_s']:.1f} s in all)")
    return "\n".join(out)


def plot_series(report: dict, op: str = TRAIN) -> dict[str, list[tuple[int, float]]]:
    """samples/s against batch size, one series per device, for plotting (the app draws it)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in report["rows"]:
        if row["op"] == op and row["status"] == "ok" and row["samples_per_s"]:
            series.setdefault(row["device"], []).append((row["batch_size"], row["samples_per_s"]))
    return series


def format_plot(report: dict, op: str = TRAIN, width: int = 40) -> str:
    """A text plot of samples/s against batch size per device, bars on a log scale."""
    series = plot_series(report, op)
    values = [v for points in series.values() for _, v in points]
    if not values:
        return ""
    low, high = math.log10(min(values)) - 0.3, math.log10(max(values))
    scale = width / max(high - low, 1e-9)
    out = [f"samples/s per {OP_LABELS[op]} (log scale, longer is faster)"]
    for device, points in series.items():
        for batch, value in points:
            bar = "#" * max(1, round((math.log10(value) - low) * scale))
            out.append(f"  {device:<5} batch {batch:>6} {bar:<{width}} {value:,.0f}")
    return "\n".join(out)


# ---------------------------------------------------------------- command line

def add_arguments(parser) -> None:
    """The `bench` options; values are validated by `run_cli` so that errors name the option."""
    parser.description = "Time a training step and an inference pass per device and batch size."
    parser.add_argument("--devices", default=None,
                        help="comma-separated cpu, cuda, mps (default: cpu,cuda and mps where present; "
                             "cpu always runs, as the baseline; an absent device is listed as not available)")
    parser.add_argument("--batch-sizes", default=",".join(map(str, DEFAULT_BATCH_SIZES)),
                        help="comma-separated, each 1 to 65536 and within this host's memory cap: a batch size "
                             "whose training step is estimated to need more than half the available memory is "
                             "refused before anything runs (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"one of {', '.join(MODELS)} (default: {DEFAULT_MODEL}: the tutorial's MLP, quick on cpu)")
    parser.add_argument("--repeats", default=str(DEFAULT_REPEATS),
                        help="timed runs per cell, 1 to 1000 (default: %(default)s)")
    parser.add_argument("--warmup", default=str(DEFAULT_WARMUP),
                        help="untimed runs per cell first, 0 to 100 (default: %(default)s)")
    parser.add_argument("--time-budget", default=str(DEFAULT_TIME_BUDGET_S),
                        help="seconds of timed work per cell before repeats stop (at least 3 runs); "
                             "'none' for no cap (default: %(default)s)")
    parser.add_argument("--epoch", action="store_true",
                        help="add a full-epoch comparison: tutorial loop vs engine (~15-20 s more on cpu)")
    parser.add_argument("--data-dir", default=None, help="where MNIST/raw/ lives, for --epoch (default: data)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def _budget_arg(text):
    return None if text is None or str(text).strip().lower() in ("none", "off") else text


def run_cli(args) -> int:
    """Run from parsed arguments; print the table (or JSON). Exit 2 with one line on bad input."""
    try:
        report = run_benchmark(devices=parse_devices(args.devices), batch_sizes=parse_batch_sizes(args.batch_sizes),
                               model=args.model, repeats=args.repeats, warmup=getattr(args, "warmup", DEFAULT_WARMUP),
                               time_budget_s=_budget_arg(getattr(args, "time_budget", DEFAULT_TIME_BUDGET_S)),
                               epoch=args.epoch, data_dir=getattr(args, "data_dir", None))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DemoError as err:  # e.g. --epoch without the MNIST files
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report))
        plot = format_plot(report)
        if plot:
            print("\n" + plot)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mnist_demo.bench ...`, the same as `python -m mnist_demo bench ...`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mnist_demo bench")
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
