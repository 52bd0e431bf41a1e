"""The CPU vs CUDA benchmark as a long job (no gradio): the work to hand to the runner (`benchmark_work`), and
`BenchView`, which keeps what the tab shows while it waits and measures: its status line, the cells measured so
far, and how it ended."""

from __future__ import annotations

import functools

from mnist_demo import bench
from mnist_demo.app.core.jobs.reasons import start_text
from mnist_demo.app.core.jobs.runner import Cancelled, Failed, Finished, Started, Waiting
from mnist_demo.texts import tr


def benchmark_work(model: str, sizes: tuple[int, ...], repeats: int) -> functools.partial:
    """The benchmark as a job's work, `work(stop, emit) -> report` (see `benchmark_task`)."""
    return functools.partial(benchmark_task, model=model, sizes=tuple(sizes), repeats=repeats)


def benchmark_task(stop, emit, model: str, sizes: tuple[int, ...], repeats: int) -> dict:
    """Time a training step and an inference pass per device and batch size; emit each cell (a row dict) as it is
    measured. `stop` is the ticket's: set by Stop and by the line's wall-clock cap; the engine checks it between runs
    and between the layers of long runs, and returns the cells done so far. Module-level, of plain arguments, so
    that a runner may run it in another process."""
    return bench.run_benchmark(devices=None, batch_sizes=sizes, model=model, repeats=repeats, on_row=emit,
                               stop=stop)


class BenchView:
    """What the CPU vs CUDA tab shows of one benchmark, from the runner's items, in `lang`."""

    def __init__(self, lang: str | None = None):
        self.lang = lang
        self.status = tr(lang, "bench.waiting_slot")
        self.rows: list[dict] = []
        self.position = 0
        self.outcome = None  # the runner's last item: Finished, Failed or Cancelled
        self.finished = False

    def apply(self, item) -> bool:
        """True when worth showing at once."""
        if isinstance(item, Waiting):
            changed, self.position = item.position != self.position, item.position
            self.status = tr(self.lang, "bench.waiting_line", position=item.position,
                             eta=start_text(item.starts_in_s, item.measured, self.lang))
            return changed
        if isinstance(item, Started):
            self.status = tr(self.lang, "bench.measuring_start")
            return True
        if isinstance(item, dict):
            self.rows.append(item)
            self.status = tr(self.lang, "bench.measuring_cells", cells=len(self.rows))
            return True
        if isinstance(item, (Finished, Failed, Cancelled)):
            self.outcome, self.finished = item, True
            return True
        return False
