"""The Train tab's comparison of runs: the x-axis choice above the plots, the plots drawn from every kept run,
and the runs table with Make current, Save and Remove.

The bookkeeping is `runs.py` (no gradio) and the plot data `curves.py`; this module lays out the controls and
turns a visitor's runs into component updates. Every run belongs to one visitor (`Visitor.runs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from mnist_demo.app import teach
from mnist_demo.app.common import md_escape, refused
from mnist_demo.app.curves import DEFAULT_X, X_AXES, X_TITLES, curves, series_of, x_column
from mnist_demo.app.runs import MAX_RUNS, TABLE_COLUMNS, table_rows
from mnist_demo.app.state import YOURS, AppContext, CurrentModel, Visitor
from mnist_demo.config import choice
from mnist_demo.errors import CheckpointError, ConfigError
from mnist_demo.predict import Predictor

EMPTY_TABLE = pd.DataFrame(columns=TABLE_COLUMNS)


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


def build_x_axis() -> gr.Radio:
    return gr.Radio(list(X_AXES), value=DEFAULT_X, label="Plot against", elem_id="train-x-axis",
                    info="Samples seen is fair between batch sizes; steps counts updates; seconds counts time")


def build_panel() -> CompareUI:
    """The runs table and what can be done with one run (below the plots)."""
    gr.Markdown(f"**Your runs** (this visit only, the last {MAX_RUNS}; each is a curve above)",
                elem_id="runs-title")
    table = gr.Dataframe(EMPTY_TABLE, headers=TABLE_COLUMNS, interactive=False, wrap=False, max_height=260,
                         label="Runs", show_label=False, elem_id="runs-table")
    with gr.Row(equal_height=True):
        run = gr.Dropdown([], value=None, label="Run", allow_custom_value=True, elem_id="runs-choice",
                          min_width=160, scale=2)
        make_current = gr.Button("Make current", elem_id="runs-make-current", min_width=100, scale=1)
        remove = gr.Button("Remove", elem_id="runs-remove", min_width=100, scale=1)
    with gr.Row(equal_height=True):
        save_name = gr.Textbox("", label="Save this run as", placeholder="e.g. lr-0.1", max_length=64,
                               elem_id="runs-save-name", scale=3)
        save = gr.Button("Save run", elem_id="runs-save", min_width=100, scale=1)
    status = gr.Markdown("", elem_id="runs-status")
    with gr.Accordion("How to compare runs fairly", open=False, elem_id="teach-compare"):
        gr.Markdown(teach.COMPARE_RUNS)
    return CompareUI(None, table, run, make_current, remove, save_name, save, status)


# --------------------------------------------------------------------------- updates

def plots(loss_plot, accuracy_plot, visitor: Visitor, sent: list | None = None) -> dict:
    """The plots' updates for all of the visitor's runs and the running one. `sent` holds what was last sent to
    this page ([series key, x axis]): the series' colours and the axis go again only when they changed (Gradio
    rebuilds the chart then, which a new series needs); otherwise only the data, and nothing when it is empty."""
    live = visitor.live if visitor.live_number is not None else None
    running = (visitor.live_number[0], live.config) if live is not None else None
    names = visitor.runs.labels(running)
    c = curves(series_of(visitor.runs.all(), names,
                         (*visitor.live_number, live) if live is not None else None))
    x = visitor.x_axis
    rebuild = sent is None or sent != [c.key, x]
    if sent is not None:
        sent[:] = [c.key, x]
    col = x_column(x)
    if not rebuild:
        return {**({loss_plot: c.loss} if c.loss is not None else {}),
                **({accuracy_plot: c.accuracy} if c.accuracy is not None else {})}
    return {loss_plot: gr.LinePlot(c.loss, x=col, x_title=X_TITLES[x], color_map=c.loss_colours or None),
            accuracy_plot: gr.LinePlot(c.accuracy, x=col, x_title=X_TITLES[x], color_map=c.accuracy_colours or None,
                                       colors_in_legend=c.legend or None)}


def table(ui: CompareUI, visitor: Visitor, chosen: str | None = None) -> dict:
    """The runs table and the run picker (keeping `chosen`, else the newest run)."""
    runs = visitor.runs.all()
    names = visitor.runs.labels()
    rows = table_rows(runs, names)
    options = [(f"run {r.number}" + ("" if names[r.number] == f"run {r.number}" else f": {names[r.number]}"),
                str(r.number)) for r in reversed(runs)]
    values = [v for _, v in options]
    value = chosen if chosen in values else (values[0] if values else None)
    return {ui.table: pd.DataFrame(rows, columns=TABLE_COLUMNS) if rows else EMPTY_TABLE,
            ui.run: gr.Dropdown(choices=options, value=value)}


# --------------------------------------------------------------------------- events

def wire(ctx: AppContext, ui: CompareUI, loss_plot, accuracy_plot, visitor: gr.State, refresh_draw,
         refresh_checkpoints) -> None:

    def set_x(x, visitor: Visitor):
        """Plot the curves against samples seen, steps or seconds."""
        try:
            visitor.x_axis = choice("x_axis", x, tuple(X_AXES))
        except ConfigError as err:
            return {ui.status: refused(str(err))}
        return plots(loss_plot, accuracy_plot, visitor)

    ui.x_axis.change(set_x, [ui.x_axis, visitor], [loss_plot, accuracy_plot, ui.status], api_name="plot_against",
                     queue=False, show_progress="hidden")

    def chosen(number, visitor: Visitor):
        run = visitor.runs.get(number)
        if run is None:
            have = ", ".join(str(n) for n in visitor.runs.numbers()) or "none yet: train one first"
            raise ConfigError("run", f"there is no run {number!r} of yours; your runs: {have}")
        return run

    def make_current(number, visitor: Visitor):
        """Make one of your runs the current model (the Draw tab's "your current model")."""
        try:
            run = chosen(number, visitor)
        except ConfigError as err:
            return {ui.status: refused(str(err))}
        predictor = Predictor(run.model, "your model", run.meta)
        with visitor.lock:
            visitor.current = CurrentModel(predictor.model, predictor, run.meta, f"run {run.number}",
                                           f"run-{int(time.time() * 1000)}", run.evaluation)
            visitor.draw_choice = YOURS
        return {ui.status: f"**Run {run.number}** ({md_escape(visitor.runs.labels()[run.number])}) is now your "
                           "current model: try it in the **Draw** tab.", **refresh_draw(visitor)}

    ui.make_current.click(make_current, [ui.run, visitor], [ui.status, *refresh_draw.outputs],
                          api_name="make_run_current", queue=False)

    def remove(number, visitor: Visitor):
        """Remove one of your runs from the table and the plots (your current model stays)."""
        try:
            run = chosen(number, visitor)
        except ConfigError as err:
            return {ui.status: refused(str(err))}
        visitor.runs.remove(run.number)
        return {ui.status: f"Removed run {run.number}.", **table(ui, visitor),
                **plots(loss_plot, accuracy_plot, visitor)}

    ui.remove.click(remove, [ui.run, visitor], [ui.status, ui.table, ui.run, loss_plot, accuracy_plot],
                    api_name="remove_run", queue=False)

    def save(number, name, visitor: Visitor, request: gr.Request):
        """Save one of your runs' models as a named checkpoint (only your own names can be overwritten)."""
        visitor.username = getattr(request, "username", None) or visitor.username
        try:
            run = chosen(number, visitor)
            if not isinstance(name, str) or not name.strip():
                raise CheckpointError("Checkpoint name: is empty; type a name such as lr-0.1")
            path = ctx.library.save(run.model, run.meta, name, visitor.owner)
        except (CheckpointError, ConfigError) as err:
            return {ui.status: refused(str(err))}
        return {ui.status: f"**Saved** run {run.number} as `{md_escape(path.stem)}`. It is listed in the "
                           "Checkpoints tab and the Draw tab's model picker.",
                **refresh_draw(visitor), **refresh_checkpoints(visitor)}

    ui.save.click(save, [ui.run, ui.save_name, visitor], [ui.status, *refresh_draw.outputs,
                                                           *refresh_checkpoints.outputs],
                  api_name="save_run", concurrency_id="files", concurrency_limit=2)
