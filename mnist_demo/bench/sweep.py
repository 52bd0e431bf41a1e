"""CPU vs CUDA (and MPS) timing: what one training step and one inference pass cost per device and batch size.

This module runs the sweep (`run_benchmark`); docs/cpu-vs-cuda.md says how and why it measures as it does, and
mnist_demo/bench/__init__.py draws the package. One-time costs (CUDA context, first kernel, libraries, a cold
first step) are measured first and reported apart. Out of memory becomes a row, and the sweep goes on. Stop (a
`threading.Event`: the app's Stop button, the jobs queue's wall-clock cap) ends the run within about a layer's
time, keeping the cells finished so far. A batch size over the memory cap is refused before anything runs
(ConfigError naming it); each cell is checked again just before it runs and becomes a "not run" row when over.

The report it returns is data and the English the command line prints (`reading`: the notes and the two-line
reading); the table and the plot are made from it by `report`, which this module never imports.
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

import mnist_demo.bench.core as core
import mnist_demo.bench.memory as memory
from mnist_demo.bench.core import COPY, INFER, LONG_RUN_S, MIN_RUNS, TRAIN, BenchStopped
from mnist_demo.bench.epoch import epoch_rows
from mnist_demo.bench.options import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_MODEL,
    DEFAULT_REPEATS,
    DEFAULT_TIME_BUDGET_S,
    DEFAULT_WARMUP,
    validate_batch_sizes,
    validate_devices,
    validate_model,
    validate_repeats,
    validate_time_budget,
    validate_warmup,
)
from mnist_demo.bench.reading import notes, reading_parts, reading_text
from mnist_demo.bench.rows import add_speedups, make_row, oom_row, refused_row
from mnist_demo.devices import available_devices, cpu_model, describe, sync
from mnist_demo.errors import ConfigError
from mnist_demo.models import build_model, param_count

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
        model = record("to", lambda: model.to(device))  # noqa: F821 - called here, before `del model`
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
    # the lambdas run inside the loop below, before `del model, optimizer`
    cells = [(TRAIN, model, lambda b: core.make_train_step(model, optimizer, b, device)),  # noqa: F821
             (INFER, model, lambda b: core.make_inference(model, b, device))]  # noqa: F821
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
            core.release(torch.device(name), collect=False)
    entries = [device_entry(n) for n in names]
    add_speedups(rows)
    for entry in entries:
        if entry["name"] == "cuda" and entry["available"]:
            entry["memory_allocated_after_mib"] = round(torch.cuda.memory_allocated() / 2**20, 1)
    # plain data only: torch.__version__ is a str subclass (TorchVersion) that weights_only unpickling refuses, so a
    # report sent back from a worker process (app/core/jobs/remote.py) was refused; str() prints the same JSON
    report = {
        "model": model, "parameters": param_count(build_model(model)), "batch_sizes": list(sizes),
        "repeats": repeats, "warmup": warmup, "time_budget_s": budget_s, "min_runs": MIN_RUNS,
        "torch_version": str(torch.__version__), "cpu_model": cpu_model(), "cpu_threads": torch.get_num_threads(),
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
