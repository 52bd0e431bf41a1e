"""The Train tab: controls -> engine config -> the shared jobs queue -> live log, curves and progress bar.

Everything that trains lives in the engine (`config`, `train`) and in `live.py`/`jobs.py`; this module only
lays out the controls and streams a LiveRun to the components (its words are `run_text.py`'s). Each finished
run is kept for the visit (`runs.py`) and drawn beside the others; the runs table and the x-axis choice are
`compare.py`'s. A "try it" button runs a comparison's configs one after another through the same queue.

Words: what the page declares is `t(key)` (the browser translates it), or `i18n.filled` where a number is
in it; what the handlers write is in the visitor's language (`Visitor.language`), from the `train.*` texts.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, replace

import gradio as gr

from mnist_demo.app import compare, run_text, teach
from mnist_demo.app.common import error_text, md_escape, progress_html, refused, seconds
from mnist_demo.app.i18n import filled, t, tr
from mnist_demo.app.live import LiveRun, for_live_view, training_work
from mnist_demo.app.runs import COMPARISONS, KeptRun
from mnist_demo.app.state import YOURS, AppContext, CurrentModel, Visitor
from mnist_demo.checkpoints import metadata
from mnist_demo.config import DEFAULT_PRESET, OPTIMIZERS, PRESETS, TRAIN_SIZE, TrainConfig, make_config
from mnist_demo.devices import resolve_device
from mnist_demo.errors import CheckpointError, ConfigError, DemoError, DeviceError
from mnist_demo.app.jobs import AlreadyActive, Busy
from mnist_demo.app.runner import run_job
from mnist_demo.models import MODELS
from mnist_demo.predict import Predictor

APP_MAX_BATCH = 8192  # the engine allows 60000; a shared demo should not build 60000-image batches
REDRAW_S = 1.0  # at most one UI update per second unless something important happened
EMPTY_WANTED = {
    "preset": f"choose one of {', '.join(PRESETS)}",
    "model": f"choose one of {', '.join(MODELS)}",
    "optimizer": f"choose one of {', '.join(OPTIMIZERS)}",
    "lr": "must be a number greater than 0 and at most 10",
    "batch_size": f"must be a whole number from 1 to {APP_MAX_BATCH}",
    "epochs": "must be a whole number of passes over the data, from 1",
    "augment": "must be true or false",
    "device": "choose a device this machine has",
    "limit": f"must be a whole number from 1 to {TRAIN_SIZE}",
}


def model_label(name: str) -> str:
    """The Model dropdown's label: the name and the registry's description up to its first full stop or colon."""
    return f"{name}: {re.split(r'[.:] ', MODELS[name].description + ' ')[0]}"


def model_key(name: str) -> str:
    """The locale key of a model's choice in the Model dropdown (its `model_label`)."""
    return "train.model_" + name.replace("-", "_")


def lenient(component):
    """Hand any submitted value to the function, which refuses bad ones with a field-named message (a Radio
    would answer an unknown choice with a generic error). Set on the instance: a Component subclass would make
    gradio write a .pyi stub next to this module."""
    component.preprocess = lambda payload: payload
    return component


@dataclass
class TrainUI:
    preset: gr.Dropdown
    model: gr.Dropdown
    optimizer: gr.Radio
    lr: gr.Number
    batch_size: gr.Number
    epochs: gr.Number
    augment: gr.Checkbox
    device: gr.Dropdown
    limit: gr.Number
    train_button: gr.Button
    stop_button: gr.Button
    status: gr.Markdown
    progress: gr.HTML
    log: gr.Textbox
    loss_plot: gr.LinePlot
    accuracy_plot: gr.LinePlot
    save_name: gr.Textbox
    save_button: gr.Button
    save_status: gr.Markdown
    try_buttons: dict  # Comparison.key -> gr.Button
    runs: compare.CompareUI

    @property
    def controls(self) -> list:
        return [self.preset, self.model, self.optimizer, self.lr, self.batch_size, self.epochs, self.augment,
                self.device, self.limit]


# --------------------------------------------------------------------------- layout

