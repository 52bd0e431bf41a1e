"""A visitor's download folder and a kept run's exports (core/runs/downloads.py), on real configs: the script and the
notebook in the visitor's language, written once per run and language, the tutorial's log lines, a fresh folder
per session, gone when the session ends."""

import copy
import threading

import nbformat

from mnist_demo.app.core.runs.downloads import Downloads, close_downloads, export_run
from mnist_demo.app.core.runs.kept import KeptRun
from mnist_demo.app.core.runs.training import for_live_view
from mnist_demo.config import make_config


def kept(number: int, config) -> KeptRun:
    """A kept run as the Train tab keeps it; the export reads its number and config (the live view's)."""
    return KeptRun(number, 0, for_live_view(config), "tutorial", [], [], None, 0.0, 0.0, 1.0, False, None, {})


def markdown(path) -> str:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    return "\n".join(cell.source for cell in book.cells if cell.cell_type == "markdown")


def test_a_kept_run_exports_once_per_language_and_its_folder_goes_with_the_session():
    downloads = copy.deepcopy(Downloads())  # what gr.State gives each session
    run = kept(3, make_config("tutorial", lr=0.01, limit=500, device="cpu"))
    assert run.config.log_every != 100  # the live view logs more often than the tutorial
    script, notebook = export_run(downloads, run, "ko")
    assert (script.name, notebook.name) == ("mnist-run-3.py", "mnist-run-3.ipynb")
    code = script.read_text(encoding="utf-8")
    assert "LEARNING_RATE = 0.01 " in code and "LIMIT = 500 " in code and "LOG_EVERY = 100 " in code
    assert "학습률 0.01" in markdown(notebook)
    written = notebook.stat().st_mtime_ns
    assert export_run(downloads, run, "ko-KR") == (script, notebook) and notebook.stat().st_mtime_ns == written
    export_run(downloads, run, "en")  # the language switch: the notebook's words change
    assert "learning rate 0.01" in markdown(notebook) and "학습률" not in markdown(notebook)
    folder = script.parent
    close_downloads(downloads)
    assert not folder.exists() and downloads.folder is None
    assert export_run(downloads, run, "en")[0].is_file()  # a later download makes a new folder
    close_downloads(downloads)


def test_two_events_exporting_the_same_run_at_once_leave_whole_files():
    downloads = Downloads()
    run = kept(1, make_config("fast", device="cpu"))
    results = []
    threads = [threading.Thread(target=lambda lang=lang: results.append(export_run(downloads, run, lang)))
               for lang in ("en", "ko", "en", "ko")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4
    script, notebook = results[-1]
    compile(script.read_text(encoding="utf-8"), script.name, "exec")
    markdown(notebook)  # valid nbformat
    downloads.close()
