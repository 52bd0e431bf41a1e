"""A fine-tune on a visitor's drawings as a long job (no gradio): the work to hand to the runner
(`finetune_work`), and `FineTuneView`, which turns what the work emits into the Draw tab's status line and progress
bar, in the visitor's language; the before -> after report (`result_text`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mnist_demo.app.core.jobs.reasons import reason_text, start_text
from mnist_demo.app.core.jobs.runner import Cancelled, Failed, Finished, Started, Tick, Waiting
from mnist_demo.app.core.messages import error_text, md_escape, progress_html, seconds
from mnist_demo.data import cached_mnist
from mnist_demo.devices import resolve_device
from mnist_demo.finetune import MIN_PER_DIGIT_TO_HOLD_OUT, finetune
from mnist_demo.texts import tr
from mnist_demo.train import EpochEnd, Progress

LOADING, MEASURING = "finetune.stage_loading", "finetune.stage_measuring"


@dataclass(frozen=True)
class Stage:
    """What the fine-tune is doing when it is not training: a `finetune.stage_*` text's key (loading MNIST,
    measuring the starting model), said in each visitor's language by the view."""

    key: str


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

def finetune_work(ctx, model, images, labels, steps: int) -> functools.partial:
    """The fine-tune as a job's work, `work(stop, emit) -> FineTuneResult` (see `finetune_task`)."""
    return functools.partial(finetune_task, model=model, images=images, labels=labels, steps=steps,
                             device=ctx.default_device, data_dir=str(ctx.settings.data_dir))


def finetune_task(stop, emit, model, images, labels, steps: int, device: str, data_dir: str):
    """Load MNIST, measure the starting model, fine-tune a copy of it on the drawings (`finetune.finetune`); emit a
    Stage before each slow part and the engine's events. None when stopped before it began. A module-level function
    of plain arguments, so that a runner may run it in another process."""
    emit(Stage(LOADING))
    device = resolve_device(device)
    data = cached_mnist(data_dir, device)
    if stop.is_set():
        return None
    emit(Stage(MEASURING))
    return finetune(model, images, labels, data, steps=steps, stop=stop, on_event=emit, device=device)


class FineTuneView:
    """The status line and progress bar of one fine-tune, from the runner's items, in `lang`."""

    def __init__(self, ctx, drawings: int, steps: int, lang: str | None = None):
        self.ctx, self.drawings, self.steps, self.lang = ctx, drawings, steps, lang
        self.text = tr(lang, "finetune.status_starting")
        self.fraction, self.bar, self.state = 0.0, tr(lang, "finetune.bar_waiting_slot"), "waiting"
        self.result = None
        self.finished = False

    def apply(self, item) -> bool:
        """True when worth showing at once."""
        lang = self.lang
        if isinstance(item, Waiting):
            eta = start_text(item.starts_in_s, item.measured, lang)
            self.text = tr(lang, "finetune.status_waiting", position=item.position, eta=eta,
                           queue=md_escape(self.ctx.jobs.describe(lang)))
            self.bar = tr(lang, "finetune.bar_waiting", position=item.position, eta=eta)
            return True
        if isinstance(item, Started):
            self.text, self.bar = tr(lang, "finetune.status_running"), tr(lang, "finetune.bar_starting")
            self.state = "running"
            return True
        if isinstance(item, Stage):
            stage = tr(lang, item.key)
            self.text = tr(lang, "finetune.status_stage", drawings=self.drawings, stage=md_escape(stage))
            self.bar = stage
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
            self.finished = True
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
            self.finished = True
            self.text = tr(lang, "finetune.status_failed", error=md_escape(error_text(item.error, lang)))
            self.bar, self.state = tr(lang, "finetune.bar_failed"), "failed"
            return True
        if isinstance(item, Cancelled):
            self.finished = True
            self.text = tr(lang, "finetune.status_not_run", reason=md_escape(reason_text(item.reason, lang)))
            self.bar, self.state = tr(lang, "finetune.bar_not_run"), "idle"
            return True
        return False

    def html(self) -> str:
        return progress_html(self.fraction, self.bar, self.state)
