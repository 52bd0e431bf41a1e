"""Small helpers shared by the tabs: field names as people see them, error messages in the visitor's language,
message formatting, the progress bar."""

from __future__ import annotations

import html
import math
import re

from mnist_demo.errors import ConfigError, DataError, DemoError, DeviceError
from mnist_demo.texts import DEFAULT, TEXTS, tr

# The fields English messages name in full ("Learning rate (lr): ..."); others keep their code name alone there.
# In other languages every field with a `field.<name>` text is named.
_LABELLED = ("preset", "model", "optimizer", "lr", "batch_size", "epochs", "augment", "device", "limit", "momentum",
             "weight_decay", "schedule", "seed", "log_every", "batch_sizes", "repeats", "devices", "name")
FIELD_LABELS = {field: tr(None, f"field.{field}") for field in _LABELLED}


def field_label(field: str, lang: str | None = None) -> str | None:
    """A setting's name for people in `lang` ("lr" -> "Learning rate" / "학습률"); None when it has none there."""
    if (lang or DEFAULT) == DEFAULT:
        return FIELD_LABELS.get(field)
    key = "field." + field.replace(" ", "_")
    return tr(lang, key) if key in TEXTS.get(lang, {}) else None


def _named(field: str, detail: str, lang: str | None) -> str:
    """"Learning rate (lr): <detail>", or "<field>: <detail>" for a field without a name."""
    label = field_label(field, lang)
    return f"{label} ({field}): {detail}" if label else f"{field}: {detail}"


def _detail(err: BaseException) -> str:
    """The message without the field it starts with ("lr: 0 is out of range" -> "0 is out of range")."""
    field = err.field if isinstance(err, ConfigError) else "device" if isinstance(err, DeviceError) else None
    text = str(err)
    return text[len(field) + 2:] if field and text.startswith(f"{field}: ") else text


def field_message(err: ConfigError, lang: str | None = None) -> str:
    """"lr: 0 is out of range" -> "Learning rate (lr): 0 is out of range"; in Korean "학습률 (lr): 범위를 ..."."""
    detail = _detail(err)
    if (lang or DEFAULT) != DEFAULT:
        detail = _coded(err, lang) or tr(lang, "error.config_other", detail=detail)
    return _named(err.field, detail, lang)


def _value(name: str, value, lang: str | None):
    """One of an error's values as its message shows it: a wrapped error in `lang`, no file as "the uploaded data"."""
    if name == "file" and value is None:
        return tr(lang, "error.uploaded_data")
    if isinstance(value, DemoError):
        return _coded(value, lang) or str(value)
    if hasattr(value, "text"):  # a value that says itself in a language (a duration, a job's kind, a stop reason)
        return value.text(lang)
    return value


def _coded(err: DemoError, lang: str | None) -> str | None:
    """The error's message in `lang` from `error.<code>` and its values; None when it has no code or no text."""
    code = getattr(err, "code", None)
    if not code or f"error.{code}" not in TEXTS[DEFAULT]:
        return None
    values = {name: _value(name, value, lang) for name, value in getattr(err, "values", {}).items()}
    if isinstance(err, ConfigError):
        values.setdefault("field", field_label(err.field, lang) or err.field)
    if "kind" in values and f"error.wanted_{values['kind']}" in TEXTS[DEFAULT]:
        # what a number must be, said in `lang` from its limits (the English text is the caller's own words)
        values["wanted"] = tr(lang, f"error.wanted_{values['kind']}", low=values.get("low"), high=values.get("high"))
    try:
        return tr(lang, f"error.{code}").format(**values)  # format even without values: a missing one raises
    except (KeyError, IndexError, ValueError):  # a text asking for a value this error lacks: say it in English
        return None


def _kind(err: BaseException, lang: str | None) -> str:
    """A lead-in naming the kind of problem, from the error's class or the nearest one with a text."""
    for cls in type(err).__mro__:
        key = "error.kind_" + re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()  # FineTuneError -> fine_tune_error
        if key in TEXTS[DEFAULT]:
            return tr(lang, key)
    return tr(lang, "error.kind_demo_error")


def error_text(err: BaseException, lang: str | None = None) -> str:
    """An error as one line for the page, in the visitor's language (`lang`; None: English).

    English is the engine's own message (what the CLI prints), a settings error naming its field in full. In
    another language an error with a `code` is said from `error.<code>`; one without gets a lead-in in that
    language naming the kind of problem, then the English detail."""
    english = (lang or DEFAULT) == DEFAULT
    if isinstance(err, ConfigError):
        return field_message(err, lang)
    if isinstance(err, DataError):
        return tr(lang, "error.data_help", detail=err)
    if isinstance(err, DemoError):
        if english:
            return str(err)
        text = _coded(err, lang)
        if isinstance(err, DeviceError):  # its message names the field itself ("device: ...")
            return _named("device", text or tr(lang, "error.config_other", detail=_detail(err)), lang)
        return text or tr(lang, "error.other", kind=_kind(err, lang), detail=err)
    return tr(lang, "error.unexpected", kind=type(err).__name__, detail=err)


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
