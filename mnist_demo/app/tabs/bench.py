"""The CPU vs CUDA tab: runs the engine benchmark (`mnist_demo.bench`) through the shared jobs queue, exclusively,
so it never runs at the same time as a training and its figures are not polluted.

Like the Train tab, Run is greyed while the benchmark runs and Stop only then; Stop (and the server's
wall-clock cap per run) ends the benchmark within about a layer's time, keeping the cells already measured.
Batch sizes are refused before queueing when over the app's cap or the host's memory cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from mnist_demo import bench
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.jobs.reasons import reason_text
from mnist_demo.app.core.jobs.runner import Failed, Finished
from mnist_demo.app.core.messages import error_text, md_escape, refused, seconds
from mnist_demo.app.core.runs.benchmark import BenchView, benchmark_work
from mnist_demo.app.core.settings import APP_MAX_BATCH
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server import long_job
from mnist_demo.app.server.i18n import filled, t
from mnist_demo.app.server.shared import Shared
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.models import MODELS
from mnist_demo.texts import DEFAULT, TEXTS, tr

DEFAULT_SIZES = "1,64,256,1024"
DEVICE_COLOURS = {"cpu": "#4c78a8", "cuda": "#e45756", "mps": "#54a24b"}
# the table's columns (their keys in the locale files): a table's headers are data, written in the visitor's language
COLUMN_KEYS = ["device", "operation", "batch_size", "ms", "samples", "speedup", "runs", "note"]
TABLE_COLUMNS = [tr(None, f"bench.col_{key}") for key in COLUMN_KEYS]  # in English, as the page first shows them


def columns(lang: str | None = None) -> list[str]:
    return [tr(lang, f"bench.col_{key}") for key in COLUMN_KEYS]


@dataclass
class BenchUI:
    note: gr.Markdown
    model: gr.Dropdown
    batch_sizes: gr.Textbox
    repeats: gr.Number
    button: gr.Button
    stop: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    plot: gr.LinePlot
    reading: gr.Markdown


def device_reason(why: tuple[str, dict], lang: str | None = None) -> str:
    """Why a device cannot run here (`bench.unavailable`'s code and values), in `lang`."""
    code, values = why
    return tr(lang, f"device_reason.{code}", **values)


def gpu_note(ctx: AppContext, lang: str | None = None, page: bool = False):
    """What this machine can compare, in `lang` (the device names and the reason there is no GPU are this
    machine's). `page=True`: the page's own text, filled in every language when it is built (`i18n.filled`)."""
    accelerators = [d for d in ctx.devices if d != "cpu"]
    if accelerators:
        key, values = "bench.gpu_has", {"devices": ", ".join(accelerators)}
    else:
        why = bench.unavailable("cuda")
        key, values = "bench.no_gpu", {"reason": lambda lang: md_escape(device_reason(why, lang)) if why
                                       else tr(lang, "bench.no_cuda")}
    if page:
        return filled(key, **values)
    return tr(lang, key, **{name: v(lang) if callable(v) else v for name, v in values.items()})


def in_language(ctx: AppContext, ui: BenchUI, visitor: Visitor) -> dict:
    """The server-written texts that stay on the page, in the visitor's language, for when the page opens or the
    language switch is used: the note on this machine's devices."""
    return {ui.note: gpu_note(ctx, visitor.language)}


def create_ui(ctx: AppContext) -> BenchUI:
    note = gr.Markdown(gpu_note(ctx, page=True), elem_id="bench-gpu-note")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            model = gr.Dropdown(list(MODELS), value=bench.DEFAULT_MODEL, label=t("bench.model_label"),
                                allow_custom_value=True, elem_id="bench-model", info=t("bench.model_info"))
            sizes = gr.Textbox(DEFAULT_SIZES, label=t("bench.sizes_label"), elem_id="bench-batch-sizes",
                               info=t("bench.sizes_info"))
            repeats = gr.Number(bench.DEFAULT_REPEATS, label=t("bench.repeats_label"), step=1, elem_id="bench-repeats",
                                info=t("bench.repeats_info"))
            with gr.Row():
                button = gr.Button(t("bench.run"), variant="primary", elem_id="bench-button")
                stop = gr.Button(t("bench.stop"), variant="stop", interactive=False, elem_id="bench-stop")
            with gr.Accordion(t("bench.teach_title"), open=False, elem_id="teach-bench"):
                gr.Markdown(t("teach.cpu_vs_cuda"))
        with gr.Column(scale=3, min_width=360):
            status = gr.Markdown(t("bench.status_ready"), elem_id="bench-status")
            reading = gr.Markdown("", elem_id="bench-reading")
            # No fixed height: with one, Gradio 6.31 sizes the chart without its legend (drawn below it), which
            # is then cut off, leaving a legend title with no entries. Its legend lists the measured devices.
            plot = gr.LinePlot(None, x=TABLE_COLUMNS[2], y=TABLE_COLUMNS[4], color=TABLE_COLUMNS[0],
                               label=t("bench.plot_label"), sort=None,
                               color_map=DEVICE_COLOURS, elem_id="bench-plot")
    table = gr.Dataframe(headers=TABLE_COLUMNS, value=[], interactive=False, wrap=True, label=t("bench.table_label"),
                         elem_id="bench-table")
    return BenchUI(note=note, model=model, batch_sizes=sizes, repeats=repeats, button=button, stop=stop,
                   status=status, table=table, plot=plot, reading=reading)


def validate(model, batch_sizes, repeats, devices=("cpu",)) -> tuple[str, tuple[int, ...], int]:
    """The checked inputs, or ConfigError naming the field: before queueing, so nothing waits or runs for a
    request that would be refused (batch sizes over APP_MAX_BATCH or the host's memory cap included). Each error
    carries its code: `messages.error_text` says it in the visitor's language."""
    for field, value in (("model", model), ("batch_sizes", batch_sizes), ("repeats", repeats)):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(field, "is empty", code="empty")
    model = bench.validate_model(model)
    if isinstance(batch_sizes, str):
        sizes = bench.parse_batch_sizes(batch_sizes)
    elif isinstance(batch_sizes, (list, tuple)):
        sizes = bench.validate_batch_sizes(batch_sizes)
    else:
        sizes = bench.validate_batch_sizes([batch_sizes])
    too_big = [b for b in sizes if b > APP_MAX_BATCH]
    if too_big:
        sizes_text = ", ".join(map(str, too_big))
        raise ConfigError("batch_sizes", tr(None, "error.bench_too_big", sizes=sizes_text, most=APP_MAX_BATCH),
                          code="bench_too_big", sizes=sizes_text, most=APP_MAX_BATCH)
    repeats = bench.validate_repeats(repeats)
    bench.check_memory(model, sizes, devices)
    return model, sizes, repeats


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def table_rows(rows: list[dict], lang: str | None = None) -> list[list]:
    out = []
    for row in rows:
        key = f"bench.op_{row['op']}"
        op = tr(lang, key) if key in TEXTS[DEFAULT] else bench.OP_LABELS.get(row["op"], row["op"])
        if row["status"] != "ok":
            out.append([row["device"], op, row["batch_size"], "-", "-", "-", 0, row.get("note", "")])
            continue
        speedup = tr(lang, "bench.baseline") if row["device"] == "cpu" else _fmt(row.get("speedup_vs_cpu"), "{:.2f}x")
        out.append([row["device"], op, row["batch_size"], _fmt(row["ms_median"], "{:.3f}"),
                    _fmt(row["samples_per_s"], "{:,.0f}"), speedup,
                    row["runs"], row.get("note", "")])
    return out


def table_value(rows: list[dict], lang: str | None = None) -> pd.DataFrame:
    """The table's update: its rows with the headers in `lang` (the browser does not translate a table's headers)."""
    return pd.DataFrame(table_rows(rows, lang), columns=columns(lang))


def plot_frame(rows: list[dict], lang: str | None = None) -> pd.DataFrame:
    """samples/s per training step against batch size (as ordered categories), one line per device. The columns
    are named in `lang`: the axes and the legend's title show them."""
    batch, speed, device = (tr(lang, f"bench.col_{key}") for key in ("batch_size", "samples", "device"))
    points = [(str(r["batch_size"]), float(r["samples_per_s"]), r["device"]) for r in rows
              if r["op"] == bench.TRAIN and r["status"] == "ok" and r["samples_per_s"]]
    frame = pd.DataFrame(points, columns=[batch, speed, device])
    return frame.astype({batch: "string", speed: "float64", device: "string"})


def plot(rows: list[dict], sizes, lang: str | None = None) -> gr.LinePlot | None:
    """The plot update, sent once with every device's line (None while there is nothing to draw): Gradio
    6.31's LinePlot keeps the colour series of the first data it gets and would not draw a device that appears
    in a later update."""
    frame = plot_frame(rows, lang)
    if frame.empty:
        return None
    batch, speed, device = frame.columns
    return gr.LinePlot(frame, x=batch, y=speed, color=device, sort=[str(s) for s in sizes])


def what_ran(report: dict, lang: str | None = None) -> str:
    devices = []
    for entry in report["devices"]:
        if entry["available"]:
            devices.append(tr(lang, "bench.device_available", name=entry["name"], description=entry["description"]))
        else:
            why = (entry["reason_code"], entry["reason_values"]) if "reason_code" in entry else None
            devices.append(tr(lang, "bench.device_unavailable", name=entry["name"],
                              reason=device_reason(why, lang) if why else entry["reason"]))
    return tr(lang, "bench.ran", model=report["model"], parameters=f"{report['parameters']:,}",
              sizes=", ".join(map(str, report["batch_sizes"])), repeats=report["repeats"], warmup=report["warmup"],
              budget=f"{report['time_budget_s']:g}", torch=report["torch_version"],
              elapsed=seconds(report.get("elapsed_s"), lang), devices=md_escape("; ".join(devices)))


def stopped_text(report: dict, reason: str | None, lang: str | None = None) -> str:
    cells = len(report["rows"])
    return tr(lang, "bench.stopped_one" if cells == 1 else "bench.stopped_many",
              reason=md_escape(reason or tr(lang, "bench.stopped")), cells=cells,
              elapsed=seconds(report.get("elapsed_s"), lang))



def reading_value(report: dict, lang: str | None = None) -> str:
    """The engine's two-line reading of the figures, said in `lang`: its pieces (`report["reading_parts"]`, codes
    of bench.READING) read from the [bench_reading] texts; English is the engine's own, byte for byte."""
    say = lambda code, **values: tr(lang, f"bench_reading.{code}", **values)  # noqa: E731
    first, second = bench.reading_text(report["reading_parts"], say)
    return tr(lang, "bench.reading", first=md_escape(first), second=md_escape(second))

def create_event_handlers(ctx: AppContext, ui: BenchUI, shared: Shared, tab: gr.Tab) -> None:
    """Run through the server's line (alone: nothing else runs meanwhile), Stop, and the tab's texts when it opens."""
    visitor = shared.visitor
    # Run and Stop go with the other outputs, as on the Train tab: Run greyed and Stop active only while this
    # visitor's benchmark waits or runs. Buttons are not part of the API's outputs (gradio_client skips them).
    # Each update names the components it changes; the others keep their values.
    outputs = [ui.status, ui.table, ui.plot, ui.reading, ui.button, ui.stop]
    buttons = long_job.Buttons((ui.button,), ui.stop)

    def drawn(rows: list[dict], sizes, lang: str | None) -> dict:
        chart = plot(rows, sizes, lang)
        return {} if chart is None else {ui.plot: chart}

    def ended(view: BenchView, sizes, lang: str | None) -> dict:
        """The tab's last message: what was measured and its reading, or why it stopped, failed or never ran."""
        item = view.outcome
        if isinstance(item, Finished):
            report = item.result
            if report["stopped"]:
                return {ui.status: stopped_text(report, reason_text(item.stop_reason, lang), lang),
                        ui.table: table_value(report["rows"], lang), **drawn(report["rows"], sizes, lang),
                        ui.reading: ""}
            return {ui.status: what_ran(report, lang), ui.table: table_value(report["rows"], lang),
                    **drawn(report["rows"], sizes, lang), ui.reading: reading_value(report, lang)}
        if isinstance(item, Failed):
            return {ui.status: refused(error_text(item.error, lang), lang), ui.table: table_value(view.rows, lang),
                    ui.reading: ""}
        return {ui.status: tr(lang, "bench.not_run", reason=md_escape(reason_text(item.reason, lang)))}

    def run(model, batch_sizes, repeats, visitor: Visitor, request: gr.Request):
        """Time a training step and an inference pass per device and batch size (CPU, and CUDA when present)."""
        lang = visitor.language
        try:
            model, sizes, repeats = validate(model, batch_sizes, repeats, ctx.devices)
        except DemoError as err:
            yield {ui.status: refused(error_text(err, lang), lang)}
            return
        view = BenchView(lang)
        shown = [-1]  # cells in the table as last sent

        def updates():
            update = {ui.status: view.status}
            if shown[0] < 0:  # the first message: an empty table, no plot, no reading
                update.update({ui.table: table_value([], lang), ui.plot: None, ui.reading: ""})
            elif len(view.rows) != shown[0]:
                update[ui.table] = table_value(view.rows, lang)
            shown[0] = len(view.rows)
            yield update

        def busy(err) -> dict:
            return {ui.status: tr(lang, "bench.busy", why=md_escape(error_text(err, lang)))}

        job = long_job.Job("benchmark", f"benchmark {model}", benchmark_work(model, sizes, repeats), exclusive=True)
        yield from long_job.run(ctx, visitor, request, job, view, buttons, updates, busy)
        if view.finished:
            yield {**ended(view, sizes, lang), **buttons.running(False)}

    ui.button.click(run, [ui.model, ui.batch_sizes, ui.repeats, visitor], outputs, api_name="bench",
                    concurrency_limit=None, concurrency_id="bench", show_progress="hidden")

    stop = long_job.stop_handler("benchmark", "bench")
    stop.__doc__ = "Stop this visitor's benchmark (or leave the line); the cells measured so far are kept."
    ui.stop.click(stop, [visitor], [ui.status], api_name="bench_stop", queue=False, concurrency_limit=None)

    def on_open(visitor: Visitor, shown):
        """The tab opened: the note in the visitor's language, and an empty table's headers too (a table's headers
        are data, which the browser does not translate; a table with results keeps its own)."""
        out = in_language(ctx, ui, visitor)
        if shown is None or len(shown) == 0:
            out[ui.table] = table_value([], visitor.language)
        return out

    tab.select(on_open, [visitor, ui.table], [ui.note, ui.table], api_visibility="private", queue=False,
               show_progress="hidden")
    shared.on_language(lambda v: in_language(ctx, ui, v), [ui.note])
