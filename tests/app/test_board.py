"""The class board's store on a real SQLite file: posting and its bounds, sorting, curves, the teacher's remove,
clear and CSV export, a restart, and files that are not this version's board."""

import csv
import dataclasses
import hashlib
import io
import math
import sqlite3

import pytest

from mnist_demo.app.core.board import rules
from mnist_demo.app.core.board.rules import BoardError, RunRecord, checked_record
from mnist_demo.app.core.board.store import APPLICATION_ID, CSV_COLUMNS, SCHEMA_VERSION, SORTS, Board, _cell
from mnist_demo.errors import ConfigError
from tests.support.board import fresh_weights, record


class Clock:
    """The board's clock, moved by hand: rate limits are counted in minutes."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def board(tmp_path):
    with Board(tmp_path / "class.db", class_name="3반", clock=Clock()) as b:
        yield b


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- posting and its bounds

def test_a_post_is_listed_with_its_settings_figures_and_curve(board):
    run = record(accuracy=98.25, curve_points=30, lr=0.1, batch_size=8, augment=True, limit=6000)
    post_id = board.post("owner-a", "  민지 ", run, fresh_weights())
    [post] = board.rows(owner="owner-a")
    assert (post.id, post.name, post.model, post.lr, post.batch_size, post.augment, post.images) == \
        (post_id, "민지", "cnn-small", 0.1, 8, True, 6000)
    assert (post.accuracy_pct, post.elapsed_s, post.samples_per_s, post.has_weights, post.mine) == \
        (98.25, 20.0, 3000.0, True, True)
    assert post.posted_at == board.clock() and not board.rows(owner="owner-b")[0].mine
    assert board.curves([post_id])[post_id] == [tuple(p) for p in run.curve] and len(run.curve) == 30
    assert board.count() == 1 and board.get(post_id).name == "민지" and board.get(post_id + 1) is None


def test_the_board_s_columns_are_a_run_s_facts_and_a_post_carries_every_one(board):
    facts = tuple(field.name for field in dataclasses.fields(rules.RunFacts))
    assert rules.SETTINGS + rules.FIGURES == facts
    board.post("owner-a", "Bo", record(lr=0.1))
    [post] = board.rows()
    assert {name: getattr(post, name) for name in facts} == \
        {name: getattr(record(lr=0.1), name) for name in facts}


def test_the_owner_id_is_never_given_out(board):
    board.post("secret-session-hash", "Bo", record())
    [post] = board.rows()
    assert "secret-session-hash" not in repr(post) and "secret-session-hash" not in board.export_csv()


def test_a_long_curve_is_downsampled_to_the_bound_keeping_its_ends():
    curve = [(i * 10, 100 * i / 4999) for i in range(5000)]
    kept = rules.checked_curve(curve)
    assert len(kept) == rules.MAX_CURVE_POINTS and kept[0] == (0, 0.0) and kept[-1] == (49990, 100.0)
    assert [s for s, _ in kept] == sorted(s for s, _ in kept)


@pytest.mark.parametrize("curve, code", [
    ([(0, float("nan"))], "board_curve"),
    ([(0, 101.0)], "board_curve"),
    ([(-1, 5.0)], "board_curve"),
    ([(1.5, 5.0)], "board_curve"),
    ([(0, 5.0, 7)], "board_curve"),
    (["0, 5"], "board_curve"),
    (42, "board_curve"),
    ([(0, 1.0)] * (rules.MAX_CURVE_INPUT + 1), "board_curve_long"),
])
def test_a_bad_curve_is_refused(board, curve, code):
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", RunRecord(**dict(vars(record()), curve=curve)))
    assert caught.value.code == code and board.count() == 0


@pytest.mark.parametrize("field, value", [
    ("lr", 0.0), ("lr", float("nan")), ("model", "resnet"), ("optimizer", "lbfgs"), ("batch_size", 0),
    ("epochs", 0), ("images", 60001), ("accuracy_pct", 100.5), ("accuracy_pct", float("inf")),
    ("elapsed_s", -1.0), ("samples_per_s", "fast"), ("momentum", 1.0), ("schedule", "cosine"), ("seed", -1),
])
def test_a_bad_setting_or_figure_is_refused_naming_its_field(board, field, value):
    before = board.revision()
    with pytest.raises(ConfigError) as caught:
        board.post("o", "Bo", RunRecord(**dict(vars(record()), **{field: value})))
    assert caught.value.field == field and caught.value.code
    assert board.count() == 0 and board.revision() == before


@pytest.mark.parametrize("field, value, code", [
    ("device", "cuda; rm -rf", "board_device"), ("device", "<b>", "board_device"), ("augment", "yes", "board_augment"),
])
def test_a_bad_device_or_flag_is_refused(board, field, value, code):
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", RunRecord(**dict(vars(record()), **{field: value})))
    assert caught.value.code == code and board.count() == 0


def test_posting_needs_an_owner_a_record_and_a_good_name(board):
    for owner in ("", None, "x" * (rules.MAX_OWNER + 1)):
        with pytest.raises(BoardError, match="poster") as caught:
            board.post(owner, "Bo", record())
        assert caught.value.code == "board_owner"
    with pytest.raises(BoardError) as caught:
        board.post("o", "<script>", record())
    assert caught.value.code == "board_name_char"
    with pytest.raises(BoardError) as caught:
        board.post("o", "Bo", {"model": "cnn"})
    assert caught.value.code == "board_not_a_run"
    assert board.count() == 0 and board.revision() == 0


def test_posts_per_owner_per_minute_are_bounded_counted_from_the_database(tmp_path):
    clock = Clock()
    path = tmp_path / "rate.db"
    with Board(path, clock=clock) as board, Board(path, clock=clock) as other:  # two connections: two servers
        for i in range(rules.MAX_POSTS_PER_MINUTE):
            (board if i % 2 else other).post("eager", "Eager", record())
            clock.now += 10
        with pytest.raises(BoardError) as caught:
            other.post("eager", "Eager", record())
        # the first post was 30 s ago: it leaves the one-minute window in 30 s
        assert caught.value.code == "board_rate_limited" and caught.value.values == \
            {"limit": rules.MAX_POSTS_PER_MINUTE, "seconds": 30}
        board.post("patient", "Patient", record())  # another visitor is not held back
        clock.now += 30.5
        board.post("eager", "Eager", record())  # the first post has left the window
        assert board.count() == rules.MAX_POSTS_PER_MINUTE + 2


def test_the_board_holds_at_most_max_posts_then_says_it_is_full(board):
    for i in range(rules.MAX_POSTS):
        board.post(f"visitor-{i}", f"V{i}", record(curve_points=2))
    with pytest.raises(BoardError) as caught:
        board.post("late", "Late", record())
    assert caught.value.code == "board_full" and caught.value.values == {"limit": rules.MAX_POSTS}
    assert "teacher" in str(caught.value) and board.count() == rules.MAX_POSTS
    board.clear()
    board.post("late", "Late", record())
    assert board.count() == 1


def test_only_the_newest_posts_keep_their_weights(board):
    weights = fresh_weights()
    ids = [board.post(f"v{i}", f"V{i}", record(), weights) for i in range(rules.MAX_WEIGHTS_KEPT + 2)]
    without = [p.id for p in board.rows(sort="id", descending=False) if not p.has_weights]
    assert without == ids[:2]
    with pytest.raises(BoardError) as caught:
        board.model(ids[0])
    assert caught.value.code == "board_no_weights" and caught.value.values["kept"] == rules.MAX_WEIGHTS_KEPT
    assert board.model(ids[2]).meta["model"] == "cnn-small"
    kept = board._conn.execute("SELECT COUNT(*) FROM weights").fetchone()[0]
    assert kept == rules.MAX_WEIGHTS_KEPT


def test_posts_without_weights_are_listed_without_a_model(board):
    post_id = board.post("o", "Bo", record())
    assert not board.get(post_id).has_weights
    with pytest.raises(BoardError) as caught:
        board.model(post_id)
    assert caught.value.code == "board_no_weights"


# --------------------------------------------------------------------------- reading

def test_every_sort_column_both_ways_with_ties_oldest_first(board):
    settings = [dict(lr=0.1, batch_size=8), dict(lr=0.001, batch_size=512), dict(lr=0.01, batch_size=64,
                                                                                model="mlp", optimizer="sgd")]
    for i in range(9):
        board.clock.now += 1
        board.post(f"v{i}", ["zed", "Amy", "민지"][i % 3], record(accuracy=90 + i % 4, **settings[i % 3]))
    for column in SORTS:
        key = {"accuracy": "accuracy_pct", "time": "elapsed_s", "rate": "samples_per_s"}.get(column, column)
        for descending in (False, True):
            rows = board.rows(sort=column, descending=descending)
            values = [getattr(p, key).lower() if column == "name" else getattr(p, key) for p in rows]
            assert values == sorted(values, reverse=descending), column
            for a, b in zip(rows, rows[1:]):  # equal values: the earlier post first
                if getattr(a, key) == getattr(b, key):
                    assert a.id < b.id


@pytest.mark.parametrize("column", ["owner", "curve", "accuracy; DROP TABLE posts", "", None, "class_name"])
def test_an_unknown_sort_column_is_refused(board, column):
    board.post("o", "Bo", record())
    with pytest.raises(BoardError) as caught:
        board.rows(sort=column)
    assert caught.value.code == "board_sort" and board.count() == 1


def test_curves_are_given_for_this_class_s_posts_only(tmp_path):
    path = tmp_path / "two.db"
    with Board(path, class_name="A") as a, Board(path, class_name="B") as b:
        mine = a.post("o", "Bo", record(curve_points=5))
        theirs = b.post("o", "Bo", record(curve_points=7))
        assert set(a.curves([mine, theirs, "7", 999])) == {mine} and len(b.curves([theirs])[theirs]) == 7
        assert [p.id for p in a.rows()] == [mine] and a.count() == 1 and b.count() == 1
        with pytest.raises(BoardError):
            a.model(theirs)
        with pytest.raises(BoardError) as caught:
            a.curves(["1; DROP TABLE posts"])
        assert caught.value.code == "board_post_id"


def test_revision_changes_with_every_write_from_any_connection(tmp_path):
    with Board(tmp_path / "r.db") as a, Board(tmp_path / "r.db") as b:
        start = a.revision()
        post_id = b.post("o", "Bo", record())
        assert a.revision() == start + 1
        a.remove(post_id)
        assert b.revision() == start + 2
        with pytest.raises(BoardError):
            b.post("o", "<x>", record())
        assert a.revision() == start + 2  # a refused post writes nothing


# --------------------------------------------------------------------------- the teacher's

def test_remove_one_and_clear_the_class(tmp_path):
    path = tmp_path / "t.db"
    with Board(path, class_name="A") as a, Board(path, class_name="B") as b:
        ids = [a.post(f"o{i}", "Bo", record(), fresh_weights()) for i in range(3)]
        other = b.post("o", "Other", record(), fresh_weights())
        assert a.remove(ids[1]) and not a.remove(ids[1]) and not a.remove(other)
        assert [p.id for p in a.rows(sort="id", descending=False)] == [ids[0], ids[2]]
        assert a.clear() == 2 and a.count() == 0 and a.rows() == []
        assert b.count() == 1 and b.model(other)  # another class's board is untouched
        assert a.post("o9", "New", record()) > ids[2]  # ids are never reused
        orphans = a._conn.execute("SELECT COUNT(*) FROM weights WHERE post_id NOT IN (SELECT id FROM posts)")
        assert orphans.fetchone()[0] == 0


def test_csv_export_round_trips_through_the_csv_module(board):
    ids = [board.post("o1", "민지", record(accuracy=99.01, lr=0.1, batch_size=8), fresh_weights()),
           board.post("o2", "O'Brien Jr.", record(accuracy=91.5, augment=True, limit=6000))]
    rows = list(csv.DictReader(io.StringIO(board.export_csv())))
    assert list(rows[0]) == list(CSV_COLUMNS) and [int(r["id"]) for r in rows] == ids
    first, second = rows
    assert (first["name"], first["class"], float(first["lr"]), int(first["batch_size"])) == ("민지", "3반", 0.1, 8)
    assert float(first["accuracy_pct"]) == 99.01 and first["has_weights"] == "True"
    assert second["name"] == "O'Brien Jr." and second["augment"] == "True" and int(second["images"]) == 6000
    assert first["posted_at_utc"].endswith("+00:00")


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_a_spreadsheet_would_run_starts_with_a_quote(text):
    assert _cell(text) == "'" + text and _cell("plain") == "plain" and _cell(None) == ""


def test_csv_export_guards_rows_the_store_did_not_check(board):
    """A row written around the board's checks (an older version, a hand edit) is still exported inertly."""
    board.post("o", "Bo", record())
    with sqlite3.connect(board.path) as raw:
        raw.execute("UPDATE posts SET name = '=cmd|'' /C calc''!A0', device = '@evil'")
    [row] = list(csv.DictReader(io.StringIO(board.export_csv())))
    assert row["name"] == "'=cmd|' /C calc'!A0" and row["device"] == "'@evil"


