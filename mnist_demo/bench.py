"""CPU vs CUDA (and MPS) timing: what one training step and one inference pass cost per device and batch size.

This module runs the sweep; docs/cpu-vs-cuda.md says how and why it measures as it does.
- bench_core: the timed operations, the clock (synchronised before every read), timed runs, medians, Stop
  checks between runs and between the layers of a long run.
- bench_memory: the memory cap. A batch size over it is refused before anything runs (ConfigError naming
  it); each cell is checked again just before it runs and becomes a "not run" row when over.
- bench_report: the table, the plot and the two-line reading as text; the command line.
- bench_epoch: the optional full epoch, the tutorial loop against the engine's `train()`.

One-time costs (CUDA context, first kernel, libraries, a cold first step) are measured first and reported
apart. Out of memory becomes a row, and the sweep goes on. Stop (a `threading.Event`: the app's Stop button,
the jobs queue's wall-clock cap) ends the run within about a layer's time, keeping the cells finished so far.

Pure PyTorch: this module never imports gradio.
"""

import gc
import os
import threading
import time
from contextlib import nullcontext
from typing import Callable

import torch
from torch import nn

from mnist_demo import bench_core as core
from mnist_demo import bench_memory as memory
from mnist_demo.bench_core import (COPY, INFER, LONG_RUN_S, MAX_BATCH_SIZE, MIN_RUNS, OP_LABELS,  # noqa: F401
                                   TRAIN, BenchStopped)
from mnist_demo.config import choice, number, whole_number
from mnist_demo.devices import KNOWN, available_devices, cpu_model, describe
from mnist_demo.errors import ConfigError
from mnist_demo.models import MODELS, build_model, param_count

DEFAULT_BATCH_SIZES = (1, 64, 256, 1024, 4096)
MAX_REPEATS = 1000
MAX_WARMUP = 100
DEFAULT_REPEATS = 20  # timed runs per cell, at most
DEFAULT_WARMUP = 3  # untimed runs per cell before timing
DEFAULT_TIME_BUDGET_S = 1.0  # seconds of timed work per cell after which repeats stop (None: no cap)
# The default model: the tutorial's 784-512-512-10 MLP (without the final-ReLU bug, which costs nothing in
# time). A CPU training step at batch 4096 takes ~0.09 s on 2 cores, so the whole default sweep runs in ~5 s;
# the "cnn" takes ~1.7 s per step there at batch 4096, ~30 s for the sweep (ask for it with --model cnn).
DEFAULT_MODEL = "mlp"


# ---------------------------------------------------------------- input, checked by config's checks

