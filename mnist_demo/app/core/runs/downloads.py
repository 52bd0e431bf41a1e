"""A visitor's files to download (no gradio): a temporary folder of their own, made when a file is first written and
removed when their session ends, and a kept run's exports written into it.

`Downloads` lives in a gr.State of its own (fresh per session through `__deepcopy__`, `close_downloads` as its
delete callback). `export_run` writes a run as the engine's `mnist_demo.export` makes it: a PyTorch script and a
notebook whose explanations are in the visitor's language.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

from mnist_demo import export
from mnist_demo.config import LOG_EVERY


class Downloads:
    """One session's download folder (None until a file is written)."""

    def __init__(self):
        self.folder: Path | None = None
        self.exported: dict[int, tuple[str, Path, Path]] = {}  # run number -> (language, script, notebook) written
        self.lock = threading.RLock()  # one writer at a time: two events may export the same run at once

    def __deepcopy__(self, memo) -> "Downloads":
        return Downloads()

    def __repr__(self) -> str:
        return f"Downloads({self.folder})"

    def path(self, name: str) -> Path:
        """Where the file `name` goes in this session's folder (made now if need be)."""
        with self.lock:
            if self.folder is None or not self.folder.is_dir():
                self.folder = Path(tempfile.mkdtemp(prefix="mnist-downloads-"))
            return self.folder / name

    def close(self) -> None:
        with self.lock:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None
            self.exported.clear()


def close_downloads(downloads) -> None:
    if isinstance(downloads, Downloads):
        downloads.close()


def export_run(downloads: Downloads, run, lang: str | None) -> tuple[Path, Path]:
    """(script, notebook) of a kept run (`runs.KeptRun`) in the session's folder, `mnist-run-N.py` and
    `mnist-run-N.ipynb`, the notebook's explanations in `lang`; written once per run and language (a run's config
    never changes). The run's curves were logged more often than the tutorial's lines; the exported code logs as
    the tutorial does (`LOG_EVERY`), like the run's own log.
    Raises DemoError (a config the export refuses) or OSError (the folder cannot be written)."""
    lang = export.language(lang)
    with downloads.lock:
        done = downloads.exported.get(run.number)
        if done is not None and done[0] == lang and done[1].is_file() and done[2].is_file():
            return done[1], done[2]
        config = replace(run.config, log_every=LOG_EVERY)
        script = downloads.path(f"mnist-run-{run.number}.py")
        notebook = downloads.path(f"mnist-run-{run.number}.ipynb")
        export.save(config, script, notebook, lang=lang, force=True)
        downloads.exported[run.number] = (lang, script, notebook)
        return script, notebook
