"""What the app keeps: server-wide settings and services (`AppContext`), and each visitor's own `Visitor`.

A `Visitor` lives in a per-session `gr.State` (one per browser tab or API client), never in a module
global: its current model, its last run's log and curves, the runs it keeps to compare, its Draw-tab model
choice and its ticket in the jobs queue. No gradio here: the UI modules wrap these objects.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mnist_demo.checkpoints import DEFAULT_DIR, DEFAULT_NAME
from mnist_demo.devices import available_devices
from mnist_demo.app.jobs import PAGE_CLOSED, STOPPED_BY_USER, JobQueue, Ticket
from mnist_demo.app.curves import DEFAULT_X
from mnist_demo.app.runs import Runs
from mnist_demo.train import Evaluation

YOURS = "@current"  # the Draw tab's value for "this visitor's current model" (not a valid checkpoint name)
MB = 1024 * 1024


@dataclass
class Settings:
    """Everything `demo.py`'s flags decide. Defaults suit one person on a laptop; `for_share()` tightens them."""

    data_dir: str = "data"
    checkpoint_dir: str = str(DEFAULT_DIR)
    device: str | None = None  # the Train tab's default device (None: the fastest present)
    max_trainings: int = 1  # runs at once (trainings and benchmarks share the slots)
    queue_size: int = 4  # runs waiting for a slot; more are told "busy, try again in a minute"
    max_epochs: int = 20
    max_train_seconds: float | None = 1800.0  # wall-clock cap per run (training or benchmark)
    max_saves_per_visitor: int = 5
    max_save_mb_per_visitor: float = 50.0
    max_upload_mb: float = 20.0
    max_checkpoint_dir_mb: float = 500.0
    max_checkpoint_files: int = 200
    predict_workers: int = 2  # predictions at once, in the Draw tab's queue group and in /api/predict each
    torch_threads: int | None = None  # None: all cores but one (see `threads`)
    stale_after_s: float = 20.0  # a run whose page stopped listening this long is stopped
    default_threads: int = field(default_factory=torch.get_num_threads)

    @classmethod
    def for_share(cls, **overrides) -> "Settings":
        values = dict(max_epochs=6, max_train_seconds=600.0, queue_size=4,
                      max_saves_per_visitor=3, max_save_mb_per_visitor=20.0, max_upload_mb=10.0,
                      max_checkpoint_dir_mb=200.0, max_checkpoint_files=100)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_dir)

    @property
    def upload_limit_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def gradio_file_mb(self) -> float:
        """Gradio's own cap per uploaded file: above ours (`max_upload_mb`), so ours refuses first and says why."""
        return max(2 * self.max_upload_mb, 50.0)

    @property
    def request_limit_bytes(self) -> int:
        """The most one request may send the server (any route): one file at Gradio's cap and a form around it."""
        return int((self.gradio_file_mb + 1) * MB)

    @property
    def threads(self) -> int:
        """torch threads for the whole server: by default one core stays free for the web server and predictions.

        Evidence (benchmarks/load.py on 2 cores, 20 clients predicting while one training runs, before trainings
        were also made nicer): p95 316 ms with 2 torch threads, 244 ms with 1; docs/measurements.md.
        """
        return self.torch_threads or max(1, self.default_threads - 1)


class AppContext:
    """Server-wide services shared by every visitor: the settings, the jobs queue, the checkpoint library."""

    def __init__(self, settings: Settings):
        from mnist_demo.app.library import Library

        self.settings = settings
        self.devices = available_devices()
        self.jobs = JobQueue(max_running=settings.max_trainings, max_waiting=settings.queue_size,
                             max_seconds=settings.max_train_seconds, max_epochs=settings.max_epochs,
                             stale_after_s=settings.stale_after_s)
        self.library = Library(settings.checkpoint_dir, max_per_owner=settings.max_saves_per_visitor,
                               max_bytes_per_owner=int(settings.max_save_mb_per_visitor * MB),
                               max_total_bytes=int(settings.max_checkpoint_dir_mb * MB),
                               max_files=settings.max_checkpoint_files,
                               max_upload_bytes=settings.upload_limit_bytes)
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


@dataclass
class CurrentModel:
    """A visitor's model for the Draw tab: trained here, loaded from a checkpoint, or uploaded."""

    model: nn.Module
    predictor: object  # mnist_demo.predict.Predictor
    meta: dict
    origin: str  # "trained", "stopped early", "run N", "checkpoint NAME", "upload NAME"
    run_id: str
    evaluation: "Evaluation | None" = None  # the final test figures of a run trained here (None: not known)

    def label(self) -> str:
        accuracy = self.meta.get("accuracy")
        acc = f", {100 * accuracy:.1f}% test accuracy" if isinstance(accuracy, float) else ""
        return f"{self.meta.get('model', '?')}{acc}, {self.origin}"


class Visitor:
    """One visitor's things. Created per session by gr.State; nothing here is shared with anyone else.

    A plain class on purpose (not a dataclass): gradio serialises dataclass values into the page config.
    """

    def __init__(self):
        self.id: str = uuid.uuid4().hex
        self.current: CurrentModel | None = None
        self.draw_choice: str = DEFAULT_NAME
        self.ticket: Ticket | None = None
        self.live = None  # mnist_demo.app.live.LiveRun of the last or current run
        self.live_number: tuple[int, int] | None = None  # (run number, colour) of the running run, while it runs
        self.runs = Runs()  # this visit's finished runs, compared in the Train tab
        self.x_axis: str = DEFAULT_X  # what the Train tab's curves are plotted against
        self.plot_styles = 0  # how many times the Train tab's plots were restyled (see compare.style)
        self.plan_stopped: threading.Event | None = None  # set by Stop while a comparison's runs go one by one
        self.username: str | None = None
        self.language: str = "en"  # the messages' language (mnist_demo.app.i18n): the browser's, or the switch's
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Visitor({self.id[:8]}, current={'yes' if self.current else 'no'}, choice={self.draw_choice!r})"

    def __deepcopy__(self, memo):  # gr.State deep-copies initial values; a Visitor is always made fresh
        return Visitor()

    @property
    def owner(self) -> str:
        """Who owns what this visitor saves: the logged-in user (with --auth), else this session."""
        identity = f"user:{self.username}" if self.username else f"session:{self.id}"
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    def job_owner(self, session_hash: str | None) -> str:
        return session_hash or self.id

    def stop(self, kind: str) -> str | None:
        """Stop this visitor's run of `kind` ("train", "finetune", "benchmark"): "left" the line if it was
        waiting, "stopping" if it was running, None when none of that kind is active."""
        ticket = self.ticket
        if ticket is None or not ticket.active or ticket.kind != kind:
            return None
        waiting = ticket.position > 0
        ticket.cancel(STOPPED_BY_USER)
        return "left" if waiting else "stopping"

    def close(self) -> None:
        """The session is over: stop its run and let go of its model."""
        ticket = self.ticket
        if ticket is not None and ticket.active:
            ticket.cancel(PAGE_CLOSED)
        self.current = None
        self.live = None
        self.runs.clear()


def new_visitor() -> Visitor:
    """A template Visitor for gr.State: each session gets a fresh one (see Visitor.__deepcopy__)."""
    return Visitor()


def close_visitor(visitor) -> None:
    if isinstance(visitor, Visitor):
        visitor.close()
