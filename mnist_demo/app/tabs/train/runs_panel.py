"""The Train tab's comparison of runs: the x-axis choice above the plots, the plots drawn from every kept run,
and the runs table with Make current, Save, Remove, and the chosen run's downloads as a PyTorch script and notebook.

The bookkeeping is `core/runs/kept.py` (no gradio) and the plot data `core/runs/curves.py`; this module lays out
the controls and turns a visitor's runs into component updates. Every run belongs to one visitor (`Visitor.runs`).
What the page declares goes through `t()`; what is written at run time (run names, table, axis title, messages) is
in the visitor's language (`Visitor.language`).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import RUN, Origin, adopt
from mnist_demo.app.core.runs.curves import DEFAULT_X, X_AXES, X_KEYS, curves, series_of, x_column, x_title
from mnist_demo.app.core.runs.downloads import Downloads, close_downloads, export_run
from mnist_demo.app.core.runs.kept import MAX_RUNS, table_columns, table_rows
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server import long_job
from mnist_demo.app.server.i18n import filled, t
from mnist_demo.app.server.shared import Shared
from mnist_demo.config import choice
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.texts import tr


def empty_table(lang: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(columns=table_columns(lang))


@dataclass
class CompareUI:
    x_axis: gr.Radio
    table: gr.Dataframe
    run: gr.Dropdown
    make_current: gr.Button
    remove: gr.Button
    save_name: gr.Textbox
    save: gr.Button
    status: gr.Markdown
    downloads: gr.State  # the session's download folder (core/runs/downloads.py)
    script: gr.DownloadButton  # the chosen run as a Python script
    notebook: gr.DownloadButton  # ... and as a notebook


def create_x_axis() -> gr.Radio:
    return gr.Radio([(t(X_KEYS[x]), x) for x in X_AXES], value=DEFAULT_X, label=t("compare.x_axis_label"),
                    elem_id="train-x-axis", info=t("compare.x_axis_info"))


def create_panel(x_axis: gr.Radio) -> CompareUI:
    """The runs table and what can be done with one run (below the plots); `x_axis` is the choice above them."""
    gr.Markdown(filled("compare.runs_title", max=MAX_RUNS), elem_id="runs-title")
    table = gr.Dataframe(empty_table(), headers=table_columns(), interactive=False, wrap=False, max_height=260,
                         label=t("compare.runs_label"), show_label=False, elem_id="runs-table")
    with gr.Row():
        run = gr.Dropdown([], value=None, label=t("compare.run_label"), allow_custom_value=True,
                          elem_id="runs-choice", min_width=160)
        save_name = gr.Textbox("", label=t("compare.save_label"), placeholder=t("compare.save_placeholder"),
                               max_length=64, elem_id="runs-save-name", min_width=160)
    with gr.Row():
        make_current = gr.Button(t("compare.make_current"), elem_id="runs-make-current", min_width=100)
        save = gr.Button(t("compare.save_button"), elem_id="runs-save", min_width=100)
        remove = gr.Button(t("compare.remove_button"), elem_id="runs-remove", variant="stop", min_width=100)
    with gr.Row():
        script, notebook = download_buttons("runs-download")
    gr.Markdown(t("compare.download_info"), elem_id="runs-download-info", elem_classes=["mnist-small"])
    status = gr.Markdown("", elem_id="runs-status")
    with gr.Accordion(t("compare.teach_compare"), open=False, elem_id="teach-compare"):
        gr.Markdown(t("teach.compare_runs"))
    downloads = gr.State(Downloads(), delete_callback=close_downloads)
    return CompareUI(x_axis=x_axis, table=table, run=run, make_current=make_current, remove=remove,
                     save_name=save_name, save=save, status=status, downloads=downloads, script=script,
                     notebook=notebook)


def download_buttons(prefix: str) -> tuple[gr.DownloadButton, gr.DownloadButton]:
    """"Download as Python script" and "Download as notebook" (`prefix`-script, `prefix`-notebook), with nothing to
    download until a run is offered (`offer`)."""
    return (gr.DownloadButton(t("compare.download_script"), value=None, interactive=False, size="sm",
                              elem_id=f"{prefix}-script", min_width=100),
            gr.DownloadButton(t("compare.download_notebook"), value=None, interactive=False, size="sm",
                              elem_id=f"{prefix}-notebook", min_width=100))


def offer(run, downloads: Downloads, lang: str | None) -> tuple:
    """(script, notebook) button updates offering `run`'s files (the notebook in `lang`), or offering nothing when
    `run` is None. DemoError or OSError when the files cannot be written."""
    if run is None:
        return gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
    script, notebook = export_run(downloads, run, lang)
    return gr.DownloadButton(value=str(script), interactive=True), gr.DownloadButton(value=str(notebook),
                                                                                     interactive=True)


# --------------------------------------------------------------------------- updates

def _running(visitor: Visitor):
    """(number, colour, LiveRun) of the visitor's running run, or None."""
    number = visitor.live_number
    return (*number, visitor.live) if number is not None and visitor.live is not None else None


