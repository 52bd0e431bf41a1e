"""The Class tab through a running `demo.py --board-file ... --teacher ... --auth ...`, as API clients use it.

Three visitors train tiny runs with different learning rates; two post (`/post_run`); the third reads the board
(`/class_board`) and draws with a posted model (`/use_posted_model`, then `/model_info` and `/predict`). The teacher
is the `--auth` login of the teacher's user: it removes a post and exports the CSV; any other login is refused. The
server restarts on the same SQLite file and the board is still there; a second `demo.py` on that file posts at the
same moment and nothing is lost. Hostile names are refused and post nothing; the posting rate limit holds.
(The page's own timer is the browser journey's: tests/browser/test_journey_class.py.)
"""

from __future__ import annotations

import csv
import sqlite3
import threading
from pathlib import Path

import pytest
from gradio_client import Client

from mnist_demo.app.core.board.rules import MAX_POSTS_PER_MINUTE
from mnist_demo.app.core.board.store import Board
from mnist_demo.predict import Predictor
from tests.support.app_server import FIELDS, TINY, Server, make_default_checkpoint, predict_file, save, wait_idle
from tests.support.digits import draw

CLASS = "Room 101"
TEACHER = ("teach", "Board-Teacher-9")  # --teacher: the Class tab's Teacher form
ACCOUNTS = {"teach": "app-teach-1", "alice": "app-alice-1", "bob": "app-bob-1", "carol": "app-carol-1",
            "dave": "app-dave-1", "erin": "app-erin-1", "frank": "app-frank-1", "gina": "app-gina-1"}
LRS = {"alice": 0.003, "bob": 0.01, "carol": 0.0005}
NOT_TEACHER = "Only the teacher can do that"


def start(tmp: Path, checkpoints: Path, board: Path) -> Server:
    return Server(tmp, "--checkpoint-dir", str(checkpoints), "--board-file", str(board), "--class-name", CLASS,
                  "--teacher", ":".join(TEACHER), "--auth", ",".join(f"{u}:{p}" for u, p in ACCOUNTS.items()),
                  "--max-trainings", "1", "--max-epochs", "2")


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict:
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    make_default_checkpoint(checkpoints)
    return {"checkpoints": checkpoints, "board": tmp_path_factory.mktemp("board") / "class.sqlite",
            "tmp": tmp_path_factory.mktemp("servers")}


@pytest.fixture(scope="module")
def app(place):
    """The class's server; the restart test stops it and starts its own on the same file."""
    server = start(place["tmp"], place["checkpoints"], place["board"])
    yield server
    server.stop()


def login(server: Server, user: str) -> Client:
    return Client(server.url, auth=(user, ACCOUNTS[user]), verbose=False)


def train(client: Client, lr: float) -> None:
    args = dict(zip(FIELDS, TINY), lr=lr)
    status = client.predict(*(args[f] for f in FIELDS), api_name="/train")[0]
    assert "Done." in status, status


def post(client: Client, name: str, run=None) -> str:
    """The post's status line (the first output)."""
    return client.predict(name, run, api_name="/post_run")[0]


def rows(client: Client) -> list[dict]:
    return client.predict(api_name="/class_board")


def exported(client: Client) -> tuple[str, str | None]:
    """(the teacher's status line, the CSV file's local path or None)."""
    said, file = client.predict(api_name="/export_board")
    return said, file.get("value") if isinstance(file, dict) else file


def posted_id(status: str) -> int:
    assert status.startswith("Posted as **#"), status
    return int(status.split("**#")[1].split("**")[0])


@pytest.fixture(scope="module")
def visitors(app) -> dict[str, Client]:
    """alice, bob and carol, each with one finished tiny run at their own lr (one line: they train in turn)."""
    clients = {user: login(app, user) for user in LRS}
    wait_idle(clients["alice"])
    jobs = {user: clients[user].submit(*(dict(zip(FIELDS, TINY), lr=lr)[f] for f in FIELDS), api_name="/train")
            for user, lr in LRS.items()}
    for user, job in jobs.items():
        assert "Done." in job.result()[0], (user, job.result()[0])
    return clients


