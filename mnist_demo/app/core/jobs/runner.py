"""Running a ticket's work (`run_job`) and what it yields on the way: Waiting, Started, Tick, then Finished, Failed
or Cancelled.

`jobs.JobQueue` decides who may run; `run_job` waits for that, runs the work in its own thread at a lower OS
priority, passes on what the work emits, and makes sure the slot is freed however the consumer behaves.
"""

from __future__ import annotations

import os
import queue as _queue
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from mnist_demo.app.core.jobs.line import Ticket
from mnist_demo.app.core.jobs.reasons import CANCELLED_BEFORE_START, CONSUMER_GONE, WAITING

HOST = socket.gethostname()
JOB_NICENESS = 10  # added to a run thread's niceness: 0 -> 10 gets about a tenth of a contended core


@dataclass(frozen=True)
class Waiting:
    """Still in line: `position` 1 is next; `running` runs are going now."""

    position: int
    waiting: int
    running: int
    waited_s: float
    starts_in_s: float | None = None  # the expected start (`waits`); inf with no slot at all
    measured: int = 0  # the finished runs the estimate rests on


@dataclass(frozen=True)
class Started:
    waited_s: float


@dataclass(frozen=True)
class Tick:
    """Nothing new for a while (the run is busy, e.g. loading data or evaluating)."""

    elapsed_s: float


@dataclass(frozen=True)
class Finished:
    result: Any
    stop_reason: str | None  # why `stop` was set, if it was (by the user, the time cap, ...)
    elapsed_s: float


@dataclass(frozen=True)
class Failed:
    error: BaseException
    stop_reason: str | None
    elapsed_s: float


@dataclass(frozen=True)
class Cancelled:
    """Left the line before starting."""

    reason: str


@dataclass(frozen=True)
class Placed:
    """Where the job runs: the machine's name and the worker (or "this process")."""

    host: str
    worker: str


class Outcome:
    """How a job's work ended: its result, or the error it raised. A launcher puts one last, after the work's items."""

    def __init__(self, result=None, error: BaseException | None = None):
        self.result, self.error = result, error


_process_lowered = False  # this whole process runs at the lower priority already (a worker: lower_process_priority)


def lower_priority(niceness: int = JOB_NICENESS) -> bool:
    """Raise the calling thread's niceness by `niceness` (Linux threads have their own; needs no privilege), unless
    the whole process was lowered already: a worker's task thread then stays at the worker's niceness (stacked, a
    training on the embedded worker ran at 19 and took 12.5 s where one in the web process at 10 took 7.3 s, with
    ten visitors drawing: benchmarks/class_load.py --compare).

    True when done; False where threads have no priority of their own here (macOS, Windows) or it failed.
    """
    if niceness <= 0 or _process_lowered or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
        return True
    except OSError:
        return False


def lower_process_priority(niceness: int = JOB_NICENESS) -> int:
    """Every thread this process has now (a worker's: its own threads and torch's) at a niceness of at least
    `niceness` (a thread a task lowered already is not lowered twice), so that the threads they start inherit it
    too; how many were set (0 where threads have no priority of their own)."""
    global _process_lowered
    if niceness <= 0 or _process_lowered or not sys.platform.startswith("linux"):
        return 0
    _process_lowered = True  # threads started from now on inherit it from the threads that start them
    lowered = 0
    for tid in (int(name) for name in os.listdir("/proc/self/task")):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, max(os.getpriority(os.PRIO_PROCESS, tid), niceness)))
            lowered += 1
        except OSError:  # a thread that ended meanwhile
            pass
    return lowered


def in_thread(ticket: Ticket, work: Callable, put: Callable[[Any], None]) -> threading.Thread:
    """Launch `work(stop, emit)` in a thread of this process at a lower OS priority: each item it emits, then its
    Outcome, go to `put`; the thread frees the ticket's slot when the work returns, whatever the consumer does."""

    def body() -> None:
        outcome = Outcome()
        lower_priority()
        put(Placed(HOST, "this process"))
        try:
            outcome.result = work(ticket.stop, put)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer as Failed
            outcome.error = err
        finally:
            ticket.release()
            put(outcome)

    thread = threading.Thread(target=body, name=f"{ticket.kind}-{ticket.id}", daemon=True)
    thread.start()
    return thread


def run_job(ticket: Ticket, work: Callable[[threading.Event, Callable[[Any], None]], Any],
            poll_s: float = 0.5, tick_s: float | None = 1.0, launch: Callable = in_thread) -> Iterator[Any]:
    """Wait in line, then run `work(stop, emit)` where `launch` puts it (by default a thread of this process),
    yielding as things happen.

    Yields Waiting (every `poll_s` while in line), then Started, Placed, each item `work` emits, Tick when nothing
    came for `tick_s`, and finally Finished(result) or Failed(error) - or Cancelled if it left the line.
    Closing the generator (the consumer went away) cancels the ticket: a waiting one leaves the line, a
    running one gets `stop` set and its launcher releases the slot as soon as the work returns.
    `launch(ticket, work, put)` starts the work and returns a handle with `is_alive()`; it puts every item and
    then one Outcome, and releases the ticket once the work is over.
    """
    running = None
    try:
        while True:
            ticket.touch()
            if ticket.wait(poll_s):
                break
            if ticket.status != WAITING:
                yield Cancelled(ticket.stop_reason or CANCELLED_BEFORE_START)
                return
            position, waiting, ahead_running = ticket.line()
            if position:
                yield Waiting(position, waiting, ahead_running, ticket.waited_s, ticket.expected_start(),
                              ticket.measured())
        if ticket.stop.is_set():  # cancelled in the instant it was admitted
            ticket.release()
            yield Cancelled(ticket.stop_reason or CANCELLED_BEFORE_START)
            return
        events: _queue.Queue = _queue.Queue()
        # launched before the first yield after admission: from here on, the slot is freed by the launcher
        # however the consumer behaves (it may never pull again)
        ticket.working = True
        running = launch(ticket, work, events.put)
        yield Started(ticket.waited_s)
        last = time.monotonic()
        while True:
            ticket.touch()
            try:
                item = events.get(timeout=poll_s)
            except _queue.Empty:
                if tick_s is not None and time.monotonic() - last >= tick_s:
                    last = time.monotonic()
                    yield Tick(ticket.elapsed_s)
                continue
            if isinstance(item, Outcome):
                if item.error is not None:
                    yield Failed(item.error, ticket.stop_reason, ticket.elapsed_s)
                else:
                    yield Finished(item.result, ticket.stop_reason, ticket.elapsed_s)
                return
            last = time.monotonic()
            yield item
    finally:
        if running is None:
            ticket.cancel(CONSUMER_GONE)
            ticket.release()
        elif running.is_alive():
            ticket.cancel(CONSUMER_GONE)  # the launcher frees the slot when the work returns


class ThreadRunner:
    """Runs each job in a thread of this process (`run_job`): the embedded default before a cluster is asked for."""

    where = "this process"

    def run(self, ticket: Ticket, work: Callable[[threading.Event, Callable[[Any], None]], Any]) -> Iterator[Any]:
        return run_job(ticket, work)

    def close(self) -> None:
        """Nothing to let go of: each job's thread ends with its work."""