def _labels(visitor: Visitor, running=None) -> dict[int, str]:
    """The kept runs' labels, and the running one's: the plots and the table name runs alike."""
    return visitor.runs.labels((running[0], running[2].config) if running else None, visitor.language)


def _curves(visitor: Visitor):
    running = _running(visitor)
    return curves(series_of(visitor.runs.all(), _labels(visitor, running), running))


def plots(loss_plot, accuracy_plot, visitor: Visitor, sent: dict | None = None) -> tuple[dict, dict | None]:
    """(data updates, style updates or None) for the plots: every kept run and the running one.

    The chart builds its colour scale from the data it holds when its style (axis, colours, legend) changes, and
    a style sent in the same message as new data met the old data (seen in Chromium: a second run drawn in no
    colour, its legend still the first run's). So the style goes in a later message than its data.

    `sent` is a streaming handler's record of what it sent this page; the style is due when the series drawn
    change. Streamed updates reach the page as diffs against the previous message, and a diff from a bare
    value to an update with props broke the page, so a stream sends every message as an update with the props
    already sent. With no `sent` (one-off handlers) the data comes alone and the caller chains `style` after."""
    c = _curves(visitor)
    if sent is None:
        return {loss_plot: c.loss, accuracy_plot: c.accuracy}, None
    props = sent.setdefault("props", ({}, {}))
    # the x range goes with the data it is for (a range sent a message later left "0.000000" drawn for a second)
    lims = c.x_lim(c.loss, visitor.x_axis), c.x_lim(c.accuracy, visitor.x_axis)
    values = {loss_plot: gr.LinePlot(c.loss, **{**props[0], "x_lim": lims[0]}),
              accuracy_plot: gr.LinePlot(c.accuracy, **{**props[1], "x_lim": lims[1]})}
    key = (c.key, visitor.x_axis, *lims)
    if sent.get("key") == key:
        return values, None
    sent["key"], sent["props"] = key, _style(visitor, c)
    return values, {loss_plot: gr.LinePlot(c.loss, **sent["props"][0]),
                    accuracy_plot: gr.LinePlot(c.accuracy, **sent["props"][1])}


def _style(visitor: Visitor, c) -> tuple[dict, dict]:
    """The plots' props for these curves. A diff changes the colour map in place, which alone does not rebuild
    the chart; the legend's title, a plain text, changes with every style so that it does. The x range is the
    chart's own, except while a plot's points all sit at one x (see `Curves.x_lim`)."""
    x = visitor.x_axis
    visitor.plot_styles += 1
    count = len(c.legend)
    title = tr(visitor.language, "curves.runs_one" if count == 1 else "curves.runs_many", count=count)
    title += "\u2009" * (visitor.plot_styles % 2)
    common = dict(x=x_column(x), x_title=x_title(x, visitor.language), color_title=title)
    return (dict(color_map=c.loss_colours or None, x_lim=c.x_lim(c.loss, x), **common),
            dict(color_map=c.accuracy_colours or None, colors_in_legend=c.legend or None,
                 x_lim=c.x_lim(c.accuracy, x), **common))


def style(loss_plot, accuracy_plot, visitor: Visitor) -> dict:
    """The plots with their axis, colours and legend, for one-off handlers (after the data: see `plots`)."""
    c = _curves(visitor)
    loss, accuracy = _style(visitor, c)
    return {loss_plot: gr.LinePlot(c.loss, **loss), accuracy_plot: gr.LinePlot(c.accuracy, **accuracy)}


def table(ui: CompareUI, visitor: Visitor, chosen: str | None = None) -> dict:
    """The runs table and the run picker (keeping `chosen`, else the newest run)."""
    runs = visitor.runs.all()
    names = _labels(visitor, _running(visitor))
    lang = visitor.language
    rows = table_rows(runs, names, lang)

    def option(number: int) -> str:
        plain = tr(lang, "compare.run_option", number=number)
        name = names[number]
        return plain if name == tr(lang, "runs.run", number=number) else tr(lang, "compare.run_option_named",
                                                                             number=number, label=name)

    options = [(option(r.number), str(r.number)) for r in reversed(runs)]
    values = [v for _, v in options]
    value = chosen if chosen in values else (values[0] if values else None)
    return {ui.table: pd.DataFrame(rows, columns=table_columns(lang)) if rows else empty_table(lang),
            ui.run: gr.Dropdown(choices=options, value=value)}


# --------------------------------------------------------------------------- events

