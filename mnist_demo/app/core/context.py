"""The server-wide services every visitor shares (`AppContext`): the settings, the devices, the line for long jobs,
the checkpoint library, and the recent predictions' timings."""

from __future__ import annotations

from collections import deque

from mnist_demo.app.core.jobs import JobQueue
from mnist_demo.app.core.library import Library
from mnist_demo.app.core.runner import ThreadRunner
from mnist_demo.app.core.settings import MB, Settings
from mnist_demo.devices import available_devices


class AppContext:
    """Server-wide services shared by every visitor: the settings, the jobs queue, the checkpoint library."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.devices = available_devices()
        self.jobs = JobQueue(max_running=settings.max_trainings, max_waiting=settings.queue_size,
                             max_seconds=settings.max_train_seconds,
                             stale_after_s=settings.stale_after_s)
        self.library = Library(settings.checkpoint_dir, max_per_owner=settings.max_saves_per_visitor,
                               max_bytes_per_owner=int(settings.max_save_mb_per_visitor * MB),
                               max_total_bytes=int(settings.max_checkpoint_dir_mb * MB),
                               max_files=settings.max_checkpoint_files,
                               max_upload_bytes=settings.upload_limit_bytes)
        self.runner = ThreadRunner()  # where long jobs run
        self.predict_ms: deque[float] = deque(maxlen=200)  # server-side time of recent predictions

    def record_predict(self, ms: float) -> None:
        self.predict_ms.append(ms)

    def predict_stats(self) -> dict:
        times = sorted(self.predict_ms)
        if not times:
            return {"n": 0, "median_ms": None, "p90_ms": None}
        return {"n": len(times), "median_ms": round(times[len(times) // 2], 2),
                "p90_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))], 2)}

    @property
    def default_device(self) -> str:
        if self.settings.device:
            return self.settings.device
        return next((d for d in ("cuda", "mps") if d in self.devices), "cpu")