def build(ctx: AppContext) -> TrainUI:
    preset = PRESETS[DEFAULT_PRESET]
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            preset_dd = gr.Dropdown([(t(f"train.preset_{name}"), name) for name in PRESETS],
                                    value=DEFAULT_PRESET, label=t("train.preset_label"), allow_custom_value=True,
                                    info=t("train.preset_info"), elem_id="train-preset")
            gr.Markdown(t("train.try_title"), elem_id="try-title", elem_classes=["mnist-small"])
            with gr.Row(elem_id="try-row"):
                try_buttons = {c.key: gr.Button(t(f"runs.try_{c.key}"), size="sm", elem_id=f"try-{c.key}",
                                                min_width=140) for c in COMPARISONS}
            gr.Markdown(t("runs.try_info"), elem_id="try-info", elem_classes=["mnist-small"])
            model = gr.Dropdown([(t(model_key(n)), n) for n in MODELS], value=preset.model,
                                label=t("train.model_label"), allow_custom_value=True, elem_id="train-model")
            optimizer = lenient(gr.Radio(list(OPTIMIZERS), value=preset.optimizer, label=t("train.optimizer_label"),
                                         elem_id="train-optimizer"))
            with gr.Row():
                lr = gr.Number(preset.lr, label=t("train.lr_label"), step=0.0005, elem_id="train-lr", min_width=100)
                batch = gr.Number(preset.batch_size, label=t("train.batch_size_label"), precision=None, step=1,
                                  elem_id="train-batch-size", min_width=100)
                epochs = gr.Number(preset.epochs, label=filled("train.epochs_label",
                                                                           max=ctx.settings.max_epochs),
                                   step=1, elem_id="train-epochs", min_width=100)
            with gr.Row():
                augment = gr.Checkbox(preset.augment, label=t("train.augment_label"), elem_id="train-augment")
                device = gr.Dropdown(ctx.devices, value=ctx.default_device, label=t("train.device_label"),
                                     allow_custom_value=True, elem_id="train-device", min_width=100)
            with gr.Accordion(t("train.more_options"), open=False, elem_id="train-more"):
                limit = gr.Number(TRAIN_SIZE, label=t("train.limit_label"), step=1000, elem_id="train-limit",
                                  info=filled("train.limit_info", total=f"{TRAIN_SIZE:,}"))
            with gr.Row():
                train_button = gr.Button(t("train.train_button"), variant="primary", elem_id="train-button")
                stop_button = gr.Button(t("train.stop_button"), variant="stop", interactive=False,
                                        elem_id="stop-button")
            cap = ctx.settings.max_train_seconds
            caps = filled(
                "train.caps", epochs=ctx.settings.max_epochs, trainings=ctx.settings.max_trainings,
                waiting=ctx.settings.queue_size,
                seconds=lambda lang: seconds(cap, lang) if cap else tr(lang, "train.caps_no_cap"))
            gr.Markdown(caps, elem_id="train-limits", elem_classes=["mnist-small"])
            with gr.Accordion(t("train.teach_lr"), open=False, elem_id="teach-lr"):
                gr.Markdown(teach.LEARNING_RATE)
            with gr.Accordion(t("train.teach_epoch"), open=False, elem_id="teach-epoch"):
                gr.Markdown(teach.EPOCH_BATCH)
            with gr.Accordion(t("train.teach_relu"), open=False, elem_id="teach-relu"):
                gr.Markdown(teach.FINAL_RELU)
            with gr.Accordion(t("train.teach_fast"), open=False, elem_id="teach-fast"):
                gr.Markdown(teach.FAST_PRESET)
        with gr.Column(scale=3, min_width=360):
            status = gr.Markdown(t("train.status_start"), elem_id="train-status")
            # the bar's text is the one piece the browser translates (escaped, a marker would not be found)
            progress = gr.HTML(progress_html(0.0, "\0", "idle").replace("\0", str(t("train.progress_not_started"))),
                               elem_id="train-progress", js_on_load=None)
            x_axis = compare.build_x_axis()
            with gr.Row():
                loss_plot = gr.LinePlot(None, x="samples seen", y="loss", color="run", label=t("train.loss_plot"),
                                        x_title=t("curves.x_samples_title"), y_title=t("train.loss_y"),
                                        elem_id="loss-plot")
                accuracy_plot = gr.LinePlot(None, x="samples seen", y="accuracy", color="run",
                                            label=t("train.accuracy_plot"), x_title=t("curves.x_samples_title"),
                                            y_title=t("train.accuracy_y"), y_lim=[0, 100], elem_id="accuracy-plot")
            gr.Markdown(t("train.accuracy_legend"), elem_classes=["mnist-small"], elem_id="accuracy-legend")
            runs_ui = compare.build_panel()
            runs_ui.x_axis = x_axis
            with gr.Accordion(t("train.teach_loss"), open=False, elem_id="teach-loss"):
                gr.Markdown(teach.LOSS)
            log_box = gr.Textbox("", label=t("train.log_label"), lines=12, max_lines=12,
                                 autoscroll=True, interactive=False, elem_id="train-log", buttons=["copy"])
            with gr.Row(equal_height=True):
                save_name = gr.Textbox("", label=t("train.save_label"), placeholder=t("train.save_placeholder"),
                                       max_length=64, elem_id="save-name", scale=3)
                save_button = gr.Button(t("train.save_button"), elem_id="save-button", scale=1)
            save_status = gr.Markdown("", elem_id="save-status")
    return TrainUI(preset_dd, model, optimizer, lr, batch, epochs, augment, device, limit, train_button,
                   stop_button, status, progress, log_box, loss_plot, accuracy_plot, save_name, save_button,
                   save_status, try_buttons, runs_ui)


