"""What the Class tab shows of the board, as data (no gradio, no words: the tab says them in the visitor's language).

One `refresh` gives everything a redraw needs, read from the store in three small queries (revision, rows, curves):
the rows in display order, the accuracy curves of a readable number of posts as one long table, and the best so far
per setting family.

Which curves: the visitor's chosen posts (highlighted), then the post holding the best accuracy for each value of
the family the tab shows (so "lr 0.1 against lr 0.001" is in the plot without choosing), then the best posts
overall, up to MAX_CURVES. A curve is named by the poster's name and the post's id ("Minji #12"): names may repeat
(one visitor posting twice, two visitors of one name), ids never do.

"Best so far" for a family (lr, batch size, model, ...): for each value posted, the post with the highest test
accuracy (on a tie, the earlier post: it got there first) and how many posts tried that value.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mnist_demo.app.core.board.rules import MAX_POSTS
from mnist_demo.app.core.board.store import Board, Post
from mnist_demo.app.core.runs.kept import PALETTE

# 12 curves: the Train tab's palette has 10 colours and a legend of about a dozen names still reads; more overlaid
# lines become a tangle where no one finds their own.
MAX_CURVES = 12
FAMILIES = ("lr", "batch_size", "model", "optimizer", "epochs", "augment", "images", "device", "schedule",
            "momentum")
DEFAULT_FAMILY = "lr"
CURVE_COLUMNS = ("post", "run", "samples seen", "accuracy", "highlighted")
PLOT_COLUMNS = CURVE_COLUMNS[1:4]  # what the plot's frame holds of each point
# The curves' colours: the Train tab's ten, then the light twins of the first two (12 curves at most).
COLOURS = tuple(strong for strong, _ in PALETTE) + tuple(light for _, light in PALETTE[:MAX_CURVES - len(PALETTE)])
BEHIND = "#d0d0d0"  # the curves not highlighted, while some are: still there to compare with, but behind


@dataclass(frozen=True)
class Best:
    """The best so far for one value of a family: which post holds it, with what accuracy, among how many posts."""

    family: str
    value: object  # the setting's value (0.1, 512, "cnn", True)
    post_id: int
    name: str
    accuracy_pct: float
    runs: int


@dataclass(frozen=True)
class BoardView:
    rows: list[Post]  # every post, in display order
    curve_ids: list[int]  # the posts whose curves are drawn, in drawing order (highlighted ones last: on top)
    curve_rows: list[tuple]  # CURVE_COLUMNS: (post id, label, images seen, accuracy %, highlighted)
    best: dict[str, list[Best]]  # family -> one Best per value, values in ascending order
    count: int
    full: bool  # the board holds MAX_POSTS: posting is refused until the teacher clears it
    revision: int  # board.revision() when read: redraw when it changes


def label(post: Post) -> str:
    """A curve's name: unique on the board, since ids are."""
    return f"{post.name} #{post.id}"


def best_per_family(rows: list[Post], family: str) -> list[Best]:
    """For each value of `family` among `rows`: the post with the highest accuracy (earliest on a tie)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    holders: dict[object, Post] = {}
    counts: dict[object, int] = {}
    for post in rows:
        value = getattr(post, family)
        counts[value] = counts.get(value, 0) + 1
        held = holders.get(value)
        if held is None or (post.accuracy_pct, -post.id) > (held.accuracy_pct, -held.id):
            holders[value] = post
    return [Best(family, value, p.id, p.name, p.accuracy_pct, counts[value])
            for value, p in sorted(holders.items(), key=lambda item: _order(item[0]))]


def _order(value) -> tuple:
    """Numbers (and booleans) in numeric order, then text; each family holds one kind, this only keeps sort total."""
    return (0, float(value), "") if isinstance(value, (int, float)) else (1, 0.0, str(value))


def curve_choice(rows: list[Post], chosen=(), best: list[Best] = ()) -> list[int]:
    """The ids to draw: the chosen ones (those on the board, in their order), the holders of `best`, then the most
    accurate posts, up to MAX_CURVES; highlighted (chosen) ones last so they are drawn on top."""
    present = {post.id for post in rows}
    picked = list(dict.fromkeys(i for i in _ids(chosen) if i in present))[:MAX_CURVES]
    rest: list[int] = []
    by_accuracy = sorted(rows, key=lambda p: (-p.accuracy_pct, p.id))
    for post_id in [b.post_id for b in best] + [p.id for p in by_accuracy]:
        if len(picked) + len(rest) >= MAX_CURVES:
            break
        if post_id not in picked and post_id not in rest:
            rest.append(post_id)
    return rest + picked


def _ids(chosen) -> list[int]:
    out = []
    for value in chosen or ():
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue  # a stale or odd id from a page is simply not drawn
    return out


def refresh(board: Board, sort: str = "accuracy", descending: bool = True, chosen=(), family: str = DEFAULT_FAMILY,
            owner: str | None = None) -> BoardView:
    """Everything the tab draws: rows sorted by `sort`, curves for `chosen` plus the best of `family` and overall,
    and the best so far for every family. BoardError for an unknown sort column, ValueError for an unknown family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    revision = board.revision()  # read first: a post landing during the refresh makes the next poll redraw again
    rows = board.rows(sort=sort, descending=descending, owner=owner)
    best = {name: best_per_family(rows, name) for name in FAMILIES}
    ids = curve_choice(rows, chosen, best[family])
    highlighted = set(_ids(chosen))
    curves = board.curves(ids)
    by_id = {post.id: post for post in rows}
    curve_rows = [(post_id, label(by_id[post_id]), samples, accuracy, post_id in highlighted)
                  for post_id in ids if post_id in curves for samples, accuracy in curves[post_id]]
    return BoardView(rows=rows, curve_ids=[i for i in ids if i in curves], curve_rows=curve_rows, best=best,
                     count=len(rows), full=len(rows) >= MAX_POSTS, revision=revision)


def curve_colours(view: BoardView) -> dict[str, str]:
    """{curve name: colour} for the drawn curves: each its own colour, given in the order of the posts' ids (so a
    newer post's curve does not recolour the older ones); while some are highlighted, the others are light grey."""
    names = {post_id: name for post_id, name, *_ in view.curve_rows}
    highlighted = {row[0] for row in view.curve_rows if row[4]}
    coloured = sorted(i for i in names if not highlighted or i in highlighted)
    colours = {names[i]: COLOURS[n % len(COLOURS)] for n, i in enumerate(coloured)}
    return {names[i]: colours.get(names[i], BEHIND) for i in view.curve_ids if i in names}


def curve_frame(view: BoardView) -> pd.DataFrame | None:
    """The curves as a frame for a line plot: PLOT_COLUMNS (the curve's name, images seen, accuracy % to two
    decimals; which post and whether highlighted travel as the curve's name and colour, not per point); None when
    there is nothing to draw (an empty first frame breaks Gradio's LinePlot)."""
    if not view.curve_rows:
        return None
    frame = pd.DataFrame([row[1:4] for row in view.curve_rows], columns=list(PLOT_COLUMNS))
    return frame.astype({"run": "string", "samples seen": "int64", "accuracy": "float64"}).round({"accuracy": 2})
