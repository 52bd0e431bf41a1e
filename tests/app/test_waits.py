"""The line's honest wait (mnist_demo/app/core/jobs/estimates.py and JobQueue): recent runs' measured lengths, each
waiting run's expected start, admission by the expected wait rather than a fixed count, and slots that change."""

import math

import pytest

from mnist_demo.app.core.jobs.estimates import DEFAULT_SECONDS, Durations, expected_starts
from mnist_demo.app.core.jobs.line import JobQueue
from mnist_demo.app.core.jobs.reasons import RUNNING, WAITING, Busy, start_text
from mnist_demo.app.core.messages import error_text


def test_durations_are_the_median_per_unit_of_recent_whole_runs():
    durations = Durations()
    assert durations.expected("train") == DEFAULT_SECONDS["train"] and durations.measured("train") == 0
    for seconds in (8.0, 10.0, 30.0):
        durations.record("train", seconds)
    assert durations.expected("train") == 10.0 and durations.measured("train") == 3
    assert durations.expected("train", size=3) == 30.0  # three epochs: three times as long
    durations.record("train", 40.0, size=4)  # 10 s per unit
    assert durations.expected("train") == 10.0
    assert durations.expected("benchmark") == DEFAULT_SECONDS["benchmark"]  # kinds are measured apart


def test_expected_starts_play_the_line_forward():
    assert expected_starts([], [(10, False), (10, False)], 1) == [0, 10]
    assert expected_starts([(4, 10)], [(10, False), (10, False)], 1) == [6, 16]
    assert expected_starts([(4, 10)], [(10, False), (10, False), (10, False)], 2) == [0, 6, 10]
    assert expected_starts([(30, 10)], [(10, False)], 1) == [0]  # past its expected length: taken to end now
    assert expected_starts([(0, 10), (0, 20)], [(5, True), (10, False)], 2) == [20, 25]  # runs alone
    assert expected_starts([(0, 10), (0, 20), (0, 30)], [(10, False)], 2) == [20]  # fewer slots than runs
    assert all(math.isinf(s) for s in expected_starts([], [(10, False)], 0))


def test_the_line_admits_by_the_expected_wait_and_says_it():
    queue = JobQueue(max_running=1, stale_after_s=None, max_wait_s=100)
    try:
        first = queue.submit("a")
        waiting = [queue.submit(f"v{i}") for i in range(6)]  # 15 s each by default: starts at 15, 30, ... 90
        assert first.status == RUNNING and all(t.status == WAITING for t in waiting)
        assert [round(t.expected_start()) for t in waiting] == [15, 30, 45, 60, 75, 90]
        with pytest.raises(Busy) as refused:
            queue.submit("late")  # would start at 105 s, over the 100 s bound
        assert refused.value.why == "wait" and round(refused.value.wait_s) == 105
        assert "1 min 45 s" in error_text(refused.value) and "1분 45초" in error_text(refused.value, "ko")
        snapshot = queue.snapshot()
        assert [row["expected_start_s"] for row in snapshot["waiting"]] == [15, 30, 45, 60, 75, 90]
        assert snapshot["max_wait_s"] == 100 and snapshot["max_waiting"] is None
    finally:
        queue.close()


def test_a_count_cap_still_holds_when_asked_for():
    queue = JobQueue(max_running=1, max_waiting=1, stale_after_s=None)
    try:
        queue.submit("a"), queue.submit("b")
        with pytest.raises(Busy) as refused:
            queue.submit("c")
        assert refused.value.why == "full" and "try again in a minute" in str(refused.value)
    finally:
        queue.close()


def test_slots_that_change_move_the_line_and_no_slot_refuses_plainly():
    queue = JobQueue(max_running=0, stale_after_s=None)
    try:
        with pytest.raises(Busy) as refused:
            queue.submit("a")
        assert refused.value.why == "no_workers"
        assert error_text(refused.value, "ko").startswith("아직 실행할 준비가 된 워커가")
        queue.set_slots(1)
        a, b = queue.submit("a"), queue.submit("b")
        assert a.status == RUNNING and b.status == WAITING
        queue.set_slots(2)  # a second worker joined
        assert b.status == RUNNING
    finally:
        queue.close()


def test_finished_runs_teach_the_estimate_and_stopped_ones_do_not():
    now = [0.0]
    queue = JobQueue(max_running=1, stale_after_s=None, clock=lambda: now[0])
    try:
        a = queue.submit("a", size=2)
        now[0] = 8.0
        a.release()  # ran to its end: 8 s for two units
        b = queue.submit("b")
        b.cancel()
        now[0] = 9.0
        b.release()  # stopped: says nothing about a whole run
        assert queue.durations.measured("train") == 1 and queue.durations.expected("train") == 4.0
    finally:
        queue.close()


def test_the_expected_start_in_words():
    assert start_text(65, 12) == "should start in about 1 min 05 s, judging by the last 12 runs here"
    assert start_text(65, 1, "ko") == "약 1분 05초 뒤에 시작할 예정입니다 (이 서버의 최근 실행 1개 기준)"
    assert "first guess" in start_text(20, 0)
    assert start_text(0.2, 5) == "should start any moment"
    assert start_text(math.inf, 3) == "starts when a worker is ready"
