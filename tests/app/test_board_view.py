"""What the Class tab draws from the board: rows in order, a readable number of curves (chosen ones highlighted, the
family's best and the best overall filling the rest), and the best so far per setting family."""

import pytest

from mnist_demo.app.core.board.rules import MAX_POSTS, BoardError
from mnist_demo.app.core.board.store import Board
from mnist_demo.app.core.board.view import (
    BEHIND,
    COLOURS,
    CURVE_COLUMNS,
    FAMILIES,
    MAX_CURVES,
    PLOT_COLUMNS,
    best_per_family,
    curve_colours,
    curve_frame,
    label,
    refresh,
)
from tests.support.board import record


@pytest.fixture
def board(tmp_path):
    with Board(tmp_path / "view.db", class_name="3반") as b:
        yield b


def lesson(board) -> dict:
    """Half the class at lr 0.1, half at 0.001, batch 8 against 512: {(lr, batch): [ids]}."""
    accuracy = {(0.1, 8): [97.0, 98.5], (0.1, 512): [95.0, 96.0], (0.001, 8): [90.0, 91.0], (0.001, 512): [60.0, 98.5]}
    ids = {}
    for (lr, batch), values in accuracy.items():
        ids[(lr, batch)] = [board.post(f"{lr}-{batch}-{i}", f"S{i}", record(accuracy=a, lr=lr, batch_size=batch))
                            for i, a in enumerate(values)]
    return ids


def test_best_so_far_per_family_names_the_post_holding_it(board):
    ids = lesson(board)
    view = refresh(board, family="lr")
    lr = view.best["lr"]
    assert [(b.value, b.post_id, b.accuracy_pct, b.runs) for b in lr] == \
        [(0.001, ids[(0.001, 512)][1], 98.5, 4), (0.1, ids[(0.1, 8)][1], 98.5, 4)]
    batch = view.best["batch_size"]
    # 98.5 twice at batch 8 and 512 each; the earlier post got there first
    assert [(b.value, b.post_id) for b in batch] == [(8, ids[(0.1, 8)][1]), (512, ids[(0.001, 512)][1])]
    assert [b.value for b in view.best["augment"]] == [False] and set(view.best) == set(FAMILIES)
    assert view.best["model"][0].name == board.get(view.best["model"][0].post_id).name


def test_best_so_far_ties_go_to_the_earlier_post():
    class P:  # the fields best_per_family reads
        def __init__(self, id, lr, accuracy_pct):
            self.id, self.lr, self.accuracy_pct, self.name = id, lr, accuracy_pct, f"p{id}"

    best = best_per_family([P(5, 0.1, 90.0), P(3, 0.1, 90.0), P(9, 0.01, 80.0)], "lr")
    assert [(b.value, b.post_id, b.runs) for b in best] == [(0.01, 9, 1), (0.1, 3, 2)]
    with pytest.raises(ValueError):
        best_per_family([], "owner")


def test_rows_come_in_the_asked_order(board):
    lesson(board)
    by_accuracy = [p.accuracy_pct for p in refresh(board).rows]
    assert by_accuracy == sorted(by_accuracy, reverse=True)
    by_lr = [p.lr for p in refresh(board, sort="lr", descending=False).rows]
    assert by_lr == sorted(by_lr)
    with pytest.raises(BoardError):
        refresh(board, sort="owner")
    with pytest.raises(ValueError):
        refresh(board, family="owner")


def test_curves_are_the_chosen_ones_highlighted_then_the_family_best_then_the_best(board):
    ids = lesson(board)
    chosen = [ids[(0.001, 8)][0], ids[(0.1, 512)][0]]
    view = refresh(board, chosen=[str(chosen[0]), chosen[1], "junk", 10**9], family="lr")
    assert view.curve_ids[-2:] == chosen  # drawn last: on top
    lr_best = {b.post_id for b in view.best["lr"]}
    assert lr_best <= set(view.curve_ids) and len(view.curve_ids) == 8  # every post: fewer than MAX_CURVES
    highlighted = {row[0] for row in view.curve_rows if row[4]}
    assert highlighted == set(chosen)
    posts = {p.id: p for p in view.rows}
    for post_id, name, samples, accuracy, _ in view.curve_rows:
        assert name == label(posts[post_id]) == f"{posts[post_id].name} #{post_id}"
    per_post = [row for row in view.curve_rows if row[0] == chosen[0]]
    assert [(s, a) for _, _, s, a, _ in per_post] == board.curves([chosen[0]])[chosen[0]]


