"""The Mistakes tab: where a model goes wrong on the 10,000 test images. The confusion matrix (counts and
colour; click a cell, or choose a true/predicted pair, to see its images), the most confidently wrong digits,
and accuracy per digit as a bar chart.

The figures come from the engine (`mnist_demo.mistakes`). For the visitor's own model the run's last
evaluation is reused when it has one (no new pass); anything else takes one pass over the test set, kept in a
small cache: checkpoints by (name, file's mtime and size), the visitor's own model by (visitor, run) so that
nobody sees another visitor's model. Computations run in their own concurrency group ("mistakes"), never in
the predictions' queue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import YOURS, choices
from mnist_demo.app.core.models.mistakes import mistakes_for
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import t
from mnist_demo.app.server.shared import Shared
from mnist_demo.checkpoints import DEFAULT_NAME
from mnist_demo.config import whole_number
from mnist_demo.data import cached_mnist
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.mistakes import DIGITS, Mistakes
from mnist_demo.texts import tr

CELL_IMAGES = 40  # images shown for one cell of the matrix (the rest are counted)
WORST = 24  # the most confidently wrong digits shown (the number is in the gallery's label, `mistakes.worst_label`)
SCALE = 3  # 28 px test digits shown at 84 px, nearest-neighbour, so each pixel stays a square
DIGIT_CHOICES = [str(d) for d in range(DIGITS)]

@dataclass
class MistakesUI:
    model: gr.Dropdown
    status: gr.Markdown
    matrix: gr.Dataframe
    true_digit: gr.Dropdown
    read_as: gr.Dropdown
    cell_title: gr.Markdown
    cell_gallery: gr.Gallery
    worst: gr.Gallery
    per_digit: gr.BarPlot
    seen_run: gr.State  # the run id of the visitor's model when the picker last chose it by default


def create_ui(ctx: AppContext) -> MistakesUI:
    gr.Markdown(t("mistakes.intro"), elem_classes=["mnist-small"])
    # custom values allowed: the choices are filled when the tab opens (an API client never opens it), and
    # every value is checked against the visitor's own choices anyway
    model = gr.Dropdown([], value=None, label=t("mistakes.model_label"), elem_id="mistakes-model",
                        allow_custom_value=True, info=t("mistakes.model_info"))
    status = gr.Markdown("", elem_id="mistakes-status")
    with gr.Row(equal_height=False, elem_id="mistakes-row"):
        with gr.Column(scale=3, min_width=320):
            matrix = gr.Dataframe(value=None, interactive=False, label=t("mistakes.matrix_label"),
                                  elem_id="mistakes-matrix",
                                  max_height=520, wrap=False, column_widths=["8%"] + ["9.2%"] * DIGITS)
            with gr.Row(elem_id="mistakes-pair"):
                true_digit = gr.Dropdown(DIGIT_CHOICES, value=None, label=t("mistakes.true_label"),
                                         elem_id="mistakes-true", min_width=120)
                read_as = gr.Dropdown(DIGIT_CHOICES, value=None, label=t("mistakes.read_as_label"),
                                      elem_id="mistakes-read-as", min_width=120)
            cell_title = gr.Markdown("", elem_id="mistakes-cell-title")
            cell_gallery = gr.Gallery(value=None, label=t("mistakes.cell_label"), columns=6, height=340,
                                      format="png", object_fit="contain", allow_preview=False, buttons=[],
                                      elem_id="mistakes-cell", elem_classes=["mnist-digits"])
        with gr.Column(scale=2, min_width=300):
            per_digit = gr.BarPlot(None, x=tr(None, "mistakes.axis_digit"), y=tr(None, "mistakes.axis_accuracy"),
                                   label=t("mistakes.per_digit_label"),
                                   elem_id="mistakes-per-digit", height=260, sort="x", tooltip="all")
            worst = gr.Gallery(value=None, label=t("mistakes.worst_label"), columns=4, height=340, format="png",
                               object_fit="contain", allow_preview=False, buttons=[],
                               elem_id="mistakes-worst", elem_classes=["mnist-digits"])
    with gr.Accordion(t("mistakes.teach_title"), open=False, elem_id="teach-confusion"):
        gr.Markdown(t("teach.confusion"))
    seen_run = gr.State(None)
    return MistakesUI(model=model, status=status, matrix=matrix, true_digit=true_digit, read_as=read_as,
                      cell_title=cell_title, cell_gallery=cell_gallery, worst=worst, per_digit=per_digit,
                      seen_run=seen_run)


# --------------------------------------------------------------------------- engine glue

def _digit_image(image) -> np.ndarray:
    pixels = image.numpy() if hasattr(image, "numpy") else np.asarray(image)
    return np.repeat(np.repeat(pixels, SCALE, axis=0), SCALE, axis=1)


def gallery(ctx: AppContext, examples, caption) -> list[tuple[np.ndarray, str]]:
    images = cached_mnist(ctx.settings.data_dir, "cpu").test_images
    return [(_digit_image(images[e.index]), caption(e)) for e in examples]


def matrix_view(mistakes: Mistakes, lang: str | None = None):
    """The matrix as a pandas Styler: counts, the diagonal in green (share of the row read right), mistakes in
    red (the more often, the deeper), empty cells plain. The corner header ("true") is in `lang`: a table's
    headers are data, which the browser does not translate."""
    matrix = mistakes.confusion
    frame = pd.DataFrame(matrix, columns=DIGIT_CHOICES)
    frame.insert(0, tr(lang, "mistakes.corner"), DIGIT_CHOICES)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    worst = max(int(off.max()), 1)
    rows = np.maximum(matrix.sum(axis=1), 1)

    def colour(column: pd.Series) -> list[str]:
        predicted = int(column.name)
        styles = []
        for true, count in enumerate(column):
            if true == predicted:
                share = count / rows[true]
                styles.append(f"background-color: rgba(47, 158, 68, {0.25 + 0.55 * share:.2f}); font-weight: 600")
            elif count:
                styles.append(f"background-color: rgba(224, 49, 49, {0.15 + 0.75 * count / worst:.2f})")
            else:
                styles.append("color: #adb5bd")
        return styles

    return frame.style.apply(colour, subset=DIGIT_CHOICES)


def bars(mistakes: Mistakes, lang: str | None = None) -> pd.DataFrame:
    """Accuracy per digit; the columns are named in `lang`, since the chart's axes and tooltip show them."""
    return pd.DataFrame({tr(lang, "mistakes.axis_digit"): DIGIT_CHOICES,
                         tr(lang, "mistakes.axis_accuracy"): [round(100 * a, 2) for a in mistakes.per_digit()]})


