"""Who is the teacher (`core/board/teacher.py`): the account's check, the bound on wrong tries, and the app's own
login."""

from mnist_demo.app.core.board.teacher import LOCK_WINDOW_S, MAX_ALL_FAILURES, MAX_FAILURES, TeacherGate


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_account_and_nothing_else_is_the_teacher():
    gate = TeacherGate(("ms-park", "chalk-42"))
    assert gate.check("ms-park", "chalk-42") == "ok"
    tries = (("ms-park", "chalk-43"), ("ms-par", "chalk-42"), ("", ""), (None, None), ("ms-park ", "chalk-42"),
             ("MS-PARK", "chalk-42"), ("ms-park", "chalk-42\x00"), ("ms-park", "chalk-4"))
    for user, password in tries:
        gate = TeacherGate(("ms-park", "chalk-42"))  # a fresh count each: MAX_FAILURES wrong tries lock it
        assert gate.check(user, password) == "wrong", (user, password)


def test_no_teacher_account_means_no_one_is():
    gate = TeacherGate(None)
    assert gate.check("anyone", "anything") == "none" and not gate.exists
    assert not gate.is_teacher_login("anyone") and not gate.is_teacher_login(None)


def test_wrong_tries_lock_that_page_out_for_a_window_then_the_right_one_works():
    clock = Clock()
    gate = TeacherGate(("teach", "pw"), clock=clock)
    for _ in range(MAX_FAILURES):
        assert gate.check("teach", "guess", "student") == "wrong"
        clock.now += 1
    assert gate.check("teach", "pw", "student") == "locked"  # even the right password: no oracle for a guesser
    assert gate.check("teach", "pw", "teacher") == "ok"  # a student's guesses do not lock the teacher's page out
    first = 1000.0
    clock.now = first + LOCK_WINDOW_S - 0.1
    assert gate.check("teach", "pw", "student") == "locked"
    clock.now = first + LOCK_WINDOW_S + 0.1  # the first wrong try is a window old: one fewer than the bound
    assert gate.check("teach", "pw", "student") == "ok"


def test_a_guesser_opening_page_after_page_is_bounded_for_everyone():
    clock = Clock()
    gate = TeacherGate(("teach", "pw"), clock=clock)
    for page in range(MAX_ALL_FAILURES):
        assert gate.check("teach", "guess", f"page-{page}") == "wrong"
    assert gate.check("teach", "pw", "teacher") == "locked"
    clock.now += LOCK_WINDOW_S + 1
    assert gate.check("teach", "pw", "teacher") == "ok"


def test_the_apps_own_login_of_the_teachers_user_is_the_teacher():
    gate = TeacherGate(("teach", "pw"))
    assert gate.is_teacher_login("teach")
    assert not gate.is_teacher_login("teach2") and not gate.is_teacher_login("") and not gate.is_teacher_login(None)