def test_at_most_max_curves_are_drawn_with_the_family_best_among_them(board):
    posted = [board.post(f"v{i}", f"V{i}", record(accuracy=50 + i, lr=[0.1, 0.01, 0.001][i % 3]))
              for i in range(30)]
    weakest = posted[0]
    weak = board.post("weak", "Weak", record(accuracy=10.0, lr=0.5))  # the only post at lr 0.5
    chosen = posted[:MAX_CURVES + 3]
    view = refresh(board, chosen=chosen, family="lr")
    assert view.curve_ids == chosen[:MAX_CURVES]  # the chosen ones fill every place
    view = refresh(board, chosen=[weakest], family="lr")
    assert len(view.curve_ids) == MAX_CURVES and view.curve_ids[-1] == weakest
    assert weak in view.curve_ids  # the best (and only) post at lr 0.5, however weak
    top = sorted(posted, reverse=True)[:MAX_CURVES - 1 - 4]  # the rest (1 chosen, 4 lr values): the most accurate
    assert set(top) <= set(view.curve_ids)
    assert len({row[1] for row in view.curve_rows}) == MAX_CURVES


def test_the_frame_is_ready_for_a_line_plot_and_none_when_empty(board):
    empty = refresh(board)
    assert curve_frame(empty) is None and empty.rows == [] and empty.count == 0 and not empty.full
    lesson(board)
    view = refresh(board, chosen=[1])
    frame = curve_frame(view)
    assert list(frame.columns) == list(PLOT_COLUMNS) == list(CURVE_COLUMNS[1:4]) and len(frame) == 8 * 20
    assert str(frame["samples seen"].dtype) == "int64" and (frame["accuracy"] == frame["accuracy"].round(2)).all()
    assert frame.values.tolist() == [[name, samples, round(accuracy, 2)] for _, name, samples, accuracy, _ in
                                     view.curve_rows]


def test_the_view_says_when_the_board_is_full_and_its_revision(board):
    for i in range(MAX_POSTS):
        board.post(f"v{i}", f"V{i}", record(curve_points=2))
    view = refresh(board)
    assert view.full and view.count == MAX_POSTS and view.revision == board.revision() == MAX_POSTS


def test_each_curve_has_its_own_colour_by_post_and_the_highlighted_ones_stand_out(board):
    assert curve_colours(refresh(board)) == {}
    ids = lesson(board)
    view = refresh(board)
    colours = curve_colours(view)
    names = {post_id: name for post_id, name, *_ in view.curve_rows}
    assert set(colours) == set(names.values()) and len(set(colours.values())) == len(colours) == 8
    assert [colours[names[i]] for i in sorted(names)] == list(COLOURS[:8])  # by post id: a new post recolours none
    newer = board.post("late", "Late", record(accuracy=99.9))
    again = curve_colours(refresh(board))
    assert all(again[names[i]] == colours[names[i]] for i in names) and again[f"Late #{newer}"] == COLOURS[8]
    chosen = [ids[(0.001, 8)][0], ids[(0.1, 512)][1]]
    lit = curve_colours(refresh(board, chosen=chosen))
    assert sorted(c for c in lit.values() if c != BEHIND) == sorted(COLOURS[:2])
    assert [name for name, c in lit.items() if c != BEHIND] == [names[i] for i in chosen]  # last: drawn on top
    for i in range(MAX_CURVES):
        board.post(f"c{i}", f"C{i}", record(accuracy=99.95))
    full = curve_colours(refresh(board))  # as many curves as are drawn, each its own colour
    assert len(full) == MAX_CURVES and len(set(full.values())) == MAX_CURVES and BEHIND not in full.values()
