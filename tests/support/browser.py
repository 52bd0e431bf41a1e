"""A person's hands in real Chromium (Playwright): open tabs, draw digits with a mouse or a finger, read answers.

Chromium comes from Debian (`apt-get install -y chromium`); `playwright install` cannot download browsers on
these machines. Screenshots go to `test-output/journeys/` for a person to look at.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from mnist_demo.app.tabs.draw import CANVAS
from tests.support.digits import place

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "journeys"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
DESKTOP = dict(viewport={"width": 1300, "height": 1000}, locale="en-US")  # the page follows the browser language
PHONE = dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2,
             locale="en-US")
ANSWER_S = 20  # a prediction takes ~5 ms on the server; the rest is the browser exporting the pad per stroke


def shot(page: Page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def open_page(context, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#train-button", timeout=30000)
    return page


def open_tab(page: Page, label: str) -> None:
    """Open a tab by its name, through the tab bar's overflow menu where the bar has folded it there."""
    tab = page.get_by_role("tab", name=label, exact=True)
    if tab.is_visible():
        tab.click()
    else:
        page.locator("#tabs button[aria-label='More tabs']").click()
        page.locator(".overflow-dropdown button", has_text=label).click()
    expect(page.get_by_role("tab", name=label, exact=True)).to_have_attribute("aria-selected", "true")
    page.wait_for_timeout(300)


def paper(page: Page) -> tuple[float, float, float]:
    """(left, top, side) of the square paper in page pixels: the pad's canvas (CANVAS px) at the editor's zoom,
    centred in the editor's drawing area (the rest is the editor's margin, where strokes do not start)."""
    canvas = page.locator("#draw-pad canvas").first
    canvas.wait_for(state="visible")
    area = canvas.bounding_box()
    zoom = float(page.locator("#draw-pad .zoom-number").inner_text().strip().rstrip("%")) / 100
    side = CANVAS * zoom
    return area["x"] + (area["width"] - side) / 2, area["y"] + (area["height"] - side) / 2, side


MOST_POINTS = 16  # per stroke: without a GPU each pointer event costs the page ~0.1-0.4 s of software rendering


def thin(points, most: int = MOST_POINTS):
    """At most `most` of the points, evenly spaced, first and last kept (a 16-gon still reads as a round 0)."""
    if len(points) <= most:
        return list(points)
    return [points[round(i * (len(points) - 1) / (most - 1))] for i in range(most)]


def strokes(page: Page, digit: int, box=(0.3, 0.15, 0.4, 0.7), slant: float = 0.0):
    """The digit's strokes in page pixels; `box` is (left, top, width, height) as fractions of the paper."""
    x0, y0, side = paper(page)
    return [thin(stroke) for stroke in
            place(digit, x0 + box[0] * side, y0 + box[1] * side, box[2] * side, box[3] * side, slant=slant)]


def mouse_line(page: Page, points, steps: int = 2) -> None:
    """One stroke with the mouse; `steps` mouse events between points (1: a quick flick, 3: slow and careful)."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def draw_with_mouse(page: Page, digit: int, box=(0.3, 0.15, 0.4, 0.7), speeds=(2,), slant: float = 0.0) -> None:
    """Draw `digit` stroke by stroke; stroke i moves at speeds[i % len(speeds)]."""
    for i, stroke in enumerate(strokes(page, digit, box, slant)):
        mouse_line(page, stroke, speeds[i % len(speeds)])


class Finger:
    """Touch strokes through the DevTools protocol, as a phone's browser receives them."""

    def __init__(self, page: Page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def _send(self, kind: str, points) -> None:
        self.cdp.send("Input.dispatchTouchEvent",
                      {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in points]})

    def line(self, points, steps: int = 1) -> None:
        self._send("touchStart", [points[0]])
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            for i in range(1, steps + 1):
                t = i / steps
                self._send("touchMove", [(xa + t * (xb - xa), ya + t * (yb - ya))])
        self._send("touchEnd", [])

    def draw(self, digit: int, box=(0.3, 0.15, 0.4, 0.7)) -> None:
        for stroke in strokes(self.page, digit, box):
            self.line(stroke)


def headline(page: Page):
    return page.locator('#draw-label [data-testid="label-output-value"]')


def expect_digit(page: Page, digit: int) -> None:
    """gr.Label's headline shows `digit` once the last stroke's prediction is in."""
    expect(headline(page)).to_have_text(str(digit), timeout=ANSWER_S * 1000)


