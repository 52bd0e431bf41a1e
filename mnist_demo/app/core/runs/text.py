"""The Train tab's words for a run: its settings in one line, the status line and the progress bar's text, from a
`LiveRun` and what the engine reported; the preset box's note once a value is changed by hand. Each in the
visitor's language (`lang`, None: English; the `train.*` texts of the locale files).
"""

from __future__ import annotations

import logging

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.jobs.reasons import STOPPED, reason_text, start_text
from mnist_demo.app.core.messages import error_text, md_escape, progress_html, seconds
from mnist_demo.app.core.runs.training import LiveRun
from mnist_demo.config import PRESETS, TrainConfig
from mnist_demo.errors import DemoError
from mnist_demo.texts import tr
from mnist_demo.train import TrainingDiverged

log = logging.getLogger(__name__)


EDITABLE = ("model", "optimizer", "lr", "batch_size", "epochs", "augment")  # the shown controls (train.changed_*)


def preset_info(preset, max_epochs: int | None = None, lang: str | None = None, **values) -> str:
    """The preset box's info line: which of the shown values differ from the preset's recipe (epochs as the box
    fills them, at most `max_epochs`), since the recipe still sets everything not shown (momentum, schedule, ...).
    Without the note the box kept naming the preset as if its recipe were what would run."""
    name = preset.strip().lower() if isinstance(preset, str) else None
    recipe = PRESETS.get(name)
    if recipe is None:
        return tr(lang, "train.preset_info")
    changed = []
    for field in EDITABLE:
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
            shown = (tr(lang, "train.value_on") if value is True else tr(lang, "train.value_off") if value is False
                     else tr(lang, "train.value_empty") if value is None else value)
            changed.append(tr(lang, "train.preset_change", field=tr(lang, f"train.changed_{field}"), value=shown))
    if not changed:
        return tr(lang, "train.preset_info")
    return tr(lang, "train.preset_changed", changes=", ".join(changed), preset=name)


def describe_config(config: TrainConfig, lang: str | None = None) -> str:
    text = tr(lang, "train.describe_epoch" if config.epochs == 1 else "train.describe_epochs", model=config.model,
              optimizer=config.optimizer, lr=f"{config.lr:g}", batch=config.batch_size, epochs=config.epochs)
    if config.augment:
        text += tr(lang, "train.describe_augmented")
    if config.limit:
        text += tr(lang, "train.describe_limit", images=f"{config.limit:,}")
    return text + tr(lang, "train.describe_device", device=config.device)


def progress(live: LiveRun, lang: str | None = None) -> str:
    p = live.progress
    if live.error is not None:
        return progress_html(live.fraction(), tr(lang, "train.progress_failed"), "failed")
    if live.cancelled is not None:
        return progress_html(live.fraction(), tr(lang, "train.progress_not_run"), "idle")
    if live.result is not None:
        r = live.result
        state = "stopped" if r.stopped else "done"
        text = tr(lang, "train.progress_stopped" if r.stopped else "train.progress_finished",
                  epochs=f"{r.epochs_completed:.2f}", steps=f"{r.steps:,}", time=seconds(r.elapsed_s, lang),
                  rate=f"{r.samples_seen / max(r.train_s, 1e-9):,.0f}")
        return progress_html(1.0 if not r.stopped else live.fraction(), text, state)
    if p is None:
        return progress_html(0.0, live.phase, "waiting" if not live.started else "running")
    text = tr(lang, "train.progress_running", epoch=p.epoch, epochs=p.epochs, step=f"{p.step:,}",
              total=f"{p.total_steps:,}", percent=f"{100 * live.fraction():.0f}", eta=seconds(live.eta_s(), lang),
              rate=f"{p.samples_per_s:,.0f}")
    return progress_html(live.fraction(), text, "running")


def status(ctx: AppContext, live: LiveRun, config: TrainConfig, lang: str | None = None) -> str:
    what = md_escape(describe_config(config, lang))
    if live.error is not None:
        err = live.error
        if isinstance(err, TrainingDiverged):
            return tr(lang, "train.status_diverged", detail=md_escape(error_text(err, lang)))
        if not isinstance(err, DemoError):
            log.error("training failed", exc_info=err)
        return tr(lang, "train.status_failed", detail=md_escape(error_text(err, lang)))
    if live.cancelled is not None:
        return tr(lang, "train.status_not_started", reason=md_escape(live.cancelled))
    if live.result is not None:
        r = live.result
        acc = f"{100 * r.evaluation.accuracy:.2f}%"
        if r.stopped:
            return tr(lang, "train.status_stopped", reason=md_escape(reason_text(live.stop_reason or STOPPED, lang)),
                      epochs=f"{r.epochs_completed:.2f}", accuracy=acc)
        return tr(lang, "train.status_done_epoch" if r.epochs_completed == 1 else "train.status_done_epochs",
                  accuracy=acc, epochs=f"{r.epochs_completed:g}", time=seconds(r.elapsed_s, lang))
    if not live.started and live.position == 0:
        return tr(lang, "train.status_starting", what=what)
    queue = md_escape(ctx.jobs.describe(lang))
    if not live.started:
        line = live.waiting
        eta = start_text(line.starts_in_s if line else None, line.measured if line else 0, lang)
        return tr(lang, "train.status_waiting", position=live.position, ahead=live.position - 1, queue=queue,
                  what=what, eta=eta)
    return tr(lang, "train.status_training", what=what, phase=md_escape(live.phase), queue=queue)
