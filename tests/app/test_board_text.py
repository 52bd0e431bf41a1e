"""The class board in a visitor's words (`core/board/text.py`): a kept run as a post, the table with the accuracy
up front, the best so far and the summary in English and Korean, an unnamed class named in the visitor's language."""

import pytest

from mnist_demo.app.core.board import text as board_text
from mnist_demo.app.core.board.store import DEFAULT_CLASS, Board
from mnist_demo.app.core.board.view import refresh
from mnist_demo.app.core.runs.kept import KeptRun
from mnist_demo.app.core.runs.training import FULL, SAMPLE
from mnist_demo.config import make_config
from mnist_demo.texts import TEXTS
from mnist_demo.train import Evaluation
from tests.support.board import fresh_weights, record

KO = TEXTS["ko"]


@pytest.fixture
def board(tmp_path):
    with Board(tmp_path / "text.db", class_name="Room 101") as b:
        yield b


def test_a_kept_run_posts_its_full_test_points_over_the_samples_at_the_same_images():
    config = make_config("fast", device="cpu", lr=0.004, limit=3000)
    accuracies = [(0, 0, 0.0, 11.0, SAMPLE), (0, 0, 0.0, 10.0, FULL), (5, 640, 1.0, 60.0, SAMPLE),
                  (10, 1280, 2.0, 70.0, SAMPLE), (24, 3000, 4.0, 81.5, SAMPLE), (24, 3000, 4.1, 80.25, FULL)]
    run = KeptRun(1, 0, config, "fast", [], accuracies, Evaluation(0.8025, 0.6, [0.8] * 10, 10000), 4.5, 700.0, 1.0,
                  False, object(), {"model": config.model})
    posted = board_text.record(run)
    assert posted.curve == ((0, 10.0), (640, 60.0), (1280, 70.0), (3000, 80.25))  # the full test where both exist
    assert (posted.accuracy_pct, posted.lr, posted.images, posted.epochs_done) == (80.25, 0.004, 3000, 1.0)


def test_the_table_puts_the_accuracy_next_to_the_name_in_either_language(board):
    first = board.post("a", "Minji", record(accuracy=91.256, lr=0.01, batch_size=64))
    board.post("b", "Jun", record(accuracy=88.0, lr=0.0005, augment=True))
    rows = board.rows()
    table = board_text.table(rows)
    assert list(table.columns[:4]) == ["#", "name", "test accuracy", "lr"]
    assert table.iloc[0].tolist()[:6] == [first, "Minji", "91.26%", "0.01", 64, "1"]
    assert table.iloc[1]["augmentation"] == "yes" and table.iloc[0]["model kept"] == "no"
    korean = board_text.table(rows, "ko")
    assert list(korean.columns[:3]) == ["#", KO["board.col_name"], KO["board.col_accuracy"]]
    assert korean.iloc[1][KO["board.col_augmentation"]] == KO["board.yes"]
    assert board_text.table([]).empty and len(board_text.table([]).columns) == len(board_text.COLUMN_KEYS)


def test_the_summary_and_the_best_so_far_in_english_and_korean(board):
    view = refresh(board)
    assert board_text.summary(view, board.class_name) == "No run is posted to **Room 101** yet: be the first."
    board.post("a", "Minji", record(accuracy=91.0, lr=0.01))
    board.post("b", "Jun", record(accuracy=95.0, lr=0.01))
    board.post("c", "Ara", record(accuracy=80.0, lr=0.1))
    view = refresh(board)
    assert board_text.summary(view, board.class_name).startswith("**3** runs posted to **Room 101**")
    assert "3" in board_text.summary(view, board.class_name, "ko") and "Room 101" in \
        board_text.summary(view, board.class_name, "ko")
    best = board_text.best_text(view.best["lr"], "lr")
    assert best.splitlines()[0] == "**Best so far by learning rate (lr):**"
    assert best.splitlines()[2:] == ["- 0.01: **95.00%** (Jun #2; 2 posted with it)",
                                     "- 0.1: **80.00%** (Ara #3; 1 posted with it)"]
    assert KO["board.family_lr"] in board_text.best_text(view.best["lr"], "lr", "ko")
    assert board_text.best_text([], "lr") == ""
    augment = board_text.best_text(view.best["augment"], "augment", "ko")
    assert f"- {KO['board.no']}:" in augment


def test_an_unnamed_class_is_named_in_the_visitors_language_a_named_one_as_given(tmp_path):
    assert board_text.class_title(DEFAULT_CLASS) == "the class board"
    assert board_text.class_title(DEFAULT_CLASS, "ko") == KO["board.default_class"]
    assert board_text.class_title("3반 파이썬") == "3반 파이썬"
    with Board(tmp_path / "unnamed.db") as unnamed:
        assert "**" + KO["board.default_class"] + "**" in board_text.summary(refresh(unnamed), unnamed.class_name,
                                                                            "ko")


def test_the_pickers_list_posts_best_first_and_only_kept_models_to_draw_with(board):
    without = board.post("a", "Minji", record(accuracy=91.0))
    kept = board.post("b", "Jun", record(accuracy=85.0, model="cnn-small"), fresh_weights("cnn-small"))
    rows = board.rows()
    assert board_text.choices(rows) == [(f"#{without} Minji · cnn-small · lr 0.005 · bs 128 · 91.00%", str(without)),
                                        (f"#{kept} Jun · cnn-small · lr 0.005 · bs 128 · 85.00%", str(kept))]
    assert [value for _, value in board_text.choices(rows, with_model=True)] == [str(kept)]