# --------------------------------------------------------------------------- restart and files

def test_a_restart_loses_nothing(tmp_path):
    path = tmp_path / "restart.db"
    with Board(path, class_name="3반") as board:
        ids = [board.post(f"o{i}", f"V{i}", record(accuracy=90 + i), fresh_weights(seed=i)) for i in range(3)]
        before, curves, revision = board.rows(), board.curves(ids), board.revision()
        model = board.model(ids[1]).model
    with Board(path, class_name="3반") as board:
        assert board.rows() == before and board.curves(ids) == curves and board.revision() == revision
        again = board.model(ids[1]).model
        for x, y in zip(model.state_dict().values(), again.state_dict().values()):
            assert x.equal(y)
        assert board._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_file_is_a_board_of_this_version(tmp_path):
    path = tmp_path / "deep" / "er" / "new.db"
    Board(path).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with Board(empty) as board:
        assert board.count() == 0


def test_a_newer_schema_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "newer.db"
    with Board(path) as board:
        board.post("o", "Bo", record())
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = digest(path)
    with pytest.raises(BoardError) as caught:
        Board(path)
    assert caught.value.code == "board_schema_newer" and caught.value.values["version"] == SCHEMA_VERSION + 1
    assert "update the app" in str(caught.value) and digest(path) == before


