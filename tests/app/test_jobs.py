"""mnist_demo.app.core.jobs.line and .runner: admission, the waiting line, cancellation, caps and run_job, with real
threads."""

import os
import sys
import threading
import time

import pytest

from mnist_demo.app.core.jobs.line import JobQueue
from mnist_demo.app.core.jobs.reasons import (
    CANCELLED,
    CONSUMER_GONE,
    DONE,
    RUNNING,
    STOPPED_BY_USER,
    WAITING,
    AlreadyActive,
    Busy,
)
from mnist_demo.app.core.jobs.runner import JOB_NICENESS, Cancelled, Failed, Finished, Started, Tick, Waiting, run_job
from mnist_demo.errors import DemoError


def wait_until(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def jobs():
    queue = JobQueue(max_running=1, max_waiting=2, stale_after_s=None)
    yield queue
    queue.close()


def job_threads():
    return [t for t in threading.enumerate() if t.name.startswith(("train-", "benchmark-", "work-"))]


# --------------------------------------------------------------------------- admission and the line

def test_first_runs_others_wait_with_positions_then_busy(jobs):
    a = jobs.submit("a")
    b = jobs.submit("b")
    c = jobs.submit("c")
    assert (a.status, b.status, c.status) == (RUNNING, WAITING, WAITING)
    assert (a.position, b.position, c.position) == (0, 1, 2)
    with pytest.raises(Busy) as err:
        jobs.submit("d")
    assert "try again in a minute" in str(err.value)
    assert isinstance(err.value, DemoError)
    snap = jobs.snapshot()
    assert len(snap["running"]) == 1 and [w["position"] for w in snap["waiting"]] == [1, 2]


def test_release_admits_the_next_in_order(jobs):
    a, b, c = jobs.submit("a"), jobs.submit("b"), jobs.submit("c")
    a.release()
    assert a.status == DONE and b.status == RUNNING and c.position == 1
    assert b.wait(0) is True
    b.release()
    assert c.wait(1) is True


def test_wait_blocks_until_admitted_from_another_thread(jobs):
    a, b = jobs.submit("a"), jobs.submit("b")
    admitted = []
    waiter = threading.Thread(target=lambda: admitted.append(b.wait(5)))
    waiter.start()
    time.sleep(0.1)
    assert admitted == []
    a.release()
    waiter.join(2)
    assert admitted == [True]


def test_cancel_while_waiting_leaves_the_line(jobs):
    a, b, c = jobs.submit("a"), jobs.submit("b"), jobs.submit("c")
    b.cancel()
    assert b.status == CANCELLED and b.stop_reason == STOPPED_BY_USER
    assert b.wait(0) is False and b.position == 0
    assert c.position == 1
    jobs.submit("d")  # the freed place in line can be taken again
    a.release()
    assert c.status == RUNNING


def test_cancel_while_running_sets_stop_and_keeps_the_slot_until_released(jobs):
    a, b = jobs.submit("a"), jobs.submit("b")
    a.cancel("stopped by you")
    assert a.stop.is_set() and a.stop_reason == "stopped by you"
    assert a.status == RUNNING and b.status == WAITING  # the work still has to end
    a.release()
    assert b.status == RUNNING


def test_one_run_per_owner(jobs):
    jobs.submit("a")
    with pytest.raises(AlreadyActive):
        jobs.submit("a")
    jobs.submit("b")
    with pytest.raises(AlreadyActive, match="waiting"):
        jobs.submit("b")


def test_cancel_owner_cancels_waiting_and_running(jobs):
    a, b = jobs.submit("a"), jobs.submit("b")
    assert jobs.cancel_owner("b") == 1 and b.status == CANCELLED
    assert jobs.cancel_owner("a") == 1 and a.stop.is_set()
    assert jobs.cancel_owner("nobody") == 0


def test_several_slots():
    queue = JobQueue(max_running=2, max_waiting=1, stale_after_s=None)
    try:
        a, b, c = queue.submit("a"), queue.submit("b"), queue.submit("c")
        assert (a.status, b.status, c.status) == (RUNNING, RUNNING, WAITING)
        with pytest.raises(Busy):
            queue.submit("d")
    finally:
        queue.close()


def test_no_waiting_line():
    queue = JobQueue(max_running=1, max_waiting=0, stale_after_s=None)
    try:
        queue.submit("a")
        with pytest.raises(Busy):
            queue.submit("b")
    finally:
        queue.close()


def test_exclusive_runs_alone_and_blocks_overtaking():
    queue = JobQueue(max_running=3, max_waiting=5, stale_after_s=None)
    try:
        t1 = queue.submit("t1")
        bench = queue.submit("bench", kind="benchmark", exclusive=True)
        t2 = queue.submit("t2")
        assert bench.status == WAITING and t2.status == WAITING  # t2 does not overtake the benchmark
        t1.release()
        assert bench.status == RUNNING and t2.status == WAITING  # nothing starts beside it
        bench.release()
        assert t2.status == RUNNING
    finally:
        queue.close()


def test_invalid_limits():
    with pytest.raises(ValueError):
        JobQueue(max_running=-1)
    with pytest.raises(ValueError):
        JobQueue(max_waiting=-1)
    with pytest.raises(ValueError):
        JobQueue(max_seconds=0)


# --------------------------------------------------------------------------- caps and the watchdog

def test_wall_time_cap_sets_stop():
    queue = JobQueue(max_running=1, max_waiting=1, max_seconds=0.3, stale_after_s=None, watch_interval_s=0.02)
    try:
        ticket = queue.submit("a")
        assert ticket.stop.wait(3)
        assert "time limit" in ticket.stop_reason and "0.3" in ticket.stop_reason
    finally:
        queue.close()


def test_per_ticket_cap_cannot_exceed_the_queue_cap():
    queue = JobQueue(max_seconds=10, stale_after_s=None)
    try:
        assert queue.submit("a", max_seconds=100).max_seconds == 10
        assert queue.submit("b", max_seconds=1).max_seconds == 1
    finally:
        queue.close()


def test_stale_consumers_are_dropped():
    queue = JobQueue(max_running=1, max_waiting=2, stale_after_s=0.3, watch_interval_s=0.02)
    try:
        running, waiting = queue.submit("a"), queue.submit("b")
        assert running.stop.wait(3) and running.stop_reason == CONSUMER_GONE
        assert wait_until(lambda: waiting.status == CANCELLED, 3)
    finally:
        queue.close()


def test_touched_tickets_are_kept():
    queue = JobQueue(max_running=1, stale_after_s=0.3, watch_interval_s=0.02)
    try:
        ticket = queue.submit("a")
        for _ in range(10):
            ticket.touch()
            time.sleep(0.06)
        assert not ticket.stop.is_set()
    finally:
        queue.close()


def test_watchdog_exits_when_the_queue_is_empty():
    queue = JobQueue(max_running=1, stale_after_s=None, watch_interval_s=0.02)
    ticket = queue.submit("a")
    assert any(t.name == "jobs-watchdog" for t in threading.enumerate())
    ticket.release()
    assert wait_until(lambda: not any(t.name == "jobs-watchdog" and t.is_alive() for t in threading.enumerate()))
    queue.close()


def test_close_cancels_everything_and_refuses_new_runs():
    queue = JobQueue(max_running=1, max_waiting=2, stale_after_s=None)
    a, b = queue.submit("a"), queue.submit("b")
    queue.close()
    assert a.stop.is_set() and b.status == CANCELLED
    with pytest.raises(Busy):
        queue.submit("c")


# --------------------------------------------------------------------------- run_job

def test_run_job_streams_and_frees_the_slot(jobs):
    def work(stop, emit):
        for i in range(3):
            emit(i)
        return "result"

    ticket = jobs.submit("a")
    items = list(run_job(ticket, work, poll_s=0.05))
    assert isinstance(items[0], Started)
    assert [i for i in items if isinstance(i, int)] == [0, 1, 2]
    assert isinstance(items[-1], Finished) and items[-1].result == "result" and items[-1].stop_reason is None
    assert ticket.status == DONE and jobs.snapshot()["running"] == []


def test_run_job_reports_position_while_waiting(jobs):
    blocker = jobs.submit("blocker")
    ticket = jobs.submit("a")
    stream = run_job(ticket, lambda stop, emit: 42, poll_s=0.05)
    first = next(stream)
    assert isinstance(first, Waiting) and first.position == 1 and first.running == 1
    blocker.release()
    rest = list(stream)
    assert isinstance(rest[-1], Finished) and rest[-1].result == 42
    assert any(isinstance(i, Started) for i in rest)


def test_run_job_failure_is_reported_and_frees_the_slot(jobs):
    def work(stop, emit):
        raise DemoError("boom")

    ticket = jobs.submit("a")
    items = list(run_job(ticket, work, poll_s=0.05))
    assert isinstance(items[-1], Failed) and str(items[-1].error) == "boom"
    assert ticket.status == DONE
    jobs.submit("b")  # the slot is free


def test_run_job_stop_ends_the_work_and_says_why(jobs):
    started = threading.Event()

    def work(stop, emit):
        started.set()
        while not stop.wait(0.01):
            pass
        return "partial"

    ticket = jobs.submit("a")
    stream = run_job(ticket, work, poll_s=0.05)
    assert isinstance(next(stream), Started)
    assert started.wait(2)
    ticket.cancel(STOPPED_BY_USER)
    rest = list(stream)
    assert isinstance(rest[-1], Finished) and rest[-1].result == "partial"
    assert rest[-1].stop_reason == STOPPED_BY_USER


def test_run_job_ticks_while_the_work_is_quiet(jobs):
    def work(stop, emit):
        time.sleep(0.35)
        return None

    items = list(run_job(jobs.submit("a"), work, poll_s=0.02, tick_s=0.1))
    assert sum(isinstance(i, Tick) for i in items) >= 2


def test_closing_run_job_mid_run_stops_the_work_and_leaves_no_thread(jobs):
    ended = threading.Event()

    def work(stop, emit):
        while not stop.wait(0.01):
            emit("tick")
        ended.set()

    ticket = jobs.submit("a")
    stream = run_job(ticket, work, poll_s=0.05)
    for item in stream:
        if item == "tick":
            break
    stream.close()  # what happens when a client disconnects and gradio drops the generator
    assert ended.wait(2)
    assert ticket.stop_reason == CONSUMER_GONE
    assert wait_until(lambda: ticket.status == DONE)
    assert wait_until(lambda: not job_threads())
    jobs.submit("b")


def test_closing_run_job_while_waiting_leaves_the_line(jobs):
    jobs.submit("blocker")
    ticket = jobs.submit("a")
    stream = run_job(ticket, lambda stop, emit: None, poll_s=0.05)
    assert isinstance(next(stream), Waiting)
    stream.close()
    assert ticket.status == CANCELLED and jobs.snapshot()["waiting"] == []


def test_run_job_cancelled_while_waiting(jobs):
    blocker = jobs.submit("blocker")
    ticket = jobs.submit("a")
    stream = run_job(ticket, lambda stop, emit: None, poll_s=0.05)
    assert isinstance(next(stream), Waiting)
    ticket.cancel()
    rest = list(stream)
    assert isinstance(rest[-1], Cancelled) and rest[-1].reason == STOPPED_BY_USER
    blocker.release()


def test_stale_run_is_stopped_when_nobody_pulls():
    queue = JobQueue(max_running=1, stale_after_s=0.3, watch_interval_s=0.02)
    try:
        stopped = threading.Event()

        def work(stop, emit):
            while not stop.wait(0.01):
                pass
            stopped.set()

        stream = run_job(queue.submit("a"), work, poll_s=0.05)
        assert isinstance(next(stream), Started)
        # the consumer never asks for more (a disconnected page): the watchdog stops the run
        assert stopped.wait(3)
        assert wait_until(lambda: queue.snapshot()["running"] == [])
        stream.close()
    finally:
        queue.close()


def test_never_more_than_max_running_under_contention():
    queue = JobQueue(max_running=2, max_waiting=50, stale_after_s=None)
    lock, running, peak, results = threading.Lock(), [0], [0], []

    def work(stop, emit):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return True

    def client(i):
        ticket = queue.submit(f"owner-{i}")
        results.append(list(run_job(ticket, work, poll_s=0.01))[-1])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    queue.close()
    assert len(results) == 20 and all(isinstance(r, Finished) and r.result for r in results)
    assert peak[0] == 2


def test_admitted_while_nobody_listens_is_released():
    queue = JobQueue(max_running=1, max_waiting=1, stale_after_s=0.3, watch_interval_s=0.02)
    try:
        blocker = queue.submit("blocker")
        ticket = queue.submit("a")
        stream = run_job(ticket, lambda stop, emit: None, poll_s=0.05)
        assert isinstance(next(stream), Waiting)
        blocker.touch()
        blocker.release()  # `ticket` is admitted while its consumer is not pulling
        assert ticket.status == RUNNING
        assert wait_until(lambda: ticket.status != RUNNING, 3)  # released by the watchdog, not leaked
        assert queue.snapshot()["running"] == []
        stream.close()
    finally:
        queue.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own priority only on Linux")
def test_runs_yield_the_cpu_to_the_server(jobs):
    """A run's thread is nicer than the server's threads, so page requests and predictions go first."""

    def work(stop, emit):
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    items = list(run_job(jobs.submit("a"), work, poll_s=0.05))
    assert items[-1].result == min(19, ours + JOB_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # the caller's is unchanged
