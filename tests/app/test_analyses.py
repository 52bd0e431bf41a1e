"""The Mistakes tab's analyses (core/models/mistakes.py) on the shipped model and the real test set: the shipped model's
pass made once ahead of its first view and kept whatever else is cached, and one pass for callers who ask for the
same model at once."""

import shutil
import threading

import pytest

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.models import mistakes as model_mistakes
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import Visitor
from tests.support.app_server import SHIPPED

pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="needs the shipped checkpoints/default.pt")


@pytest.fixture
def ctx(tmp_path):
    shutil.copy2(SHIPPED, tmp_path / "default.pt")
    context = AppContext(Settings(checkpoint_dir=str(tmp_path)))
    yield context
    context.close()


def test_prepare_makes_the_shipped_models_view_ready_and_keeps_it_past_the_cache(ctx):
    model_mistakes.prepare(ctx)
    first, name, source = model_mistakes.mistakes_for(ctx, Visitor(), "default")
    assert name == "default (shipped)" and source == "one test pass, kept" and first.total == 10000
    for n in range(model_mistakes.CACHE_SIZE + 2):  # other models' analyses come and go
        model_mistakes._remember(("other", n), first)
    again, _, source = model_mistakes.mistakes_for(ctx, Visitor(), "default")
    assert again is first and source == "one test pass, kept"


def test_callers_asking_for_the_same_model_at_once_share_one_pass(ctx, monkeypatch):
    shutil.copy2(SHIPPED, ctx.library.directory / "copy.pt")
    passes = []
    real = model_mistakes.analyse
    monkeypatch.setattr(model_mistakes, "analyse", lambda *a: passes.append(1) or real(*a))  # counted, then made
    results = []
    callers = [threading.Thread(target=lambda: results.append(model_mistakes.mistakes_for(ctx, Visitor(), "copy")))
               for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(120)
    assert len(passes) == 1 and len(results) == 3
    assert all(r[0] is results[0][0] for r in results)
