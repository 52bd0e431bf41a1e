"""The benchmark's host: its memory cap (what one cell is estimated to need, what this host or GPU can give)
and how busy its CPU is.

Each cell's need is estimated (activations per sample, measured with hooks, times factors calibrated against
measured peak RSS, plus parameters, gradients and Adam state); docs/cpu-vs-cuda.md has the calibration.
"""

import math
import os
import time

import torch
from torch import nn

from mnist_demo.bench.core import INFER, MAX_BATCH_SIZE, OP_LABELS, TRAIN

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
