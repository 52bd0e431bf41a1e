"""A visit in real Chromium to see where the model goes wrong and what it looks at: the Mistakes tab with the
shipped model (the matrix, a clicked cell's images, a chosen pair's), then a digit drawn on the Draw tab and its
look inside, gone again after Clear; the same two tabs on a phone. Screenshots in test-output/journeys/.

Skipped without Chromium, except under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect  # a dev requirement

from tests.support.app_server import Server, app_with_default_model
from tests.support.browser import (
    DESKTOP,
    PHONE,
    Finger,
    draw_with_mouse,
    expect_blank,
    expect_digit,
    horizontal_overflow,
    open_page,
    open_tab,
    reachable_by_tab,
    shot,
    unnamed_controls,
)

FIRST_PASS_S = 60  # one pass over the test set with the shipped model: 2-7 s on this 2-core CPU, more when busy


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Server:
    server = app_with_default_model(tmp_path_factory)
    yield server
    server.stop()


def matrix_cell(page, true: int, read: int):
    """The matrix's cell for (true digit, read as): row `true`, column `read` after the row-label column."""
    return page.locator(f'#mistakes-matrix [data-testid="cell-{true}-{read + 1}"]')


def choose(page, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input").first
    field.click()
    page.locator("ul[role='listbox'] li", has_text=value).first.click()


def expect_images_shown(page, selector: str, count: int) -> None:
    """`count` images under `selector`, each loaded and decoded (scrolled to first: Gradio loads them lazily)."""
    expect(page.locator(f"{selector} img")).to_have_count(count, timeout=15000)
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_function("(s) => Array.from(document.querySelectorAll(s + ' img'))"
                           ".every((i) => i.complete && i.naturalWidth > 0)", arg=selector, timeout=15000)


def open_mistakes(page) -> None:
    open_tab(page, "Mistakes")
    expect(page.locator("#mistakes-status")).to_contain_text("test images right", timeout=FIRST_PASS_S * 1000)
    expect(page.locator("#mistakes-status")).to_contain_text("default (shipped)")
    expect(page.locator('#mistakes-matrix [role="gridcell"]')).to_have_count(110)
    expect_images_shown(page, "#mistakes-worst", 24)
    page.locator("#mistakes-matrix").scroll_into_view_if_needed()


def test_see_the_mistakes_click_a_cell_then_look_inside_a_drawing(chromium, app):
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        open_mistakes(page)
        shot(page, "m1-mistakes")
        # the matrix, as a person reads it: row 1 is the digit 1, with its count of right answers on the diagonal
        diagonal = int(matrix_cell(page, 1, 1).inner_text().strip())
        assert 1100 <= diagonal <= 1135
        # click a mistake's cell: its images appear with their captions
        target = next((t, r) for t, r in ((9, 4), (5, 3), (2, 7), (6, 1), (7, 1))
                      if int(matrix_cell(page, t, r).inner_text().strip()) > 0)
        count = int(matrix_cell(page, *target).inner_text().strip())
        matrix_cell(page, *target).click()
        title = page.locator("#mistakes-cell-title")
        expect(title).to_contain_text(f"of a {target[0]} read as {target[1]}", timeout=15000)
        expect_images_shown(page, "#mistakes-cell", min(count, 40))
        expect(page.locator("#mistakes-true input")).to_have_value(str(target[0]))
        shot(page, "m2-clicked-cell")
        # or choose the pair with the two dropdowns
        choose(page, "mistakes-true", "3")
        choose(page, "mistakes-read-as", "3")
        expect(title).to_contain_text("of a 3 read right", timeout=15000)
        expect_images_shown(page, "#mistakes-cell", 40)
        shot(page, "m3-chosen-pair")
        # a digit on the Draw tab, and what the model makes of it
        open_tab(page, "Draw")
        expect(page.locator("#inside-saliency img")).to_have_count(0)
        draw_with_mouse(page, 7, box=(0.2, 0.1, 0.6, 0.8))
        expect_digit(page, 7)
        expect_images_shown(page, "#inside-saliency", 1)
        expect_images_shown(page, "#inside-features", 8)
        expect(page.locator("#inside-summary")).to_contain_text("reads **7**".replace("**", ""))
        page.locator("#draw-inside").scroll_into_view_if_needed()
        shot(page, "m4-look-inside")
        page.locator("#draw-clear").click()
        expect_blank(page)
        expect(page.locator("#inside-saliency img")).to_have_count(0, timeout=15000)
        expect(page.locator("#inside-features img")).to_have_count(0)
        expect(page.locator("#inside-summary")).to_contain_text("Draw a digit")
        shot(page, "m5-cleared")
    finally:
        context.close()


def test_phone_both_tabs_fit(chromium, app):
    context = chromium.new_context(**PHONE)
    try:
        page = open_page(context, app.url)
        assert page.locator("#tabs button[aria-label='More tabs']").is_hidden(), "tabs hidden behind a menu"
        open_mistakes(page)
        assert horizontal_overflow(page) == 0, "the Mistakes tab scrolls sideways"
        shot(page, "m6-phone-mistakes")
        open_tab(page, "Draw")
        page.locator("#draw-pad").scroll_into_view_if_needed()
        Finger(page).draw(4, (0.25, 0.2, 0.5, 0.6))
        expect_digit(page, 4)
        expect_images_shown(page, "#inside-saliency", 1)
        expect_images_shown(page, "#inside-features", 8)
        assert horizontal_overflow(page) == 0, "the Draw tab scrolls sideways"
        shot(page, "m7-phone-draw")
    finally:
        context.close()


def test_keyboard_reaches_the_mistakes_controls_and_each_has_a_name(chromium, app):
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        open_mistakes(page)
        targets = {"model": "#mistakes-model input", "true digit": "#mistakes-true input",
                   "read as": "#mistakes-read-as input", "matrix": '#mistakes-matrix [role="gridcell"][tabindex="0"]'}
        for key, selector in targets.items():
            page.locator(selector).first.evaluate("(e, key) => { e.dataset.journeyKey = key; }", key)
        seen = reachable_by_tab(page, presses=80)
        assert set(targets) <= seen, f"Tab never reaches {set(targets) - seen}"
        assert not unnamed_controls(page), f"controls without a name: {unnamed_controls(page)}"
        open_tab(page, "Draw")
        assert not unnamed_controls(page), f"Draw tab, controls without a name: {unnamed_controls(page)}"
    finally:
        context.close()
