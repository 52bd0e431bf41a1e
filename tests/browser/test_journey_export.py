"""Taking a run home, in real Chromium, on a Korean page: train a tiny run, then download it below Save (the newest
run) and from the runs panel (the chosen run) as a Python script and a notebook, whose explanations are in Korean.
Screenshots go to test-output/journeys/.

Without Chromium (`apt-get install -y chromium`) this is skipped with that reason, except under CI=true.
"""

from __future__ import annotations

import re

import nbformat
from playwright.sync_api import expect  # a dev requirement

from tests.support.browser import DESKTOP, open_page, set_number, shot

TRAIN_S = 240


def download(page, selector: str, folder):
    with page.expect_download(timeout=20000) as started:
        page.locator(selector).click()
    path = folder / started.value.suggested_filename
    started.value.save_as(path)
    return path


def test_a_finished_run_downloads_as_a_script_and_a_korean_notebook(chromium, server, tmp_path):
    context = chromium.new_context(**{**DESKTOP, "locale": "ko-KR"}, accept_downloads=True)
    try:
        page = open_page(context, server.url)
        expect(page.locator("#take-home")).to_be_hidden()
        expect(page.locator("#runs-download-script")).to_be_disabled()  # no run yet: nothing to download
        set_number(page, "train-lr", "0.002")
        page.locator("#train-more").click()
        set_number(page, "train-limit", "2000")
        page.locator("#train-button").click()
        expect(page.locator("#train-status")).to_contain_text("테스트 정확도", timeout=TRAIN_S * 1000)
        expect(page.locator("#take-home")).to_be_visible(timeout=20000)
        expect(page.locator("#take-home-text")).to_have_text("학습 1을(를) 순수 PyTorch 코드로 가져가세요:")
        shot(page, "export-1-after-training")
        script = download(page, "#take-home-script", tmp_path)
        assert script.name == "mnist-run-1.py"
        code = script.read_text(encoding="utf-8")
        assert re.search(r"^LEARNING_RATE = 0\.002\b", code, flags=re.M) and re.search(r"^LIMIT = 2000\b", code,
                                                                                     flags=re.M)
        notebook = download(page, "#runs-download-notebook", tmp_path)
        book = nbformat.read(notebook, as_version=4)
        nbformat.validate(book)
        words = "\n".join(cell.source for cell in book.cells if cell.cell_type == "markdown")
        assert "MNIST 학습 실행" in words and "학습률 0.002" in words, words[:400]  # the visitor's language
    finally:
        context.close()