def test_another_database_or_a_file_that_is_not_one_is_refused_and_left_as_it_is(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE notes (text TEXT)")
        raw.execute("INSERT INTO notes VALUES ('keep me')")
    weights = tmp_path / "model.pt"
    weights.write_bytes(fresh_weights())
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    tiny = tmp_path / "tiny.txt"
    tiny.write_bytes(b"hello")
    for path in (other, weights, text, tiny):
        before = digest(path)
        with pytest.raises(BoardError) as caught:
            Board(path)
        assert caught.value.code == "board_file_foreign" and caught.value.values == {"file": path.name}
        assert digest(path) == before
    with pytest.raises(BoardError) as caught:
        Board(tmp_path)  # a folder
    assert caught.value.code == "board_open_failed"


def test_a_bad_class_name_is_refused():
    with pytest.raises(BoardError) as caught:
        Board(":memory:", class_name="<h1>class</h1>")
    assert caught.value.code == "board_name_char" and caught.value.values["field"] == "class_name"


def test_checked_record_keeps_plain_values(board):
    run = checked_record(RunRecord(**dict(vars(record()), lr="0.1", batch_size=8.0, device=" CUDA:0 ")))
    assert (run.lr, run.batch_size, run.device) == (0.1, 8, "cuda:0") and isinstance(run.batch_size, int)
    assert all(math.isfinite(a) for _, a in run.curve)


@pytest.mark.parametrize("value", ["99999999999999999999", "\u0661", "-1", "1.0", True, None, 1.5, "", "1 OR 1=1"])
def test_an_odd_post_id_is_refused(board, value):
    with pytest.raises(BoardError) as caught:
        board.model(value)
    assert caught.value.code == "board_post_id"


def test_asking_for_more_curves_than_a_board_holds_is_refused(board):
    with pytest.raises(BoardError) as caught:
        board.curves(range(1, rules.MAX_POSTS + 2))
    assert caught.value.code == "board_too_many_ids" and board.curves(range(1, rules.MAX_POSTS + 1)) == {}


def test_clearing_gives_the_space_back_to_the_disk(tmp_path):
    path = tmp_path / "space.db"
    with Board(path) as board:
        weights = fresh_weights()
        for i in range(20):
            board.post(f"o{i}", "Bo", record(), weights)
        board._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        full = path.stat().st_size
        assert full > 20 * len(weights)
        board.clear()
        assert path.stat().st_size < full / 20 and board.count() == 0
        assert board._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
