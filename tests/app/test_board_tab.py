"""The Class tab's redraw in this process (`tabs/board/view.Redraw`, taken from the built app): what one visitor's
page is sent, when the timer sends nothing, the plot's colours after its data, the highlight picker's value, and a
board that cannot be read. The page's own timer and plot are the browser journey's (test_journey_class.py)."""

import gradio as gr
import pytest

from mnist_demo.app.core.board.store import Board
from mnist_demo.app.core.board.view import BEHIND
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.page import build_app
from mnist_demo.app.tabs.board.view import Redraw
from tests.support.board import fresh_weights, record

SKIP = gr.skip()


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tab")
    demo = build_app(Settings(checkpoint_dir=str(folder), board_file=str(folder / "board.db"), class_name="3반",
                              scheduler=None))
    redraw = next(f.fn for f in demo.fns.values() if isinstance(f.fn, Redraw))
    yield redraw, folder / "board.db"
    demo.mnist_context.close()


@pytest.fixture
def board(tab):
    """The same file through a connection of its own, as a second server process has it."""
    with Board(tab[1], class_name="3반") as other:
        other.clear()
        yield other


def view(redraw, visitor, highlight=(), **changes):
    values = dict(sort="accuracy", descending=True, highlight=list(highlight), family="lr") | changes
    return values["sort"], values["descending"], values["highlight"], values["family"], visitor


def test_an_empty_board_says_so_and_draws_no_curve(tab, board):
    redraw, _ = tab
    out = redraw(*view(redraw, Visitor()))
    ui = redraw.ui
    assert set(out) == set(redraw.outputs)
    assert out[ui.summary].startswith("No run is posted to **3반** yet") and out[ui.curves] is None
    assert out[ui.table].empty and out[ui.best] == "" and out[ui.plot] == {"colours": {}, "pending": True}


def test_the_timer_sends_nothing_until_any_process_writes_then_the_whole_board(tab, board):
    redraw, _ = tab
    ui, visitor = redraw.ui, Visitor()
    redraw(*view(redraw, visitor))
    assert redraw.tick(*view(redraw, visitor)) == {c: SKIP for c in redraw.outputs}
    first = board.post("other", "Minji", record(accuracy=91.0, lr=0.01), fresh_weights())
    out = redraw.tick(*view(redraw, visitor))
    assert out[ui.summary].startswith("**1** run posted") and out[ui.table]["name"].tolist() == ["Minji"]
    assert out[ui.curves]["run"].unique().tolist() == [f"Minji #{first}"]
    assert out[ui.use].choices == [(f"#{first} Minji · cnn-small · lr 0.01 · bs 128 · 91.00%", str(first))]
    assert redraw.tick(*view(redraw, visitor)) == {c: SKIP for c in redraw.outputs}
    visitor.language = "ko"  # a switch of language redraws at the next tick too
    assert "학습" in redraw.tick(*view(redraw, visitor))[ui.summary]


def test_the_plots_colours_follow_its_data_once(tab, board):
    redraw, _ = tab
    ui, visitor = redraw.ui, Visitor()
    a = board.post("a", "Minji", record(accuracy=91.0))
    b = board.post("b", "Jun", record(accuracy=85.0))
    plot = redraw(*view(redraw, visitor, highlight=[str(b)]))[ui.plot]
    styled = redraw.style(plot, visitor)
    colours = styled[ui.curves].color_map
    assert colours[f"Minji #{a}"] == BEHIND and colours[f"Jun #{b}"] != BEHIND
    assert styled[ui.curves].x_title == "training images seen" and styled[ui.curves].color_title == "posted run"
    assert styled[ui.plot]["pending"] is False
    assert redraw.style(styled[ui.plot], visitor) == {ui.curves: SKIP, ui.plot: SKIP}  # sent: nothing more
    assert redraw.style(None, visitor) == {ui.curves: SKIP, ui.plot: SKIP}


def test_the_highlight_pickers_value_is_sent_only_when_a_chosen_post_left(tab, board):
    redraw, _ = tab
    ui, visitor = redraw.ui, Visitor()
    a = board.post("a", "Minji", record(accuracy=91.0))
    b = board.post("b", "Jun", record(accuracy=85.0))
    kept = redraw(*view(redraw, visitor, highlight=[str(a), str(b)]))[ui.highlight]
    assert [v for _, v in kept.choices] == [str(a), str(b)]
    assert "value" not in kept.constructor_args  # only the choices are sent: the page keeps what it holds
    assert redraw(*view(redraw, visitor, highlight=[str(a)]), keep_highlight=True)[ui.highlight] == SKIP
    board.remove(a)
    gone = redraw(*view(redraw, visitor, highlight=[str(a), str(b)]))[ui.highlight]
    assert gone.constructor_args["value"] == [str(b)] and [v for _, v in gone.choices] == [str(b)]


def test_a_language_switch_sends_the_curves_with_their_colours_and_the_next_tick_redraws(tab, board):
    redraw, _ = tab
    ui, visitor = redraw.ui, Visitor()
    visitor.language = "ko"
    a = board.post("a", "Minji", record(accuracy=91.0))
    out = redraw.in_language(visitor, "accuracy", True, [], "lr")
    assert out[ui.curves].color_title == "올린 학습" and list(out[ui.curves].color_map) == [f"Minji #{a}"]
    assert visitor.board_seen is None and redraw.tick(*view(redraw, visitor))[ui.summary] != SKIP


def test_a_board_that_cannot_be_read_sends_nothing_on_the_timer_and_says_why_when_asked(tab, board):
    redraw, path = tab
    ui, visitor = redraw.ui, Visitor()
    store = redraw.ctx.board
    redraw(*view(redraw, visitor))
    store._conn.close()  # the file's connection lost under the server: every query fails
    try:
        assert redraw.tick(*view(redraw, visitor)) == {c: SKIP for c in redraw.outputs}
        said = redraw(*view(redraw, visitor))
        assert list(said) == [ui.summary] and said[ui.summary].startswith("**Not done.**")
    finally:
        store._conn = store._connect()
