"""Browser tests in real Chromium (Playwright): draw with the mouse, train, stop; screenshots of each tab.

They start `demo.py` on a free local port. Chromium comes from Debian (`apt-get install -y chromium`);
without it these tests are skipped with that reason, except under CI=true, where they must run.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.digits import place

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]

if not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true":
    pytest.skip(reason="Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright import sync_api  # noqa: E402  (a dev requirement)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The real app, with a private checkpoint folder holding a copy of the shipped model."""
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    shutil.copy(ROOT / "checkpoints" / "default.pt", checkpoints / "default.pt")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("log") / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "demo.py", "--port", str(port), "--checkpoint-dir", str(checkpoints)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = time.time()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert proc.poll() is None, "demo.py exited at start"
            assert time.time() - started < 60, "demo.py did not answer within 60 s"
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#train-button", timeout=30000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()
    page.wait_for_timeout(300)


def draw_digit(page, digit: int, box=(0.3, 0.15, 0.4, 0.7)) -> None:
    """Mouse strokes on the sketchpad; `box` is (left, top, width, height) as fractions of the paper.

    The paper is the square image centred in the editor's canvas element (the rest is the editor's margin).
    """
    canvas = page.locator("#draw-pad canvas").first
    canvas.wait_for(state="visible")
    area = canvas.bounding_box()
    side = 0.8 * min(area["width"], area["height"])
    x0, y0 = area["x"] + (area["width"] - side) / 2, area["y"] + (area["height"] - side) / 2
    left, top = x0 + box[0] * side, y0 + box[1] * side
    for stroke in place(digit, left, top, box[2] * side, box[3] * side):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(x, y, steps=2)
        page.mouse.up()


def expect_digit(page, digit: int) -> None:
    """gr.Label's headline shows `digit` once the last stroke's prediction is in."""
    headline = page.locator('#draw-label [data-testid="label-output-value"]')
    sync_api.expect(headline).to_have_text(str(digit), timeout=20000)


def test_every_tab_renders(page):
    for label, name in [("Train", "train"), ("Draw", "draw"), ("CPU vs CUDA", "bench"), ("Checkpoints", "checkpoints")]:
        open_tab(page, label)
        shot(page, f"tab-{name}")
    assert "default" in page.locator("#checkpoint-table").inner_text()


def test_a_fresh_canvas_says_draw_a_digit(page):
    open_tab(page, "Draw")
    assert "Draw a digit" in page.locator("#draw-label").inner_text()


@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
def test_drawing_with_the_mouse_reads_the_digit(page, digit):
    open_tab(page, "Draw")
    draw_digit(page, digit)
    expect_digit(page, digit)
    preview = page.locator("#draw-preview img")
    assert preview.count() == 1 and preview.get_attribute("src")
    shot(page, f"draw-{digit}")
    page.locator("#draw-clear").click()
    sync_api.expect(page.locator("#draw-label")).to_contain_text("Draw a digit", timeout=15000)


def test_off_centre_small_drawing(page):
    open_tab(page, "Draw")
    draw_digit(page, 2, box=(0.08, 0.08, 0.2, 0.3))
    expect_digit(page, 2)


def log_lines(page) -> int:
    return len(re.findall(r"loss: +\d", page.locator("#train-log textarea").input_value()))


def set_number(page, elem_id: str, value) -> None:
    field = page.locator(f"#{elem_id} input").first
    field.fill(str(value))
    field.press("Tab")


def test_tiny_training_grows_the_log_and_plots(page):
    page.locator("#train-more").click()  # "More options" holds the training-set size
    set_number(page, "train-limit", 6000)
    set_number(page, "train-batch-size", 64)
    page.locator("#train-button").click()
    sync_api.expect(page.locator("#train-status")).to_contain_text("Test accuracy", timeout=180000)
    assert log_lines(page) >= 2
    assert page.locator("#loss-plot canvas, #loss-plot svg").count() >= 1
    assert page.locator("#accuracy-plot canvas, #accuracy-plot svg").count() >= 1
    shot(page, "train-done")


def test_stop_stops_a_run(page):
    set_number(page, "train-epochs", 5)
    page.locator("#train-button").click()
    sync_api.expect(page.locator("#train-log textarea")).to_have_value(re.compile(r"loss: "), timeout=120000)
    shot(page, "train-running")
    page.locator("#stop-button").click()
    sync_api.expect(page.locator("#train-status")).to_contain_text("Stopped", timeout=30000)
    shot(page, "train-stopped")
    assert "epochs: test accuracy" in page.locator("#train-status").inner_text()  # the partial model is kept
