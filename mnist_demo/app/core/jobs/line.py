"""Admission for long runs (trainings, fine-tunes, benchmarks): at most N at once, a bounded waiting line, caps.

Pure Python (threads only): the app uses it, and so can anything else. How a run goes (`runner.run_job` waits
in line and runs the work):

    queue = JobQueue(max_running=1, max_waiting=4, max_seconds=600)
    ticket = queue.submit(owner="visitor-1", kind="train")   # Busy when the line is full
    for update in run_job(ticket, work):                      # work(stop: Event, emit) -> result
        ...  # Waiting(position) while in line, Started, whatever `work` emits, Tick, then Finished or Failed

Why not Gradio's own queue: its only bound, `queue(max_size=...)`, counts every event of the app, so a full line
of trainings would refuse every prediction (benchmarks/queue_choice.py; docs/measurements.md).

- Admission is first come, first served. A ticket with `exclusive=True` (the benchmark) runs alone: it waits
  until nothing runs, and nothing else starts while it runs, so its timings are not polluted.
- `ticket.cancel()` takes a waiting ticket out of the line, or sets the running one's `stop` event: the work
  is expected to watch `stop` and end within a moment (the engine's `train()` checks it between batches).
- Caps: `max_seconds` of wall time per run (the watchdog sets `stop`), and consumers that stop listening:
  `run_job` touches its ticket every time it is pulled; a ticket not touched for `stale_after_s` is cancelled
  (a browser tab closed mid-run, a client that went away) so its slot is freed.
- Runs are background work: `run_job` runs them at a lower OS priority (`runner.JOB_NICENESS`, Linux), so the
  web server and predictions get the CPU first and a training only uses what they leave.
- Nothing is left behind: the run's thread ends when its work returns, the slot is released by that thread,
  and the watchdog thread exits once the queue is empty.
- Words: a `stop_reason` is a `Reason`, an English string (logs, API clients) that carries its code and values;
  `reason_text`, `Busy.text`, `AlreadyActive.text` and `JobQueue.describe(lang)` say the same in a visitor's
  language (the `jobs.*` texts in the app's locale files).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from typing import Callable

from mnist_demo.app.core.jobs.estimates import Durations, expected_starts
from mnist_demo.app.core.jobs.reasons import (
    BUSY,
    CANCELLED,
    CONSUMER_GONE,
    DONE,
    RUNNING,
    SHUTTING_DOWN,
    STOPPED_BY_USER,
    WAITING,
    AlreadyActive,
    Busy,
    time_cap,
)
from mnist_demo.texts import tr

# --------------------------------------------------------------------------- tickets

class Ticket:
    """One request for a slot. Thread-safe; create through `JobQueue.submit`."""

    def __init__(self, jobs: "JobQueue", number: int, owner: str, kind: str, label: str, exclusive: bool,
                 max_seconds: float | None):
        self._jobs = jobs
        self.id = number
        self.owner = owner
        self.kind = kind
        self.label = label
        self.exclusive = exclusive
        self.max_seconds = max_seconds
        self.stop = threading.Event()
        self.stop_reason: str | None = None
        self.status = WAITING
        self.created = jobs.clock()
        self.started: float | None = None
        self.ended: float | None = None
        self.last_touch = self.created
        self.working = False  # run_job started a thread that will release the slot itself
        self.size = 1.0  # the job's size in its kind's units (`waits`)

    def __repr__(self) -> str:
        return f"Ticket({self.id}, {self.kind}, owner={self.owner!r}, {self.status})"

    @property
    def position(self) -> int:
        """1-based place in the waiting line; 0 when running or finished."""
        return self._jobs._position(self)

    @property
    def active(self) -> bool:
        return self.status in (WAITING, RUNNING)

    @property
    def waited_s(self) -> float:
        end = self.started if self.started is not None else (self.ended or self._jobs.clock())
        return max(0.0, end - self.created)

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (0 while waiting)."""
        if self.started is None:
            return 0.0
        return max(0.0, (self.ended or self._jobs.clock()) - self.started)

    def expected_start(self) -> float | None:
        """Seconds until this ticket is expected to start (None: not waiting; inf: no slot at all)."""
        return self._jobs.expected_start(self)

    def measured(self) -> int:
        """How many finished jobs of this kind the estimates rest on."""
        return self._jobs.durations.measured(self.kind)

    def line(self) -> tuple[int, int, int]:
        """(this ticket's place in line, 0 when not waiting; runs waiting; runs going), read at one instant."""
        return self._jobs._line(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until admitted (True), or until `timeout` passes or the ticket is cancelled (False)."""
        return self._jobs._wait(self, timeout)

    def touch(self) -> None:
        """The consumer is still listening (see `JobQueue.stale_after_s`)."""
        self.last_touch = self._jobs.clock()

    def cancel(self, reason: str = STOPPED_BY_USER) -> None:
        """Leave the line if waiting; ask the run to stop if running. Idempotent."""
        self._jobs._cancel(self, reason)

    def release(self) -> None:
        """The run is over: free the slot (idempotent). Call from whoever ran the work."""
        self._jobs._release(self)


class JobQueue:
    """At most `max_running` runs at once (the slots: a cluster's may change, `set_slots`); a new run waits in line
    while its expected start (`waits.expected_starts`) is within `max_wait_s`, and while the line holds fewer than
    `max_waiting` (None: no count cap); the rest are refused with `Busy`."""

    def __init__(self, max_running: int = 1, max_waiting: int | None = None, max_seconds: float | None = None,
                 stale_after_s: float | None = 20.0, one_per_owner: bool = True, watch_interval_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic, max_wait_s: float | None = 600.0):
        if int(max_running) < 0:
            raise ValueError("max_running must be 0 or more")
        if max_waiting is not None and int(max_waiting) < 0:
            raise ValueError("max_waiting must be 0 or more")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError("max_seconds must be positive (or None for no cap)")
        if max_wait_s is not None and not max_wait_s > 0:
            raise ValueError("max_wait_s must be positive (or None for no bound)")
        self.max_running = int(max_running)
        self.max_waiting = None if max_waiting is None else int(max_waiting)
        self.max_wait_s = max_wait_s
        self.durations = Durations()
        self.no_slot_reason: str | None = None  # what keeps a cluster's workers from running anything (none ready)
        self.max_seconds = max_seconds
        self.stale_after_s = stale_after_s
        self.one_per_owner = one_per_owner
        self.watch_interval_s = watch_interval_s
        self.clock = clock
        self._lock = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._numbers = itertools.count(1)
        self._watchdog: threading.Thread | None = None
        self._closed = False

    # ----------------------------------------------------------------- public

    def submit(self, owner: str, kind: str = "train", label: str = "", exclusive: bool = False,
               max_seconds: float | None = None, size: float = 1.0) -> Ticket:
        """A ticket, running at once if a slot is free, else waiting in line. Raises Busy / AlreadyActive. `size`:
        the job's size in its kind's units (a training's epochs times its share of the images), for the estimates."""
        cap = self.max_seconds if max_seconds is None else min(max_seconds, self.max_seconds or max_seconds)
        with self._lock:
            if self._closed:
                raise Busy("closed")
            if self.one_per_owner:
                mine = next((t for t in self._waiting + self._running if t.owner == owner), None)
                if mine is not None:
                    raise AlreadyActive(mine.kind, 0 if mine.status == RUNNING else self._position(mine))
            ticket = Ticket(self, next(self._numbers), str(owner), kind, label, exclusive, cap)
            ticket.size = size
            self._waiting.append(ticket)
            self._admit()
            if ticket.status == WAITING:
                refusal = self._refusal()
                if refusal is not None:
                    self._waiting.remove(ticket)
                    ticket.status, ticket.stop_reason, ticket.ended = CANCELLED, BUSY, self.clock()
                    raise refusal
            self._ensure_watchdog()
            return ticket

    def _refusal(self) -> Busy | None:
        """Why the ticket just put last in line may not stay there, or None (under the lock)."""
        running, waiting = len(self._running), len(self._waiting) - 1
        if self.max_running == 0:
            return Busy("no_workers", running, waiting, detail=self.no_slot_reason)
        if self.max_waiting is not None and waiting >= self.max_waiting:
            return Busy("full", running, waiting)
        start = self._starts()[-1]
        if self.max_wait_s is not None and start > self.max_wait_s:
            return Busy("wait", running, waiting, wait_s=start, limit_s=self.max_wait_s)
        return None

    def set_slots(self, slots: int, why: str | None = None) -> None:
        """The runs at once now (a cluster's workers joined or left); the line moves at once if it can. `why`: what
        keeps the workers there are from running anything, said to those refused while there is no slot."""
        with self._lock:
            self.max_running = max(0, int(slots))
            self.no_slot_reason = why
            self._admit()
            self._lock.notify_all()

    def expected(self, ticket: Ticket) -> float:
        """The expected length in seconds of `ticket`'s job, from the recent jobs of its kind."""
        return self.durations.expected(ticket.kind, ticket.size)

    def expected_start(self, ticket: Ticket) -> float | None:
        """Seconds from now until `ticket` is expected to start (None when it is not waiting; inf with no slots)."""
        with self._lock:
            if ticket not in self._waiting:
                return None
            return self._starts()[self._waiting.index(ticket)]

    def _starts(self) -> list[float]:
        """Every waiting ticket's expected start, in line order (under the lock)."""
        return expected_starts([(t.elapsed_s, self.expected(t)) for t in self._running],
                               [(self.expected(t), t.exclusive) for t in self._waiting], self.max_running)

    def cancel_owner(self, owner: str, reason: str = CONSUMER_GONE) -> int:
        """Cancel every waiting or running ticket of `owner` (e.g. the browser tab was closed)."""
        with self._lock:
            mine = [t for t in self._waiting + self._running if t.owner == owner]
        for ticket in mine:
            ticket.cancel(reason)
        return len(mine)

    def snapshot(self) -> dict:
        """JSON-able state of the line: who runs, who waits, the limits."""
        with self._lock:
            starts = self._starts()

            def row(t: Ticket) -> dict:
                out = {"id": t.id, "kind": t.kind, "label": t.label, "status": t.status,
                       "position": self._position(t), "elapsed_s": round(t.elapsed_s, 1),
                       "waited_s": round(t.waited_s, 1), "expected_s": round(self.expected(t), 1)}
                if t.status == WAITING:
                    start = starts[self._waiting.index(t)]
                    out["expected_start_s"] = round(start, 1) if math.isfinite(start) else None
                return out
            return {"running": [row(t) for t in self._running], "waiting": [row(t) for t in self._waiting],
                    "max_running": self.max_running, "max_waiting": self.max_waiting,
                    "max_wait_s": self.max_wait_s, "max_seconds": self.max_seconds}

    def describe(self, lang: str | None = None) -> str:
        """"1 of 1 run slot busy, 2 waiting", in `lang` (None: English)."""
        snap = self.snapshot()
        running, waiting = len(snap["running"]), len(snap["waiting"])
        text = tr(lang, "jobs.describe_one" if self.max_running == 1 else "jobs.describe_many",
                   running=running, max=self.max_running)
        return text + (tr(lang, "jobs.describe_waiting", waiting=waiting) if waiting else "")

    def close(self, reason: str = SHUTTING_DOWN) -> None:
        """Cancel everything and stop the watchdog."""
        with self._lock:
            self._closed = True
            tickets = self._waiting + self._running
        for ticket in tickets:
            ticket.cancel(reason)
        with self._lock:
            self._lock.notify_all()
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(timeout=5)

    # ----------------------------------------------------------------- internals (called by Ticket)

    def _line(self, ticket: Ticket) -> tuple[int, int, int]:
        with self._lock:
            return self._position(ticket), len(self._waiting), len(self._running)

    def _position(self, ticket: Ticket) -> int:
        try:
            return self._waiting.index(ticket) + 1
        except ValueError:
            return 0

    def _can_start(self, ticket: Ticket) -> bool:
        if any(t.exclusive for t in self._running):
            return False
        if ticket.exclusive:
            return not self._running
        return len(self._running) < self.max_running

    def _admit(self) -> None:
        """Start waiting tickets in order while slots allow (head of line first: no overtaking)."""
        changed = False
        while self._waiting and self._can_start(self._waiting[0]):
            ticket = self._waiting.pop(0)
            ticket.status, ticket.started = RUNNING, self.clock()
            ticket.last_touch = ticket.started
            self._running.append(ticket)
            changed = True
        if changed:
            self._lock.notify_all()

    def _wait(self, ticket: Ticket, timeout: float | None) -> bool:
        deadline = None if timeout is None else self.clock() + timeout
        with self._lock:
            while ticket.status == WAITING:
                left = None if deadline is None else deadline - self.clock()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
            return ticket.status == RUNNING

    def _cancel(self, ticket: Ticket, reason: str) -> None:
        with self._lock:
            if ticket.status == WAITING:
                self._waiting.remove(ticket)
                ticket.status, ticket.ended = CANCELLED, self.clock()
                ticket.stop_reason = ticket.stop_reason or reason
                ticket.stop.set()
                self._admit()
                self._lock.notify_all()
            elif ticket.status == RUNNING and not ticket.stop.is_set():
                ticket.stop_reason = ticket.stop_reason or reason
                ticket.stop.set()

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket in self._running:
                self._running.remove(ticket)
                ticket.status, ticket.ended = DONE, self.clock()
                if ticket.stop_reason is None:  # ran to its end: it says how long a whole one takes
                    self.durations.record(ticket.kind, ticket.elapsed_s, ticket.size)
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.status, ticket.ended = CANCELLED, self.clock()
                ticket.stop.set()
            self._admit()
            self._lock.notify_all()

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="jobs-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """Enforce the wall-time cap and drop tickets nobody listens to; exit when the queue is empty."""
        while True:
            with self._lock:
                if self._closed or not (self._waiting or self._running):
                    self._watchdog = None
                    return
                self._lock.wait(self.watch_interval_s)
                now = self.clock()
                overdue = [t for t in self._running if t.max_seconds is not None and not t.stop.is_set()
                           and t.started is not None and now - t.started > t.max_seconds]
                stale = [] if self.stale_after_s is None else [
                    t for t in self._waiting + self._running
                    if not t.stop.is_set() and now - t.last_touch > self.stale_after_s]
            for ticket in overdue:
                ticket.cancel(time_cap(ticket.max_seconds))
            for ticket in stale:
                ticket.cancel(CONSUMER_GONE)
                if ticket.status == RUNNING and not ticket.working:
                    ticket.release()  # admitted, but nobody is there to start or end its work
