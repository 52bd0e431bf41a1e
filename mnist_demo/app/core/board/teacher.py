"""Who is the teacher (no gradio): the one who may remove posts from the class board, clear it and export it.

`demo.py --teacher USER:PASS` names the account. A visitor becomes the teacher on their page by typing it in the
Class tab (compared in constant time), or by logging in to the whole app as that user when the app has `--auth`
accounts too. Since the link may be public, wrong tries are bounded, counted over the last LOCK_WINDOW_S: a page
(one caller) that made MAX_FAILURES wrong tries is refused until its window has passed, so a student who guesses
locks out only their own page; and after MAX_ALL_FAILURES wrong tries from anyone every try is refused until the
window has passed, so a guesser who opens page after page still gets only a few dozen tries a minute (the teacher,
then, waits a minute, or logs in through `--auth`).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

MAX_FAILURES = 5  # one page's wrong tries a window: more than a teacher's typos
MAX_ALL_FAILURES = 30  # everyone's: a few dozen guesses a minute leave a password of 8 letters safe for years
LOCK_WINDOW_S = 60.0


class TeacherGate:
    """The teacher's account and the count of recent wrong tries; thread-safe."""

    def __init__(self, account: tuple[str, str] | None, clock=time.monotonic):
        self.account = account
        self.clock = clock
        self._failures: deque[tuple[float, str]] = deque()  # (when, who) of recent wrong tries
        self._lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return self.account is not None

    def is_teacher_login(self, username: str | None) -> bool:
        """Whether the app's own login (`--auth`) was the teacher's account."""
        return self.account is not None and username is not None and hmac.compare_digest(
            str(username).encode(), self.account[0].encode())

    def check(self, user, password, caller: str = "") -> str:
        """"ok", "wrong", "locked" (too many wrong tries lately, from this `caller` or from everyone) or "none" (this
        server has no teacher). While locked even the right password is refused: no oracle for a guesser."""
        if self.account is None:
            return "none"
        with self._lock:
            now = self.clock()
            while self._failures and now - self._failures[0][0] > LOCK_WINDOW_S:
                self._failures.popleft()
            mine = sum(1 for _, who in self._failures if who == caller)
            if mine >= MAX_FAILURES or len(self._failures) >= MAX_ALL_FAILURES:
                return "locked"
            user_ok = hmac.compare_digest(str(user or "").encode(), self.account[0].encode())
            password_ok = hmac.compare_digest(str(password or "").encode(), self.account[1].encode())
            if user_ok and password_ok:
                return "ok"
            self._failures.append((now, caller))
            return "wrong"
