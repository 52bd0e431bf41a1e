"""The class board in a visitor's words (no gradio): a kept run as a post (`record`), the board's table, the best so
far per setting family, the posts to pick, and the summary line, each in the visitor's language (`lang`).

Names are shown as text only: in the table and the plot they are data (the page shows them as text), and in
Markdown they go through `md_escape`; the store has refused anything but letters, digits, spaces and - _ . '.
"""

from __future__ import annotations

import time

import pandas as pd

from mnist_demo.app.core.board.rules import RunRecord, make_record
from mnist_demo.app.core.board.store import DEFAULT_CLASS, Post
from mnist_demo.app.core.board.view import Best, BoardView
from mnist_demo.app.core.messages import md_escape
from mnist_demo.app.core.runs.training import FULL
from mnist_demo.texts import tr

# The test accuracy right after the name, then the settings a class varies most: a table a few hundred pixels wide
# shows what matters before it scrolls sideways.
COLUMN_KEYS = ("post", "name", "accuracy", "lr", "batch_size", "epochs", "model", "optimizer", "augmentation",
               "device", "time", "rate", "when", "kept")
SORT_KEYS = ("accuracy", "time", "rate", "posted_at", "name", "lr", "batch_size", "model", "optimizer", "epochs")


def record(run) -> RunRecord:
    """A kept run (`runs.KeptRun`) as the board keeps it: its settings, figures and its test-accuracy curve against
    images seen (the full test set where it was measured, the 1,000-image sample in between)."""
    points: dict[int, tuple[float, bool]] = {}
    for _, samples, _, accuracy, kind in run.accuracies:
        full = kind == FULL
        if samples not in points or full and not points[samples][1]:
            points[samples] = (accuracy, full)
    curve = sorted((samples, accuracy) for samples, (accuracy, _) in points.items())
    return make_record(run.config, 100 * run.evaluation.accuracy, run.elapsed_s, run.samples_per_s, curve,
                       run.epochs_completed)


def columns(lang: str | None = None) -> list[str]:
    return [tr(lang, f"board.col_{key}") for key in COLUMN_KEYS]


def when(posted_at: float) -> str:
    """The time of day a post arrived, on this server's clock (the class's, usually)."""
    return time.strftime("%H:%M:%S", time.localtime(posted_at))


def table(rows: list[Post], lang: str | None = None) -> pd.DataFrame:
    yes, no = tr(lang, "board.yes"), tr(lang, "board.no")
    data = [[p.id, p.name, f"{p.accuracy_pct:.2f}%", f"{p.lr:g}", p.batch_size,
             f"{p.epochs_done:.2f}".rstrip("0").rstrip("."), p.model, p.optimizer, yes if p.augment else no, p.device,
             tr(lang, "board.seconds", s=f"{p.elapsed_s:.1f}"), f"{p.samples_per_s:,.0f}", when(p.posted_at),
             yes if p.has_weights else no] for p in rows]
    return pd.DataFrame(data, columns=columns(lang))


def value_text(family: str, value, lang: str | None = None) -> str:
    if isinstance(value, bool):
        return tr(lang, "board.yes" if value else "board.no")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def best_text(best: list[Best], family: str, lang: str | None = None) -> str:
    """"Best so far by lr: 0.001: 91.2% (Minji #3, of 4 runs) ..." as a Markdown list."""
    if not best:
        return ""
    head = tr(lang, "board.best_head", family=tr(lang, f"board.family_{family}"))
    lines = [tr(lang, "board.best_row", value=md_escape(value_text(family, b.value, lang)),
                accuracy=f"{b.accuracy_pct:.2f}", name=md_escape(b.name), post=b.post_id, runs=b.runs) for b in best]
    return "\n".join([head, "", *lines])


def choices(rows: list[Post], with_model: bool = False) -> list[tuple[str, str]]:
    """(label, post id) of each post, best first as the rows come: "#12 Minji · cnn · lr 0.1 · 97.80%"."""
    return [(f"#{p.id} {p.name} · {p.model} · lr {p.lr:g} · bs {p.batch_size} · {p.accuracy_pct:.2f}%", str(p.id))
            for p in rows if p.has_weights or not with_model]


def class_title(class_name: str, lang: str | None = None) -> str:
    """The class as the page names it: the teacher's name for it (`--class-name`), a name kept as given, or, for an
    unnamed class, "the class board" in the visitor's language."""
    return tr(lang, "board.default_class") if class_name == DEFAULT_CLASS else class_name


def summary(view: BoardView | None, class_name: str, lang: str | None = None) -> str:
    name = md_escape(class_title(class_name, lang))
    if view is None or view.count == 0:
        return tr(lang, "board.summary_empty", name=name)
    key = "board.summary_full" if view.full else "board.summary_one" if view.count == 1 else "board.summary"
    return tr(lang, key, count=view.count, name=name)


def counted(key: str, count: int, lang: str | None = None) -> str:
    """`board.<key>` for `count` posts: its `_one` text for one (English says "1 post", not "1 posts")."""
    return tr(lang, f"board.{key}_one" if count == 1 else f"board.{key}", count=count)
