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
from mnist_demo.app.jobs import AlreadyActive, Busy
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


def held_out_text(held_out: int, drawings: int) -> str:
    if held_out:
        return (f"on the {held_out} drawings held aside (never trained on; at least {MIN_PER_DIGIT_TO_HOLD_OUT} of "
                "each digit, a fifth kept aside)")
    return (f"on the {drawings} drawings it trained on (fewer than {MIN_PER_DIGIT_TO_HOLD_OUT} of some digit, so "
            "none were held aside: this says how well it learnt them, not how well it reads new ones)")


def result_text(result, source: str) -> str:
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    head = (f"**Stopped** after {result.steps:,} steps." if result.stopped
            else f"**Done**: {result.steps:,} steps in {result.train_s:.1f} s.")
    return (f"{head} Fine-tuned from {md_escape(source)}.\n\n"
            f"- Your drawings: **{pct(result.before)} → {pct(result.after)}** right, "
            f"{held_out_text(result.held_out, result.drawings)}.\n"
            f"- MNIST test (10,000 images): **{100 * result.mnist_before:.2f}% → "
            f"{100 * result.mnist_after:.2f}%**.\n\n"
            "This is now your current model: the pad above uses it. Save it below to keep it.")



# --------------------------------------------------------------------------- the fine-tune's work

def finetune_work(ctx: AppContext, model, images, labels, steps: int):
    """`work(stop, emit) -> FineTuneResult` for `runner.run_job`."""

    def work(stop, emit):
        emit(Stage("Loading MNIST (for replay and the test set)..."))
        device = resolve_device(ctx.default_device)
        data = cached_mnist(ctx.settings.data_dir, device)
        if stop.is_set():
            return None
        emit(Stage("Measuring the model before: your drawings and MNIST's 10,000 test images..."))
        return finetune(model, images, labels, data, steps=steps, stop=stop, on_event=emit, device=device)

    return work


class FineTuneView:
    """The status line and progress bar of one fine-tune, from `run_job`'s items."""

    def __init__(self, ctx: AppContext, drawings: int, steps: int):
        self.ctx, self.drawings, self.steps = ctx, drawings, steps
        self.text = "**Starting...**"
        self.fraction, self.bar, self.state = 0.0, "Waiting for a slot...", "waiting"
        self.result = None
        self.done = False

    def apply(self, item) -> bool:
        """True when worth showing at once."""
        if isinstance(item, Waiting):
            self.text = (f"**Waiting in line: you are number {item.position}** "
                         f"({md_escape(self.ctx.jobs.describe())}). **Stop** leaves the line.")
            self.bar = f"Waiting: number {item.position} in line"
            return True
        if isinstance(item, Started):
            self.text, self.bar, self.state = "**Fine-tuning...**", "Starting...", "running"
            return True
        if isinstance(item, Stage):
            self.text = f"**Fine-tuning** on {self.drawings} drawings. {md_escape(item.text)}"
            self.bar = item.text
            return True
        if isinstance(item, Progress):
            self.fraction = item.step / item.total_steps if item.total_steps else 0.0
            eta = item.eta_s
            self.text = f"**Fine-tuning** on {self.drawings} drawings mixed with MNIST."
            self.bar = (f"Step {item.step:,} of {item.total_steps:,} · {100 * self.fraction:.0f}% · about "
                        f"{seconds(eta)} left · loss {item.loss:.3f}")
            return False
        if isinstance(item, EpochEnd):
            self.bar = "Measuring the model after..."
            return True
        if isinstance(item, Tick):
            return False
        if isinstance(item, Finished):
            self.done = True
            if item.result is None:
                self.text = f"**Not run**: {md_escape(item.stop_reason or 'stopped before it began')}. Nothing changed."
                self.bar, self.state = "Not run", "idle"
            else:
                self.result = item.result
                self.fraction = 1.0 if not item.result.stopped else self.fraction
                self.state = "stopped" if item.result.stopped else "done"
                self.bar = (f"{'Stopped' if item.result.stopped else 'Finished'}: {item.result.steps:,} steps in "
                            f"{item.result.train_s:.1f} s")
                if item.result.stopped and item.stop_reason:
                    self.bar += f" ({item.stop_reason})"
            return True
        if isinstance(item, Failed):
            self.done = True
            self.text = f"**Fine-tuning failed.** {md_escape(error_text(item.error))} Nothing changed."
            self.bar, self.state = "Failed", "failed"
            return True
        if isinstance(item, Cancelled):
            self.done = True
            self.text = f"**Not run**: {md_escape(item.reason)}. Nothing changed."
            self.bar, self.state = "Not run", "idle"
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
        images, labels = teaching.collection.arrays()
        try:
            steps = whole_number("steps", steps, 1, MAX_STEPS)
            check_drawings(images, labels)
            predictor, source = predictor_for(ctx, visitor)
        except DemoError as err:
            text = error_text(err)
            yield {ui.status: refused(text[:1].upper() + text[1:])}  # the engine's messages start lower-case
            return
        if visitor.draw_choice == YOURS and visitor.current is not None:
            source = f"your current model ({visitor.current.origin})"
        start_meta = dict(predictor.meta or {})
        model = predictor.model  # finetune() trains a copy of it (this one keeps serving other predictions)
        owner = visitor.job_owner(getattr(request, "session_hash", None))
        try:
            ticket = ctx.jobs.submit(owner, kind="finetune", label=f"fine-tune on {len(images)} drawings")
        except (Busy, AlreadyActive) as err:
            yield {ui.status: f"**Busy.** {md_escape(str(err))} Nothing was started."}
            return
        with visitor.lock:
            visitor.ticket = ticket
        live = FineTuneView(ctx, len(images), steps)
        yield {ui.status: live.text, ui.progress: live.html(), **buttons(True)}
        last = time.monotonic()
        for item in run_job(ticket, finetune_work(ctx, model, images, labels, steps)):
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
        yield {ui.status: result_text(result, source), ui.progress: live.html(), **buttons(False),
               **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.finetune.click(run, [ui.steps, state, visitor], outputs, api_name="finetune", concurrency_limit=None,
                      concurrency_id="train", show_progress="hidden")

    def stop(visitor: Visitor):
        """Stop this visitor's fine-tune, or leave the line; a stopped fine-tune's model is kept."""
        said = {None: "No fine-tune of yours is running.", "left": "Left the line.",
                "stopping": "Stopping: finishing the current batch and measuring the model..."}
        return said[visitor.stop("finetune")]

    ui.stop.click(stop, [visitor], [ui.status], api_name="stop_finetune", queue=False, show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model (fine-tuned or not) as a named checkpoint, as the Train tab's Save does."""
        visitor.username = getattr(request, "username", None) or visitor.username
        current = visitor.current
        if current is None:
            return {ui.save_status: refused("No model of your own to save yet: fine-tune one first.")}
        try:
            path = ctx.library.save(current.model, current.meta, name, visitor.owner)
        except CheckpointError as err:
            return {ui.save_status: refused(str(err))}
        return {ui.save_status: f"**Saved** as `{md_escape(path.stem)}`: listed in the Checkpoints tab and the "
                                "model picker above.", **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.save.click(save, [ui.save_name, visitor], [ui.save_status, *model_outputs], api_name="save_finetuned",
                  concurrency_id="files", concurrency_limit=2)