def bar_plot(frame: pd.DataFrame) -> gr.BarPlot:
    """The chart's update: the data with its axes (named as the frame's columns) and range."""
    digit, accuracy = frame.columns
    return gr.BarPlot(frame, x=digit, y=accuracy, y_lim=y_range(frame))


def y_range(frame: pd.DataFrame) -> list[float]:
    """From a little under the worst digit to 100%: the digits' differences are a few tenths of a percent."""
    low = float(frame.iloc[:, 1].min())
    return [max(0.0, float(np.floor(low)) - 1.0), 100.0]


def default_cell(mistakes: Mistakes) -> tuple[int, int]:
    """The most frequent mistake (true, read as); the first digit's diagonal when there is none."""
    off = mistakes.confusion.copy()
    np.fill_diagonal(off, -1)
    true, read = np.unravel_index(int(off.argmax()), off.shape)
    return (int(true), int(read)) if off[true, read] > 0 else (0, 0)


def cell_view(ctx: AppContext, mistakes: Mistakes, true: int, read: int,
              lang: str | None = None) -> tuple[str, list]:
    """(title, gallery) of one cell, the title in `lang`."""
    examples = mistakes.cell(true, read)
    shown = examples[:CELL_IMAGES]

    def images(n: int) -> str:
        return tr(lang, "mistakes.images_one" if n == 1 else "mistakes.images_many", n=f"{n:,}", true=true)

    caption = lambda e: f"#{e.index} · {100 * e.probability:.0f}%"  # noqa: E731
    if true == read:
        title = tr(lang, "mistakes.cell_right", images=images(len(examples)), shown=len(shown))
    elif not examples:
        title = tr(lang, "mistakes.cell_none", true=true, read=read)
    else:
        more = tr(lang, "mistakes.cell_wrong_more", shown=len(shown)) if len(examples) > len(shown) else ""
        title = tr(lang, "mistakes.cell_wrong", images=images(len(examples)), read=read, more=more)
    return title, gallery(ctx, shown, caption) if shown else []


# --------------------------------------------------------------------------- events

