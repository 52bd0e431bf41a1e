"""The server-wide services every visitor shares (`AppContext`): the settings, the devices, the line for long jobs,
the checkpoint library, and the recent predictions' timings."""

from __future__ import annotations

from collections import deque

from mnist_demo.app.core.board.rules import BoardError
from mnist_demo.app.core.board.store import Board
from mnist_demo.app.core.jobs.line import JobQueue
from mnist_demo.app.core.jobs.runner import ThreadRunner
from mnist_demo.app.core.models.checkpoint_folder import Library
from mnist_demo.app.core.settings import MB, Settings
from mnist_demo.devices import available_devices


class AppContext:
    """Server-wide services shared by every visitor: the settings, the line for long jobs and where they run, the
    checkpoint library. `close()` ends them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        remote = settings.scheduler not in (None, "embedded")
        self.jobs = JobQueue(max_running=0 if remote else settings.max_trainings, max_waiting=settings.queue_size,
                             max_seconds=settings.max_train_seconds, stale_after_s=settings.stale_after_s,
                             max_wait_s=settings.max_wait_s)
        self.library = Library(settings.checkpoint_dir, max_per_owner=settings.max_saves_per_visitor,
                               max_bytes_per_owner=int(settings.max_save_mb_per_visitor * MB),
                               max_total_bytes=int(settings.max_checkpoint_dir_mb * MB),
                               max_files=settings.max_checkpoint_files,
                               max_upload_bytes=settings.upload_limit_bytes)
        self.board, self.board_problem = self._board(settings)  # the class's posted runs (SQLite), or why not
        self.runner = self._runner(settings)  # where long jobs run
        self._devices = available_devices()
        self.predict_ms: deque[float] = deque(maxlen=200)  # server-side time of recent predictions

    def record_predict(self, ms: float) -> None:
        self.predict_ms.append(ms)

    def predict_stats(self) -> dict:
        times = sorted(self.predict_ms)
        if not times:
            return {"n": 0, "median_ms": None, "p90_ms": None}
        return {"n": len(times), "median_ms": round(times[len(times) // 2], 2),
                "p90_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))], 2)}

    @staticmethod
    def _board(settings: Settings) -> tuple[Board | None, BoardError | None]:
        """The class board, or None and why not (a read-only folder, a foreign file): the app serves without it."""
        try:
            return Board(settings.board_path, settings.class_name), None
        except BoardError as err:
            return None, err

    def _runner(self, settings: Settings):
        if settings.scheduler is None:
            return ThreadRunner()
        from mnist_demo.app.core.jobs.cluster import Cluster  # here: Dask is loaded only when a cluster is asked for

        return Cluster(None if settings.scheduler == "embedded" else settings.scheduler, slots=settings.max_trainings,
                       data_dir=settings.data_dir, threads=settings.threads, on_slots=self.jobs.set_slots)

    @property
    def devices(self) -> list[str]:
        """The devices trainings may ask for: this machine's, and those of a cluster's workers."""
        workers = getattr(self.runner, "devices", None)
        return list(dict.fromkeys(self._devices + (workers() if workers else [])))

    def status(self) -> dict:
        """The line, where its jobs run, and recent predictions (the `queue_status` API)."""
        describe = getattr(self.runner, "describe", None)
        return {**self.jobs.snapshot(), "predict": self.predict_stats(),
                "cluster": describe() if describe else {"scheduler": None, "slots": self.jobs.max_running}}

    def close(self) -> None:
        """Stop every job (their visitors are told) and let go of the cluster."""
        self.jobs.close()
        self.runner.close()
        if self.board is not None:
            self.board.close()

    @property
    def default_device(self) -> str:
        if self.settings.device:
            return self.settings.device
        return next((d for d in ("cuda", "mps") if d in self.devices), "cpu")
