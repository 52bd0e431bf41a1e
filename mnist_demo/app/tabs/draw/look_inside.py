""""A look inside" on the Draw tab: for the current drawing, which pixels pushed the model to its answer (a
saliency map over the 28x28 input) and what its first layer makes of it (feature maps, or an MLP's most
excited units as 28x28 weight images). The numbers come from `mnist_demo.look_inside`; this module shows them.

It follows the Draw tab: the same model (`core.current.predictor_for`), its own handler on every stroke in the same
"predict" concurrency group (one forward and one backward pass, about 1-2 ms more per stroke), emptied by a
blank drawing, Clear and the pad's bin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import predictor_for
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import t
from mnist_demo.app.server.shared import Shared
from mnist_demo.errors import DemoError
from mnist_demo.look_inside import diverging, feature_picture, look_inside
from mnist_demo.preprocess import to_mnist
from mnist_demo.texts import tr

SALIENCY_SCALE = 10  # 28 px -> 280 px, the size of the Draw tab's own 28x28 preview
# The saliency is shown as |v|**0.5: a few pixels carry most of the gradient, and on a linear scale the rest of the
# stroke looked blank although it voted too.
SALIENCY_GAMMA = 0.5


@dataclass
class InsideUI:
    summary: gr.Markdown
    saliency: gr.Image
    features: gr.Gallery


def create_ui(ctx: AppContext) -> InsideUI:
    """The "A look inside" panel, placed under the pad and the answer (on a phone too)."""
    with gr.Accordion(t("inside.title"), open=True, elem_id="draw-inside"):
        summary = gr.Markdown(t("inside.empty"), elem_id="inside-summary")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                saliency = gr.Image(None, label=t("inside.saliency_label"),
                                    type="numpy", image_mode="RGB", height=280, width=280, interactive=False,
                                    buttons=[], elem_id="inside-saliency")
                with gr.Accordion(t("inside.saliency_title"), open=False, elem_id="teach-saliency"):
                    gr.Markdown(t("teach.saliency"))
            with gr.Column(scale=3, min_width=280):
                features = gr.Gallery(None, label=t("inside.features_label"), columns=4, height=240,
                                      format="png", object_fit="contain", allow_preview=False, buttons=[],
                                      elem_id="inside-features", elem_classes=["mnist-digits"])
                with gr.Accordion(t("inside.first_layer_title"), open=False, elem_id="teach-first-layer"):
                    gr.Markdown(t("teach.first_layer"))
    return InsideUI(summary=summary, saliency=saliency, features=features)


def empty(ui: InsideUI, text: str | None = None, lang: str | None = None) -> dict:
    """Nothing shown, and `text` (by default: draw a digit to see inside) in `lang`."""
    return {ui.summary: text if text is not None else tr(lang, "inside.empty"), ui.saliency: None, ui.features: None}


def view(ctx: AppContext, ui: InsideUI, visitor: Visitor, image) -> dict:
    """`{component: value}` for one drawing (any image `preprocess.to_mnist` accepts), in the visitor's language."""
    lang = visitor.language
    try:
        predictor, name = predictor_for(ctx, visitor, lang)
        prepared = to_mnist(image)
    except DemoError as err:  # no model to use, or an image that cannot be read: said, and nothing shown
        return empty(ui, refused(error_text(err, lang), lang))
    if prepared is None:
        return empty(ui, lang=lang)
    start = time.perf_counter()
    inside = look_inside(predictor.model, prepared.tensor)
    ms = 1000 * (time.perf_counter() - start)
    if inside.layer == "conv":
        what = tr(lang, "inside.what_conv", shown=len(inside.features), units=inside.units)
        caption_key = "inside.caption_map"
    else:
        what = tr(lang, "inside.what_mlp", shown=len(inside.features), units=inside.units)
        caption_key = "inside.caption_unit"
    caption = lambda f: tr(lang, caption_key, index=f.index)  # noqa: E731
    summary = tr(lang, "inside.summary", name=md_escape(name), digit=inside.digit,
                 percent=f"{100 * inside.probability:.1f}", what=what, ms=f"{ms:.0f}")
    return {ui.summary: summary,
            ui.saliency: diverging(inside.saliency, SALIENCY_SCALE, base=prepared.image28, gamma=SALIENCY_GAMMA),
            ui.features: [(feature_picture(inside, f), caption(f)) for f in inside.features]}


def create_event_handlers(ctx: AppContext, ui: InsideUI, pad: gr.Sketchpad, model_info: gr.Markdown,
                          clear: gr.Button, shared: Shared) -> None:
    """The look inside follows the Draw tab's pad, its model line (the model changed) and its Clear."""
    visitor = shared.visitor
    outputs = [ui.summary, ui.saliency, ui.features]
    group = dict(concurrency_id="predict", concurrency_limit=ctx.settings.predict_workers)

    def on_draw(image, visitor: Visitor):
        return view(ctx, ui, visitor, image)

    pad.change(on_draw, [pad, visitor], outputs, api_visibility="private",
                       trigger_mode="always_last", show_progress="hidden", **group)
    # The Draw tab's picker updates its model line once the visitor's choice is stored: the look inside follows.
    model_info.change(on_draw, [pad, visitor], outputs, api_visibility="private",
                              trigger_mode="always_last", show_progress="hidden", **group)

    def on_clear(visitor: Visitor):
        return empty(ui, lang=visitor.language)

    for event in (clear.click, pad.clear):
        event(on_clear, [visitor], outputs, api_visibility="private", queue=False, show_progress="hidden")
