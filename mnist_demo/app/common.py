"""Small helpers shared by the tabs: field names as people see them, message formatting, the progress bar."""

from __future__ import annotations

import html
import math

from mnist_demo.app.i18n import tr
from mnist_demo.errors import ConfigError, DataError, DemoError

FIELD_LABELS = {
    "preset": "Preset",
    "model": "Model",
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "batch_size": "Batch size",
    "epochs": "Epochs",
    "augment": "Augmentation",
    "device": "Device",
    "limit": "Training images",
    "momentum": "Momentum",
    "weight_decay": "Weight decay",
    "schedule": "Schedule",
    "seed": "Seed",
    "log_every": "Log every",
    "batch_sizes": "Batch sizes",
    "repeats": "Repeats",
    "devices": "Devices",
    "name": "Checkpoint name",
}


def field_message(err: ConfigError) -> str:
    """"lr: 0 is out of range" -> "Learning rate (lr): 0 is out of range"."""
    text = str(err)
    prefix = f"{err.field}: "
    detail = text[len(prefix):] if text.startswith(prefix) else text
    label = FIELD_LABELS.get(err.field)
    return f"{label} ({err.field}): {detail}" if label else f"{err.field}: {detail}"


def error_text(err: BaseException, lang: str | None = None) -> str:
    if isinstance(err, ConfigError):
        return field_message(err)
    if isinstance(err, DataError):
        return (f"{err}. How to fix: put the four MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz) in DATA_DIR/MNIST/raw and "
                "restart, or start the app with --data-dir pointing at a good copy. Drawing still works "
                "with the shipped model.")
    if isinstance(err, DemoError):
        return str(err)
    return f"Unexpected error ({type(err).__name__}: {err}). Nothing was changed."


def md_escape(text: str) -> str:
    """Text safe to drop into Markdown: no emphasis, code, links or HTML (intraword `_` is left alone, as
    CommonMark does not read it as emphasis, so `batch_size` stays readable for API clients too)."""
    text = str(text)
    for ch in "\\`*[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def refused(text: str, lang: str | None = None) -> str:
    """A refusal as the status line shows it: "**Not done.** <why>" (in the visitor's language)."""
    return f"**{tr(lang, 'common.not_done')}** {md_escape(text)}"


def seconds(value: float | None, lang: str | None = None) -> str:
    """A duration for people: "42 s", "3 min 05 s", "1 h 02 min" (or "42초", "3분 05초" ...)."""
    if value is None or not math.isfinite(value):
        return "?"
    value = max(0.0, value)
    if value < 60:
        return tr(lang, "common.seconds", s=f"{value:.0f}")
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return tr(lang, "common.minutes_seconds", m=minutes, s=f"{secs:02d}")
    hours, minutes = divmod(minutes, 60)
    return tr(lang, "common.hours_minutes", h=hours, m=f"{minutes:02d}")


def progress_html(fraction: float, text: str, state: str = "running") -> str:
    """A plain progress bar: `fraction` in [0, 1] and one line of text under it."""
    pct = 100 * min(max(fraction, 0.0), 1.0)
    return (f'<div class="mnist-progress mnist-progress-{state}" role="progressbar" aria-valuemin="0" '
            f'aria-valuemax="100" aria-valuenow="{pct:.0f}"><div class="mnist-progress-fill" '
            f'style="width:{pct:.1f}%"></div></div><div class="mnist-progress-text">{html.escape(text)}</div>')