def create_event_handlers(ctx: AppContext, ui: CompareUI, loss_plot, accuracy_plot, shared: Shared) -> None:
    visitor = shared.visitor
    refresh_draw, refresh_checkpoints = shared.refresh_draw, shared.refresh_checkpoints

    def set_x(x, visitor: Visitor):
        """Plot the curves against samples seen, steps or seconds."""
        try:
            visitor.x_axis = choice("x_axis", x, tuple(X_AXES))
        except ConfigError as err:
            return {ui.status: refused(error_text(err, visitor.language), visitor.language)}
        return style(loss_plot, accuracy_plot, visitor)  # the same data: only the axis changes

    ui.x_axis.change(set_x, [ui.x_axis, visitor], [loss_plot, accuracy_plot, ui.status], api_name="plot_against",
                     queue=False, show_progress="hidden")

    def chosen(number, visitor: Visitor):
        """The visitor's run `number`, else ConfigError (its message in the visitor's language)."""
        run = visitor.runs.get(number)
        if run is None:
            lang = visitor.language
            have = ", ".join(str(n) for n in visitor.runs.numbers()) or tr(lang, "compare.no_runs_yet")
            text = tr(lang, "compare.no_such_run", number=repr(number), have=have)
            raise ConfigError("run", text.removeprefix("run: "))
        return run

    def make_current(number, visitor: Visitor):
        """Make one of your runs the current model (the Draw tab's "your current model")."""
        try:
            run = chosen(number, visitor)
        except ConfigError as err:
            return {ui.status: refused(str(err), visitor.language)}
        adopt(visitor, run.model, run.meta, Origin(RUN, run.number), run.evaluation)
        label = md_escape(visitor.runs.labels(lang=visitor.language)[run.number])
        return {ui.status: tr(visitor.language, "compare.made_current", number=run.number, label=label),
                **refresh_draw(visitor)}

    ui.make_current.click(make_current, [ui.run, visitor], [ui.status, *refresh_draw.outputs],
                          api_name="make_run_current", queue=False)

    def remove(number, visitor: Visitor):
        """Remove one of your runs from the table and the plots (your current model stays)."""
        try:
            run = chosen(number, visitor)
        except ConfigError as err:
            return {ui.status: refused(str(err), visitor.language)}
        visitor.runs.remove(run.number)
        return {ui.status: tr(visitor.language, "compare.removed", number=run.number), **table(ui, visitor),
                **plots(loss_plot, accuracy_plot, visitor)[0]}

    ui.remove.click(remove, [ui.run, visitor], [ui.status, ui.table, ui.run, loss_plot, accuracy_plot],
                    api_name="remove_run", queue=False).then(
        lambda v: style(loss_plot, accuracy_plot, v), [visitor], [loss_plot, accuracy_plot], queue=False,
        api_visibility="private", show_progress="hidden")

    def save(number, name, visitor: Visitor, request: gr.Request):
        """Save one of your runs' models as a named checkpoint (only your own names can be overwritten)."""
        try:
            run = chosen(number, visitor)
        except ConfigError as err:  # its message is in the visitor's language already
            return {ui.status: refused(str(err), visitor.language)}
        path, why_not = long_job.save(ctx, visitor, request, run.model, run.meta, name)
        if path is None:
            return {ui.status: refused(why_not, visitor.language)}
        return {ui.status: tr(visitor.language, "compare.saved", number=run.number, name=md_escape(path.stem)),
                **refresh_draw(visitor), **refresh_checkpoints(visitor)}

    ui.save.click(save, [ui.run, ui.save_name, visitor], [ui.status, *refresh_draw.outputs,
                                                           *refresh_checkpoints.outputs],
                  api_name="save_run", concurrency_id="files", concurrency_limit=2)

    def export(number, downloads: Downloads, visitor: Visitor):
        """Take one of your runs home: a Python script and a Jupyter notebook of the same code (each part explained
        in your language), plain PyTorch that needs only torch and torchvision, with the run's settings."""
        lang = visitor.language
        nothing = dict(zip((ui.script, ui.notebook), offer(None, downloads, lang), strict=True))
        if number in (None, ""):  # no run yet: nothing to offer, nothing to say
            return nothing
        try:
            files = offer(chosen(number, visitor), downloads, lang)
        except (DemoError, OSError) as err:  # a ConfigError from `chosen` is in the visitor's language already
            return {ui.status: refused(str(err) if isinstance(err, ConfigError) else error_text(err, lang), lang),
                    **nothing}
        return dict(zip((ui.script, ui.notebook), files, strict=True))

    # the picker changes when a run is picked, and when a training adds a run or Remove takes the chosen one away
    ui.run.change(export, [ui.run, ui.downloads, visitor], [ui.status, ui.script, ui.notebook], api_name="export_run",
                  concurrency_id="files", concurrency_limit=2, show_progress="hidden")


def offered(ui: CompareUI, downloads: Downloads, number, visitor: Visitor) -> dict:
    """The download buttons offering run `number` (the newest kept run when it is not one), in the visitor's
    language: for a language switch, which changes the notebook's words. Offers nothing when the files cannot be
    written (Download then says so through `export`)."""
    runs = visitor.runs
    run = runs.get(number) or (runs.all()[-1] if len(runs) else None)
    try:
        files = offer(run, downloads, visitor.language)
    except (DemoError, OSError):
        files = offer(None, downloads, visitor.language)
    return dict(zip((ui.script, ui.notebook), files, strict=True))
