"""The Class tab in real Chromium, as a class uses it (`demo.py --board-file ... --teacher ... --class-name ...`).

Three visitors train with different learning rates; two post; the third, whose page was open all along, sees the
board fill by itself (the tab's timer), both curves in the plot's legend, highlights one, and draws with a posted
model. The teacher logs in through the Teacher form, removes a post (the others' pages follow by themselves) and
downloads the CSV through the page; the server restarts and the board is still there. Then the tab on a phone (no
sideways scrolling), from the keyboard and for a screen reader, and in Korean. Screenshots go to
test-output/journeys/ (class-*).

Skipped without Chromium, except under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect  # a dev requirement

from mnist_demo.texts import TEXTS
from tests.support.app_server import Server, make_default_checkpoint
from tests.support.browser import (
    DESKTOP,
    PHONE,
    draw_with_mouse,
    horizontal_overflow,
    keyed_controls,
    open_page,
    open_tab,
    reachable_by_tab,
    set_number,
    shot,
    unnamed_controls,
)

EN, KO = TEXTS["en"], TEXTS["ko"]
CLASS = "Room 101"
TEACHER = ("ms-park", "chalk-and-talk-7")
TRAIN_S = 240  # a 3,000-image run takes ~10 s alone, longer while the others wait in line
REFRESH_S = 30  # the timer ticks every 3 s; a tick, its redraw and the plot's rebuild, on a busy 2-core machine
ANSWER_S = 60  # three pages open at once: the pad's export per stroke is slow in software rendering
LRS = {"Minji": "0.003", "Jun": "0.0005", "Third": "0.01"}
HANGUL = re.compile("[\uac00-\ud7a3]")
BEHIND = "#d0d0d0"  # core/board_view.BEHIND: the curves not highlighted, while some are


class ClassServer:
    """The class's demo.py, restartable on the same board file and checkpoint folder."""

    def __init__(self, tmp_path_factory):
        self.checkpoints = tmp_path_factory.mktemp("checkpoints")
        make_default_checkpoint(self.checkpoints)
        self.board = tmp_path_factory.mktemp("board") / "class.sqlite"
        self.tmp = tmp_path_factory.mktemp("server")
        self.server = self._start()

    def _start(self) -> Server:
        return Server(self.tmp, "--checkpoint-dir", str(self.checkpoints), "--board-file", str(self.board),
                      "--class-name", CLASS, "--teacher", ":".join(TEACHER), "--max-trainings", "1",
                      "--queue-size", "4", "--max-epochs", "3")

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> None:
        self.server.stop()
        self.server = self._start()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    served = ClassServer(tmp_path_factory)
    yield served
    served.server.stop()


def train(page, lr: str, limit: str = "3000") -> None:
    open_tab(page, "Train")
    page.wait_for_timeout(1000)  # the page's opening events settle first (three pages open at once)
    set_number(page, "train-lr", lr)
    set_number(page, "train-epochs", "1")
    if not page.locator("#train-limit input").first.is_visible():
        page.locator("#train-more").click()
    set_number(page, "train-limit", limit)
    page.locator("#train-button").click()


def wait_trained(page) -> None:
    expect(page.locator("#train-status")).to_contain_text("Test accuracy", timeout=TRAIN_S * 1000)


def post(page, name: str) -> int:
    """Post the visitor's latest run under `name` through the form; the post's number."""
    open_tab(page, "Class")
    expect(page.locator("#board-run input")).to_have_value(re.compile(r"^run \d"), timeout=15000)
    page.locator("#board-name input, #board-name textarea").first.fill(name)
    page.locator("#board-post").click()
    status = page.locator("#board-post-status")
    expect(status).to_contain_text("Posted as", timeout=20000)
    return int(re.search(r"#(\d+)", status.inner_text()).group(1))


def legend(page) -> list[str]:
    return page.locator("#board-curves svg g.role-legend-label text").all_text_contents()


