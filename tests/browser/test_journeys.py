"""Whole visits in real Chromium, each one page (or a few pages) used the way a person uses the app.

The app's parts are tested elsewhere, each on a fresh page; these walk a visit from start to end, because that
is where the app once broke while every part passed (Clear worked once per page). One server for the module,
a private checkpoint folder, trainings on `limit` subsets. Screenshots go to test-output/journeys/.

Without Chromium (`apt-get install -y chromium`) these are skipped with that reason, except under CI=true,
where they must run (tests/conftest.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
    keyed_controls,
    log_lines,
    mouse_line,
    on_screen,
    open_page,
    open_tab,
    paper,
    reachable_by_tab,
    set_number,
    shot,
    unnamed_controls,
)

ROOT = Path(__file__).resolve().parents[2]
TABS = ["Train", "Draw", "Mistakes", "CPU vs CUDA", "Class", "Checkpoints"]
TRAIN_S = 240  # generous: a 6,000-image run takes ~10 s alone, longer while another page trains
# Off-centre, small and large digits; strokes at different speeds (mouse events per segment: 1 a flick, 3 slow).
TEN = [(0, (0.3, 0.15, 0.4, 0.7), (2,)), (1, (0.45, 0.1, 0.3, 0.8), (1,)), (2, (0.08, 0.08, 0.3, 0.4), (3,)),
       (3, (0.3, 0.15, 0.4, 0.7), (1, 3)), (4, (0.25, 0.2, 0.5, 0.6), (3, 1)), (5, (0.3, 0.1, 0.4, 0.75), (2,)),
       (6, (0.55, 0.5, 0.3, 0.4), (2,)), (7, (0.2, 0.1, 0.6, 0.8), (1,)), (8, (0.32, 0.12, 0.36, 0.76), (3, 1)),
       (9, (0.3, 0.15, 0.4, 0.7), (1, 2))]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Server:
    """The real app: one training at a time (so a second visitor waits), a private checkpoint folder."""
    server = app_with_default_model(tmp_path_factory, "--max-trainings", "1", "--queue-size", "4",
                                    "--max-epochs", "3")
    yield server
    server.stop()


@pytest.fixture
def desktop(chromium):
    context = chromium.new_context(**DESKTOP)
    yield context
    context.close()


def clear(page) -> None:
    page.locator("#draw-clear").click()
    expect_blank(page)


def train_by_hand(page, lr="0.003", batch="128", epochs="1", limit="6000") -> None:
    """Set the controls one by one (not a preset) and press Train."""
    open_tab(page, "Train")
    set_number(page, "train-lr", lr)
    set_number(page, "train-batch-size", batch)
    set_number(page, "train-epochs", epochs)
    if not page.locator("#train-limit input").first.is_visible():
        page.locator("#train-more").click()
    set_number(page, "train-limit", limit)
    page.locator("#train-button").click()


def wait_done(page, timeout_s: float = TRAIN_S) -> None:
    expect(page.locator("#train-status")).to_contain_text("Test accuracy", timeout=timeout_s * 1000)


def status(page) -> str:
    return page.locator("#train-status").inner_text()


# --------------------------------------------------------------------------- 1. ten digits in a row

def test_ten_digits_in_a_row_with_clear_then_with_the_bin(desktop, app):
    page = open_page(desktop, app.url)
    open_tab(page, "Draw")
    expect(page.locator("#draw-label")).to_contain_text("Draw a digit")
    clear(page)  # Clear before drawing anything once broke every later Clear
    for digit, box, speeds in TEN:
        draw_with_mouse(page, digit, box, speeds)
        expect_digit(page, digit)
        expect(page.locator("#draw-preview img")).to_have_count(1)
        shot(page, f"1-mouse-{digit}", full_page=False)
        clear(page)
    bin_icon = page.locator('#draw-pad button[aria-label="Clear canvas"]')
    for digit, box, speeds in TEN:
        draw_with_mouse(page, digit, box, speeds)
        expect_digit(page, digit)
        bin_icon.click()
        expect_blank(page)
    shot(page, "1-after-twenty")


def test_undo_redo_and_eraser_keep_the_prediction_on_the_pad(desktop, app):
    page = open_page(desktop, app.url)
    open_tab(page, "Draw")
    draw_with_mouse(page, 1, box=(0.45, 0.1, 0.3, 0.8))
    expect_digit(page, 1)
    x0, y0, side = paper(page)
    bar = [(x0 + 0.25 * side, y0 + 0.12 * side), (x0 + 0.75 * side, y0 + 0.12 * side)]
    mouse_line(page, bar)  # a top bar turns the 1 into a 7
    expect_digit(page, 7)
    page.locator('#draw-pad button[aria-label="Undo"]').click()
    expect_digit(page, 1)
    page.locator('#draw-pad button[aria-label="Redo"]').click()
    expect_digit(page, 7)
    page.locator('#draw-pad button[aria-label="Erase"]').click()
    mouse_line(page, bar, steps=4)  # the eraser is wider than the brush: one pass removes the bar
    expect_digit(page, 1)
    shot(page, "1-erased", full_page=False)
    page.locator('#draw-pad button[aria-label="Brush"]').click()
    clear(page)
    draw_with_mouse(page, 4)
    expect_digit(page, 4)


# --------------------------------------------------------------------------- 2. train, draw, save, reload, load

def test_train_draw_save_reload_load(desktop, app):
    page = open_page(desktop, app.url)
    train_by_hand(page, lr="0.004", batch="96", epochs="1", limit="12000")
    expect(page.locator("#train-preset")).to_contain_text("Changed by hand: lr 0.004, batch 96", timeout=15000)
    expect(page.locator("#train-status")).to_contain_text("lr 0.004, batch 96", timeout=60000)
    expect(page.locator("#train-log textarea")).to_have_value(re.compile(r"loss: "), timeout=60000)
    first = log_lines(page)
    shot(page, "2-training")
    wait_done(page)
    assert log_lines(page) > first, "the log did not grow"
    assert "Accuracy:" in page.locator("#train-log textarea").input_value()
    assert page.locator("#loss-plot canvas, #loss-plot svg").count() >= 1
    assert page.locator("#accuracy-plot canvas, #accuracy-plot svg").count() >= 1
    shot(page, "2-trained")

    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile("Your current model"), timeout=15000)
    expect(page.locator("#draw-model-info")).to_contain_text("your current model")
    draw_with_mouse(page, 7, box=(0.2, 0.1, 0.6, 0.8))
    expect(headline(page)).to_have_text(re.compile(r"^\d$"), timeout=20000)
    expect(page.locator("#draw-message")).to_contain_text("your current model")
    shot(page, "2-draw-with-mine", full_page=False)

    open_tab(page, "Train")
    page.locator("#save-name input, #save-name textarea").first.fill("journey-mine")
    page.locator("#save-button").click()
    expect(page.locator("#save-status")).to_contain_text("Saved", timeout=20000)
    assert (app.checkpoints / "journey-mine.pt").is_file()

    page.reload()
    page.wait_for_selector("#train-button", timeout=30000)
    open_tab(page, "Checkpoints")
    expect(page.locator("#checkpoint-table")).to_contain_text("journey-mine", timeout=15000)
    shot(page, "2-checkpoints-after-reload")
    name = page.locator("#ckpt-name input")
    name.fill("journey-mine")
    name.press("Enter")
    page.locator("#ckpt-load").click()
    expect(page.locator("#ckpt-status")).to_contain_text("journey-mine", timeout=20000)
    open_tab(page, "Draw")
    expect(page.locator("#draw-model-info")).to_contain_text("your current model", timeout=15000)
    expect(page.locator("#draw-model input")).to_have_value(re.compile("journey-mine"), timeout=15000)
    draw_with_mouse(page, 1, box=(0.45, 0.1, 0.3, 0.8))
    expect(headline(page)).to_have_text(re.compile(r"^\d$"), timeout=20000)
    expect(page.locator("#draw-message")).to_contain_text("your current model")
    shot(page, "2-draw-with-loaded", full_page=False)


# --------------------------------------------------------------------------- 2b. compare two learning rates

def legend(page, plot: str) -> list[str]:
    """The series names in a plot's legend, as drawn (Vega's SVG)."""
    return page.locator(f"#{plot} svg g.role-legend-label text").all_text_contents()


def test_train_twice_with_two_learning_rates_and_see_both_curves(desktop, chromium, app):
    page = open_page(desktop, app.url)
    train_by_hand(page, lr="0.0005", batch="128", epochs="1", limit="4000")
    wait_done(page)
    train_by_hand(page, lr="0.005", batch="128", epochs="1", limit="4000")
    expect(page.locator("#train-status")).to_contain_text("lr 0.005", timeout=60000)
    expect(page.locator("#loss-plot")).to_contain_text("lr 0.0005", timeout=30000)  # run 1 stays while run 2 runs
    shot(page, "2b-second-run-live")
    wait_done(page)
    expect(page.locator("#runs-table")).to_contain_text("lr 0.005", timeout=15000)
    expect(page.locator("#runs-table")).to_contain_text("lr 0.0005")
    for plot in ("loss-plot", "accuracy-plot"):
        expect(page.locator(f"#{plot} svg g.role-legend-label text")).to_have_count(2, timeout=15000)
        assert legend(page, plot) == ["lr 0.0005", "lr 0.005"], legend(page, plot)
        lines = page.locator(f"#{plot} svg g.mark-line path")
        assert lines.count() >= 2, f"{plot}: {lines.count()} lines"
    shot(page, "2b-two-curves")
    page.locator("#train-x-axis label", has_text="steps").click()
    expect(page.locator("#loss-plot")).to_contain_text("optimizer steps", timeout=15000)
    assert legend(page, "loss-plot") == ["lr 0.0005", "lr 0.005"]
    shot(page, "2b-against-steps", full_page=False)

    choice = page.locator("#runs-choice input")
    choice.click()
    page.get_by_role("option", name=re.compile(r"^run 1")).click()
    page.locator("#runs-make-current").click()
    expect(page.locator("#runs-status")).to_contain_text("Run 1", timeout=15000)
    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile(r"Your current model .*run 1"), timeout=15000)
    # where run 1 goes wrong: its last test pass, reused; click one of its mistakes and see those test images
    open_tab(page, "Mistakes")
    status = page.locator("#mistakes-status")
    expect(status).to_contain_text("your current model", timeout=60000)
    expect(status).to_contain_text("its run's last test pass")
    cells = page.locator('#mistakes-matrix [role="gridcell"]')
    expect(cells).to_have_count(110)
    counts = {(t, r): int(page.locator(f'#mistakes-matrix [data-testid="cell-{t}-{r + 1}"]').inner_text().strip())
              for t in range(10) for r in range(10)}
    assert sum(counts.values()) == 10000, sum(counts.values())
    true, read = max((cell for cell in counts if cell[0] != cell[1]), key=counts.get)  # its most common mistake
    page.locator(f'#mistakes-matrix [data-testid="cell-{true}-{read + 1}"]').click()
    expect(page.locator("#mistakes-cell-title")).to_contain_text(f"of a {true} read as {read}", timeout=15000)
    expect(page.locator("#mistakes-cell img")).to_have_count(min(counts[true, read], 40), timeout=15000)
    shot(page, "2b-run-mistakes")
    open_tab(page, "Train")
    expect(page.locator("#loss-plot svg g.role-legend-label text")).to_have_count(2, timeout=15000)

    context = chromium.new_context(**PHONE)
    try:
        phone = open_page(context, app.url)
        expect(phone.locator("#runs-table")).not_to_contain_text("lr 0.005")  # another visitor's runs stay theirs
        phone.locator("#try-lr").tap()
        expect(phone.locator("#train-status")).to_contain_text("run 2 of 2", timeout=TRAIN_S * 1000)
        wait_done(phone)
        expect(phone.locator("#runs-table")).to_contain_text("0.1", timeout=15000)
        expect(phone.locator("#loss-plot svg g.role-legend-label text")).to_have_count(2, timeout=15000)
        assert legend(phone, "loss-plot") == ["lr 0.001", "lr 0.1"]
        assert horizontal_overflow(phone) == 0, "the Train tab scrolls sideways"
        shot(phone, "2b-phone-compared")
        phone.locator("#loss-plot").scroll_into_view_if_needed()
        shot(phone, "2b-phone-curves", full_page=False)
    finally:
        context.close()


# --------------------------------------------------------------------------- 3. two visitors

def test_two_visitors_wait_in_line_keep_apart_and_a_closed_page_frees_its_slot(chromium, app):
    first_context, second_context = chromium.new_context(**DESKTOP), chromium.new_context(**DESKTOP)
    try:
        first, second = open_page(first_context, app.url), open_page(second_context, app.url)
        train_by_hand(first, epochs="3", limit="60000")  # long enough to still be running when closed
        expect(first.locator("#train-log textarea")).to_have_value(re.compile(r"loss: "), timeout=60000)
        train_by_hand(second, lr="0.002", batch="64", epochs="1", limit="6000")
        expect(second.locator("#train-status")).to_contain_text("Waiting in line: you are number 1", timeout=30000)
        shot(second, "3-second-waits")
        assert log_lines(second) == 0, "the second visitor sees the first one's log"
        first.wait_for_timeout(1500)
        assert log_lines(second) == 0
        first.close()  # closing the page mid-run frees its slot
        expect(second.locator("#train-status")).to_contain_text("lr 0.002, batch 64", timeout=60000)
        wait_done(second)
        assert log_lines(second) >= 1
        shot(second, "3-second-done")
        open_tab(second, "Draw")
        expect(second.locator("#draw-model input")).to_have_value(re.compile("Your current model"), timeout=15000)
    finally:
        first_context.close()
        second_context.close()
    third_context = chromium.new_context(**DESKTOP)
    try:
        third = open_page(third_context, app.url)  # a newcomer has no model but the shipped ones
        open_tab(third, "Draw")
        expect(third.locator("#draw-model input")).not_to_have_value(re.compile("Your current model"))
        assert log_lines(third) == 0
    finally:
        third_context.close()


# --------------------------------------------------------------------------- 4. stop and carry on

def test_stop_mid_epoch_draw_with_the_partial_model_then_train_again(desktop, app):
    page = open_page(desktop, app.url)
    train_by_hand(page, epochs="2", limit="60000")
    expect(page.locator("#stop-button")).to_be_enabled(timeout=30000)
    expect(page.locator("#train-log textarea")).to_have_value(re.compile(r"loss: "), timeout=60000)
    page.locator("#stop-button").click()
    expect(page.locator("#train-status")).to_contain_text("Stopped", timeout=60000)
    assert "epochs: test accuracy" in status(page)
    expect(page.locator("#stop-button")).to_be_disabled()
    shot(page, "4-stopped")
    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile("stopped early"), timeout=15000)
    draw_with_mouse(page, 0)
    expect(headline(page)).to_have_text(re.compile(r"^\d$"), timeout=20000)
    expect(page.locator("#draw-message")).to_contain_text("your current model")
    clear(page)
    train_by_hand(page, epochs="1", limit="6000")
    wait_done(page)
    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile("trained just now"), timeout=15000)


# --------------------------------------------------------------------------- 5. CPU vs CUDA while training

def test_a_benchmark_waits_for_a_training_and_drawing_keeps_answering(chromium, app):
    contexts = [chromium.new_context(**DESKTOP) for _ in range(2)]
    try:
        trainer, bencher = (open_page(c, app.url) for c in contexts)
        train_by_hand(trainer, epochs="1", limit="24000")
        expect(trainer.locator("#train-log textarea")).to_have_value(re.compile(r"loss: "), timeout=60000)
        open_tab(bencher, "CPU vs CUDA")
        sizes = bencher.locator("#bench-batch-sizes textarea, #bench-batch-sizes input").first
        sizes.fill("1,64")
        set_number(bencher, "bench-repeats", 3)
        bencher.locator("#bench-button").click()
        expect(bencher.locator("#bench-status")).to_contain_text("Waiting in line: you are number 1", timeout=30000)
        shot(bencher, "5-bench-waits")
        open_tab(bencher, "Draw")  # predictions answer while the training runs and the benchmark waits
        for digit in (3, 7):
            draw_with_mouse(bencher, digit)
            expect_digit(bencher, digit)
            clear(bencher)
        wait_done(trainer)
        open_tab(bencher, "CPU vs CUDA")
        expect(bencher.locator("#bench-table")).to_contain_text("64", timeout=TRAIN_S * 1000)
        expect(bencher.locator("#bench-status")).not_to_contain_text("Waiting", timeout=TRAIN_S * 1000)
        shot(bencher, "5-bench-done")
    finally:
        for context in contexts:
            context.close()


# --------------------------------------------------------------------------- 6. upload

def test_upload_a_cli_checkpoint_and_draw_then_a_broken_file_changes_nothing(desktop, app, tmp_path):
    made = subprocess.run([sys.executable, "-m", "mnist_demo", "train", "--limit", "6000", "--out", "from-cli",
                           "--checkpoint-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    page = open_page(desktop, app.url)
    open_tab(page, "Checkpoints")
    page.locator("#ckpt-upload input[type=file]").set_input_files(str(tmp_path / "from-cli.pt"))
    expect(page.locator("#ckpt-status")).to_contain_text("Uploaded", timeout=30000)
    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile("upload from-cli.pt"), timeout=15000)
    draw_with_mouse(page, 1, box=(0.45, 0.1, 0.3, 0.8))
    expect(headline(page)).to_have_text(re.compile(r"^\d$"), timeout=20000)
    shot(page, "6-draw-with-upload", full_page=False)

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    listed = sorted(p.name for p in app.checkpoints.iterdir())
    open_tab(page, "Checkpoints")
    page.locator("#ckpt-upload input[type=file]").set_input_files(str(broken))
    expect(page.locator("#ckpt-status")).to_contain_text("Not done", timeout=30000)
    expect(page.locator("#ckpt-status")).to_contain_text("broken.pt")
    shot(page, "6-broken-upload")
    assert sorted(p.name for p in app.checkpoints.iterdir()) == listed
    open_tab(page, "Draw")
    expect(page.locator("#draw-model input")).to_have_value(re.compile("upload from-cli.pt"), timeout=15000)


# --------------------------------------------------------------------------- 7. phone

def test_phone_every_tab_fits_and_ten_digits_by_finger(chromium, app):
    context = chromium.new_context(**PHONE)
    try:
        page = open_page(context, app.url)
        for label in TABS:
            open_tab(page, label)
            assert horizontal_overflow(page) == 0, f"the {label} tab scrolls sideways"
            shot(page, f"7-phone-{label.split()[0].lower()}")
        assert page.locator("#tabs button[aria-label='More tabs']").is_hidden(), "tabs hidden behind a menu"
        open_tab(page, "Draw")
        page.locator("#draw-pad").scroll_into_view_if_needed()
        for selector in ("#draw-pad", "#draw-clear", "#draw-label"):
            assert on_screen(page, selector), f"{selector} is off screen while the pad is on screen"
        finger = Finger(page)
        for digit, box, _ in TEN:
            finger.draw(digit, box)
            expect_digit(page, digit)
            for selector in ("#draw-pad", "#draw-clear", "#draw-label"):
                assert on_screen(page, selector), f"{selector} went off screen after drawing {digit}"
            shot(page, f"7-phone-digit-{digit}", full_page=False)
            page.locator("#draw-clear").tap()
            expect_blank(page)
    finally:
        context.close()


# --------------------------------------------------------------------------- 8. keyboard and screen reader

def test_keyboard_reaches_every_control_each_has_a_name_and_the_answer_is_announced(desktop, app):
    page = open_page(desktop, app.url)
    for label in TABS:
        open_tab(page, label)
        shot(page, f"8-desktop-{label.split()[0].lower()}")
        keys = keyed_controls(page)
        seen = reachable_by_tab(page, presses=len(keys) + 40)
        missed = [k for k in keys if k.split(" ", 1)[0] not in seen]
        assert not missed, f"{label}: Tab never reaches {missed}"
        assert not unnamed_controls(page), f"{label}: controls without a name: {unnamed_controls(page)}"
    open_tab(page, "Draw")
    assert page.locator("#draw-label").get_attribute("aria-live") == "polite"
    page.locator("#draw-clear").focus()
    page.keyboard.press("Enter")  # Clear works from the keyboard too
    expect_blank(page)
