"""The CPU vs CUDA tab: runs the engine benchmark (`bench.py`) through the shared jobs queue, exclusively,
so it never runs at the same time as a training and its figures are not polluted.

Like the Train tab, Run is greyed while the benchmark runs and Stop only then; Stop (and the server's
wall-clock cap per run) ends the benchmark within about a layer's time, keeping the cells already measured.
Batch sizes are refused before queueing when over the app's cap or the host's memory cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from mnist_demo import bench
from mnist_demo.app import teach
from mnist_demo.app.common import error_text, md_escape, refused, seconds
from mnist_demo.app.state import AppContext, Visitor
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.app.jobs import AlreadyActive, Busy
from mnist_demo.app.runner import Cancelled, Failed, Finished, Started, Tick, Waiting, run_job
from mnist_demo.models import MODELS

DEFAULT_SIZES = "1,64,256,1024"
# The app's cap on batch sizes, the Train tab's (8192): a shared demo should not build huge batches. It also
# bounds how long Stop can take: Stop lands between layers, and the longest layer of a 'cnn' training step
# at batch 8192 took 1.6 s here (2 cores, busy with other work); at 32768 it would be about four times that.
APP_MAX_BATCH = 8192
DEVICE_COLOURS = {"cpu": "#4c78a8", "cuda": "#e45756", "mps": "#54a24b"}
TABLE_COLUMNS = ["device", "operation", "batch size", "ms per step (median)", "samples/s", "speed-up over CPU",
                 "runs", "note"]


@dataclass
class BenchUI:
    model: gr.Dropdown
    batch_sizes: gr.Textbox
    repeats: gr.Number
    button: gr.Button
    stop: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    plot: gr.LinePlot
    reading: gr.Markdown


def gpu_note(ctx: AppContext) -> str:
    accelerators = [d for d in ctx.devices if d != "cpu"]
    if accelerators:
        return (f"This machine has **{', '.join(accelerators)}**: the benchmark times the CPU and "
                f"{', '.join(accelerators)} side by side.")
    reason = bench.unavailable_reason("cuda") or "no CUDA GPU"
    return ("**No GPU here**: " + md_escape(reason) + ". The benchmark still runs the CPU side. "
            "With a CUDA GPU, the table would add a cuda row per batch size with its speed-up over this CPU, "
            "the cost of copying each batch from host memory, and CUDA's one-time start-up cost.")


def build(ctx: AppContext) -> BenchUI:
    gr.Markdown(gpu_note(ctx), elem_id="bench-gpu-note")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            model = gr.Dropdown(list(MODELS), value=bench.DEFAULT_MODEL, label="Model", allow_custom_value=True,
                                elem_id="bench-model", info="mlp is quick on a CPU; cnn is heavier")
            sizes = gr.Textbox(DEFAULT_SIZES, label="Batch sizes", elem_id="bench-batch-sizes",
                               info=f"comma-separated, each 1 to {APP_MAX_BATCH} and within what this machine's "
                                    "memory allows (checked before it runs)")
            repeats = gr.Number(bench.DEFAULT_REPEATS, label="Repeats", step=1, elem_id="bench-repeats",
                                info=f"timed runs per cell, 1 to {bench.MAX_REPEATS} (each cell also stops "
                                     f"after {bench.DEFAULT_TIME_BUDGET_S:g} s of timed work)")
            with gr.Row():
                button = gr.Button("Run benchmark", variant="primary", elem_id="bench-button")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="bench-stop")
            with gr.Accordion("What does this measure?", open=False, elem_id="teach-bench"):
                gr.Markdown(teach.CPU_VS_CUDA)
        with gr.Column(scale=3, min_width=360):
            status = gr.Markdown("Press **Run benchmark**. It waits for any training to finish first, and "
                                 "nothing else runs while it measures.", elem_id="bench-status")
            reading = gr.Markdown("", elem_id="bench-reading")
            # No fixed height: with one, Gradio 6.31 sizes the chart without its legend (drawn below it), which
            # is then cut off, leaving a legend title with no entries. Its legend lists the measured devices.
            plot = gr.LinePlot(None, x="batch size", y="samples/s", color="device",
                               label="Training step: samples/s vs batch size", sort=None,
                               color_map=DEVICE_COLOURS, elem_id="bench-plot")
    table = gr.Dataframe(headers=TABLE_COLUMNS, value=[], interactive=False, wrap=True, label="Timings",
                         elem_id="bench-table")
    return BenchUI(model, sizes, repeats, button, stop, status, table, plot, reading)


def validate(model, batch_sizes, repeats, devices=("cpu",)) -> tuple[str, tuple[int, ...], int]:
    """The checked inputs, or ConfigError naming the field: before queueing, so nothing waits or runs for a
    request that would be refused (batch sizes over APP_MAX_BATCH or the host's memory cap included)."""
    for field, value in (("model", model), ("batch_sizes", batch_sizes), ("repeats", repeats)):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(field, "is empty")
    model = bench.validate_model(model)
    if isinstance(batch_sizes, str):
        sizes = bench.parse_batch_sizes(batch_sizes)
    elif isinstance(batch_sizes, (list, tuple)):
        sizes = bench.validate_batch_sizes(batch_sizes)
    else:
        sizes = bench.validate_batch_sizes([batch_sizes])
    too_big = [b for b in sizes if b > APP_MAX_BATCH]
    if too_big:
        raise ConfigError("batch_sizes", f"{', '.join(map(str, too_big))} is more than this app allows; each "
                                         f"must be a whole number from 1 to {APP_MAX_BATCH}")
    repeats = bench.validate_repeats(repeats)
    bench.check_memory(model, sizes, devices)
    return model, sizes, repeats


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def table_rows(rows: list[dict]) -> list[list]:
    out = []
    for row in rows:
        op = bench.OP_LABELS.get(row["op"], row["op"])
        if row["status"] != "ok":
            out.append([row["device"], op, row["batch_size"], "-", "-", "-", 0, row.get("note", "")])
            continue
        speedup = "baseline" if row["device"] == "cpu" else _fmt(row.get("speedup_vs_cpu"), "{:.2f}x")
        out.append([row["device"], op, row["batch_size"], _fmt(row["ms_median"], "{:.3f}"),
                    _fmt(row["samples_per_s"], "{:,.0f}"), speedup,
                    row["runs"], row.get("note", "")])
    return out


def plot_frame(rows: list[dict], sizes=()) -> pd.DataFrame:
    """samples/s per training step against batch size (as ordered categories), one line per device."""
    points = [(str(r["batch_size"]), float(r["samples_per_s"]), r["device"]) for r in rows
              if r["op"] == bench.TRAIN and r["status"] == "ok" and r["samples_per_s"]]
    frame = pd.DataFrame(points, columns=["batch size", "samples/s", "device"])
    return frame.astype({"batch size": "string", "samples/s": "float64", "device": "string"})


def plot(rows: list[dict], sizes) -> gr.LinePlot | None:
    """The plot update, sent once with every device's line (None while there is nothing to draw): Gradio
    6.31's LinePlot keeps the colour series of the first data it gets and would not draw a device that appears
    in a later update."""
    frame = plot_frame(rows, sizes)
    return None if frame.empty else gr.LinePlot(frame, sort=[str(s) for s in sizes])


def what_ran(report: dict) -> str:
    devices = []
    for entry in report["devices"]:
        if entry["available"]:
            devices.append(f"{entry['name']} ({entry['description']})")
        else:
            devices.append(f"{entry['name']}: not available ({entry['reason']})")
    return (f"Ran: model `{report['model']}` ({report['parameters']:,} parameters), batch sizes "
            f"{', '.join(map(str, report['batch_sizes']))}, up to {report['repeats']} timed runs per cell after "
            f"{report['warmup']} warm-up runs ({report['time_budget_s']:g} s budget per cell), torch "
            f"{report['torch_version']}, in {seconds(report.get('elapsed_s'))}, with no training running. "
            f"Devices: {md_escape('; '.join(devices))}.")


def stopped_text(report: dict, reason: str | None) -> str:
    cells = len(report["rows"])
    return (f"**Stopped** ({md_escape(reason or 'stopped')}) after {cells} cell{'s' if cells != 1 else ''}, in "
            f"{seconds(report.get('elapsed_s'))}: the table keeps the cells that finished; the one that was "
            "running was dropped.")


def wire(ctx: AppContext, ui: BenchUI, visitor: gr.State) -> None:
    # Run and Stop go with the other outputs, as on the Train tab: Run greyed and Stop active only while this
    # visitor's benchmark waits or runs. Buttons are not part of the API's outputs (gradio_client skips them).
    # Each update names the components it changes; the others keep their values.
    outputs = [ui.status, ui.table, ui.plot, ui.reading, ui.button, ui.stop]
    running = {ui.button: gr.update(interactive=False), ui.stop: gr.update(interactive=True)}
    idle = {ui.button: gr.update(interactive=True), ui.stop: gr.update(interactive=False)}

    def drawn(rows: list[dict], sizes) -> dict:
        chart = plot(rows, sizes)
        return {} if chart is None else {ui.plot: chart}

    def run(model, batch_sizes, repeats, visitor: Visitor, request: gr.Request):
        """Time a training step and an inference pass per device and batch size (CPU, and CUDA when present)."""
        try:
            model, sizes, repeats = validate(model, batch_sizes, repeats, ctx.devices)
        except DemoError as err:
            yield {ui.status: refused(error_text(err))}
            return
        owner = visitor.job_owner(getattr(request, "session_hash", None))
        try:
            ticket = ctx.jobs.submit(owner, kind="benchmark", label=f"benchmark {model}", exclusive=True)
        except (Busy, AlreadyActive) as err:
            yield {ui.status: f"**Busy.** {md_escape(str(err))}"}
            return
        visitor.ticket = ticket
        rows: list[dict] = []

        def work(stop, emit):
            # `stop` is the ticket's: set by Stop and by the queue's wall-clock cap; the engine checks it
            # between runs and between the layers of long runs, and returns the cells done so far
            return bench.run_benchmark(devices=None, batch_sizes=sizes, model=model, repeats=repeats,
                                       on_row=emit, stop=stop)

        status = "Waiting for a free slot..."
        yield {ui.status: status, ui.table: [], ui.plot: None, ui.reading: "", **running}
        last = 0.0
        for item in run_job(ticket, work):
            if isinstance(item, Waiting):
                if time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    status = (f"**Waiting in line: you are number {item.position}.** The benchmark runs alone, "
                              "after the runs ahead of it. **Stop** leaves the line.")
                    yield {ui.status: status}
            elif isinstance(item, Started):
                status = "**Measuring...** one-time start-up costs first, then each batch size."
                yield {ui.status: status, ui.table: [], ui.reading: ""}
            elif isinstance(item, dict):
                rows.append(item)
                status = f"**Measuring...** {len(rows)} cells done."
                yield {ui.status: status, ui.table: table_rows(rows)}
            elif isinstance(item, Finished):
                report = item.result
                if report["stopped"]:
                    yield {ui.status: stopped_text(report, item.stop_reason), ui.table: table_rows(report["rows"]),
                           **drawn(report["rows"], sizes), ui.reading: "", **idle}
                    return
                yield {ui.status: what_ran(report), ui.table: table_rows(report["rows"]),
                       **drawn(report["rows"], sizes), **idle,
                       ui.reading: "**Reading.** " + md_escape(report["reading"][0]) + "\n\n"
                       + md_escape(report["reading"][1])}
                return
            elif isinstance(item, Failed):
                yield {ui.status: refused(error_text(item.error)), ui.table: table_rows(rows), ui.reading: "", **idle}
                return
            elif isinstance(item, Tick):
                yield {ui.status: status}  # unchanged: the yield lets Gradio notice a visitor who left
            elif isinstance(item, Cancelled):
                yield {ui.status: f"**Not run**: {md_escape(item.reason)}.", **idle}
                return

    ui.button.click(run, [ui.model, ui.batch_sizes, ui.repeats, visitor], outputs, api_name="bench",
                    concurrency_limit=None, concurrency_id="bench", show_progress="hidden")

    def stop(visitor: Visitor):
        """Stop this visitor's benchmark (or leave the line); the cells measured so far are kept."""
        return {None: "Nothing of yours is measuring.", "left": "Left the line.",
                "stopping": "Stopping: the benchmark ends within a second or two..."}[visitor.stop("benchmark")]

    ui.stop.click(stop, [visitor], [ui.status], api_name="bench_stop", queue=False, concurrency_limit=None)