def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """"1,64, 256" -> (1, 64, 256), validated (see `validate_batch_sizes`)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ConfigError("batch_sizes", "is empty; give comma-separated whole numbers, e.g. 1,64,256", code="empty")
    if any(not p for p in parts):
        raise ConfigError("batch_sizes", f"{text!r} has an empty item; give comma-separated whole numbers")
    return validate_batch_sizes(parts)


def validate_batch_sizes(values) -> tuple[int, ...]:
    """Each a whole number in 1..65536; returned sorted ascending without duplicates."""
    if isinstance(values, str):
        return parse_batch_sizes(values)
    values = list(values or []) if not isinstance(values, int) else [values]
    if not values:
        raise ConfigError("batch_sizes", "is empty; give at least one batch size", code="empty")
    return tuple(sorted({whole_number("batch_sizes", v, 1, MAX_BATCH_SIZE) for v in values}))


def validate_repeats(value) -> int:
    return whole_number("repeats", value, 1, MAX_REPEATS)


def validate_warmup(value) -> int:
    return whole_number("warmup", value, 0, MAX_WARMUP)


def validate_time_budget(value) -> float | None:
    """Seconds of timed work per cell before repeats stop: a number in (0, 3600], or None for no cap."""
    return None if value is None else number("time_budget_s", value, 0, 3600, "seconds in (0, 3600]", open_low=True)


def validate_model(name) -> str:
    return choice("model", name, tuple(MODELS))


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
    names = [choice("devices", raw, KNOWN) for raw in (names.split(",") if isinstance(names, str) else names)]
    if not names:
        raise ConfigError("devices", f"is empty; choose from {', '.join(KNOWN)}", code="empty_choice",
                          options=", ".join(KNOWN))
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- devices and the host

# Why a device cannot run here, by code (the app says the same in the visitor's language: device_reason.<code>).
UNAVAILABLE = {
    "no_cuda_build": "this PyTorch build has no CUDA support",
    "no_cuda_gpu": "no CUDA GPU on this machine (PyTorch is built for CUDA {cuda}, but torch.cuda.is_available() "
                   "is False)",
    "no_mps": "MPS needs an Apple-silicon Mac (macOS 12.3+) with an MPS-enabled PyTorch build",
    "other": "{name} is not available on this machine",
}


def unavailable(name: str) -> tuple[str, dict] | None:
    """None when device `name` can run here, else why not: (code in UNAVAILABLE, its values)."""
    if name in available_devices():
        return None
    if name == "cuda":
        if torch.version.cuda is None:
            return "no_cuda_build", {}
        return "no_cuda_gpu", {"cuda": torch.version.cuda}
    if name == "mps":
        return "no_mps", {}
    return "other", {"name": name}


def unavailable_reason(name: str) -> str | None:
    """None when device `name` can run here, else why not, in plain words."""
    why = unavailable(name)
    return None if why is None else UNAVAILABLE[why[0]].format(**why[1])


def device_entry(name: str) -> dict:
    """What the report says about a requested device: its name in words, or why it is not available."""
    why = unavailable(name)
    if why is not None:
        return {"name": name, "available": False, "reason": UNAVAILABLE[why[0]].format(**why[1]),
                "reason_code": why[0], "reason_values": why[1]}
    entry = {"name": name, "available": True, "description": describe(name)}
    if name == "cpu":
        entry.update(model=cpu_model(), threads=torch.get_num_threads())
    elif name == "cuda":
        entry.update(model=torch.cuda.get_device_name(0), cuda_version=torch.version.cuda,
                     total_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    return entry


def check_memory(model_name: str, batch_sizes, devices=("cpu",)) -> None:
    """Refuse, before any work, batch sizes whose cells would need more host memory than the limit.

    Raises ConfigError("batch_sizes") naming the batch sizes, the estimated need and the limit. The training
    step decides (it always needs more than inference). Checks cpu (always in a run) and mps (host memory);
    cuda cells are checked just before they run, because asking a GPU for its free memory creates the CUDA
    context, whose cost the one-time costs measure.
    """
    sizes = validate_batch_sizes(batch_sizes)
    model = build_model(validate_model(model_name))
    per_sample, params = memory.activation_bytes_per_sample(model), param_count(model)
    for name in ["cpu"] + (["mps"] if "mps" in (devices or ()) else []):
        cap = memory.memory_limit(name)
        over = [b for b in sizes if memory.over_limit(name, TRAIN, b, per_sample, params, model_name, cap)]
        if over:
            also = f" (also too large: {', '.join(map(str, over[1:]))})" if len(over) > 1 else ""
            raise ConfigError("batch_sizes", memory.over_limit(name, TRAIN, over[0], per_sample, params, model_name,
                                                               cap) + also)


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
    stopped = core.stop_predicate(stop)
    rows = []
    what_text = {"context": "CUDA context creation (first allocation on the device)",
                 "kernel": "first kernel launch", "cublas": "first matrix multiply (cuBLAS load)",
                 "cudnn": "first convolution (cuDNN load)", "alloc": "first allocation on the device",
                 "to": f"model '{model_name}' to the device",
                 "cold": f"first training step, cold (batch {batch_size})",
                 "warm": f"second training step, warm (batch {batch_size}), for comparison"}

    def record(what: str, fn: Callable[[], object], note: str = "", checks=None) -> object:
        core.check_stop(stopped)
        if what != "context":  # synchronising before the context exists would create it untimed
            core.sync(device)
        with checks or nullcontext():
            start = time.perf_counter()
            value = fn()
            core.sync(device)
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
    refused = memory.over_limit(name, TRAIN, batch_size, memory.activation_bytes_per_sample(model),
                                param_count(model), model_name)
    if refused:
        rows.append({"device": name, "what": what_text["cold"], "ms": None, "note": f"not run: {refused}"})
    else:
        step = core.make_train_step(model, core.make_optimizer(model_name, model), batch_size, device)
        # the cold step's length is unknown: its layers check Stop; the warm one's only if the cold one was long
        record("cold", step, checks=core.layer_checks(model, stopped) if stop is not None else None)
        long = rows[-1]["ms"] > 1000 * LONG_RUN_S
        record("warm", step, checks=core.layer_checks(model, stopped) if stop is not None and long else None)
        del step
    del model
    core.release(device)
    return rows


# ---------------------------------------------------------------- the sweep

def make_row(device: str, op: str, batch_size: int, **fields) -> dict:
    row = {"device": device, "op": op, "batch_size": batch_size, "status": "ok", "ms_median": None,
           "ms_p10": None, "ms_p90": None, "ms_min": None, "ms_max": None, "runs": 0, "samples_per_s": None,
           "speedup_vs_cpu": None, "note": ""}
    row.update(fields)
    return row


def oom_row(device: str, op: str, batch_size: int, detail: str) -> dict:
    return make_row(device, op, batch_size, status="oom", note=f"out of memory at batch {batch_size}" + detail)


def refused_row(device: str, op: str, batch_size: int, reason: str) -> dict:
    return make_row(device, op, batch_size, status="refused", note=f"not run: {reason}")


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
        times = core.time_runs(fn, device, repeats, warmup, budget_s, stop, model)
    except BenchStopped:
        stopped = True
    except Exception as err:  # noqa: BLE001 - only out-of-memory is caught; anything else is re-raised
        if not core.is_out_of_memory(err):
            raise
        oom = " (host memory)" if isinstance(err, MemoryError) else ""
    fn = None  # the operation's tensors go before the memory is released
    if stopped:  # raised afresh, without the stopped run's frames; run_benchmark releases the memory once
        raise BenchStopped()
    if oom is not None:  # released here, after the exception (and its traceback's frames) is gone
        core.release(device)
        return oom_row(name, op, batch_size, oom)
    row = make_row(name, op, batch_size, **core.summarize(times, batch_size))
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
    optimizer = core.make_optimizer(model_name, model)
    per_sample, params = memory.activation_bytes_per_sample(model), param_count(model)
    cells = [(TRAIN, model, lambda b: core.make_train_step(model, optimizer, b, device)),
             (INFER, model, lambda b: core.make_inference(model, b, device))]
    if name != "cpu":
        cells.append((COPY, None, lambda b: core.make_host_copy(b, device)))
    rows = []
    for batch_size in batch_sizes:
        for op, layers, make in cells:
            core.check_stop(core.stop_predicate(stop))
            refused = memory.over_limit(name, op, batch_size, per_sample, params, model_name)
            row = refused_row(name, op, batch_size, refused) if refused else _measure_cell(
                name, op, batch_size, lambda: make(batch_size), repeats, warmup, budget_s, stop, layers)
            rows.append(row)
            on_row(row)
    del model, optimizer, cells
    core.release(device)
    return rows


def add_speedups(rows: list[dict]) -> None:
    """Fill `speedup_vs_cpu` (cpu median / this median) for timed rows that have a cpu counterpart."""
    cpu = {(r["op"], r["batch_size"]): r["ms_median"] for r in rows
           if r["device"] == "cpu" and r["status"] == "ok" and r["ms_median"]}
    for row in rows:
        base = cpu.get((row["op"], row["batch_size"]))
        if row["status"] == "ok" and row["op"] != COPY and base and row["ms_median"]:
            row["speedup_vs_cpu"] = base / row["ms_median"]


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
    busy = memory.host_busy_share() if "cpu" in present else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    one_time, rows = [], []

    def collect(row: dict) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    from mnist_demo.bench_report import notes, reading_parts, reading_text  # text; it imports this module

    stopped = False
    try:
        for name in present:  # one-time costs first, before anything else (even a device query) touches it
            one_time += one_time_costs(name, model, sizes[0], stop)
        for name in present:
            sweep_device(name, model, sizes, repeats, warmup, budget_s, collect, stop)
        if epoch:
            from mnist_demo.bench_epoch import epoch_rows

            epoch_rows(present, data_dir, collect, stop=stop)
    except BenchStopped:
        stopped = True
    if stopped:  # out of the except block, the stopped run's tensors (held by its traceback) are gone
        gc.collect()  # once for all devices
        for name in present:
            core.release(torch.device(name), collect=False)
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
                  else []) + notes(present, budget_s, busy, stopped, len(rows)),
        "host_busy_share": busy, "load_average_1min": load, "elapsed_s": None,
    }
    report["reading_parts"] = reading_parts(report)  # the two lines, generated from the figures, as pieces
    report["reading"] = reading_text(report["reading_parts"])  # ... said in English (the app: any language)
    report["elapsed_s"] = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m mnist_demo.bench ...`, the same as `python -m mnist_demo bench ...`."""
    from mnist_demo.bench_report import main as report_main

    return report_main(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
