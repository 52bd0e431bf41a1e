"""The Train tab's words for a run (no gradio): its settings in one line, the status line and the progress bar's
text, from a `LiveRun` and what the engine reported; and the preset box's note once a value is changed by hand."""

from __future__ import annotations

import logging

from mnist_demo.app.common import error_text, md_escape, progress_html, seconds
from mnist_demo.app.live import LiveRun
from mnist_demo.app.state import AppContext
from mnist_demo.config import PRESETS, TrainConfig
from mnist_demo.errors import DemoError
from mnist_demo.train import TrainingDiverged

log = logging.getLogger(__name__)


PRESET_INFO = "Fills the controls below with a tested recipe"
EDITABLE = (("model", "model"), ("optimizer", "optimizer"), ("lr", "lr"), ("batch_size", "batch"),
            ("epochs", "epochs"), ("augment", "augmentation"))


def preset_info(preset, max_epochs: int | None = None, **values) -> str:
    """The preset box's info line: which of the shown values differ from the preset's recipe (epochs as the box
    fills them, at most `max_epochs`), since the recipe still sets everything not shown (momentum, schedule, ...).
    Without the note the box kept naming the preset as if its recipe were what would run."""
    name = preset.strip().lower() if isinstance(preset, str) else None
    recipe = PRESETS.get(name)
    if recipe is None:
        return PRESET_INFO
    changed = []
    for field, label in EDITABLE:
        if field not in values:
            continue
        value, base = values[field], getattr(recipe, field)
        if field == "epochs" and max_epochs:
            base = min(base, max_epochs)
        if isinstance(base, bool) or not isinstance(value, (int, float)) or isinstance(value, bool):
            same = value == base
        else:
            same = abs(float(value) - base) <= 1e-9 * max(1.0, abs(base))
        if not same:
            shown = "on" if value is True else "off" if value is False else "empty" if value is None else value
            changed.append(f"{label} {shown}")
    if not changed:
        return PRESET_INFO
    return f"Changed by hand: {', '.join(changed)}; the rest is the {name} recipe"


def describe_config(config: TrainConfig) -> str:
    text = (f"{config.model}, {config.optimizer} lr {config.lr:g}, batch {config.batch_size}, "
            f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}")
    if config.augment:
        text += ", augmented"
    if config.limit:
        text += f", first {config.limit:,} images"
    return text + f", on {config.device}"


def progress(live: LiveRun) -> str:
    p = live.progress
    if live.error is not None:
        return progress_html(live.fraction(), "Failed", "failed")
    if live.cancelled is not None:
        return progress_html(live.fraction(), "Not run", "idle")
    if live.result is not None:
        r = live.result
        state = "stopped" if r.stopped else "done"
        text = (f"{'Stopped' if r.stopped else 'Finished'} after {r.epochs_completed:.2f} epochs, {r.steps:,} steps, "
                f"{seconds(r.elapsed_s)} · {r.samples_seen / max(r.train_s, 1e-9):,.0f} samples/s")
        return progress_html(1.0 if not r.stopped else live.fraction(), text, state)
    if p is None:
        return progress_html(0.0, live.phase, "waiting" if not live.started else "running")
    text = (f"Epoch {p.epoch} of {p.epochs} · step {p.step:,} of {p.total_steps:,} · "
            f"{100 * live.fraction():.0f}% · about {seconds(live.eta_s())} left · "
            f"{p.samples_per_s:,.0f} samples/s")
    return progress_html(live.fraction(), text, "running")


def status(ctx: AppContext, live: LiveRun, config: TrainConfig) -> str:
    what = md_escape(describe_config(config))
    if live.error is not None:
        err = live.error
        if isinstance(err, TrainingDiverged):
            return f"**Training diverged.** {md_escape(str(err))} Your previous model (if any) is kept."
        if not isinstance(err, DemoError):
            log.error("training failed", exc_info=err)
        return f"**Training failed.** {md_escape(error_text(err))}"
    if live.cancelled is not None:
        return f"**Not started**: {md_escape(live.cancelled)}. Nothing was changed."
    if live.result is not None:
        r = live.result
        acc = f"{100 * r.evaluation.accuracy:.2f}%"
        if r.stopped:
            return (f"**Stopped** ({md_escape(live.stop_reason or 'stopped')}) after {r.epochs_completed:.2f} "
                    f"epochs: test accuracy {acc}. The partial model is now your current model "
                    "(Draw tab); save it below if you like.")
        return (f"**Done.** Test accuracy **{acc}** after {r.epochs_completed:g} epoch"
                f"{'s' if r.epochs_completed != 1 else ''} ({seconds(r.elapsed_s)}). This is now your current "
                "model: try it in the **Draw** tab, or save it below.")
    if not live.started and live.position == 0:
        return f"**Starting** {what}..."
    if not live.started:
        ahead = live.position - 1
        return (f"**Waiting in line: you are number {live.position}** "
                f"({ahead} waiting ahead of you; {md_escape(ctx.jobs.describe())}). Your run ({what}) starts "
                "when a slot frees. **Stop** leaves the line.")
    return f"**Training** {what}. {md_escape(live.phase)} Server: {md_escape(ctx.jobs.describe())}."
