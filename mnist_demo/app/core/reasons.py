"""Why a long job stopped or was refused, as codes with values that read as English and can be said in any language:
`Reason` (a ticket's stop reason), `Busy` (the line takes no more now) and `AlreadyActive` (one job per visitor).
The words are the `jobs.*` texts of the app's locale files."""

from __future__ import annotations

import math

from mnist_demo.app.core.messages import seconds as duration
from mnist_demo.app.core.texts import has, tr
from mnist_demo.errors import DemoError

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


class Busy(DemoError):
    """The line takes no more now: it is as long as this server lets anyone wait ("wait"), it holds the most it takes
    ("full"), no worker can run anything ("no_workers"), or the server is closing ("closed"). `str()` is English;
    `text(lang)` says it in a visitor's language."""

    def __init__(self, message: str, running: int | None = None, waiting: int | None = None, why: str = "full",
                 wait_s: float | None = None, limit_s: float | None = None, detail: str | None = None):
        super().__init__(message)
        self.running, self.waiting, self.why, self.wait_s, self.limit_s = running, waiting, why, wait_s, limit_s
        self.detail = detail  # for "no_workers": what keeps the workers from running anything (English)

    def text(self, lang: str | None = None) -> str:
        if self.why == "closed":
            return tr(lang, "jobs.closed")
        if self.why == "no_workers":
            return tr(lang, "jobs.no_workers_why", why=self.detail) if self.detail else tr(lang, "jobs.no_workers")
        if self.why == "wait":
            return tr(lang, "jobs.busy_wait", wait=duration(self.wait_s, lang), limit=duration(self.limit_s, lang))
        return tr(lang, "jobs.busy_one" if self.running == 1 else "jobs.busy_many", running=self.running,
                   waiting=self.waiting)


class AlreadyActive(DemoError):
    """This owner already has a run waiting or running. `str()` is English; `text(lang)`."""

    def __init__(self, kind: str, position: int):
        where = "running" if not position else f"waiting (number {position} in line)"
        super().__init__(f"You already have a {kind} run {where}: stop it first, or wait for it to finish.")
        self.kind, self.position = kind, position

    def text(self, lang: str | None = None) -> str:
        kind = kind_text(self.kind, lang)
        if self.position:
            return tr(lang, "jobs.already_waiting", kind=kind, position=self.position)
        return tr(lang, "jobs.already_running", kind=kind)


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
