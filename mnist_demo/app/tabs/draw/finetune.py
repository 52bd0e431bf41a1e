"""The Draw tab's fine-tune on the visitor's drawings: the run through the jobs queue, its progress and report,
Stop, and Save (the controls are laid out by `collection_ui.build_section`).

A fine-tune is a run like any training: `ctx.jobs.submit(kind="finetune")` + `run_job`, so it waits in the same
line, has the wall-clock cap, and a visitor has one run at a time; its Stop is its own (the Train tab's Stop
leaves it alone). The engine's `finetune.finetune` does the work; the result becomes the visitor's current model,
which the Draw tab uses at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import gradio as gr

from mnist_demo.app.common import error_text, md_escape, progress_html, refused, seconds
from mnist_demo.app.i18n import tr
from mnist_demo.app.jobs import AlreadyActive, Busy, reason_text
from mnist_demo.app.runner import Cancelled, Failed, Finished, Started, Tick, Waiting, run_job
from mnist_demo.app.state import YOURS, AppContext, CurrentModel, Visitor
from mnist_demo.config import whole_number
from mnist_demo.data import cached_mnist
from mnist_demo.devices import resolve_device
from mnist_demo.errors import CheckpointError, DemoError
from mnist_demo.finetune import MAX_STEPS, MIN_PER_DIGIT_TO_HOLD_OUT, check_drawings, finetune, finetune_meta
from mnist_demo.predict import Predictor
from mnist_demo.train import EpochEnd, Progress

if TYPE_CHECKING:
    from mnist_demo.app.collection_ui import CollectionUI

REDRAW_S = 1.0  # at most one progress update a second, as the Train tab


@dataclass(frozen=True)
class Stage:
    """What the fine-tune is doing when it is not training (loading MNIST, measuring the starting model)."""

    text: str


def held_out_text(held_out: int, drawings: int, lang: str | None = None) -> str:
    if held_out:
        return tr(lang, "finetune.held_out", held_out=held_out, min=MIN_PER_DIGIT_TO_HOLD_OUT)
    return tr(lang, "finetune.trained_on", drawings=drawings, min=MIN_PER_DIGIT_TO_HOLD_OUT)


def result_text(result, source: str, lang: str | None = None) -> str:
    """The before → after report of a finished (or stopped) fine-tune, in `lang`."""
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    head = (tr(lang, "finetune.head_stopped", steps=f"{result.steps:,}") if result.stopped
            else tr(lang, "finetune.head_done", steps=f"{result.steps:,}", seconds=f"{result.train_s:.1f}"))
    return tr(lang, "finetune.report", head=head, source=md_escape(source), before=pct(result.before),
              after=pct(result.after), held=held_out_text(result.held_out, result.drawings, lang),
              mnist_before=f"{100 * result.mnist_before:.2f}", mnist_after=f"{100 * result.mnist_after:.2f}")



# --------------------------------------------------------------------------- the fine-tune's work

def finetune_work(ctx: AppContext, model, images, labels, steps: int, lang: str | None = None):
    """`work(stop, emit) -> FineTuneResult` for `runner.run_job` (its stages said in `lang`)."""

    def work(stop, emit):
        emit(Stage(tr(lang, "finetune.stage_loading")))
        device = resolve_device(ctx.default_device)
        data = cached_mnist(ctx.settings.data_dir, device)
        if stop.is_set():
            return None
        emit(Stage(tr(lang, "finetune.stage_measuring")))
        return finetune(model, images, labels, data, steps=steps, stop=stop, on_event=emit, device=device)

    return work


class FineTuneView:
    """The status line and progress bar of one fine-tune, from `run_job`'s items, in `lang`."""

    def __init__(self, ctx: AppContext, drawings: int, steps: int, lang: str | None = None):
        self.ctx, self.drawings, self.steps, self.lang = ctx, drawings, steps, lang
        self.text = tr(lang, "finetune.status_starting")
        self.fraction, self.bar, self.state = 0.0, tr(lang, "finetune.bar_waiting_slot"), "waiting"
        self.result = None
        self.done = False

    def apply(self, item) -> bool:
        """True when worth showing at once."""
        lang = self.lang
        if isinstance(item, Waiting):
            self.text = tr(lang, "finetune.status_waiting", position=item.position,
                           queue=md_escape(self.ctx.jobs.describe(lang)))
            self.bar = tr(lang, "finetune.bar_waiting", position=item.position)
            return True
        if isinstance(item, Started):
            self.text, self.bar = tr(lang, "finetune.status_running"), tr(lang, "finetune.bar_starting")
            self.state = "running"
            return True
        if isinstance(item, Stage):
            self.text = tr(lang, "finetune.status_stage", drawings=self.drawings, stage=md_escape(item.text))
            self.bar = item.text
            return True
        if isinstance(item, Progress):
            self.fraction = item.step / item.total_steps if item.total_steps else 0.0
            self.text = tr(lang, "finetune.status_mixed", drawings=self.drawings)
            self.bar = tr(lang, "finetune.bar_step", step=f"{item.step:,}", total=f"{item.total_steps:,}",
                          percent=f"{100 * self.fraction:.0f}", eta=seconds(item.eta_s, lang), loss=f"{item.loss:.3f}")
            return False
        if isinstance(item, EpochEnd):
            self.bar = tr(lang, "finetune.bar_measuring_after")
            return True
        if isinstance(item, Tick):
            return False
        if isinstance(item, Finished):
            self.done = True
            if item.result is None:
                reason = reason_text(item.stop_reason, lang) or tr(lang, "finetune.reason_before_start")
                self.text = tr(lang, "finetune.status_not_run", reason=md_escape(reason))
                self.bar, self.state = tr(lang, "finetune.bar_not_run"), "idle"
            else:
                self.result = item.result
                self.fraction = 1.0 if not item.result.stopped else self.fraction
                self.state = "stopped" if item.result.stopped else "done"
                self.bar = tr(lang, "finetune.bar_stopped" if item.result.stopped else "finetune.bar_finished",
                              steps=f"{item.result.steps:,}", seconds=f"{item.result.train_s:.1f}")
                if item.result.stopped and item.stop_reason:
                    self.bar += tr(lang, "finetune.bar_reason", reason=reason_text(item.stop_reason, lang))
            return True
        if isinstance(item, Failed):
            self.done = True
            self.text = tr(lang, "finetune.status_failed", error=md_escape(error_text(item.error, lang)))
            self.bar, self.state = tr(lang, "finetune.bar_failed"), "failed"
            return True
        if isinstance(item, Cancelled):
            self.done = True
            self.text = tr(lang, "finetune.status_not_run", reason=md_escape(reason_text(item.reason, lang)))
            self.bar, self.state = tr(lang, "finetune.bar_not_run"), "idle"
            return True
        return False

    def html(self) -> str:
        return progress_html(self.fraction, self.bar, self.state)