# --------------------------------------------------------------------------- engine glue

def build_config(ctx: AppContext, preset, model, optimizer, lr, batch_size, epochs, augment, device,
                 limit) -> TrainConfig:
    """The validated TrainConfig for these control values, or ConfigError naming the first bad field."""
    values = {"preset": preset, "model": model, "optimizer": optimizer, "lr": lr, "batch_size": batch_size,
              "epochs": epochs, "augment": augment, "device": device, "limit": limit}
    for field, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(field, f"is empty; {EMPTY_WANTED[field]}", code="empty")
    if not isinstance(preset, str) or preset.strip().lower() not in PRESETS:
        raise ConfigError("preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}",
                          code="unknown_choice", value=repr(preset), options=", ".join(PRESETS))
    if not isinstance(augment, bool):
        raise ConfigError("augment", f"{augment!r} is not true or false")
    config = make_config(preset.strip().lower(), max_epochs=ctx.settings.max_epochs, max_batch_size=APP_MAX_BATCH,
                         model=model, optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                         augment=augment, limit=limit, device=str(device).strip().lower())
    config = replace(config, device=offered_device(ctx, config.device))
    if config.limit is not None and config.limit >= TRAIN_SIZE:
        config = replace(config, limit=None)
    return config


def offered_device(ctx: AppContext, device) -> str:
    """`device` (None: the default) if this app offers it, else ConfigError saying why not."""
    device = ctx.default_device if device in (None, "") else str(device).strip().lower()
    if device not in ctx.devices:
        try:
            resolve_device(device)
        except DeviceError as err:
            raise ConfigError("device", str(err).removeprefix("device: "), code=err.code, **err.values) from None
        raise ConfigError("device", f"{device!r} is not offered here; choose one of {', '.join(ctx.devices)}")
    return device


def _keep(visitor: Visitor, live: LiveRun, config: TrainConfig, preset: str, number: int, colour: int) -> None:
    """A finished (or stopped) run is kept for comparing, and its model becomes the visitor's current model."""
    r = live.result
    if live.error is not None or r is None or r.model is None:
        visitor.runs.release(number)
        return
    meta = metadata(config.to_dict(), r.evaluation, r.epochs_completed, r.steps, preset=preset,
                    stopped=bool(r.stopped), source="trained in the app")
    predictor = Predictor(r.model, "your model", meta)  # a CPU copy, shared by the kept run and the Draw tab
    visitor.runs.add(KeptRun(number, colour, config, preset, list(live.losses), list(live.accuracies),
                             r.evaluation, r.elapsed_s, r.samples_seen / max(r.train_s, 1e-9),
                             r.epochs_completed, bool(r.stopped), predictor.model, meta))
    with visitor.lock:
        visitor.current = CurrentModel(predictor.model, predictor, meta,
                                       "stopped early" if r.stopped else "trained just now",
                                       f"run-{int(time.time() * 1000)}", r.evaluation)
        visitor.draw_choice = YOURS