# --------------------------------------------------------------------------- the journey

def test_two_post_the_third_sees_both_at_once_and_draws_with_one(app, place, visitors, tmp_path):
    alice, bob, carol = visitors["alice"], visitors["bob"], visitors["carol"]
    assert rows(carol) == []
    first = posted_id(post(alice, "Alice"))
    assert [r["id"] for r in rows(carol)] == [first]  # no waiting for a timer: the board is read when asked
    second = posted_id(post(bob, "Bob K"))
    board = rows(carol)
    assert sorted(r["id"] for r in board) == [first, second]
    by_id = {r["id"]: r for r in board}
    assert (by_id[first]["name"], by_id[first]["lr"]) == ("Alice", LRS["alice"])
    assert (by_id[second]["name"], by_id[second]["lr"]) == ("Bob K", LRS["bob"])
    assert [r["accuracy_pct"] for r in board] == sorted((r["accuracy_pct"] for r in board), reverse=True)
    for r in board:
        assert r["model"] == "cnn" and r["images"] == TINY[FIELDS.index("limit")] and r["has_weights"]
        assert r["batch_size"] == 128 and r["epochs"] == 1 and r["augment"] is False and r["device"] == "cpu"
        assert 0 < r["accuracy_pct"] <= 100 and r["elapsed_s"] > 0 and r["samples_per_s"] > 0
        assert r["mine"] is False and "owner" not in r
    assert {r["id"]: r["mine"] for r in rows(alice)} == {first: True, second: False}

    used = carol.predict(str(second), api_name="/use_posted_model")
    assert f"Bob K #{second}" in used[0] and "current model" in used[0], used[0]
    info = carol.predict(api_name="/model_info")
    assert info["choice"] == "@current" and info["current"]["origin"] == f"class board: Bob K #{second}", info
    assert info["current"]["model"] == "cnn" and round(100 * info["current"]["accuracy"], 2) == \
        round(by_id[second]["accuracy_pct"], 2)
    seven = save(draw(7, (280, 280), (70, 40, 140, 200), 18), tmp_path / "7.png")
    answer = predict_file(carol, seven)
    with Board(place["board"], class_name=CLASS) as store:  # the posted weights, read from the file itself
        expected = Predictor(store.model(second).model).predict(str(seven)).probabilities
    got = {c["label"]: c["confidence"] for c in answer["confidences"]}
    assert got.keys() == expected.keys() and all(abs(got[d] - expected[d]) < 1e-6 for d in got), (got, expected)
    assert carol.predict(api_name="/model_info")["current"]["origin"] == f"class board: Bob K #{second}"
    # alice's own model is still her own run
    assert alice.predict(api_name="/model_info")["current"]["origin"] != info["current"]["origin"]


def test_a_missing_or_odd_post_cannot_be_used(app, visitors):
    carol = visitors["carol"]
    before = carol.predict(api_name="/model_info")
    for post_id in ("999999", "abc", "", "-1", "1e3"):
        said = carol.predict(post_id, api_name="/use_posted_model")[0]
        assert said.startswith("**Not done.**"), (post_id, said)
    assert carol.predict(api_name="/model_info") == before


def test_the_api_page_names_the_boards_inputs_and_outputs_in_plain_english(app):
    endpoints = login(app, "alice").view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = {name: ([p["parameter_name"] for p in e["parameters"]], [p["label"] for p in e["parameters"]],
                    [r["label"] for r in e["returns"]]) for name, e in endpoints.items()}
    assert names["/post_run"][:2] == (["name", "run", "sort", "descending", "highlight", "family"],
                                      ["board_name", "board_run", "board_sort", "board_descending", "board_highlight",
                                       "board_family"])
    assert names["/post_run"][2][:3] == ["board_post_status", "board_summary", "board_table"]
    assert names["/use_posted_model"][:2] == (["post_id"], ["board_use_post"])
    assert names["/class_board"] == ([], [], ["rows"])
    assert names["/export_board"][2] == ["board_teacher_status", "board_export_file"]
    assert names["/remove_post"][0][0] == "post_id" and names["/clear_board"][0][0] == "confirmed"
    labels = [label for _, inputs, outputs in names.values() for label in inputs + outputs]
    assert all(isinstance(label, str) and not label.startswith(("value_", "parameter_")) for label in labels)
    board = {name for name, (_, inputs, outputs) in names.items() if any(str(label).startswith("board_")
                                                                         for label in inputs + outputs)}
    # the timer, the tab's opening, the view's controls, the plot's colours and the teacher's form are the page's
    assert board == {"/post_run", "/use_posted_model", "/remove_post", "/clear_board", "/export_board"}, board


