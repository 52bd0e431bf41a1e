"""A model's mistakes on the 10,000 test images, as the Mistakes tab shows them, with a small cache (no gradio).

For the visitor's own model the run's last evaluation is reused when it has one (no new pass); anything else takes
one pass over the test set (`mnist_demo.mistakes.analyse`), kept in a small cache: checkpoints by (name, file's
mtime and size), the visitor's own model by (visitor, run) so that nobody sees another visitor's model.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from mnist_demo.app.core.current import YOURS
from mnist_demo.app.core.texts import tr
from mnist_demo.checkpoints import DEFAULT_NAME, checkpoint_path
from mnist_demo.data import cached_mnist
from mnist_demo.errors import CheckpointError
from mnist_demo.mistakes import Mistakes, NoPredictions, analyse, from_evaluation

CACHE_SIZE = 8  # analyses kept: ~130 KB each (10,000 labels, predictions and probabilities)


_cache: OrderedDict[tuple, Mistakes] = OrderedDict()
_cache_lock = threading.Lock()


def _remember(key: tuple, mistakes: Mistakes) -> Mistakes:
    with _cache_lock:
        _cache[key] = mistakes
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return mistakes


def _cached(key: tuple) -> Mistakes | None:
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def mistakes_for(ctx, visitor, choice: str) -> tuple[Mistakes, str, str]:
    """(Mistakes, the model's name as shown, where the figures came from) for a picker value, the texts in the
    visitor's language; DemoError (what to do) when the model or the test set cannot be had."""
    lang = visitor.language
    data = cached_mnist(ctx.settings.data_dir, "cpu")
    images, labels = data.test_images, data.test_labels
    if choice == YOURS:
        current = visitor.current
        yours = tr(lang, "mistakes.your_model")
        if current is None:
            raise CheckpointError(tr(None, "error.no_own_model"), code="no_own_model")
        evaluation = getattr(current, "evaluation", None)
        if evaluation is not None:
            try:
                return from_evaluation(evaluation, labels), yours, tr(lang, "mistakes.source_last_pass")
            except NoPredictions:
                pass
        key = ("yours", visitor.id, current.run_id, data.source)
        found = _cached(key)
        if found is not None:
            return found, yours, tr(lang, "mistakes.source_kept")
        return _remember(key, analyse(current.predictor.model, images, labels)), yours, \
            tr(lang, "mistakes.source_one_pass")
    name = choice or DEFAULT_NAME
    path = checkpoint_path(name, ctx.library.directory)
    try:
        stat = os.stat(path)
    except OSError:
        raise CheckpointError(tr(None, "error.mistakes_no_checkpoint", name=path.stem), code="mistakes_no_checkpoint",
                              name=path.stem) from None
    shown = tr(lang, "mistakes.shipped_name", name=path.stem) if path.stem == DEFAULT_NAME else path.stem
    key = ("checkpoint", str(path), stat.st_mtime_ns, stat.st_size, data.source)
    found = _cached(key)
    if found is not None:
        return found, shown, tr(lang, "mistakes.source_kept")
    predictor = ctx.library.predictor(path.stem)
    return _remember(key, analyse(predictor.model, images, labels)), shown, tr(lang, "mistakes.source_one_pass")