def redraw(ui: TrainUI, visitor: Visitor) -> dict:
    """The visitor's curves, drawn again: plots drawn while their tab was hidden come out blank, so the app calls
    this when the Train tab opens, then `restyle`."""
    return compare.plots(ui.loss_plot, ui.accuracy_plot, visitor)[0]


def restyle(ui: TrainUI, visitor: Visitor) -> dict:
    """The plots' axis, colours and legend for the visitor's runs (after `redraw`'s data)."""
    return compare.style(ui.loss_plot, ui.accuracy_plot, visitor)


def in_language(ctx: AppContext, ui: TrainUI, visitor: Visitor) -> dict:
    """The server-written texts that stay on the page, in the visitor's language, for when the page opens or the
    language switch is used: the runs table (its headers too: a Dataframe's are not translated by the browser),
    the run picker, and a finished run's status and progress line (a running one's follow at its next update).
    The plots' run names and axis follow at the next `redraw`/`restyle`."""
    update = compare.table(ui.runs, visitor)
    live = visitor.live
    if live is not None and live.finished:
        lang = visitor.language
        update.update({ui.status: run_text.status(ctx, live, live.config, lang),
                       ui.progress: run_text.progress(live, lang)})
    return update


def language_outputs(ui: TrainUI) -> list:
    """The components `in_language` updates."""
    return [ui.runs.table, ui.runs.run, ui.status, ui.progress]


# --------------------------------------------------------------------------- events

