"""The Draw tab's pad on a phone (390x844, touch), in real Chromium: its tool bar sits beside the paper, not over
its left edge, and a finger's digit is still read where it was drawn. The screenshot is
test-output/journeys/phone-pad.png.

Without Chromium (`apt-get install -y chromium`) this is skipped with that reason, except under CI=true.
"""

from __future__ import annotations

import pytest

from tests.support.browser import PHONE, SHOTS, Finger, expect_digit, open_page, open_tab, paper


@pytest.mark.parametrize("width", [390, 360])
def test_on_a_phone_the_pads_tool_bar_sits_beside_the_paper(chromium, server, width):
    context = chromium.new_context(**{**PHONE, "viewport": {"width": width, "height": 844}})
    try:
        page = open_page(context, server.url)
        open_tab(page, "Draw")
        left, top, side = paper(page)
        bar = page.locator("#draw-pad .toolbar-wrap").bounding_box()
        pad = page.locator("#draw-pad").bounding_box()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#draw-pad").screenshot(path=str(SHOTS / f"phone-pad-{width}.png"))
        assert bar["x"] >= pad["x"] and bar["x"] + bar["width"] <= left - 2, (bar, left)  # beside, with a gap
        assert top < bar["y"] < top + side  # still at the paper's side, where a thumb finds it
        assert side >= 0.6 * width, side  # the paper still fills most of the screen's width (256 px at 390)
        Finger(page).draw(7)  # the paper's area moved: a stroke still lands where the finger put it
        expect_digit(page, 7)
    finally:
        context.close()