# --------------------------------------------------------------------------- the teacher

def test_the_teacher_is_the_auth_login_of_that_user_others_are_refused(app, place, visitors, tmp_path):
    before = rows(visitors["carol"])
    assert len(before) == 2
    for user in ("alice", "carol"):
        someone = login(app, user)
        said = someone.predict(str(before[0]["id"]), api_name="/remove_post")[0]
        assert NOT_TEACHER in said, said
        said, file = exported(someone)
        assert NOT_TEACHER in said and file is None, (said, file)
        assert NOT_TEACHER in someone.predict(True, api_name="/clear_board")[0]
    assert rows(visitors["carol"]) == before

    teacher = login(app, "teach")
    said, file = exported(teacher)
    assert "2 posts" in said, said
    with open(file, newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [int(r["id"]) for r in table] == sorted(r["id"] for r in before)  # oldest first
    for line in table:
        row = next(r for r in before if r["id"] == int(line["id"]))
        assert (line["class"], line["name"], float(line["lr"]), line["model"]) == (CLASS, row["name"], row["lr"],
                                                                                     row["model"])
        assert abs(float(line["accuracy_pct"]) - row["accuracy_pct"]) < 1e-9 and line["has_weights"] == "True"
        assert line["posted_at_utc"].endswith("+00:00") and "owner" not in line
    assert Path(file).name == "Room-101.csv"

    gone = max(before, key=lambda r: r["id"])["id"]  # bob's
    said = teacher.predict(str(gone), api_name="/remove_post")[0]
    assert f"Removed post #{gone}" in said, said
    assert [r["id"] for r in rows(visitors["carol"])] == [r["id"] for r in before if r["id"] != gone]
    assert "was not on the board" in teacher.predict(str(gone), api_name="/remove_post")[0]
    said, file = exported(teacher)
    with open(file, newline="", encoding="utf-8") as f:
        assert [int(r["id"]) for r in csv.DictReader(f)] == [r["id"] for r in before if r["id"] != gone]
    # bob's model went with his post: carol, who draws with it, keeps her copy; a new "use" is refused
    said = visitors["alice"].predict(str(gone), api_name="/use_posted_model")[0]
    assert said.startswith("**Not done.**") and "not on the board" in said, said


# --------------------------------------------------------------------------- bounds

HOSTILE = {
    "html": ("<b>Minji</b>", "LESS-THAN SIGN"),
    "script": ("<script>go()</script>", "LESS-THAN SIGN"),
    "ampersand": ("Tom & Jerry", "AMPERSAND"),
    "nul": ("Min\x00ji", "U+0000"),
    "bell": ("Minji\x07", "U+0007"),
    "newline": ("Min\nji", "U+000A"),
    "escape": ("\x1b[31mred", "U+001B"),
    "bidi override": ("Minji\u202egnp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "bidi isolate": ("\u2067Minji", "U+2067"),
    "zero width": ("Min\u200bji", "U+200B ZERO WIDTH SPACE"),
    "10 KB": ("A" * 10240, "too long (10,240 characters); at most 24"),
    "25 letters": ("B" * 25, "too long (25 characters); at most 24"),
    "empty": ("", "is empty"),
    "spaces": ("   ", "is empty"),
    "punctuation first": ("-Minji", "must start with a letter or a digit"),
    "hangul filler": ("\u3164", "U+3164"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_names_are_refused_clearly_and_nothing_is_posted(app, visitors, kind):
    name, why = HOSTILE[kind]
    carol = visitors["carol"]
    before = rows(carol)
    said = post(carol, name)
    assert said.startswith("**Not done.**") and why in said, (kind, said)
    assert "<" not in said.replace("\\<", "") and "\x00" not in said and "\u202e" not in said, said  # shown inertly
    assert len(said) < 400, said
    assert rows(carol) == before


def test_good_names_of_any_script_are_kept_as_typed(app):
    dave = login(app, "dave")
    train(dave, 0.002)
    for name, kept in (("  민지   김 ", "민지 김"), ("O'Brien-2b", "O'Brien-2b")):
        post_id = posted_id(post(dave, name))
        assert next(r for r in rows(dave) if r["id"] == post_id)["name"] == kept


def test_the_posting_rate_limit_holds_per_login_across_sessions(app):
    erin = login(app, "erin")
    train(erin, 0.004)
    before = len(rows(erin))
    for i in range(MAX_POSTS_PER_MINUTE):
        posted_id(post(erin, f"Erin {i}"))
    said = post(erin, "Erin again")
    assert said.startswith("**Not done.**") and f"{MAX_POSTS_PER_MINUTE} posts a minute at most" in said, said
    assert "try again in" in said
    again = login(app, "erin")  # a new session of the same login is the same poster
    train(again, 0.004)
    assert "posts a minute at most" in post(again, "Erin new tab")
    assert len(rows(erin)) == before + MAX_POSTS_PER_MINUTE
    assert "Train a run first" in post(login(app, "frank"), "Frank")  # no finished run: nothing to post


# --------------------------------------------------------------------------- restart and two processes

def test_a_restart_keeps_the_board_and_a_second_process_posting_at_once_loses_nothing(app, place, visitors):
    before = rows(visitors["alice"])
    assert before
    app.stop()
    first = start(place["tmp"], place["checkpoints"], place["board"])
    second = start(place["tmp"], place["checkpoints"], place["board"])
    try:
        for server in (first, second):
            assert rows(login(server, "alice")) == [dict(r, mine=r["mine"]) for r in rows(login(first, "alice"))]
        assert [(r["id"], r["name"], r["accuracy_pct"]) for r in rows(login(first, "carol"))] == \
            [(r["id"], r["name"], r["accuracy_pct"]) for r in before]
        posters = [(first, "frank"), (first, "gina"), (second, "alice"), (second, "bob")]
        clients = [login(server, user) for server, user in posters]
        for client, lr in zip(clients, (0.001, 0.002, 0.003, 0.004)):
            train(client, lr)
        start_line = threading.Barrier(len(clients))
        said: dict[int, list[str]] = {}

        def burst(index: int, client: Client) -> None:
            start_line.wait(timeout=60)
            said[index] = [post(client, f"Burst {index} {n}") for n in range(MAX_POSTS_PER_MINUTE)]

        threads = [threading.Thread(target=burst, args=(i, c)) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        ids = [posted_id(s) for statuses in said.values() for s in statuses]
        assert len(said) == len(clients) and len(ids) == len(clients) * MAX_POSTS_PER_MINUTE, said
        assert len(set(ids)) == len(ids)
        for server in (first, second):
            seen = {r["id"]: r["name"] for r in rows(login(server, "carol"))}
            assert set(ids) <= seen.keys() and {r["id"] for r in before} <= seen.keys()
            assert len(seen) == len(before) + len(ids)
        with sqlite3.connect(place["board"]) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

        teacher = login(second, "teach")
        assert "Tick the box first" in teacher.predict(False, api_name="/clear_board")[0]
        assert len(rows(teacher)) == len(seen)
        said_clear = teacher.predict(True, api_name="/clear_board")[0]
        assert f"{len(seen)} posts removed" in said_clear, said_clear
        assert rows(login(first, "carol")) == []
    finally:
        first.stop()
        second.stop()