def wire(ctx: AppContext, ui: TrainUI, visitor: gr.State, refresh_draw, refresh_checkpoints) -> None:
    """`refresh_draw(visitor)` and `refresh_checkpoints(visitor)` give `{component: value}` for their `outputs`
    (the Draw tab's picker and info; the checkpoint table and name). Handlers return only what they change."""

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

    def buttons(training: bool) -> dict:
        """Train and the try-it buttons greyed, Stop active, only while this visitor's run waits or runs."""
        return {ui.train_button: gr.update(interactive=not training), ui.stop_button: gr.update(interactive=training),
                **{b: gr.update(interactive=not training) for b in ui.try_buttons.values()}}

    def run_plan(plan: list[tuple[TrainConfig, str]], visitor: Visitor, request: gr.Request, title: str = ""):
        """Train each (config, preset) in turn through the jobs queue; streams status, progress, log and the
        curves of every run. Stop, a failure or a full queue ends the plan."""
        owner = visitor.job_owner(getattr(request, "session_hash", None))
        lang = visitor.language
        stopped = visitor.plan_stopped = threading.Event()
        sent: dict = {}  # what the plots were last sent (see compare.plots)
        for index, (config, preset_name) in enumerate(plan):
            if stopped.is_set():  # Stop pressed between two runs
                yield {ui.status: tr(lang, "train.plan_stopped"), **buttons(False)}
                return

            def heading(lang: str) -> str:  # "Learning rate: 0.001 vs 0.1, run 1 of 2: " for a comparison's runs
                return (tr(lang, "train.plan_head", title=md_escape(title), index=index + 1, count=len(plan))
                        if len(plan) > 1 else "")

            head = heading(lang)
            config = for_live_view(config, TRAIN_SIZE)
            try:
                ticket = ctx.jobs.submit(owner, kind="train", label=run_text.describe_config(config))
            except (Busy, AlreadyActive) as err:
                yield {ui.status: head + tr(lang, "train.busy", message=md_escape(err.text(lang))), **buttons(False)}
                return
            live = LiveRun(config, TRAIN_SIZE, lang)
            number, colour = visitor.runs.reserve()
            with visitor.lock:
                visitor.ticket, visitor.live, visitor.live_number = ticket, live, (number, colour)
            try:
                values, restyle = compare.plots(ui.loss_plot, ui.accuracy_plot, visitor, sent)
                yield {ui.status: head + run_text.status(ctx, live, config, lang), ui.progress: run_text.progress(live, lang),
                       ui.log: "", **values, **compare.table(ui.runs, visitor), **buttons(True), ui.save_status: ""}
                if restyle:
                    yield restyle
                last, points = time.monotonic(), (0, 0)
                for item in run_job(ticket, training_work(config, ctx.settings.data_dir)):
                    important = live.apply(item)
                    if live.finished:
                        break
                    if important or time.monotonic() - last >= REDRAW_S:
                        last = time.monotonic()
                        if lang != visitor.language:  # the language switch was used while this run runs
                            lang = visitor.language
                            head = heading(lang)
                        update = {ui.status: head + run_text.status(ctx, live, config, lang),
                                  ui.progress: run_text.progress(live, lang),
                                  ui.log: live.log_text()}
                        restyle = None
                        if (len(live.losses), len(live.accuracies)) != points:
                            points = (len(live.losses), len(live.accuracies))
                            values, restyle = compare.plots(ui.loss_plot, ui.accuracy_plot, visitor, sent)
                            update.update(values)
                        yield update
                        if restyle:
                            yield restyle
            finally:  # also when the page goes away mid-run (the generator is closed)
                with visitor.lock:
                    visitor.live_number = None  # no longer drawn as the running run: kept next, or dropped
                visitor.runs.release(number)
            _keep(visitor, live, config, preset_name, number, colour)
            draw = refresh_draw(visitor) if visitor.draw_choice == YOURS and live.result is not None else {}
            last_one = index == len(plan) - 1 or live.result is None or live.result.stopped or stopped.is_set()
            lang = visitor.language
            head = heading(lang)
            values, restyle = compare.plots(ui.loss_plot, ui.accuracy_plot, visitor, sent)
            if restyle:  # the data first (see compare.plots); the last message has everything, for API clients
                yield values
            yield {ui.status: head + run_text.status(ctx, live, config, lang), ui.progress: run_text.progress(live, lang),
                   ui.log: live.log_text(), **(restyle or values), **compare.table(ui.runs, visitor), **draw,
                   **(buttons(False) if last_one else {})}
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
    compare.wire(ctx, ui.runs, ui.loss_plot, ui.accuracy_plot, visitor, refresh_draw, refresh_checkpoints)

    def stop(visitor: Visitor):
        """Stop this visitor's training (or leave the line); the partial model is kept. Ends a comparison too."""
        if visitor.plan_stopped is not None:
            visitor.plan_stopped.set()
        key = {None: "train.stop_nothing", "left": "train.stop_left", "stopping": "train.stop_stopping"}
        return tr(visitor.language, key[visitor.stop("train")])

    ui.stop_button.click(stop, [visitor], [ui.status], api_name="stop", concurrency_limit=None, queue=False,
                         show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model as a named checkpoint (only your own names can be overwritten)."""
        visitor.username = getattr(request, "username", None) or visitor.username
        current = visitor.current
        lang = visitor.language
        if current is None:
            return {ui.save_status: refused(tr(lang, "train.save_nothing"), lang)}
        try:
            path = ctx.library.save(current.model, current.meta, name, visitor.owner)
        except CheckpointError as err:
            return {ui.save_status: refused(error_text(err, lang), lang)}
        return {ui.save_status: tr(lang, "train.saved", name=md_escape(path.stem),
                                   kb=f"{path.stat().st_size / 1024:.0f}"),
                **refresh_draw(visitor), **refresh_checkpoints(visitor)}

    ui.save_button.click(save, [ui.save_name, visitor],
                         [ui.save_status, *refresh_draw.outputs, *refresh_checkpoints.outputs], api_name="save",
                         concurrency_id="files", concurrency_limit=2)
