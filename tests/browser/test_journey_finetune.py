"""Teaching it your handwriting, in real Chromium: draw, press "Right?", see the collection, fine-tune, draw again,
download the drawings as MNIST files and add them to another visitor's collection.

One server for the module (a private checkpoint folder); the fine-tune is a short one (a few steps) so the
journey stays quick. Screenshots, desktop and phone, go to test-output/journeys/ (finetune-*.png).

Without Chromium (`apt-get install -y chromium`) these are skipped with that reason, except under CI=true.
"""

from __future__ import annotations

import re

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
    headline,
    horizontal_overflow,
    on_screen,
    open_page,
    open_tab,
    set_number,
    shot,
)

FINETUNE_S = 180  # 20 steps and two MNIST test passes take ~10 s alone on 2 cores
# (digit, box on the paper): each drawn twice, in two places and sizes
DRAWINGS = [(1, (0.45, 0.1, 0.3, 0.8)), (7, (0.2, 0.1, 0.6, 0.8)), (1, (0.3, 0.2, 0.25, 0.6)),
            (7, (0.3, 0.15, 0.45, 0.7))]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Server:
    server = app_with_default_model(tmp_path_factory, "--max-trainings", "1")
    yield server
    server.stop()


def expect_kept(page, n: int) -> None:
    """The counter's total (the last cell of its table) and the gallery both say `n` drawings."""
    expect(page.locator("#collect-counter td").last).to_have_text(str(n), timeout=20000)
    expect(page.locator("#collection-gallery .thumbnail-item")).to_have_count(n, timeout=20000)


def answered(page) -> None:
    """The pad's drawing has a prediction (any digit)."""
    expect(headline(page)).to_have_text(re.compile(r"^\d$"), timeout=20000)


def test_draw_keep_fine_tune_draw_again_download_and_upload_on_desktop(chromium, app, tmp_path):
    context = chromium.new_context(**DESKTOP)
    try:
        page = open_page(context, app.url)
        open_tab(page, "Draw")
        expect(page.locator("#collect-counter td").last).to_have_text("0")
        page.locator("#collect-3").click()  # nothing drawn yet: refused, nothing kept
        expect(page.locator("#collect-message")).to_contain_text("The pad is empty")
        for n, (digit, box) in enumerate(DRAWINGS, start=1):
            draw_with_mouse(page, digit, box)
            answered(page)
            page.locator(f"#collect-{digit}").click()
            expect(page.locator("#collect-message")).to_contain_text(f"Kept as a {digit}")
            expect_blank(page)  # the pad is cleared for the next drawing
            expect_kept(page, n)
        captions = page.locator("#collection-gallery .thumbnail-item").all_inner_texts()
        assert [c.strip() for c in captions] == ["7", "1", "7", "1"], captions  # newest first
        shot(page, "finetune-1-collected")

        draw_with_mouse(page, 4)  # one more, kept, then removed from the gallery
        answered(page)
        page.locator("#collect-4").click()
        expect_kept(page, 5)
        page.locator("#collection-gallery .thumbnail-item").first.click()
        expect(page.locator("#collect-message")).to_contain_text("Selected a 4")
        page.locator("#collection-remove").click()
        expect(page.locator("#collect-message")).to_contain_text("Removed a 4")
        expect_kept(page, 4)

        set_number(page, "finetune-steps", 20)
        page.locator("#finetune-button").click()
        status = page.locator("#finetune-status")
        expect(status).to_contain_text("Done", timeout=FINETUNE_S * 1000)
        text = status.inner_text()
        assert re.search(r"Your drawings: \d+\.\d% → \d+\.\d% right", text), text
        assert re.search(r"MNIST test \(10,000 images\): \d\d\.\d\d% → \d\d\.\d\d%", text), text
        expect(page.locator("#draw-model input")).to_have_value(re.compile("fine-tuned"), timeout=15000)
        expect(page.locator("#finetune-button")).to_be_enabled()
        shot(page, "finetune-2-done")

        page.locator("#draw-pad").scroll_into_view_if_needed()
        draw_with_mouse(page, 7)  # the new model reads a fresh drawing
        expect_digit(page, 7)
        expect(page.locator("#draw-message")).to_contain_text("your current model")
        shot(page, "finetune-3-draw-again", full_page=False)

        page.locator("#collection-download").click()
        files = page.locator("#collection-files")
        saved = []
        for name in ("my-drawings-images-idx3-ubyte.gz", "my-drawings-labels-idx1-ubyte.gz"):
            link = files.locator(f'a[download="{name}"]')
            expect(link).to_be_visible(timeout=15000)
            with page.expect_download() as download:
                link.click()
            saved.append(tmp_path / name)
            download.value.save_as(saved[-1])
        shot(page, "finetune-4-download")
    finally:
        context.close()

    other = chromium.new_context(**DESKTOP)  # another visitor: starts with nothing, then adds the files
    try:
        page = open_page(other, app.url)
        open_tab(page, "Draw")
        expect(page.locator("#collect-counter td").last).to_have_text("0")
        page.locator("#collection-upload input[type=file]").set_input_files([str(p) for p in saved])
        expect(page.locator("#collect-message")).to_contain_text("Added 4 drawings", timeout=20000)
        expect_kept(page, 4)
        captions = page.locator("#collection-gallery .thumbnail-item").all_inner_texts()
        assert sorted(c.strip() for c in captions) == ["1", "1", "7", "7"], captions
        shot(page, "finetune-5-uploaded")
    finally:
        other.close()


def test_phone_keeps_pad_clear_answer_and_the_digits_on_one_screen(chromium, app):
    context = chromium.new_context(**PHONE)
    try:
        page = open_page(context, app.url)
        open_tab(page, "Draw")
        assert horizontal_overflow(page) == 0, "the Draw tab scrolls sideways"
        # scrolled so the answer is at the top of the screen: the pad, Clear and the ten digits fit under it
        page.evaluate("document.getElementById('draw-label').scrollIntoView({block: 'start'})")
        finger = Finger(page)
        for n, digit in enumerate((1, 7), start=1):
            finger.draw(digit)
            expect_digit(page, digit)
            for selector in ("#draw-pad", "#draw-clear", "#draw-label", "#collect-0", "#collect-9"):
                assert on_screen(page, selector), f"{selector} is off screen while drawing"
            shot(page, f"finetune-phone-{digit}", full_page=False)
            page.locator(f"#collect-{digit}").tap()
            expect_blank(page)
            expect_kept(page, n)
        assert horizontal_overflow(page) == 0
        shot(page, "finetune-phone-page")
    finally:
        context.close()
