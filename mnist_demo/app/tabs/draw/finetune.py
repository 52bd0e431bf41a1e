"""The Draw tab's fine-tune on the visitor's drawings: the run through the server's line (`server.long_job`), its
progress and report, Stop, and Save (the controls are laid out by `collection.create_section`; the work and its
view are `core/runs/finetune.py`'s).

A fine-tune is a job like any training: it waits in the same line, has the wall-clock cap, and a visitor has one job
at a time; its Stop is its own (the Train tab's Stop leaves it alone). The result becomes the visitor's current
model, which the Draw tab uses at once.
"""

from __future__ import annotations

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import FINETUNED, FINETUNED_STOPPED, YOURS, Origin, adopt, predictor_for
from mnist_demo.app.core.runs.finetune import FineTuneView, finetune_work, result_text
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server import long_job
from mnist_demo.app.server.shared import Shared
from mnist_demo.config import whole_number
from mnist_demo.errors import DemoError
from mnist_demo.finetune import DEFAULT_STEPS, MAX_STEPS, check_drawings, finetune_meta
from mnist_demo.texts import tr

# --------------------------------------------------------------------------- events

def create_event_handlers(ctx: AppContext, ui, shared: Shared) -> None:
    """Fine-tune, Stop and Save (`ui`: the collection's `CollectionUI`); the fine-tuned model becomes the visitor's
    current one, and the Draw tab's picker and model line follow (`shared.refresh_draw`)."""
    state, visitor, refresh_draw = ui.state, shared.visitor, shared.refresh_draw
    outputs = [ui.status, ui.progress, ui.finetune, ui.stop, *refresh_draw.outputs]
    buttons = long_job.Buttons((ui.finetune,), ui.stop)

    def run(steps, teaching, visitor: Visitor, request: gr.Request):  # teaching: collection.Teaching
        """Fine-tune the Draw tab's model on this visitor's drawings (mixed with MNIST); streams progress."""
        lang = visitor.language
        images, labels = teaching.collection.arrays()
        try:
            steps = whole_number("steps", steps, 1, MAX_STEPS)
            check_drawings(images, labels)
            predictor, source = predictor_for(ctx, visitor, lang)
        except DemoError as err:
            text = error_text(err, lang)
            yield {ui.status: refused(text[:1].upper() + text[1:], lang)}  # the engine's messages start lower-case
            return
        if visitor.draw_choice == YOURS and visitor.current is not None:
            source = tr(lang, "finetune.source_current", origin=visitor.current.origin.text(lang))
        start_meta = dict(predictor.meta or {})
        model = predictor.model  # finetune() trains a copy of it (this one keeps serving other predictions)
        view = FineTuneView(ctx, len(images), steps, lang)
        job = long_job.Job("finetune", f"fine-tune on {len(images)} drawings",
                           finetune_work(ctx, model, images, labels, steps), size=steps / DEFAULT_STEPS)

        def updates():
            yield {ui.status: view.text, ui.progress: view.html()}

        def busy(err) -> dict:
            return {ui.status: tr(lang, "finetune.status_busy", error=md_escape(error_text(err, lang)))}

        yield from long_job.run(ctx, visitor, request, job, view, buttons, updates, busy)
        if not view.finished:  # the line refused it: said already
            return
        result = view.result
        if result is None:
            yield {ui.status: view.text, ui.progress: view.html(), **buttons.running(False)}
            return
        meta = finetune_meta(start_meta, result, source)
        adopt(visitor, result.model, meta, Origin(FINETUNED_STOPPED if result.stopped else FINETUNED))
        yield {ui.status: result_text(result, source, lang), ui.progress: view.html(), **buttons.running(False),
               **refresh_draw(visitor)}

    ui.finetune.click(run, [ui.steps, state, visitor], outputs, api_name="finetune", concurrency_limit=None,
                      concurrency_id="train", show_progress="hidden")

    stop = long_job.stop_handler("finetune", "finetune")
    stop.__doc__ = "Stop this visitor's fine-tune, or leave the line; a stopped fine-tune's model is kept."
    ui.stop.click(stop, [visitor], [ui.status], api_name="stop_finetune", queue=False, show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model (fine-tuned or not) as a named checkpoint, as the Train tab's Save does."""
        lang = visitor.language
        path, why_not = long_job.save_current(ctx, visitor, request, name, "finetune.no_model_to_save")
        if path is None:
            return {ui.save_status: refused(why_not, lang)}
        return {ui.save_status: tr(lang, "finetune.saved", name=md_escape(path.stem)), **refresh_draw(visitor)}

    ui.save.click(save, [ui.save_name, visitor], [ui.save_status, *refresh_draw.outputs], api_name="save_finetuned",
                  concurrency_id="files", concurrency_limit=2)
