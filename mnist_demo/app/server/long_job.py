"""One way to run a long job from a tab: a training, a fine-tune, a benchmark (in the spirit of AUTOMATIC1111's one
`wrap_gradio_gpu_call` for every long call).

Every tab's long job goes the same way, so it is written once, here:
1. `run(...)` puts the job in the server's line (`ctx.jobs.submit`: one job per visitor, a bounded line, the
   benchmark alone); a full line or a second job is the tab's `refused(err)` message;
2. the visitor's ticket is kept on the `Visitor`, under its lock, so Stop and a closed page find it;
3. the job runs where the server's runner puts it (`ctx.runner`); each item it yields goes to the tab's view
   (`view.apply(item)`: a `LiveRun`, a fine-tune's or a benchmark's view), and the page is redrawn at most once per
   REDRAW_S unless the view says an item matters;
4. the tab's buttons: its start buttons greyed and its Stop active from admission until the tab's last message
   (`Buttons.running`).
`stop_handler` is every tab's Stop, and `save` every Save of a model; a model becomes current through
`core.current.adopt`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.jobs.reasons import AlreadyActive, Busy
from mnist_demo.app.core.messages import error_text
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.errors import CheckpointError, ConfigError
from mnist_demo.texts import tr

# At most one redraw a second while a job runs, unless something the visitor waits for happened (admission, an
# epoch's end, the finish): each redraw of the Train tab sends the log and both plots, and a faster stream only
# loaded the server and the page (benchmarks/load.py, docs/measurements.md).
REDRAW_S = 1.0


@dataclass(frozen=True)
class Job:
    """A long job as the line and the runner see it: its kind ("train", "finetune", "benchmark"), a label for the
    line's listing, and its work, `work(stop, emit) -> result` (a module-level function's `functools.partial`, so
    that a runner may run it in another process)."""

    kind: str
    label: str
    work: Callable
    exclusive: bool = False  # runs alone: nothing else starts while it runs (the benchmark's timings stay clean)
    size: float = 1.0  # its size in its kind's units, for the line's estimates (`core.waits`)


@dataclass(frozen=True)
class Buttons:
    """A tab's start buttons and its Stop: the start buttons greyed and Stop active only while the visitor's job of
    this kind waits or runs."""

    start: tuple
    stop: gr.Button

    def running(self, on: bool) -> dict:
        return {**{b: gr.update(interactive=not on) for b in self.start}, self.stop: gr.update(interactive=on)}


def owner(visitor: Visitor, request: gr.Request | None) -> str:
    """Who a job belongs to in the line: the browser session (one job per page), else the visitor."""
    return visitor.job_owner(getattr(request, "session_hash", None))


def run(ctx: AppContext, visitor: Visitor, request: gr.Request | None, job: Job, view, buttons: Buttons,
        updates: Callable[[], Iterable[dict]], refused: Callable[[Exception], dict],
        admitted: Callable[[], None] | None = None) -> Iterator[dict]:
    """Run `job` for `visitor` and stream the tab's messages: `updates()` (one message or more, for the view as it is
    now) on admission, at most once per REDRAW_S, and at once when `view.apply(item)` says an item matters, until
    `view.finished`; `refused(err)` when the line refuses the job (then this returns with `view` unfinished).
    `admitted()` runs once the line has taken the job, before its first message. The first message after admission
    also turns the buttons to running; the tab's own last message (after this returns) should turn them back
    (`buttons.running(False)`), since it knows what else it shows then."""
    try:
        ticket = ctx.jobs.submit(owner(visitor, request), kind=job.kind, label=job.label, exclusive=job.exclusive,
                                 size=job.size)
    except (Busy, AlreadyActive) as err:
        yield {**refused(err), **buttons.running(False)}
        return
    with visitor.lock:
        visitor.ticket = ticket
    if admitted is not None:
        admitted()
    first = True
    for message in updates():
        yield {**message, **buttons.running(True)} if first else message
        first = False
    last = time.monotonic()
    for item in ctx.runner.run(ticket, job.work):
        important = view.apply(item)
        if view.finished:
            return
        if important or time.monotonic() - last >= REDRAW_S:
            last = time.monotonic()
            yield from updates()


def stop_handler(kind: str, texts: str, before: Callable[[Visitor], None] | None = None) -> Callable:
    """The Stop button of a tab whose jobs are of `kind`: the visitor's job leaves the line, or is stopped (the
    engine ends it between two batches and keeps what it made); `texts` is the tab's locale section, whose
    `stop_nothing`, `stop_left` and `stop_stopping` say which."""
    said = {None: "stop_nothing", "left": "stop_left", "stopping": "stop_stopping"}

    def stop(visitor: Visitor) -> str:
        if before is not None:
            before(visitor)
        return tr(visitor.language, f"{texts}.{said[visitor.stop(kind)]}")

    return stop


def save_current(ctx: AppContext, visitor: Visitor, request: gr.Request | None, name,
                 nothing: str) -> tuple[Path | None, str | None]:
    """`save` for the visitor's current model; with none yet, (None, the tab's `nothing` text in their language)."""
    current = visitor.current
    if current is None:
        return None, tr(visitor.language, nothing)
    return save(ctx, visitor, request, current.model, current.meta, name)


def save(ctx: AppContext, visitor: Visitor, request: gr.Request | None, model, meta: dict,
         name) -> tuple[Path | None, str | None]:
    """Save `model` as the checkpoint `name` for this visitor (only their own names can be overwritten; the quotas
    hold): (its path, None), or (None, why not in the visitor's language)."""
    visitor.username = getattr(request, "username", None) or visitor.username
    try:
        return ctx.library.save(model, meta, name, visitor.owner), None
    except (CheckpointError, ConfigError) as err:
        return None, error_text(err, visitor.language)
