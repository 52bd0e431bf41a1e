"""Why a long job stopped or was refused, as codes with values that read as English and can be said in any language:
`Reason` (a ticket's stop reason: the `jobs.*` texts), `Busy` (the line takes no more now) and `AlreadyActive` (one
job per visitor), coded errors like the engine's (the `error.*` texts); and when a waiting job should start."""

from __future__ import annotations

import math

from mnist_demo.app.core.messages import seconds as duration
from mnist_demo.errors import DemoError
from mnist_demo.texts import has, tr

WAITING, RUNNING, DONE, CANCELLED = "waiting", "running", "done", "cancelled"  # a ticket's status


class Reason(str):
    """Why a job stopped or left the line. As a string it is the English sentence (logs, API clients, `str()`); it
    also carries its `code` and `values`, which `text(lang)` says in a visitor's language from the `jobs.<code>`
    text, so no module reads the English back."""

    def __new__(cls, code: str, **values):
        reason = super().__new__(cls, tr(None, f"jobs.{code}", **values))
        reason.code, reason.values = code, values
        return reason

    def text(self, lang: str | None = None) -> str:
        return tr(lang, f"jobs.{self.code}", **self.values)


STOPPED_BY_USER = Reason("stopped_by_user")
CONSUMER_GONE = Reason("consumer_gone")
PAGE_CLOSED = Reason("page_closed")
SHUTTING_DOWN = Reason("shutting_down")
FINISHED, BUSY, CANCELLED_BEFORE_START, STOPPED = (Reason(code) for code in ("finished", "busy_reason", "cancelled",
                                                                              "stopped"))


def time_cap(seconds: float) -> Reason:
    """The wall-clock cap per job was reached."""
    return Reason("time_cap", seconds=f"{seconds:g}")


def reason_text(reason: str | None, lang: str | None = None) -> str | None:
    """A ticket's `stop_reason` in `lang` (None stays None; a plain string someone else wrote stays as it is)."""
    return reason.text(lang) if isinstance(reason, Reason) else reason


def kind_text(kind: str, lang: str | None = None) -> str:
    """"train", "finetune", "benchmark" as a visitor reads them."""
    key = f"jobs.kind_{kind}"
    return tr(lang, key) if has(key) else kind


class Duration(float):
    """Seconds that say themselves in a language ("1 min 45 s", "1분 45초"): an error's value, said with the rest."""

    def text(self, lang: str | None = None) -> str:
        return duration(float(self), lang)


class Kind(str):
    """A job's kind ("train", "finetune", "benchmark") that says itself in a language: an error's value."""

    def text(self, lang: str | None = None) -> str:
        return kind_text(str(self), lang)


def _english(code: str, values: dict) -> str:
    """An error's English message: its `error.<code>` text with its values said in English."""
    return tr(None, f"error.{code}", **{k: v.text() if hasattr(v, "text") else v for k, v in values.items()})


class Busy(DemoError):
    """The line takes no more now: it is as long as this server lets anyone wait ("wait"), it holds the most it takes
    ("full"), no worker can run anything ("no_workers"), or the server is closing ("closed"). A coded error like the
    engine's: `str()` is English, `messages.error_text(err, lang)` says it in a visitor's language."""

    def __init__(self, why: str = "full", running: int = 0, waiting: int = 0, wait_s: float | None = None,
                 limit_s: float | None = None, detail: str | None = None):
        if why == "wait":
            code, values = "line_busy_wait", {"wait": Duration(wait_s), "limit": Duration(limit_s)}
        elif why == "no_workers":
            code, values = ("line_no_workers_why", {"why": detail}) if detail else ("line_no_workers", {})
        elif why == "closed":
            code, values = "line_closed", {}
        else:
            code, values = "line_busy_one" if running == 1 else "line_busy_many", {"running": running,
                                                                                    "waiting": waiting}
        super().__init__(_english(code, values), code=code, **values)
        self.why, self.running, self.waiting, self.wait_s = why, running, waiting, wait_s


class AlreadyActive(DemoError):
    """This owner already has a run waiting or running (a coded error, as `Busy`)."""

    def __init__(self, kind: str, position: int):
        code = "already_waiting" if position else "already_running"
        values = {"kind": Kind(kind), **({"position": position} if position else {})}
        super().__init__(_english(code, values), code=code, **values)
        self.kind, self.position = kind, position


def start_text(starts_in_s: float | None, measured: int, lang: str | None = None) -> str:
    """When a waiting job should start, in `lang`: "should start in about 1 min 05 s, judging by the last 12 runs
    here" (`measured`: how many finished runs the estimate rests on; 0: a first guess)."""
    if starts_in_s is None or not math.isfinite(starts_in_s):
        return tr(lang, "jobs.starts_no_slot")
    if starts_in_s < 1:
        return tr(lang, "jobs.starts_now")
    wait = duration(starts_in_s, lang)
    if measured == 0:
        return tr(lang, "jobs.starts_in_guess", wait=wait)
    if measured == 1:
        return tr(lang, "jobs.starts_in_one", wait=wait)
    return tr(lang, "jobs.starts_in", wait=wait, runs=measured)
