"""A Korean visit in real Chromium: a browser set to Korean opens the app in Korean on every tab, trains,
draws, switches to English (and a reload keeps it), and back; the same on a phone. Screenshots in
test-output/journeys/ (korean-*).

"In Korean" is checked against the locale files themselves: the page shows the Korean text of the labels we
look at, and none of the English texts whose Korean differs is visible anywhere on a tab.

Skipped without Chromium, except under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect  # a dev requirement

from mnist_demo.texts import TEXTS, placeholders
from tests.support.app_server import Server, app_with_default_model
from tests.support.browser import (
    DESKTOP,
    PHONE,
    Finger,
    draw_with_mouse,
    expect_digit,
    horizontal_overflow,
    open_page,
    open_tab,
    set_number,
    shot,
)

EN, KO = TEXTS["en"], TEXTS["ko"]
TABS = ["app.tab_train", "app.tab_draw", "app.tab_mistakes", "app.tab_bench", "app.tab_board", "app.tab_checkpoints"]
TRAIN_S = 240
HANGUL = re.compile("[\uac00-\ud7a3]")
# What a person reads as a field's name or a button: labels, info lines, buttons, tab names, accordion titles.
LABELS = ('[data-testid="block-info"], [data-testid="block-label"], button:visible, [role="tab"], '
          '.label-wrap span, label span')
# English texts that have their own Korean: seeing one of these on a Korean page means it was left untranslated.
ENGLISH_ONLY = {text.strip() for key, text in EN.items() if KO.get(key, text) != text and not placeholders(text)
                and len(text) >= 4 and "\n" not in text and not key.startswith("language.")}


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Server:
    server = app_with_default_model(tmp_path_factory, "--max-epochs", "3")
    yield server
    server.stop()


def korean(viewport: dict) -> dict:
    return {**viewport, "locale": "ko-KR"}


def visible_labels(page) -> set[str]:
    texts = page.locator(LABELS).all_inner_texts()
    return {text.strip() for text in texts if text.strip()}


def expect_tab_in_korean(page, key: str) -> None:
    """The tab `key` is open and shows Korean: its name, Hangul in its labels, no English text that has Korean."""
    open_tab(page, KO[key])
    page.wait_for_timeout(500)
    labels = visible_labels(page)
    leaked = sorted(labels & ENGLISH_ONLY)
    assert leaked == [], f"{EN[key]} tab shows English: {leaked}"
    assert sum(bool(HANGUL.search(text)) for text in labels) >= 5, f"{EN[key]} tab: {sorted(labels)[:20]}"


def test_a_korean_browser_gets_every_tab_in_korean_trains_and_draws(chromium, app):
    context = chromium.new_context(**korean(DESKTOP))
    page = open_page(context, app.url)
    for key in TABS:
        expect(page.get_by_role("tab", name=KO[key], exact=True)).to_be_visible()
    expect(page.locator("#app-title")).to_contain_text(KO["app.title"])
    expect(page.locator("#language input[value='ko']")).to_be_checked()
    for key in TABS:
        expect_tab_in_korean(page, key)
        if key == "app.tab_mistakes":  # the shipped model's matrix, in Korean around it
            expect(page.locator('#mistakes-matrix [role="gridcell"]')).to_have_count(110, timeout=60000)
            expect(page.locator("#mistakes-status")).to_contain_text(re.compile("[\uac00-\ud7a3]"), timeout=60000)
        shot(page, f"korean-{key.split('_', 1)[1]}")

    # Train: a short run; the status speaks Korean, the log keeps the tutorial's own lines.
    open_tab(page, KO["app.tab_train"])
    set_number(page, "train-epochs", 1)
    if not page.locator("#train-limit input").first.is_visible():
        page.locator("#train-more").click()
    set_number(page, "train-limit", 6000)
    page.locator("#train-button").click()
    log = page.locator("#train-log textarea")
    expect(log).to_have_value(re.compile(r"Test Error: \n Accuracy: "), timeout=TRAIN_S * 1000)
    expect(page.locator("#train-status")).to_contain_text(re.compile(r"\d+\.\d+ ?%"), timeout=30000)
    assert HANGUL.search(page.locator("#train-status").inner_text())
    assert re.search(r"loss: +\d", log.input_value())
    shot(page, "korean-trained")

    # Draw: the digits are read, the messages are Korean.
    open_tab(page, KO["app.tab_draw"])
    expect(page.locator("#draw-label")).to_contain_text(KO["draw.blank"], timeout=20000)
    draw_with_mouse(page, 3)
    expect(page.locator('#draw-label [data-testid="label-output-value"]')).to_have_text(re.compile(r"^\d$"),
                                                                                        timeout=20000)
    assert HANGUL.search(page.locator("#draw-message").inner_text())
    shot(page, "korean-draw", full_page=False)
    page.locator("#draw-clear").click()
    expect(page.locator("#draw-label")).to_contain_text(KO["draw.blank"], timeout=20000)
    page.locator("#draw-model input").first.click()  # the shipped model reads a drawn 7
    page.locator("ul[role='listbox'] li").filter(has_text="default").first.click()
    draw_with_mouse(page, 7, box=(0.2, 0.1, 0.6, 0.8))
    expect_digit(page, 7)

    # The switch: English at once, kept over a reload, and back.
    page.get_by_label("English", exact=True).check()
    for key in TABS:
        expect(page.get_by_role("tab", name=EN[key], exact=True)).to_be_visible(timeout=10000)
    expect(page.locator("#app-title")).to_contain_text(EN["app.title"])
    open_tab(page, EN["app.tab_train"])
    expect(page.locator("#train-button")).to_have_text(re.compile(r"[A-Za-z]"))
    assert not any(HANGUL.search(text) for text in visible_labels(page) if text != "한국어")
    page.reload()
    page.wait_for_selector("#train-button", timeout=30000)
    for key in TABS:
        expect(page.get_by_role("tab", name=EN[key], exact=True)).to_be_visible(timeout=10000)
    expect(page.locator("#language input[value='en']")).to_be_checked()
    shot(page, "korean-switched-to-english", full_page=False)
    page.get_by_label("한국어", exact=True).check()
    expect(page.get_by_role("tab", name=KO["app.tab_draw"], exact=True)).to_be_visible(timeout=10000)
    expect_tab_in_korean(page, "app.tab_draw")
    context.close()


def test_a_korean_phone_draws_and_nothing_runs_off_the_screen(chromium, app):
    context = chromium.new_context(**korean(PHONE))
    page = open_page(context, app.url)
    for key in TABS:
        expect_tab_in_korean(page, key)
        assert horizontal_overflow(page) <= 1, f"{EN[key]} tab is wider than the phone"
    open_tab(page, KO["app.tab_draw"])
    page.locator("#draw-pad").scroll_into_view_if_needed()
    Finger(page).draw(4)
    expect_digit(page, 4)
    shot(page, "korean-phone-draw", full_page=False)
    context.close()
