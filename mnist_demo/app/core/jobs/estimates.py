"""How long a job in the line will wait: the measured length of recent jobs, and each waiting job's expected start.

A job has a kind ("train", "finetune", "benchmark") and a size (a training's epochs times its share of the 60,000
images: 1.0 for one full epoch; 1.0 for the others). `Durations` keeps the seconds per unit of size of the last
jobs of each kind that ran to their end (a stopped run says nothing about how long a whole one takes); a job's
expected length is that median times its size. Before any job of a kind has finished, DEFAULT_SECONDS stands in.

`expected_starts` plays the line forward with those lengths: each slot frees when its job's expected end comes
(a job past its expected length is taken to end now), the next in line takes the first free slot, and a job that
runs alone (the benchmark) waits for every slot. This is the estimate each waiting visitor sees, updated as the
line moves, and the bound the line admits by (`JobQueue.max_wait_s`).
"""

from __future__ import annotations

import heapq
import math
import statistics
import threading
from collections import deque

KEEP = 20  # recent jobs per kind that the estimate is the median of
# Stand-ins before the first job of a kind finishes here: the default preset's one epoch took 8-11 s on this
# project's 2-core machine (docs/measurements.md), a fine-tune of the default steps about 10 s, the default
# benchmark about a minute. Rounded up, since an estimate that is too short is the one people mind.
DEFAULT_SECONDS = {"train": 15.0, "finetune": 15.0, "benchmark": 60.0}
FALLBACK_SECONDS = 30.0


class Durations:
    """Seconds per unit of size of the last KEEP finished jobs of each kind; thread-safe."""

    def __init__(self):
        self._rates: dict[str, deque] = {}
        self._lock = threading.Lock()

    def record(self, kind: str, seconds: float, size: float = 1.0) -> None:
        if size > 0 and math.isfinite(seconds) and seconds >= 0:
            with self._lock:
                self._rates.setdefault(kind, deque(maxlen=KEEP)).append(seconds / size)

    def measured(self, kind: str) -> int:
        """How many finished jobs of `kind` the estimate rests on (0: the stand-in)."""
        with self._lock:
            return len(self._rates.get(kind, ()))

    def expected(self, kind: str, size: float = 1.0) -> float:
        """The expected length in seconds of a job of `kind` and `size`."""
        with self._lock:
            rates = list(self._rates.get(kind, ()))
        rate = statistics.median(rates) if rates else DEFAULT_SECONDS.get(kind, FALLBACK_SECONDS)
        return rate * max(size, 0.0)


def expected_starts(running: list[tuple[float, float]], waiting: list[tuple[float, bool]],
                    slots: int) -> list[float]:
    """Seconds from now until each waiting job starts, in line order.

    `running`: (elapsed, expected length) of each running job; `waiting`: (expected length, runs alone) of each
    waiting job, first in line first; `slots`: jobs at once. With no slots nothing starts: every wait is infinite."""
    if slots < 1:
        return [math.inf] * len(waiting)
    ends = sorted(max(0.0, length - elapsed) for elapsed, length in running)
    # The k-th slot frees when the (k + extra)-th running job ends; free slots free now.
    extra = max(0, len(ends) - slots)
    free = [0.0] * max(0, slots - len(ends)) + ends[extra:]
    heapq.heapify(free)
    starts = []
    for length, alone in waiting:
        if alone:
            start = max(free)
            free = [start + length] * slots
            heapq.heapify(free)
        else:
            start = heapq.heappop(free)
            heapq.heappush(free, start + length)
        starts.append(start)
    return starts
