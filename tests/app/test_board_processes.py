"""Two server processes against one board file: both post at once (with weights), both try the same visitor's rate
limit, one vanishes without closing; the file stays intact and holds every post, and the limit holds across them."""

import multiprocessing
import sqlite3

from mnist_demo.app.core.board import rules
from mnist_demo.app.core.board.store import Board
from tests.support.board import post_and_vanish, post_many

POSTS_EACH = 40
SHARED_TRIES = rules.MAX_POSTS_PER_MINUTE  # each process tries the full allowance: only one allowance may pass


def test_two_processes_posting_at_once_keep_the_file_intact_and_every_post(tmp_path):
    path = str(tmp_path / "shared.db")
    Board(path, class_name="3반").close()  # created first, as the first server start would
    context = multiprocessing.get_context("spawn")  # real, separate interpreters: nothing shared but the file
    barrier, queue = context.Barrier(2), context.Queue()
    processes = [context.Process(target=post_many, args=(path, "3반", prefix, POSTS_EACH, barrier, SHARED_TRIES,
                                                         queue)) for prefix in ("left", "right")]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    assert [r.get("error") for r in results] == [None, None]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    posted = [post_id for result in results for post_id in result["posted"]]
    refused = [code for result in results for code in result["refused"]]
    assert len(posted) == len(set(posted)) == 2 * POSTS_EACH + rules.MAX_POSTS_PER_MINUTE
    assert refused == ["board_rate_limited"] * (2 * SHARED_TRIES - rules.MAX_POSTS_PER_MINUTE)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    with Board(path, class_name="3반") as board:
        rows = board.rows(sort="id", descending=False)
        assert sorted(p.id for p in rows) == sorted(posted) and board.count() == len(posted)
        assert board.revision() == len(posted)  # every post was one write, none lost, none doubled
        assert sum(p.name.endswith("shared") for p in rows) == rules.MAX_POSTS_PER_MINUTE
        kept = [p for p in rows if p.has_weights]
        assert len(kept) == 2 * POSTS_EACH and board.model(kept[-1].id).meta["model"] == "cnn-small"


def test_a_process_that_ends_without_closing_loses_nothing(tmp_path):
    path = str(tmp_path / "vanish.db")
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=post_and_vanish, args=(path, "3반"))
    process.start()
    process.join(timeout=120)
    assert process.exitcode == 0
    with Board(path, class_name="3반") as board:
        [post] = board.rows()
        assert post.name == "Gone Soon" and post.has_weights and board.model(post.id).meta["model"] == "cnn-small"
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