def expect_blank(page: Page) -> None:
    """The pad, the answer and the preview are all empty again."""
    expect(page.locator("#draw-label")).to_contain_text("Draw a digit", timeout=ANSWER_S * 1000)
    expect(page.locator("#draw-preview img")).to_have_count(0, timeout=ANSWER_S * 1000)
    deadline = time.monotonic() + 5  # the page repaints the emptied pad a moment after the answer resets
    while (ink := ink_on_pad(page)) > CURSOR_INK and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert ink <= CURSOR_INK, f"strokes are still on the pad ({ink} dark pixels)"


# Dark pixels an empty pad may still show: the brush's round cursor stays where a finger last lifted (about 60
# px); one stroke of a digit is thousands.
CURSOR_INK = 300


def ink_on_pad(page: Page) -> int:
    """Dark pixels on the pad's paper as a person sees it (a screenshot of the paper; 0 when it is empty)."""
    x0, y0, side = paper(page)
    left = 0.15 * side  # digits are drawn right of it; the strip is left out (the tool bar once covered it on phones)
    png = page.screenshot(clip={"x": x0 + left, "y": y0 + 2, "width": side - left - 2, "height": side - 4})
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return int((grey < 100).sum())


def set_number(page: Page, elem_id: str, value) -> None:
    """Type `value` into a number field and leave it, as a person does; and see that the field holds it.

    Typed within the first instants after the page appears (a fresh page under a loaded machine, a field in an
    accordion just opened), Gradio's frontend can still be mounting the field and put its default back: seen on 3 of
    42 fresh pages while the whole suite ran beside, never once the page had settled (0 of 12), and not tied to the
    page's opening event (still running when the value was typed, it left it alone in 3 of 3). A person sees their
    value replaced and types it again; so does this, and then insists the field holds it."""
    field = page.locator(f"#{elem_id} input").first
    for _ in range(3):
        field.fill(str(value))
        field.press("Tab")
        page.wait_for_timeout(150)
        if field.input_value() == str(value):
            return
    expect(field).to_have_value(str(value))


def log_lines(page: Page) -> int:
    return len(re.findall(r"loss: +\d", page.locator("#train-log textarea").input_value()))


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def on_screen(page: Page, selector: str) -> bool:
    """Whole on the screen, give or take a pixel (the page scrolls by whole pixels; boxes sit at fractions)."""
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    return box is not None and box["y"] >= -1 and box["y"] + box["height"] <= view["height"] + 1 \
        and box["x"] >= -1 and box["x"] + box["width"] <= view["width"] + 1


# --------------------------------------------------------------------------- keyboard and screen reader

FOCUSABLE = ("button, input:not([type=hidden]):not([type=file]), textarea, select, "
             "[tabindex]:not([tabindex='-1'])")


def keyed_controls(page: Page) -> list[str]:
    """Marks every visible control of the page with a key (data-journey-key) and lists them ("key name"). A radio
    group is one stop: its radios share the key of its first."""
    return page.evaluate(f"""() => {{
      const visible = (e) => e.offsetParent !== null && !e.disabled && getComputedStyle(e).visibility !== 'hidden';
      const radios = new Set();
      const keys = [];
      document.querySelectorAll("{FOCUSABLE}").forEach((e, i) => {{
        if (!visible(e) || e.tabIndex < 0 || e.closest('[aria-hidden=true]')) return;
        if (e.type === 'radio') {{ if (radios.has(e.name)) return; radios.add(e.name); }}
        e.dataset.journeyKey = String(i);
        const name = e.getAttribute('aria-label') || e.innerText || e.name || e.tagName;
        keys.push(String(i) + ' ' + name.slice(0, 40));
      }});
      document.querySelectorAll('input[type=radio]').forEach((e) => {{
        const first = document.querySelector(`input[type=radio][name="${{e.name}}"][data-journey-key]`);
        if (first && e !== first) e.dataset.journeyKey = first.dataset.journeyKey;
      }});
      return keys;
    }}""")


def reachable_by_tab(page: Page, presses: int = 120) -> set[str]:
    """Keys of every control that Tab reaches from the top of the page."""
    page.locator("body").click(position={"x": 2, "y": 2})
    seen = set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement && document.activeElement.dataset.journeyKey || ''"))
    return seen


def unnamed_controls(page: Page) -> list[str]:
    """Interactive accessibility nodes without a name, as a screen reader meets them."""
    nodes = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    roles = {"button", "textbox", "combobox", "spinbutton", "checkbox", "radio", "slider", "tab", "searchbox"}
    return [f"{node['role']['value']} (node {node.get('backendDOMNodeId')})" for node in nodes
            if not node.get("ignored") and node.get("role", {}).get("value") in roles
            and not (node.get("name", {}).get("value") or "").strip()]