def expect_legend(page, names: set[str], axis: str = "training images seen") -> None:
    """The plot's legend names exactly these curves, under axis titles in words (never translation markers)."""
    expect(page.locator("#board-curves svg g.role-legend-label text")).to_have_count(len(names),
                                                                                    timeout=REFRESH_S * 1000)
    assert set(legend(page)) == names, legend(page)
    expect(page.locator("#board-curves svg")).to_contain_text(axis)
    expect(page.locator("#board-curves svg")).not_to_contain_text("translation_metadata")


def pick(page, elem_id: str, option: re.Pattern) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).click()


def line_colours(page) -> list[str]:
    return [p.get_attribute("stroke") for p in page.locator("#board-curves svg g.mark-line path").all()]


# --------------------------------------------------------------------------- the class

def test_three_train_two_post_the_third_sees_both_by_itself_and_draws_the_teacher_removes_and_exports(
        chromium, app, tmp_path):
    contexts = {name: chromium.new_context(**DESKTOP, accept_downloads=True) for name in LRS}
    try:
        pages = {name: open_page(context, app.url) for name, context in contexts.items()}
        minji, jun, third = pages["Minji"], pages["Jun"], pages["Third"]
        for name, page in pages.items():  # one training at a time: the others wait in line
            train(page, LRS[name])
        open_tab(third, "Class")  # open before anything is posted, and left alone from here on
        expect(third.locator("#board-heading")).to_have_text(CLASS)
        expect(third.locator("#board-summary")).to_contain_text(f"No run is posted to {CLASS} yet")
        shot(third, "class-1-empty")
        for page in pages.values():
            wait_trained(page)
        # the third's run ended while the Class tab was open: its run picker lists it by itself (the timer)
        expect(third.locator("#board-run input")).to_have_value(re.compile(r"^run 1"), timeout=REFRESH_S * 1000)

        first = post(minji, "Minji")
        expect(third.locator("#board-summary")).to_contain_text("1 run posted", timeout=REFRESH_S * 1000)
        expect_legend(third, {f"Minji #{first}"})
        second = post(jun, "Jun")
        expect(third.locator("#board-summary")).to_contain_text("2 runs posted", timeout=REFRESH_S * 1000)
        both = {f"Minji #{first}", f"Jun #{second}"}
        expect_legend(third, both)
        assert len(third.locator("#board-curves svg g.mark-line path").all()) == 2
        table = third.locator("#board-table")
        for name, lr in (("Minji", LRS["Minji"]), ("Jun", LRS["Jun"])):
            expect(table).to_contain_text(name)
            expect(table).to_contain_text(lr)
        best = third.locator("#board-best")
        expect(best).to_contain_text("Best so far by learning rate")
        expect(best).to_contain_text(f"Minji #{first}")
        expect(best).to_contain_text(f"Jun #{second}")
        shot(third, "class-2-two-posted")

        pick(third, "board-highlight", re.compile(f"^#{second} Jun"))  # Jun's curve on top, Minji's behind
        expect(third.locator("#board-highlight")).to_contain_text(f"#{second} Jun", timeout=10000)
        third.keyboard.press("Escape")
        third.wait_for_timeout(1500)
        colours = line_colours(third)
        assert sorted(c == BEHIND for c in colours) == [False, True], colours
        expect_legend(third, both)
        third.wait_for_timeout(4000)  # a tick later the choice is still there
        expect(third.locator("#board-highlight")).to_contain_text(f"#{second} Jun")
        shot(third, "class-3-highlighted")

        pick(third, "board-use-post", re.compile(f"^#{second} Jun"))
        third.locator("#board-use-button").click()
        expect(third.locator("#board-use-status")).to_contain_text(f"Jun #{second}'s model is now your current model",
                                                                    timeout=20000)
        open_tab(third, "Draw")
        expect(third.locator("#draw-model input")).to_have_value(re.compile(f"class board: Jun #{second}"),
                                                                 timeout=15000)
        draw_with_mouse(third, 7, box=(0.2, 0.1, 0.6, 0.8))
        expect(third.locator('#draw-label [data-testid="label-output-value"]')).to_have_text(re.compile(r"^\d$"),
                                                                                           timeout=ANSWER_S * 1000)
        expect(third.locator("#draw-message")).to_contain_text("your current model")
        shot(third, "class-4-draw-with-posted", full_page=False)

        # the teacher, at the third's desk: a wrong password first, then the right one
        open_tab(third, "Class")
        third.locator("#board-teacher").get_by_role("button", name="Teacher").click()
        third.locator("#board-teacher-user input, #board-teacher-user textarea").first.fill(TEACHER[0])
        third.locator("#board-teacher-password input").fill("guess")
        third.locator("#board-teacher-login").click()
        expect(third.locator("#board-teacher-status")).to_contain_text("Wrong name or password", timeout=10000)
        third.locator("#board-teacher-password input").fill(TEACHER[1])
        third.locator("#board-teacher-password input").press("Enter")
        expect(third.locator("#board-teacher-status")).to_contain_text("You are the teacher", timeout=10000)
        pick(third, "board-remove-post", re.compile(f"^#{first} Minji"))
        third.locator("#board-remove-button").click()
        expect(third.locator("#board-teacher-status")).to_contain_text(f"Removed post #{first}", timeout=10000)
        expect(third.locator("#board-remove-post input")).to_have_value("")  # the removed post left the picker
        expect(third.locator("#board-table")).not_to_contain_text("Minji", timeout=10000)
        expect_legend(third, {f"Jun #{second}"})
        open_tab(minji, "Class")  # the others' pages follow by themselves
        expect(minji.locator("#board-summary")).to_contain_text("1 run posted", timeout=REFRESH_S * 1000)
        expect(minji.locator("#board-table")).not_to_contain_text("Minji")

        third.locator("#board-export").click()
        expect(third.locator("#board-teacher-status")).to_contain_text("The board as CSV (1 post)", timeout=10000)
        with third.expect_download() as download:
            third.locator("#board-export-file a").first.click()
        assert download.value.suggested_filename == "Room-101.csv"
        saved = tmp_path / "board.csv"
        download.value.save_as(saved)
        with open(saved, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [(int(r["id"]), r["class"], r["name"], r["lr"]) for r in rows] == [(second, CLASS, "Jun", LRS["Jun"])]
        assert "Jun" in third.locator("#board-table").inner_text()
        shot(third, "class-5-teacher")

        # the teacher's things are the teacher's: Minji's page cannot remove or export
        minji.locator("#board-teacher").get_by_role("button", name="Teacher").click()
        minji.locator("#board-export").click()
        expect(minji.locator("#board-teacher-status")).to_contain_text("Only the teacher can do that", timeout=10000)
        expect(minji.locator("#board-export-file a")).to_have_count(0)
    finally:
        for context in contexts.values():
            context.close()

    app.restart()
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        open_tab(page, "Class")
        expect(page.locator("#board-summary")).to_contain_text("1 run posted", timeout=REFRESH_S * 1000)
        expect(page.locator("#board-table")).to_contain_text("Jun")
        expect_legend(page, {f"Jun #{second}"})
        shot(page, "class-6-after-restart")
    finally:
        context.close()


# --------------------------------------------------------------------------- phone, keyboard, Korean

def test_the_board_is_asked_for_only_while_the_class_tab_is_shown(chromium, app):
    """The timer ticks on the Class tab only: a page that has left it sends nothing every few seconds, and does not
    receive the whole board after every post."""
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        calls = []
        page.on("request", lambda r: calls.append(r.url) if r.method == "POST" and "/queue/join" in r.url else None)

        def calls_over(seconds: float) -> int:
            calls.clear()
            page.wait_for_timeout(seconds * 1000)
            return len(calls)

        page.wait_for_timeout(2000)  # the page's opening events
        assert calls_over(3 * 3.0 + 1) == 0, "the Train tab's page asks the server every few seconds"
        open_tab(page, "Class")
        assert calls_over(3 * 3.0 + 1) >= 2, "the open Class tab does not ask for the board"
        open_tab(page, "Draw")
        page.wait_for_timeout(1000)  # a tick already on its way
        assert calls_over(3 * 3.0 + 1) == 0, "the board is still asked for after leaving the Class tab"
    finally:
        context.close()


def test_the_class_tab_on_a_phone_fits_the_screen(chromium, app):
    context = chromium.new_context(**PHONE)
    try:
        page = open_page(context, app.url)
        open_tab(page, "Class")
        expect(page.locator("#board-summary")).to_contain_text("posted", timeout=REFRESH_S * 1000)
        expect(page.locator("#board-curves svg g.role-legend-label text").first).to_be_visible(
            timeout=REFRESH_S * 1000)
        expect(page.locator("#board-curves svg")).to_contain_text("training images seen")
        expect(page.locator("#board-curves svg")).not_to_contain_text("translation_metadata")
        assert horizontal_overflow(page) == 0, "the Class tab scrolls sideways"
        width = page.viewport_size["width"]
        for selector in ("#board-name", "#board-post", "#board-table", "#board-curves", "#board-best",
                         "#board-use-post", "#board-teacher"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (selector, box)
        shot(page, "class-phone")
        page.locator("#board-curves").scroll_into_view_if_needed()
        shot(page, "class-phone-curves", full_page=False)
        page.locator("#board-post").tap()
        expect(page.locator("#board-post-status")).to_contain_text("Train a run first", timeout=10000)
    finally:
        context.close()


def test_every_control_of_the_class_tab_is_reached_by_keyboard_and_named(chromium, app):
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        open_tab(page, "Class")
        page.locator("#board-teacher").get_by_role("button", name="Teacher").click()  # its controls too
        expect(page.locator("#board-teacher-login")).to_be_visible()
        keys = keyed_controls(page)
        assert len(keys) >= 20, keys
        seen = reachable_by_tab(page, presses=len(keys) + 40)
        missed = [k for k in keys if k.split(" ", 1)[0] not in seen]
        assert not missed, f"Tab never reaches {missed}"
        assert not unnamed_controls(page), f"controls without a name: {unnamed_controls(page)}"
        name = page.locator("#board-name input, #board-name textarea").first
        name.focus()
        name.fill("Key Board")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")  # the run picker, then Post
        assert page.evaluate("document.activeElement.id") == "board-post"
        page.keyboard.press("Enter")  # Post from the keyboard: this visitor has no run
        expect(page.locator("#board-post-status")).to_contain_text("Train a run first", timeout=10000)
        shot(page, "class-keyboard")
    finally:
        context.close()


def test_the_class_tab_in_korean(chromium, app):
    context = chromium.new_context(**{**DESKTOP, "locale": "ko-KR"})
    try:
        page = open_page(context, app.url)
        open_tab(page, KO["app.tab_board"])
        expect(page.locator("#board-summary")).to_contain_text("학습", timeout=REFRESH_S * 1000)
        for key in ("board.post_button", "board.use_button", "board.name_label", "board.table_label",
                    "board.curves_label", "board.highlight_label"):
            expect(page.locator("#tab-board")).to_contain_text(KO[key])
        for english in ("board.post_button", "board.summary_empty", "board.table_label"):
            expect(page.locator("#tab-board")).not_to_contain_text(EN[english].split("{")[0].strip())
        header = page.locator("#board-table thead").inner_text()
        assert KO["board.col_name"] in header and KO["board.col_accuracy"] in header, header
        expect(page.locator("#board-best")).to_contain_text(KO["board.family_lr"])
        expect(page.locator("#board-curves")).to_contain_text(KO["board.legend"], timeout=REFRESH_S * 1000)
        expect(page.locator("#board-curves svg")).to_contain_text(KO["curves.x_samples_title"])
        page.locator("#board-post").click()
        expect(page.locator("#board-post-status")).to_contain_text(KO["board.no_run"].split(":")[0], timeout=10000)
        assert HANGUL.search(page.locator("#board-summary").inner_text())
        shot(page, "class-korean")
        page.get_by_label("English", exact=True).check()  # the switch redraws the board in English
        expect(page.locator("#board-summary")).to_contain_text("posted to", timeout=10000)
        expect(page.locator("#board-curves")).to_contain_text(EN["board.legend"], timeout=REFRESH_S * 1000)
    finally:
        context.close()
