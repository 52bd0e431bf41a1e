"""The Train tab's events: the preset fills the controls, Train and the "try it" comparisons stream their runs
through the server's line (`server.long_job`), Stop, Save; and what the page redraws when the tab opens or the
language changes. Handlers return only what they change.
"""

from __future__ import annotations

import threading

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import YOURS
from mnist_demo.app.core.runs import text as run_text
from mnist_demo.app.core.runs.downloads import Downloads
from mnist_demo.app.core.runs.form import build_config, offered_device
from mnist_demo.app.core.runs.kept import COMPARISONS, keep
from mnist_demo.app.core.runs.training import LiveRun, for_live_view, training_work
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server import long_job
from mnist_demo.app.server.shared import Shared
from mnist_demo.app.tabs.train import runs_panel
from mnist_demo.config import PRESETS, TRAIN_SIZE, TrainConfig
from mnist_demo.errors import DemoError
from mnist_demo.texts import tr


def redraw(ui, visitor: Visitor) -> dict:
    """The visitor's curves, drawn again: plots drawn while their tab was hidden come out blank, so the page calls
    this when the Train tab opens, then `restyle`."""
    return runs_panel.plots(ui.loss_plot, ui.accuracy_plot, visitor)[0]


def restyle(ui, visitor: Visitor) -> dict:
    """The plots' axis, colours and legend for the visitor's runs (after `redraw`'s data)."""
    return runs_panel.style(ui.loss_plot, ui.accuracy_plot, visitor)


def take_home(ui, downloads: Downloads, visitor: Visitor) -> dict:
    """Below Save, once a run is kept: the newest kept run's script and notebook (the notebook in the visitor's
    language), named; hidden while there is none or its files cannot be written."""
    runs = visitor.runs.all()
    hidden = {ui.take_home: gr.Row(visible=False)}
    if not runs:
        return hidden
    run, lang = runs[-1], visitor.language
    try:
        script, notebook = runs_panel.offer(run, downloads, lang)
    except (DemoError, OSError):
        return hidden
    label = visitor.runs.labels(lang=lang)[run.number]
    text = (tr(lang, "train.take_home_plain", number=run.number) if label == tr(lang, "runs.run", number=run.number)
            else tr(lang, "train.take_home", number=run.number, label=md_escape(label)))
    return {ui.take_home: gr.Row(visible=True), ui.home_script: script, ui.home_notebook: notebook,
            ui.take_home_text: text}


def in_language(ctx: AppContext, ui, visitor: Visitor, downloads: Downloads | None = None, chosen=None) -> dict:
    """The server-written texts that stay on the page, in the visitor's language, for when the page opens or the
    language switch is used: the runs table (its headers too: a Dataframe's are not translated by the browser),
    the run picker, and a finished run's status and progress line (a running one's follow at its next update);
    with the session's `downloads`, the notebooks offered (the run `chosen` in the picker, the newest below Save),
    whose explanations are in the visitor's language. The plots' run names and axis follow at the next
    `redraw`/`restyle`."""
    update = runs_panel.table(ui.runs, visitor)
    if downloads is not None:
        update.update({**runs_panel.offered(ui.runs, downloads, chosen, visitor), **take_home(ui, downloads, visitor)})
    live = visitor.live
    if live is not None and live.finished:
        lang = visitor.language
        update.update({ui.status: run_text.status(ctx, live, live.config, lang),
                       ui.progress: run_text.progress(live, lang)})
    return update