# --------------------------------------------------------------------------- events

def wire(ctx: AppContext, ui: CollectionUI, visitor: gr.State, predictor_for: Callable, refresh: Callable,
         model_outputs: list) -> None:
    """Fine-tune, Stop and Save. `predictor_for(ctx, visitor) -> (Predictor, name)` is the Draw tab's model;
    `refresh(ctx, visitor)` gives the values of `model_outputs` (the Draw tab's picker and model info)."""
    state = ui.state
    outputs = [ui.status, ui.progress, ui.finetune, ui.stop, *model_outputs]

    def buttons(running: bool) -> dict:
        return {ui.finetune: gr.update(interactive=not running), ui.stop: gr.update(interactive=running)}

    def run(steps, teaching, visitor: Visitor, request: gr.Request):  # teaching: collection_ui.Teaching
        """Fine-tune the Draw tab's model on this visitor's drawings (mixed with MNIST); streams progress."""
        from mnist_demo.app.draw_tab import origin_text, reason  # here: draw_tab imports this module

        lang = visitor.language
        images, labels = teaching.collection.arrays()
        try:
            steps = whole_number("steps", steps, 1, MAX_STEPS)
            check_drawings(images, labels)
            predictor, source = predictor_for(ctx, visitor, lang)
        except DemoError as err:
            text = reason(err, lang)
            yield {ui.status: refused(text[:1].upper() + text[1:], lang)}  # the engine's messages start lower-case
            return
        if visitor.draw_choice == YOURS and visitor.current is not None:
            source = tr(lang, "finetune.source_current", origin=origin_text(visitor.current.origin, lang))
        start_meta = dict(predictor.meta or {})
        model = predictor.model  # finetune() trains a copy of it (this one keeps serving other predictions)
        owner = visitor.job_owner(getattr(request, "session_hash", None))
        try:
            ticket = ctx.jobs.submit(owner, kind="finetune", label=f"fine-tune on {len(images)} drawings")
        except (Busy, AlreadyActive) as err:
            yield {ui.status: tr(lang, "finetune.status_busy", error=md_escape(err.text(lang)))}
            return
        with visitor.lock:
            visitor.ticket = ticket
        live = FineTuneView(ctx, len(images), steps, lang)
        yield {ui.status: live.text, ui.progress: live.html(), **buttons(True)}
        last = time.monotonic()
        for item in run_job(ticket, finetune_work(ctx, model, images, labels, steps, lang)):
            important = live.apply(item)
            if live.done:
                break
            if important or time.monotonic() - last >= REDRAW_S:
                last = time.monotonic()
                yield {ui.status: live.text, ui.progress: live.html()}
        result = live.result
        if result is None:
            yield {ui.status: live.text, ui.progress: live.html(), **buttons(False)}
            return
        meta = finetune_meta(start_meta, result, source)
        origin = "fine-tuned, stopped early" if result.stopped else "fine-tuned"
        served = Predictor(result.model, "your model", meta)
        with visitor.lock:
            visitor.current = CurrentModel(served.model, served, meta, origin, f"finetune-{int(time.time() * 1000)}")
            visitor.draw_choice = YOURS
        yield {ui.status: result_text(result, source, lang), ui.progress: live.html(), **buttons(False),
               **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.finetune.click(run, [ui.steps, state, visitor], outputs, api_name="finetune", concurrency_limit=None,
                      concurrency_id="train", show_progress="hidden")

    def stop(visitor: Visitor):
        """Stop this visitor's fine-tune, or leave the line; a stopped fine-tune's model is kept."""
        said = {None: "finetune.stop_none", "left": "finetune.stop_left", "stopping": "finetune.stop_stopping"}
        return tr(visitor.language, said[visitor.stop("finetune")])

    ui.stop.click(stop, [visitor], [ui.status], api_name="stop_finetune", queue=False, show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model (fine-tuned or not) as a named checkpoint, as the Train tab's Save does."""
        visitor.username = getattr(request, "username", None) or visitor.username
        lang = visitor.language
        current = visitor.current
        if current is None:
            return {ui.save_status: refused(tr(lang, "finetune.no_model_to_save"), lang)}
        try:
            path = ctx.library.save(current.model, current.meta, name, visitor.owner)
        except CheckpointError as err:
            return {ui.save_status: refused(error_text(err, lang), lang)}
        return {ui.save_status: tr(lang, "finetune.saved", name=md_escape(path.stem)),
                **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.save.click(save, [ui.save_name, visitor], [ui.save_status, *model_outputs], api_name="save_finetuned",
                  concurrency_id="files", concurrency_limit=2)
