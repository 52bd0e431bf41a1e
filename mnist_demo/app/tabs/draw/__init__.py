"""The Draw tab: a Sketchpad ready to draw, predictions on each stroke, the 28x28 the model sees, a model picker,
and under them "teach it your handwriting" (`collection.py`: keep drawings with their labels, fine-tune).

Also the public API endpoint `predict` (one image file of any size -> label and probabilities), served by the
same prediction function. Predictions run in their own concurrency group ("predict"), never behind a
training; the server leaves one core free of torch work (`Settings.threads`) so they stay quick while one
runs.

Words (the `draw.*` texts of `locales/`): what the tab declares goes through `t()` (the browser translates it); what the
handlers write (the picker's choices, the model line, the answer, messages) through `tr` in `Visitor.language`,
which the API's visitors keep at English.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.checkpoint_folder import hyperparameters
from mnist_demo.app.core.models.current import choices, predictor_for
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import t
from mnist_demo.app.server.shared import Shared
from mnist_demo.app.tabs.draw import collection, finetune
from mnist_demo.app.tabs.draw.collection import CollectionUI
from mnist_demo.checkpoints import DEFAULT_NAME
from mnist_demo.errors import DemoError, ImageError
from mnist_demo.predict import Predictor
from mnist_demo.preprocess import BLANK_MESSAGE
from mnist_demo.texts import tr

# px: one digit. The editor shows the paper at min(1, fit) after its bin empties it but at `fit` on a fresh page,
# so a paper no smaller than the desktop pad's drawing area (about 417 px at height 480) keeps the same size for
# every digit of a visit (a 280 px paper was drawn at 149%, then at 100% after the first Clear); phones fit it.
CANVAS = 420
BRUSH_RADIUS = 16  # the same stroke width, relative to the paper, as 11 px on the earlier 280 px paper (x1.5)
# The pad's bin icon: found by its label, else as the last button of the pad's top toolbar (undo, redo, bin),
# so a translated label does not break it.
CLEAR_JS = """
() => {
  const pad = document.getElementById('draw-pad');
  const tools = pad ? Array.from(pad.querySelectorAll('.top-panel button')) : [];
  const bin = tools.find((b) => b.getAttribute('aria-label') === 'Clear canvas') || tools[tools.length - 1];
  if (bin) { bin.click(); }
}
"""


@dataclass
class DrawUI:
    model: gr.Dropdown
    model_info: gr.Markdown
    pad: gr.Sketchpad
    clear: gr.Button
    label: gr.Label
    preview: gr.Image
    message: gr.Markdown
    api_image: gr.File
    api_label: gr.Label
    api_button: gr.Button
    api_info: gr.JSON
    api_info_button: gr.Button
    collection: CollectionUI  # "teach it your handwriting": Right? buttons, gallery, fine-tune


def create_ui(ctx: AppContext) -> DrawUI:
    """The pad and its answer, the model picker, "teach it your handwriting" below, and the API's own components."""
    with gr.Row(equal_height=False, elem_id="draw-row"):
        with gr.Column(scale=3, min_width=320, elem_classes=["draw-column"]):
            model = gr.Dropdown([], value=None, label=t("draw.model_label"), elem_id="draw-model",
                                info=t("draw.model_info"))
            model_info = gr.Markdown("", elem_id="draw-model-info", elem_classes=["mnist-small"])
            pad = gr.Sketchpad(label=t("draw.pad_label"), type="numpy", image_mode="RGBA",
                               canvas_size=(CANVAS, CANVAS), fixed_canvas=True, height=480,
                               brush=gr.Brush(default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                               eraser=gr.Eraser(default_size=BRUSH_RADIUS + 6), layers=False, transforms=(),
                               sources=(), buttons=[], elem_id="draw-pad")
            clear = gr.Button(t("draw.clear"), elem_id="draw-clear", size="md")
        with gr.Column(scale=2, min_width=300, elem_classes=["draw-column"]):
            label = gr.Label(BLANK_MESSAGE, num_top_classes=3, label=t("draw.prediction_label"), elem_id="draw-label")
            right = collection.create_right()
            preview = gr.Image(None, label=t("draw.preview_label"), type="numpy", image_mode="L",
                               height=280, width=280, interactive=False, buttons=[], elem_id="draw-preview")
            message = gr.Markdown("", elem_id="draw-message")
            with gr.Accordion(t("draw.preprocess_title"), open=False, elem_id="teach-preprocess"):
                gr.Markdown(t("teach.preprocessing"))
    collection_ui = collection.create_section(ctx, right)
    with gr.Group(visible=False):  # the public API's own input and output (same function as the Sketchpad)
        api_image = gr.File(label="image", type="filepath", elem_id="api-image")
        api_label = gr.Label(label="probabilities", elem_id="api-label")
        api_button = gr.Button("predict", elem_id="api-predict")
        api_info = gr.JSON(label="model", elem_id="api-model-info")
        api_info_button = gr.Button("model info", elem_id="api-model-info-button")
    return DrawUI(model=model, model_info=model_info, pad=pad, clear=clear, label=label, preview=preview,
                  message=message, api_image=api_image, api_label=api_label, api_button=api_button, api_info=api_info,
                  api_info_button=api_info_button, collection=collection_ui)


# --------------------------------------------------------------------------- engine glue

def model_info(ctx: AppContext, visitor: Visitor) -> str:
    lang = visitor.language
    try:
        predictor, name = predictor_for(ctx, visitor, lang)
    except DemoError as err:
        return refused(error_text(err, lang), lang)
    meta = predictor.meta or {}
    accuracy = meta.get("accuracy")
    acc = (tr(lang, "draw.test_accuracy", accuracy=f"{100 * accuracy:.2f}") if isinstance(accuracy, float)
           else tr(lang, "draw.accuracy_unknown"))
    return tr(lang, "draw.using", name=md_escape(name), model=md_escape(str(meta.get("model", "?"))), accuracy=acc,
              hyperparameters=md_escape(hyperparameters(meta, lang)))


def refresh(ctx: AppContext, visitor: Visitor):
    """(dropdown update, model info) in the visitor's language, with the visitor's choice kept when it still
    exists. Called on load, when the language is switched, and after anything that changes the list."""
    options = choices(ctx, visitor, visitor.language)
    values = [v for _, v in options]
    with visitor.lock:
        if visitor.draw_choice not in values:
            visitor.draw_choice = values[0] if values else DEFAULT_NAME
        value = visitor.draw_choice if values else None
    return gr.Dropdown(choices=options, value=value), model_info(ctx, visitor)


def timed_predict(ctx: AppContext, predictor: Predictor, image):
    """`predictor.predict(image)`, its duration recorded for the queue status."""
    start = time.perf_counter()
    try:
        return predictor.predict(image)
    finally:
        ctx.record_predict(1000 * (time.perf_counter() - start))


def blank(lang: str | None = None) -> str:
    """The answer to an empty pad ("Draw a digit"; the API's answer too, in English)."""
    return tr(lang, "draw.blank")


def predict(ctx: AppContext, visitor: Visitor, image):
    """(label value, preview, message) in the visitor's language for any image `preprocess.to_mnist` accepts."""
    lang = visitor.language
    try:
        predictor, name = predictor_for(ctx, visitor, lang)
    except DemoError as err:
        return tr(lang, "draw.no_model"), None, refused(error_text(err, lang), lang)
    try:
        prediction = timed_predict(ctx, predictor, image)
    except ImageError as err:
        return tr(lang, "draw.cannot_read"), None, refused(error_text(err, lang), lang)
    if prediction.blank:
        return blank(lang), None, ""
    return prediction.probabilities, prediction.preview, tr(lang, "draw.message_model", name=md_escape(name))


# --------------------------------------------------------------------------- events

def create_event_handlers(ctx: AppContext, ui: DrawUI, shared: Shared, tab: gr.Tab, page_js: str) -> None:
    """The pad's predictions, Clear, the model picker, the API's `predict` and `model_info`, the collection's and
    the fine-tune's events; opening the tab lists the models again and runs the page script (`page_js`: the pad
    ready for the brush)."""
    visitor = shared.visitor
    group = dict(concurrency_id="predict", concurrency_limit=ctx.settings.predict_workers)

    def on_draw(image, visitor: Visitor):
        return predict(ctx, visitor, image)

    ui.pad.change(on_draw, [ui.pad, visitor], [ui.label, ui.preview, ui.message], api_name="predict_drawing",
                  api_visibility="private", trigger_mode="always_last", show_progress="hidden", **group)

    def on_clear(visitor: Visitor):
        return blank(visitor.language), None, ""

    # Clear presses the pad's own bin icon (CLEAR_JS) rather than sending the pad `None`: Gradio leaves a
    # Sketchpad untouched when it gets the value it already has, so a second `None` left the strokes on the
    # pad (Clear worked once per page). The bin empties it every time and fires the pad's change event, whose
    # blank prediction follows any prediction still in flight; `on_clear` resets the answer at once.
    ui.clear.click(on_clear, [visitor], [ui.label, ui.preview, ui.message], js=CLEAR_JS, api_visibility="private",
                   queue=False, show_progress="hidden")
    ui.pad.clear(on_clear, [visitor], [ui.label, ui.preview, ui.message], api_visibility="private", queue=False,
                 show_progress="hidden")

    def on_pick(choice, image, visitor: Visitor):
        valid = [v for _, v in choices(ctx, visitor)]
        if choice not in valid:
            return (refused(tr(visitor.language, "draw.not_available", choice=repr(choice)), visitor.language),
                    gr.skip(), gr.skip(), gr.skip())
        with visitor.lock:
            visitor.draw_choice = choice
        label, preview, message = predict(ctx, visitor, image)
        return model_info(ctx, visitor), label, preview, message

    ui.model.input(on_pick, [ui.model, ui.pad, visitor], [ui.model_info, ui.label, ui.preview, ui.message],
                   api_name="choose_model", show_progress="hidden", **group)
    # The model line is rewritten on load, on a language switch and whenever the model changes (`refresh`): the
    # answer follows, in the visitor's language (the blank pad's "Draw a digit" too).
    ui.model_info.change(on_draw, [ui.pad, visitor], [ui.label, ui.preview, ui.message], api_visibility="private",
                         trigger_mode="always_last", show_progress="hidden", **group)

    def api_predict(image, visitor: Visitor):
        """Predict the digit in one image (PNG or JPEG, any size; dark ink on light, or ink in alpha).

        Returns the label and the probability of every digit; a blank image returns the label "Draw a digit"
        with no probabilities. Uses this session's Draw-tab model (the shipped default unless changed)."""
        if image is None:
            raise gr.Error("No image: send one image file (PNG or JPEG).")
        if isinstance(image, (list, tuple)):
            raise gr.Error("Send one image, not several.")
        path = Path(str(image))
        try:
            predictor, _ = predictor_for(ctx, visitor)
            prediction = timed_predict(ctx, predictor, path)
        except DemoError as err:  # name the file as sent, not by its temporary path on this server
            raise gr.Error(str(err).replace(str(path), path.name)) from None
        if prediction.blank:
            return BLANK_MESSAGE
        return prediction.probabilities

    ui.api_button.click(api_predict, [ui.api_image, visitor], [ui.api_label], api_name="predict", **group)

    def api_model_info(visitor: Visitor):
        """Which model this session's predictions use."""
        current = visitor.current
        info = {"choice": visitor.draw_choice, "current": None}
        if current is not None:
            info["current"] = {"model": current.meta.get("model"), "accuracy": current.meta.get("accuracy"),
                               "origin": current.origin.text(), "run_id": current.run_id,
                               "epochs": current.meta.get("epochs"), "steps": current.meta.get("steps")}
        return info

    ui.api_info_button.click(api_model_info, [visitor], [ui.api_info], api_name="model_info", queue=False)

    collection.create_event_handlers(ctx, ui.collection, shared, ui.pad, CLEAR_JS)
    finetune.create_event_handlers(ctx, ui.collection, shared)
    tab.select(lambda v: shared.refresh_draw(v), [visitor], shared.refresh_draw.outputs, js=page_js,
               api_visibility="private", concurrency_id="files", concurrency_limit=2)
