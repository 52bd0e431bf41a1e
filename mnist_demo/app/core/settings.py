"""What `demo.py`'s flags decide, as one plain object (`Settings`): data and checkpoint folders, the default
device, the caps on long jobs and saves, the torch threads. Defaults suit one person on a laptop; `for_share()`
tightens them for a public link."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from mnist_demo.checkpoints import DEFAULT_DIR

MB = 1024 * 1024
# The app's cap on batch sizes, for trainings and benchmarks alike: the engine allows 60000, and a shared demo should
# not build 60000-image batches. It also bounds how long Stop can take, since Stop lands between layers: the longest
# layer of a 'cnn' training step at batch 8192 took 1.6 s here (2 cores, busy with other work); at 32768 it would be
# about four times that. Written in the benchmark's info line too (`bench.sizes_info`, checked by a test).
APP_MAX_BATCH = 8192


@dataclass
class Settings:
    """Everything `demo.py`'s flags decide. Defaults suit one person on a laptop; `for_share()` tightens them."""

    data_dir: str = "data"
    checkpoint_dir: str = str(DEFAULT_DIR)
    device: str | None = None  # the Train tab's default device (None: the fastest present)
    max_trainings: int = 1  # runs at once (trainings and benchmarks share the slots): the embedded cluster's or this
    # process's; a scheduler's workers bring their own (their `train` resources)
    queue_size: int | None = None  # the most runs that may wait, whatever their expected wait (None: no count cap)
    max_wait_s: float | None = 600.0  # a run is admitted to the line while it is expected to start within this
    # Where long jobs run: None, threads of this process; "embedded", an embedded Dask LocalCluster (what demo.py
    # starts by default); or a Dask scheduler's address ("tcp://HOST:8786").
    scheduler: str | None = None
    class_name: str = "class"  # the class board's heading (`--class-name`)
    board_file: str | None = None  # the class board's SQLite file (None: class-board.sqlite in the checkpoint folder)
    teacher: tuple[str, str] | None = None  # (user, password) of the teacher, who may remove, clear and export
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
        values = dict(max_epochs=6, max_train_seconds=600.0,
                      max_saves_per_visitor=3, max_save_mb_per_visitor=20.0, max_upload_mb=10.0,
                      max_checkpoint_dir_mb=200.0, max_checkpoint_files=100)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_dir)

    @property
    def board_path(self) -> Path:
        return Path(self.board_file) if self.board_file else self.checkpoint_path / "class-board.sqlite"

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
