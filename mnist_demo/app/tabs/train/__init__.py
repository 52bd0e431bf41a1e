"""The Train tab: controls -> engine config -> the server's line for long jobs -> live log, curves and progress bar.

Everything that trains lives in the engine (`config`, `train`) and the core (`live`, `runs`, `run_text`); this
package lays out the controls (`create_ui`, here) and streams a run to them (`events.py`, through
`server.long_job`). Each finished run is kept for the visit (`core/runs/kept.py`) and drawn beside the others; the runs
table and the x-axis choice are `runs_panel.py`'s. A "try it" button runs a comparison's configs one after another
through the same line. Each kept run goes home as a PyTorch script and notebook (`runs_panel.offer`): the chosen one
in the runs panel, the newest below Save.

Words: what the page declares is `t(key)` (the browser translates it), or `i18n.filled` where a number is
in it; what the handlers write is in the visitor's language (`Visitor.language`), from the `train.*` texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import progress_html, seconds
from mnist_demo.app.core.runs.kept import COMPARISONS
from mnist_demo.app.server.i18n import filled, t
from mnist_demo.app.tabs.train import runs_panel
from mnist_demo.app.tabs.train.events import create_event_handlers, in_language, redraw, restyle
from mnist_demo.config import DEFAULT_PRESET, OPTIMIZERS, PRESETS, TRAIN_SIZE
from mnist_demo.models import MODELS
from mnist_demo.texts import tr

__all__ = ["TrainUI", "create_ui", "create_event_handlers", "in_language", "redraw", "restyle"]


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
    runs: runs_panel.CompareUI
    take_home: gr.Row  # below Save once a run is kept: the newest run's script and notebook
    take_home_text: gr.Markdown
    home_script: gr.DownloadButton
    home_notebook: gr.DownloadButton

    @property
    def controls(self) -> list:
        return [self.preset, self.model, self.optimizer, self.lr, self.batch_size, self.epochs, self.augment,
                self.device, self.limit]


# --------------------------------------------------------------------------- layout

# --------------------------------------------------------------------------- layout

def create_ui(ctx: AppContext) -> TrainUI:
    """The Train tab's controls, status, plots, runs panel, log and Save."""
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
            cap, wait = ctx.settings.max_train_seconds, ctx.settings.max_wait_s
            remote = ctx.settings.scheduler not in (None, "embedded")
            caps = filled(
                "train.caps_cluster" if remote else "train.caps", epochs=ctx.settings.max_epochs,
                trainings=ctx.settings.max_trainings,
                seconds=lambda lang: seconds(cap, lang) if cap else tr(lang, "train.caps_no_cap"),
                wait=lambda lang: seconds(wait, lang) if wait else tr(lang, "train.caps_no_wait"))
            gr.Markdown(caps, elem_id="train-limits", elem_classes=["mnist-small"])
            with gr.Accordion(t("train.teach_lr"), open=False, elem_id="teach-lr"):
                gr.Markdown(t("teach.learning_rate"))
            with gr.Accordion(t("train.teach_epoch"), open=False, elem_id="teach-epoch"):
                gr.Markdown(t("teach.epoch_batch"))
            with gr.Accordion(t("train.teach_relu"), open=False, elem_id="teach-relu"):
                gr.Markdown(t("teach.final_relu"))
            with gr.Accordion(t("train.teach_fast"), open=False, elem_id="teach-fast"):
                gr.Markdown(t("teach.fast_preset"))
        with gr.Column(scale=3, min_width=360):
            status = gr.Markdown(t("train.status_start"), elem_id="train-status")
            # the bar's text is the one piece the browser translates (escaped, a marker would not be found)
            progress = gr.HTML(progress_html(0.0, "\0", "idle").replace("\0", str(t("train.progress_not_started"))),
                               elem_id="train-progress", js_on_load=None)
            x_axis = runs_panel.create_x_axis()
            with gr.Row():
                loss_plot = gr.LinePlot(None, x="samples seen", y="loss", color="run", label=t("train.loss_plot"),
                                        x_title=t("curves.x_samples_title"), y_title=t("train.loss_y"),
                                        elem_id="loss-plot")
                accuracy_plot = gr.LinePlot(None, x="samples seen", y="accuracy", color="run",
                                            label=t("train.accuracy_plot"), x_title=t("curves.x_samples_title"),
                                            y_title=t("train.accuracy_y"), y_lim=[0, 100], elem_id="accuracy-plot")
            gr.Markdown(t("train.accuracy_legend"), elem_classes=["mnist-small"], elem_id="accuracy-legend")
            runs_ui = runs_panel.create_panel(x_axis)
            with gr.Accordion(t("train.teach_loss"), open=False, elem_id="teach-loss"):
                gr.Markdown(t("teach.loss"))
            log_box = gr.Textbox("", label=t("train.log_label"), lines=12, max_lines=12,
                                 autoscroll=True, interactive=False, elem_id="train-log", buttons=["copy"])
            with gr.Row(equal_height=True):
                save_name = gr.Textbox("", label=t("train.save_label"), placeholder=t("train.save_placeholder"),
                                       max_length=64, elem_id="save-name", scale=3)
                save_button = gr.Button(t("train.save_button"), elem_id="save-button", scale=1)
            save_status = gr.Markdown("", elem_id="save-status")
            with gr.Row(equal_height=True, visible=False, elem_id="take-home") as take_home:
                take_home_text = gr.Markdown("", elem_id="take-home-text")
                home_script, home_notebook = runs_panel.download_buttons("take-home")
    return TrainUI(preset=preset_dd, model=model, optimizer=optimizer, lr=lr, batch_size=batch, epochs=epochs,
                   augment=augment, device=device, limit=limit, train_button=train_button, stop_button=stop_button,
                   status=status, progress=progress, log=log_box, loss_plot=loss_plot, accuracy_plot=accuracy_plot,
                   save_name=save_name, save_button=save_button, save_status=save_status, try_buttons=try_buttons,
                   runs=runs_ui, take_home=take_home, take_home_text=take_home_text, home_script=home_script,
                   home_notebook=home_notebook)