def create_event_handlers(ctx: AppContext, ui: MistakesUI, shared: Shared, tab: gr.Tab) -> None:
    """Opening the tab shows the visitor's model (or the one picked); the picker, a pair of digits or a click on a
    cell of the matrix show the rest."""
    visitor = shared.visitor
    group = dict(concurrency_id="mistakes", concurrency_limit=1, show_progress="minimal")
    everything = [ui.model, ui.status, ui.matrix, ui.true_digit, ui.read_as, ui.cell_title, ui.cell_gallery,
                  ui.worst, ui.per_digit, ui.seen_run]

    def show(choice: str, visitor: Visitor, seen_run, refresh_picker: bool) -> dict:
        lang = visitor.language
        options = choices(ctx, visitor, lang)
        values = [v for _, v in options]
        current = visitor.current
        run_id = current.run_id if current is not None else None
        if refresh_picker and run_id is not None and run_id != seen_run:
            choice = YOURS  # a model the visitor has not looked at here yet: theirs comes first
        if choice not in values:
            choice = values[0] if values else DEFAULT_NAME
        out = {ui.model: gr.Dropdown(choices=options, value=choice), ui.seen_run: run_id}
        start = time.perf_counter()
        try:
            mistakes, name, source = mistakes_for(ctx, visitor, choice)
        except DemoError as err:
            return {**out, ui.status: refused(error_text(err, lang), lang), ui.matrix: None, ui.cell_title: "",
                    ui.cell_gallery: None, ui.worst: None, ui.per_digit: None}
        true, read = default_cell(mistakes)
        title, cell = cell_view(ctx, mistakes, true, read, lang)
        wrong = int((mistakes.labels != mistakes.predicted).sum())
        worst = gallery(ctx, mistakes.worst(WORST),
                        lambda e: f"{e.true} → {e.predicted} · {100 * e.probability:.0f}%")
        frame = bars(mistakes, lang)
        elapsed = time.perf_counter() - start
        status = tr(lang, "mistakes.status", name=md_escape(name), accuracy=f"{100 * mistakes.accuracy:.2f}",
                    total=f"{mistakes.total:,}", wrong=wrong, source=source, elapsed=f"{elapsed:.1f}")
        return {**out, ui.status: status, ui.matrix: matrix_view(mistakes, lang), ui.true_digit: str(true),
                ui.read_as: str(read), ui.cell_title: title, ui.cell_gallery: cell, ui.worst: worst,
                ui.per_digit: bar_plot(frame)}

    def on_open(choice, visitor: Visitor, seen_run):
        return show(choice, visitor, seen_run, refresh_picker=True)

    tab.select(on_open, [ui.model, visitor, ui.seen_run], everything, api_visibility="private", **group)

    def on_pick(choice, visitor: Visitor, seen_run):
        """The confusion matrix, accuracy per digit and worst mistakes of one model on the test set: "default",
        a saved checkpoint's name, or "@current" for this session's own model."""
        if choice not in [v for _, v in choices(ctx, visitor)]:
            return {ui.status: refused(tr(visitor.language, "mistakes.not_available", choice=choice),
                                       visitor.language)}
        return show(choice, visitor, seen_run, refresh_picker=False)

    ui.model.input(on_pick, [ui.model, visitor, ui.seen_run], everything, api_name="mistakes", **group)

    cell_outputs = [ui.status, ui.true_digit, ui.read_as, ui.cell_title, ui.cell_gallery]

    def pair(choice, visitor: Visitor, true, read) -> dict:
        lang = visitor.language
        try:
            true_d = whole_number("true digit", true, 0, DIGITS - 1)
            read_d = whole_number("read as", read, 0, DIGITS - 1)
        except ConfigError as err:
            return {ui.status: refused(error_text(err, lang), lang)}
        if choice not in [v for _, v in choices(ctx, visitor)]:
            return {ui.status: refused(tr(lang, "mistakes.not_available", choice=choice), lang)}
        try:
            mistakes, _, _ = mistakes_for(ctx, visitor, choice)
        except DemoError as err:
            return {ui.status: refused(error_text(err, lang), lang)}
        title, images = cell_view(ctx, mistakes, true_d, read_d, lang)
        return {ui.true_digit: str(true_d), ui.read_as: str(read_d), ui.cell_title: title,
                ui.cell_gallery: images}

    def on_pair(choice, visitor: Visitor, true, read):
        """The test images whose true digit is `true` and that the model read as `read` (digits 0-9)."""
        return pair(choice, visitor, true, read)

    pair_inputs = [ui.model, visitor, ui.true_digit, ui.read_as]
    ui.true_digit.input(on_pair, pair_inputs, cell_outputs, api_name="mistakes_cell", **group)
    ui.read_as.input(on_pair, pair_inputs, cell_outputs, api_visibility="private", **group)

    def on_cell(choice, visitor: Visitor, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else None
        if index is None or not 1 <= int(index[1]) <= DIGITS:
            return {ui.cell_title: tr(visitor.language, "mistakes.click_a_count")}
        return pair(choice, visitor, int(index[0]), int(index[1]) - 1)

    ui.matrix.select(on_cell, [ui.model, visitor], cell_outputs, api_visibility="private", **group)
