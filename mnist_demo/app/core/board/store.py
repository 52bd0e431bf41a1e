"""The class board's store: the runs a class posts, in one SQLite file on disk (no gradio).

A restart loses nothing: every write is one transaction committed with `synchronous=FULL` before `post` returns.
Several server processes may share the file: the WAL journal lets them read while one writes, a busy timeout makes a
writer wait for the other's transaction instead of failing, and every write begins with `BEGIN IMMEDIATE` (the
write lock first), so that the bounds a post checks (posts per visitor per minute, posts per class) are counted
from the database inside the transaction that inserts it and hold across processes.

The file carries an application id and a schema version: a file that is not a board (another SQLite database, or
not SQLite at all) or a board of a newer version is refused with a clear error and never written to.

Weights live in their own table (a listing never reads them); only the newest MAX_WEIGHTS_KEPT posts of the file
keep theirs. `revision()` changes with every write from any process: a page polling the board redraws only then.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mnist_demo.app.core.board.rules import (
    FIGURES,
    MAX_CLASS_NAME,
    MAX_OWNER,
    MAX_POSTS,
    MAX_POSTS_PER_MINUTE,
    MAX_WEIGHTS_KEPT,
    RATE_WINDOW_S,
    SETTINGS,
    BoardError,
    RunFacts,
    RunRecord,
    check_name,
    checked_record,
    unpack,
)
from mnist_demo.checkpoints import Checkpoint

APPLICATION_ID = 0x4D4E4244  # "MNBD" in the file's header: this file is an mnist-demo board
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0  # a post's transaction takes milliseconds; ten seconds of waiting means something is wrong
DEFAULT_CLASS = "class"
# one statement each: executescript() would commit the transaction that makes creating the schema atomic
_SCHEMA = ("""
CREATE TABLE posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an id a page holds never names another post
    class_name TEXT NOT NULL, name TEXT NOT NULL, owner TEXT NOT NULL, posted_at REAL NOT NULL,
    model TEXT NOT NULL, optimizer TEXT NOT NULL, lr REAL NOT NULL, batch_size INTEGER NOT NULL,
    epochs INTEGER NOT NULL, epochs_done REAL NOT NULL, augment INTEGER NOT NULL, images INTEGER NOT NULL,
    device TEXT NOT NULL, momentum REAL NOT NULL, schedule TEXT NOT NULL, seed INTEGER,
    accuracy_pct REAL NOT NULL, elapsed_s REAL NOT NULL, samples_per_s REAL NOT NULL,
    curve TEXT NOT NULL  -- JSON [[images seen, accuracy %], ...]
)""", "CREATE INDEX posts_by_class ON posts (class_name, id)",
           "CREATE INDEX posts_by_owner ON posts (class_name, owner, posted_at)",
           "CREATE TABLE weights (post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE, "
           "data BLOB NOT NULL)",
           "CREATE TABLE revision (only INTEGER PRIMARY KEY CHECK (only = 1), value INTEGER NOT NULL)",
           "INSERT INTO revision VALUES (1, 0)")
# The columns a listing may be sorted by (name -> SQL); anything else is refused, nothing of a caller's reaches SQL.
SORTS = {"id": "id", "name": "name COLLATE NOCASE", "posted_at": "posted_at", "accuracy": "accuracy_pct",
         "time": "elapsed_s", "rate": "samples_per_s",
         **{name: name for name in SETTINGS if name != "seed"}}
CSV_COLUMNS = ("id", "class", "name", "posted_at_utc", *SETTINGS, *FIGURES, "has_weights")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Post(RunFacts):
    """One row of the board: a run's facts, and who posted it when. The owner id is never given out: `mine` says
    whether the listing's caller posted it. `has_weights`: it can still be drawn with."""

    id: int
    name: str
    posted_at: float  # seconds since the epoch (time.time())
    has_weights: bool
    mine: bool = False


_POST_COLUMNS = ("id", "name", "posted_at", *SETTINGS, *FIGURES)
_SELECT = (f"SELECT {', '.join(_POST_COLUMNS)}, EXISTS (SELECT 1 FROM weights WHERE post_id = posts.id), "
           "owner = ? FROM posts WHERE class_name = ?")