def create_event_handlers(ctx: AppContext, ui, shared: Shared, tab: gr.Tab) -> None:
    visitor = shared.visitor
    refresh_draw, refresh_checkpoints = shared.refresh_draw, shared.refresh_checkpoints

    def fill_preset(name):
        if not isinstance(name, str) or name.strip().lower() not in PRESETS:
            return {ui.model: gr.update()}  # an unknown name fills nothing (Train then names the bad field)
        p = PRESETS[name.strip().lower()]
        return {ui.model: p.model, ui.optimizer: p.optimizer, ui.lr: p.lr, ui.batch_size: p.batch_size,
                ui.epochs: min(p.epochs, ctx.settings.max_epochs), ui.augment: p.augment}

    ui.preset.input(fill_preset, ui.preset, [ui.model, ui.optimizer, ui.lr, ui.batch_size, ui.epochs, ui.augment],
                    api_name="preset_values", queue=False).then(
        lambda v: gr.update(info=tr(v.language, "train.preset_info")), [visitor], ui.preset, queue=False,
        api_visibility="private")

    shown = [ui.model, ui.optimizer, ui.lr, ui.batch_size, ui.epochs, ui.augment]

    def note_edits(preset, model, optimizer, lr, batch_size, epochs, augment, visitor: Visitor):
        return gr.update(info=run_text.preset_info(preset, ctx.settings.max_epochs, visitor.language, model=model,
                                                   optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                                                   augment=augment))

    for control in shown:  # typed or picked by a person (not filled by a preset): say what now differs
        control.input(note_edits, [ui.preset, *shown, visitor], ui.preset, queue=False, api_visibility="private",
                      show_progress="hidden")

    # the first outputs keep their places (API clients read status, progress, log and the plots by position)
    outputs = [ui.status, ui.progress, ui.log, ui.loss_plot, ui.accuracy_plot, ui.train_button, ui.stop_button,
               *refresh_draw.outputs, ui.save_status, ui.runs.table, ui.runs.run, *ui.try_buttons.values()]
    buttons = long_job.Buttons((ui.train_button, *ui.try_buttons.values()), ui.stop_button)

    def run_one(config: TrainConfig, preset: str, visitor: Visitor, request, head, sent: dict):
        """One run of a plan through the line: its messages, then its LiveRun (None when the line refused it)."""
        lang = visitor.language
        live = LiveRun(config, TRAIN_SIZE, lang)
        reserved = []

        def admitted():  # numbered and coloured once the line takes it (a refused run takes no number)
            number, colour = visitor.runs.reserve()
            reserved.append((number, colour))
            with visitor.lock:
                visitor.live, visitor.live_number = live, (number, colour)

        points = [None]

        def updates():
            lang = visitor.language  # the language switch may be used while this run runs
            update = {ui.status: head(lang) + run_text.status(ctx, live, config, lang),
                      ui.progress: run_text.progress(live, lang), ui.log: live.log_text()}
            restyle = None
            if points[0] is None:  # the first message: an empty log, the table with the new run, no old save note
                update.update({ui.log: "", **runs_panel.table(ui.runs, visitor), ui.save_status: ""})
            if (len(live.losses), len(live.accuracies)) != points[0]:
                points[0] = (len(live.losses), len(live.accuracies))
                values, restyle = runs_panel.plots(ui.loss_plot, ui.accuracy_plot, visitor, sent)
                update.update(values)
            yield update
            if restyle:
                yield restyle

        def busy(err) -> dict:
            return {ui.status: head(lang) + tr(lang, "train.busy", message=md_escape(error_text(err, lang)))}

        job = long_job.Job("train", run_text.describe_config(config), training_work(config, ctx.settings.data_dir),
                           size=config.epochs * (config.limit or TRAIN_SIZE) / TRAIN_SIZE)
        try:
            yield from long_job.run(ctx, visitor, request, job, live, buttons, updates, busy, admitted)
        finally:  # also when the page goes away mid-run (the generator is closed)
            if reserved:
                with visitor.lock:
                    visitor.live_number = None  # no longer drawn as the running run: kept next, or dropped
                visitor.runs.release(reserved[0][0])
        if reserved:
            keep(visitor, live, preset, *reserved[0])
        return live if reserved else None

    def run_plan(plan: list[tuple[TrainConfig, str]], visitor: Visitor, request: gr.Request, title: str = ""):
        """Train each (config, preset) in turn through the line; streams status, progress, log and the curves of
        every run. Stop, a failure or a full line ends the plan."""
        stopped = visitor.plan_stopped = threading.Event()
        sent: dict = {}  # what the plots were last sent (see runs_panel.plots)
        for index, (config, preset_name) in enumerate(plan):
            if stopped.is_set():  # Stop pressed between two runs
                yield {ui.status: tr(visitor.language, "train.plan_stopped"), **buttons.running(False)}
                return

            def head(lang: str) -> str:  # "Learning rate: 0.001 vs 0.1, run 1 of 2: " for a comparison's runs
                return (tr(lang, "train.plan_head", title=md_escape(title), index=index + 1, count=len(plan))
                        if len(plan) > 1 else "")

            config = for_live_view(config, TRAIN_SIZE)
            live = yield from run_one(config, preset_name, visitor, request, head, sent)
            if live is None:
                return
            draw = refresh_draw(visitor) if visitor.draw_choice == YOURS and live.result is not None else {}
            last_one = index == len(plan) - 1 or live.result is None or live.result.stopped or stopped.is_set()
            lang = visitor.language
            values, restyle = runs_panel.plots(ui.loss_plot, ui.accuracy_plot, visitor, sent)
            if restyle:  # the data first (see runs_panel.plots); the last message has everything, for API clients
                yield values
            yield {ui.status: head(lang) + run_text.status(ctx, live, config, lang),
                   ui.progress: run_text.progress(live, lang), ui.log: live.log_text(), **(restyle or values),
                   **runs_panel.table(ui.runs, visitor), **draw, **(buttons.running(False) if last_one else {})}
            if last_one:
                return

    def train(preset, model, optimizer, lr, batch_size, epochs, augment, device, limit, visitor: Visitor,
              request: gr.Request):
        """Train a model with these settings; streams status, progress, log and curves."""
        try:
            config = build_config(ctx, preset, model, optimizer, lr, batch_size, epochs, augment, device, limit)
        except DemoError as err:
            yield {ui.status: refused(error_text(err, visitor.language), visitor.language)}
            return
        yield from run_plan([(config, str(preset).strip().lower())], visitor, request)

    ui.train_button.click(train, [*ui.controls, visitor], outputs, api_name="train", concurrency_limit=None,
                          concurrency_id="train", show_progress="hidden")

    def trier(comparison):
        def try_it(device, visitor: Visitor, request: gr.Request):
            try:
                configs = comparison.configs(offered_device(ctx, device), ctx.settings.max_epochs)
            except DemoError as err:
                yield {ui.status: refused(error_text(err, visitor.language), visitor.language)}
                return
            yield from run_plan([(c, comparison.preset) for c in configs], visitor, request,
                                tr(visitor.language, f"runs.try_{comparison.key}"))

        try_it.__doc__ = f"Run the comparison '{comparison.title}': {comparison.info}."
        return try_it

    for comparison in COMPARISONS:
        ui.try_buttons[comparison.key].click(trier(comparison), [ui.device, visitor], outputs,
                                             api_name=f"try_{comparison.key}", concurrency_limit=None,
                                             concurrency_id="train", show_progress="hidden")
    runs_panel.create_event_handlers(ctx, ui.runs, ui.loss_plot, ui.accuracy_plot, shared)

    def end_plan(visitor: Visitor) -> None:
        if visitor.plan_stopped is not None:
            visitor.plan_stopped.set()

    stop = long_job.stop_handler("train", "train", before=end_plan)
    stop.__doc__ = "Stop this visitor's training (or leave the line); the partial model is kept. Ends a comparison too."
    ui.stop_button.click(stop, [visitor], [ui.status], api_name="stop", concurrency_limit=None, queue=False,
                         show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model as a named checkpoint (only your own names can be overwritten)."""
        lang = visitor.language
        path, why_not = long_job.save_current(ctx, visitor, request, name, "train.save_nothing")
        if path is None:
            return {ui.save_status: refused(why_not, lang)}
        return {ui.save_status: tr(lang, "train.saved", name=md_escape(path.stem),
                                   kb=f"{path.stat().st_size / 1024:.0f}"),
                **refresh_draw(visitor), **refresh_checkpoints(visitor)}

    ui.save_button.click(save, [ui.save_name, visitor],
                         [ui.save_status, *refresh_draw.outputs, *refresh_checkpoints.outputs], api_name="save",
                         concurrency_id="files", concurrency_limit=2)

    tab.select(lambda v: redraw(ui, v), [visitor], [ui.loss_plot, ui.accuracy_plot], api_visibility="private",
               queue=False, show_progress="hidden").then(
        lambda v: restyle(ui, v), [visitor], [ui.loss_plot, ui.accuracy_plot], api_visibility="private",
        queue=False, show_progress="hidden")
    home = [ui.take_home, ui.take_home_text, ui.home_script, ui.home_notebook]
    # the table changes when a run is kept or removed (and with the language): the newest run's files follow it
    ui.runs.table.change(lambda d, v: take_home(ui, d, v), [ui.runs.downloads, visitor], home,
                         api_visibility="private", concurrency_id="files", concurrency_limit=2, show_progress="hidden")
    shared.on_language(lambda v, d, n: in_language(ctx, ui, v, d, n),
                       [ui.runs.table, ui.runs.run, ui.status, ui.progress, ui.runs.script, ui.runs.notebook, *home],
                       [ui.runs.downloads, ui.runs.run])
