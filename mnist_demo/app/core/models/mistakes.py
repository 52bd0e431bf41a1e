"""A model's mistakes on the 10,000 test images, as the Mistakes tab shows them, with a small cache (no gradio).

For the visitor's own model the run's last evaluation is reused when it has one (no new pass); anything else takes
one pass over the test set (`mnist_demo.mistakes.analyse`), kept in a small cache: checkpoints by (name, file's
mtime and size), the visitor's own model by (visitor, run) so that nobody sees another visitor's model.

The shipped model is what the tab opens on, and its first view cost a pass (2.5 s through the app on a 2-core CPU):
`prepare(ctx)` makes it once in the background when the app starts (demo.py), and it stays in the cache whatever
else comes and goes, so the first view costs about what a cached one does (0.29 s, then 0.14 s;
benchmarks/mistakes_speed.py --app-only). A pass asked for while the same one is under way waits for it rather
than making a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future

from mnist_demo.app.core.models.current import YOURS
from mnist_demo.checkpoints import DEFAULT_NAME, checkpoint_path
from mnist_demo.data import cached_mnist
from mnist_demo.errors import CheckpointError, DemoError
from mnist_demo.mistakes import Mistakes, NoPredictions, analyse, from_evaluation
from mnist_demo.texts import tr

CACHE_SIZE = 8  # analyses kept besides the shipped model's: ~130 KB each (10,000 labels, predictions, probabilities)
log = logging.getLogger("mnist_demo.mistakes")


_cache: OrderedDict[tuple, Mistakes] = OrderedDict()
_pinned: dict[str, tuple[tuple, Mistakes]] = {}  # the shipped model's path -> (key, analysis): never evicted
_running: dict[tuple, Future] = {}  # passes under way, for whoever asks for the same one meanwhile
_cache_lock = threading.Lock()


def _remember(key: tuple, mistakes: Mistakes, pin: str | None = None) -> Mistakes:
    with _cache_lock:
        if pin is not None:
            _pinned[pin] = (key, mistakes)  # a newer file's analysis replaces the older one's
            return mistakes
        _cache[key] = mistakes
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return mistakes


def _find(key: tuple) -> Mistakes | None:
    """The analysis kept under `key`, or None (the caller holds `_cache_lock`)."""
    pinned = next((m for k, m in _pinned.values() if k == key), None)
    if pinned is not None:
        return pinned
    found = _cache.get(key)
    if found is not None:
        _cache.move_to_end(key)
    return found


def _analysis(key: tuple, model, data, pin: str | None = None) -> tuple[Mistakes, bool]:
    """(the analysis of `model()` under `key`, whether it was ready): from the cache, from the pass under way for
    the same key (waited for), or from a pass made now (kept; pinned for good under `pin`)."""
    with _cache_lock:
        found = _find(key)
        if found is not None:
            return found, True
        running = _running.get(key)
        mine = running is None
        if mine:
            running = _running[key] = Future()
    if not mine:
        return running.result(), False
    try:
        mistakes = _remember(key, analyse(model(), data.test_images, data.test_labels), pin)
        running.set_result(mistakes)
        return mistakes, False
    except BaseException as err:
        running.set_exception(err)
        raise
    finally:
        with _cache_lock:
            del _running[key]


def _checkpoint(ctx, name: str, data) -> tuple[Mistakes, bool, str]:
    """(analysis, whether it was ready, the file's stem) of a saved checkpoint; CheckpointError when it is gone."""
    path = checkpoint_path(name, ctx.library.directory)
    try:
        stat = os.stat(path)
    except OSError:
        raise CheckpointError(tr(None, "error.mistakes_no_checkpoint", name=path.stem), code="mistakes_no_checkpoint",
                              name=path.stem) from None
    key = ("checkpoint", str(path), stat.st_mtime_ns, stat.st_size, data.source)
    pin = str(path) if path.stem == DEFAULT_NAME else None
    mistakes, ready = _analysis(key, lambda: ctx.library.predictor(path.stem).model, data, pin)
    return mistakes, ready, path.stem


def prepare(ctx) -> None:
    """The shipped model's analysis, made now (the app's start-up runs this in the background) and kept for good;
    a line in the log says when it is ready, or why it could not be made (the tab then says why when opened)."""
    start = time.perf_counter()
    try:
        _checkpoint(ctx, DEFAULT_NAME, cached_mnist(ctx.settings.data_dir, "cpu"))
    except (DemoError, OSError) as err:
        log.info("the Mistakes tab's shipped model was not prepared: %s", err)
        return
    log.info("the Mistakes tab's shipped model is ready (one test pass, %.1f s)", time.perf_counter() - start)


def mistakes_for(ctx, visitor, choice: str) -> tuple[Mistakes, str, str]:
    """(Mistakes, the model's name as shown, where the figures came from) for a picker value, the texts in the
    visitor's language; DemoError (what to do) when the model or the test set cannot be had."""
    lang = visitor.language
    data = cached_mnist(ctx.settings.data_dir, "cpu")
    if choice == YOURS:
        current = visitor.current
        yours = tr(lang, "mistakes.your_model")
        if current is None:
            raise CheckpointError(tr(None, "error.no_own_model"), code="no_own_model")
        evaluation = getattr(current, "evaluation", None)
        if evaluation is not None:
            try:
                return from_evaluation(evaluation, data.test_labels), yours, tr(lang, "mistakes.source_last_pass")
            except NoPredictions:
                pass
        key = ("yours", visitor.id, current.run_id, data.source)
        mistakes, ready = _analysis(key, lambda: current.predictor.model, data)
        return mistakes, yours, tr(lang, "mistakes.source_kept" if ready else "mistakes.source_one_pass")
    mistakes, ready, stem = _checkpoint(ctx, choice or DEFAULT_NAME, data)
    shown = tr(lang, "mistakes.shipped_name", name=stem) if stem == DEFAULT_NAME else stem
    return mistakes, shown, tr(lang, "mistakes.source_kept" if ready else "mistakes.source_one_pass")