def _post(row) -> Post:
    values = dict(zip(_POST_COLUMNS, row))
    return Post(**dict(values, augment=bool(values["augment"])), has_weights=bool(row[-2]), mine=bool(row[-1]))


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula (= + - @ tab CR) gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class Board:
    """The posts of one class in the SQLite file at `path` (created if missing); thread-safe, and safe to share
    with other processes. `clock` gives the time posts are stamped and rate-limited with."""

    def __init__(self, path: str | Path, class_name: str = DEFAULT_CLASS, clock=time.time):
        self.path = Path(path)
        self.class_name = check_name(class_name, field="class_name", limit=MAX_CLASS_NAME)
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = self._connect()

    # ------------------------------------------------------------------ opening

    def _connect(self) -> sqlite3.Connection:
        label = self.path.name
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise BoardError(f"cannot open the board {label}: {err}", code="board_open_failed", file=label,
                             reason=str(err)) from None
        try:
            self._check_or_create(conn, label)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a post is on disk when post() returns, even after a power cut
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _check_or_create(conn: sqlite3.Connection, label: str) -> None:
        """Create the schema in an empty file; refuse a file that is not a board or is a newer one."""
        try:
            header = _header(conn)
            if header == (0, 0, 0):  # an empty database (a new or zero-length file): make it a board
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before any table: lets clear() give space back
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if _header(conn) == (0, 0, 0):  # another process may have created it while this one waited
                        for statement in (f"PRAGMA application_id = {APPLICATION_ID}",
                                          f"PRAGMA user_version = {SCHEMA_VERSION}", *_SCHEMA):
                            conn.execute(statement)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                header = _header(conn)
        except sqlite3.OperationalError as err:  # cannot open or read it (a folder, no permission), or busy
            if "locked" in str(err) or "busy" in str(err):
                raise _storage_error(err, label) from None
            raise BoardError(f"cannot open the board {label}: {err}", code="board_open_failed", file=label,
                             reason=str(err)) from None
        except sqlite3.DatabaseError as err:  # "file is not a database" and the like
            raise BoardError(f"{label} is not a class board (not an SQLite database: {err}); it was left as it is",
                             code="board_file_foreign", file=label) from None
        app_id, version, _ = header
        if app_id != APPLICATION_ID:
            raise BoardError(f"{label} is an SQLite database but not a class board; it was left as it is",
                             code="board_file_foreign", file=label)
        if version != SCHEMA_VERSION:
            newer = version > SCHEMA_VERSION
            raise BoardError(f"{label} is a class board of schema version {version}; this version of the app reads "
                             f"version {SCHEMA_VERSION}" + (" (update the app)" if newer else "") +
                             "; it was left as it is", code="board_schema_newer" if newer else "board_schema_older",
                             file=label, version=version, supported=SCHEMA_VERSION)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _write(self):
        """One write transaction holding the file's write lock from its start; bumps the revision; commits or rolls
        back. SQLite's own failures (busy past the timeout, disk full) become BoardError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise _storage_error(err, self.path.name) from None
            try:
                yield self._conn
                self._conn.execute("UPDATE revision SET value = value + 1")
                self._conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise _storage_error(err, self.path.name) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _read(self, sql: str, params: tuple = ()) -> list:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise _storage_error(err, self.path.name) from None

    # ------------------------------------------------------------------ posting

    def post(self, owner: str, name: str, run: RunRecord, weights: bytes | None = None) -> int:
        """Post `run` under the display `name` for the visitor `owner` (an opaque id, never shown); its id.

        Checked first (nothing is written when a check fails): the name (`check_name`), the record
        (`checked_record`), the weights when given (at most MAX_WEIGHT_BYTES, a usable checkpoint of the run's model).
        Then, inside the write transaction, from the database: at most MAX_POSTS_PER_MINUTE posts of this owner in
        the last minute (`board_rate_limited`, with the seconds to wait), at most MAX_POSTS in the class
        (`board_full`). Older posts beyond the newest MAX_WEIGHTS_KEPT lose their weights.
        """
        if not isinstance(owner, str) or not 0 < len(owner) <= MAX_OWNER:
            raise BoardError("a post needs the poster's id", code="board_owner")
        name = check_name(name)
        run = checked_record(run)
        if weights is not None:
            model = unpack(weights, "the posted model").meta.get("model")
            if model != run.model:
                raise BoardError(f"the posted weights are a {model!r} model, the run trained {run.model!r}",
                                 code="board_weights_mismatch", weights_model=repr(model), run_model=repr(run.model))
        curve = json.dumps(run.curve, separators=(",", ":"))
        with self._write() as conn:
            now = self.clock()
            recent = [t for (t,) in conn.execute(
                "SELECT posted_at FROM posts WHERE class_name = ? AND owner = ? AND posted_at > ? ORDER BY posted_at",
                (self.class_name, owner, now - RATE_WINDOW_S))]
            if len(recent) >= MAX_POSTS_PER_MINUTE:
                wait = max(1, int(recent[-MAX_POSTS_PER_MINUTE] + RATE_WINDOW_S - now + 0.999))
                raise BoardError(f"{MAX_POSTS_PER_MINUTE} posts a minute at most; try again in {wait} s",
                                 code="board_rate_limited", limit=MAX_POSTS_PER_MINUTE, seconds=wait)
            (count,) = conn.execute("SELECT COUNT(*) FROM posts WHERE class_name = ?", (self.class_name,)).fetchone()
            if count >= MAX_POSTS:
                raise BoardError(f"the board is full ({MAX_POSTS} posts); the teacher can export and clear it",
                                 code="board_full", limit=MAX_POSTS)
            values = [getattr(run, key) for key in (*SETTINGS, *FIGURES)]
            cursor = conn.execute(
                f"INSERT INTO posts (class_name, name, owner, posted_at, {', '.join((*SETTINGS, *FIGURES))}, curve) "
                f"VALUES ({', '.join('?' * (5 + len(values)))})", (self.class_name, name, owner, now, *values, curve))
            post_id = cursor.lastrowid
            if weights is not None:
                conn.execute("INSERT INTO weights (post_id, data) VALUES (?, ?)", (post_id, bytes(weights)))
                conn.execute("DELETE FROM weights WHERE post_id NOT IN "
                             "(SELECT post_id FROM weights ORDER BY post_id DESC LIMIT ?)", (MAX_WEIGHTS_KEPT,))
        return post_id

    # ------------------------------------------------------------------ reading

    def rows(self, sort: str = "accuracy", descending: bool = True, owner: str | None = None) -> list[Post]:
        """Every post of the class, sorted by `sort` (a key of SORTS; equal ones oldest first), `mine` set for
        `owner`'s. BoardError (`board_sort`) for a column that is not in SORTS."""
        if sort not in SORTS:
            raise BoardError(f"cannot sort by {str(sort)[:40]!r}; choose one of {', '.join(SORTS)}",
                             code="board_sort", column=repr(str(sort)[:40]), options=", ".join(SORTS))
        order = f"{SORTS[sort]} {'DESC' if descending else 'ASC'}, id ASC"
        return [_post(row) for row in self._read(f"{_SELECT} ORDER BY {order}", (owner, self.class_name))]

    def get(self, post_id: int, owner: str | None = None) -> Post | None:
        found = self._read(f"{_SELECT} AND id = ?", (owner, self.class_name, _id(post_id)))
        return _post(found[0]) if found else None

    def curves(self, ids) -> dict[int, list[tuple[int, float]]]:
        """{id: [(images seen, accuracy %), ...]} for those of `ids` that are posts of this class."""
        wanted = sorted({_id(i) for i in ids})
        if not wanted:
            return {}
        if len(wanted) > MAX_POSTS:  # more than a board holds: not a page's choice (and SQLite bounds a query's values)
            raise BoardError(f"{len(wanted)} posts asked for; a board holds at most {MAX_POSTS}",
                             code="board_too_many_ids", count=len(wanted), limit=MAX_POSTS)
        marks = ", ".join("?" * len(wanted))
        rows = self._read(f"SELECT id, curve FROM posts WHERE class_name = ? AND id IN ({marks})",
                          (self.class_name, *wanted))
        return {post_id: [(int(s), float(a)) for s, a in json.loads(curve)] for post_id, curve in rows}

    def model(self, post_id: int) -> Checkpoint:
        """The model of a post, after a checkpoint file's checks; BoardError when there is no such post
        (`board_no_post`) or its weights were not kept (`board_no_weights`), CheckpointError when they fail a check."""
        post_id = _id(post_id)
        found = self._read("SELECT p.id, w.data FROM posts p LEFT JOIN weights w ON w.post_id = p.id "
                           "WHERE p.class_name = ? AND p.id = ?", (self.class_name, post_id))
        if not found:
            raise BoardError(f"post {post_id} is not on the board", code="board_no_post", post=post_id)
        if found[0][1] is None:
            raise BoardError(f"post {post_id}'s model is no longer kept (only the newest {MAX_WEIGHTS_KEPT} posts "
                             "keep theirs)", code="board_no_weights", post=post_id, kept=MAX_WEIGHTS_KEPT)
        checkpoint = unpack(found[0][1], f"board post {post_id}")
        checkpoint.name = f"board-{post_id}"
        return checkpoint

    def count(self) -> int:
        return self._read("SELECT COUNT(*) FROM posts WHERE class_name = ?", (self.class_name,))[0][0]

    def revision(self) -> int:
        """A number that changes whenever anything is written to the file, by this process or another."""
        return self._read("SELECT value FROM revision")[0][0]

    # ------------------------------------------------------------------ the teacher's

    def remove(self, post_id: int) -> bool:
        """Remove one post and its weights (the teacher's); False when it was not on the board."""
        post_id = _id(post_id)
        with self._write() as conn:
            conn.execute("DELETE FROM weights WHERE post_id IN (SELECT id FROM posts WHERE class_name = ? AND id = ?)",
                         (self.class_name, post_id))
            return conn.execute("DELETE FROM posts WHERE class_name = ? AND id = ?",
                                (self.class_name, post_id)).rowcount > 0

    def clear(self) -> int:
        """Remove every post of the class (the teacher's); how many there were. The space goes back to the disk."""
        with self._write() as conn:
            conn.execute("DELETE FROM weights WHERE post_id IN (SELECT id FROM posts WHERE class_name = ?)",
                         (self.class_name,))
            removed = conn.execute("DELETE FROM posts WHERE class_name = ?", (self.class_name,)).rowcount
            # Python's sqlite3 steps a pragma that returns no columns once, and each step frees one page
            for _ in range(conn.execute("PRAGMA freelist_count").fetchone()[0]):
                conn.execute("PRAGMA incremental_vacuum")
        self._read("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks when the log is copied in (best effort)
        return removed

    def export_csv(self) -> str:
        """The class's posts, oldest first, as CSV text (the teacher's): CSV_COLUMNS, times in UTC, no owner ids;
        a cell that a spreadsheet would take for a formula starts with '."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for post in self.rows(sort="id", descending=False):
            when = dt.datetime.fromtimestamp(post.posted_at, dt.timezone.utc).isoformat(timespec="seconds")
            values = [post.id, self.class_name, post.name, when, *(getattr(post, k) for k in (*SETTINGS, *FIGURES)),
                      post.has_weights]
            writer.writerow([_cell(v) for v in values])
        return out.getvalue()


def _header(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application id, schema version, number of schema objects) of an open database."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    objects = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    return app_id, version, objects


def _id(value) -> int:
    """A post id from a page (an int or its digits), or BoardError; never more digits than SQLite's integers hold."""
    text = str(value).strip()
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not text.isascii() or not text.isdigit() \
            or len(text) > 18:
        raise BoardError(f"{str(value)[:40]!r} is not a post id", code="board_post_id", value=repr(str(value)[:40]))
    return int(text)


def _storage_error(err: sqlite3.Error, label: str) -> BoardError:
    busy = "locked" in str(err) or "busy" in str(err)
    return BoardError(f"the board {label} is busy; try again in a moment" if busy else
                      f"the board {label} could not be written or read: {err}",
                      code="board_busy" if busy else "board_storage", file=label, reason=str(err))
