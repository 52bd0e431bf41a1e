"""The Class tab's redraw (`Redraw`): the board as one visitor's page shows it, as updates for its components, and
when it is sent again (the timer: only when the board or the language changed).

The curves go in two steps. Gradio's LinePlot (6.31) builds its colour scale from the data it holds when it builds
its chart, and afterwards only swaps the data (see `core/runs/curves.py`): a curve added later is not drawn, and colours
sent in the same message as new data are applied to the data it held before. So a redraw sends the curves' data
and keeps their colours in the tab's `plot` state; `style`, chained after every redraw, sends the colours and the
legend's title. The colour map names every curve drawn, so new curves change it, which rebuilds the chart.
"""

from __future__ import annotations

import gradio as gr

from mnist_demo.app.core.board import text as board_text
from mnist_demo.app.core.board.view import DEFAULT_FAMILY, FAMILIES, curve_colours, curve_frame, refresh
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, refused
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.tabs.board.layout import BoardUI
from mnist_demo.errors import DemoError
from mnist_demo.texts import tr


class Redraw:
    """`redraw(sort, descending, highlight, family, visitor) -> {component: update}` for `outputs`."""

    def __init__(self, ctx: AppContext, ui: BoardUI):
        self.ctx, self.ui = ctx, ui
        self.inputs = [ui.sort, ui.descending, ui.highlight, ui.family]  # the page's choices; then the visitor
        self.outputs = [ui.summary, ui.table, ui.highlight, ui.curves, ui.best, ui.use, ui.remove, ui.plot]

    def unavailable(self, lang: str | None) -> str | None:
        """Why this server has no board (a refusal line), or None when it has one."""
        if self.ctx.board is not None:
            return None
        return refused(tr(lang, "board.unavailable", why=error_text(self.ctx.board_problem, lang)), lang)

    def __call__(self, sort, descending, highlight, family, visitor: Visitor, keep_highlight: bool = False) -> dict:
        """The board as it is now, in the visitor's language (an unavailable board says why).

        The highlight picker gets the posts as its choices; its value is sent back only when a chosen post has left
        the board, and never when the picker itself asked (`keep_highlight`): a value sent back would undo a choice
        made while this redraw was on its way."""
        ui, lang = self.ui, visitor.language
        if why := self.unavailable(lang):
            return {ui.summary: why}
        family = family if family in FAMILIES else DEFAULT_FAMILY
        try:
            view = refresh(self.ctx.board, sort if sort in board_text.SORT_KEYS else "accuracy", bool(descending),
                           highlight or (), family, owner=visitor.owner)
        except DemoError as err:
            return {ui.summary: refused(error_text(err, lang), lang)}
        with visitor.lock:
            visitor.board_seen = (view.revision, lang)
        every = board_text.choices(view.rows)
        present = {value for _, value in every}
        chosen = [str(i) for i in highlight or ()]
        shown = [i for i in chosen if i in present]
        picker = gr.skip() if keep_highlight else \
            gr.Dropdown(choices=every) if shown == chosen else gr.Dropdown(choices=every, value=shown, multiselect=True)
        return {ui.summary: board_text.summary(view, self.ctx.board.class_name, lang),
                ui.table: board_text.table(view.rows, lang), ui.highlight: picker, ui.curves: curve_frame(view),
                ui.best: board_text.best_text(view.best[family], family, lang),
                ui.use: gr.Dropdown(choices=board_text.choices(view.rows, with_model=True)),
                ui.remove: gr.Dropdown(choices=every), ui.plot: {"colours": curve_colours(view), "pending": True}}

    def tick(self, sort, descending, highlight, family, visitor: Visitor) -> dict:
        """The timer: redraw only when the board changed (any process's write) or the language did."""
        board = self.ctx.board
        try:
            unchanged = board is None or visitor.board_seen == (board.revision(), visitor.language)
        except DemoError:  # the file busy past its timeout, or gone: the next tick asks again (no error each tick)
            unchanged = True
        if unchanged:
            return {c: gr.skip() for c in self.outputs}
        return self(sort, descending, highlight, family, visitor)

    def style(self, plot, visitor: Visitor) -> dict:
        """The curves' colours and legend, after their data (see the module's docstring); nothing when sent."""
        ui = self.ui
        if not isinstance(plot, dict) or not plot.get("pending"):
            return {ui.curves: gr.skip(), ui.plot: gr.skip()}
        return {ui.curves: gr.LinePlot(**self.plot_style(plot, visitor.language)), ui.plot: dict(plot, pending=False)}

    @staticmethod
    def plot_style(plot: dict, lang: str | None) -> dict:
        """The plot's colours and titles, in `lang`. The axis titles go as text too: a chart rebuilt before the
        page had translated its declared titles showed their translation markers."""
        return dict(color_map=plot["colours"] or None, color_title=tr(lang, "board.legend"),
                    x_title=tr(lang, "curves.x_samples_title"), y_title=tr(lang, "train.accuracy_y"))

    def in_language(self, visitor: Visitor, *values) -> dict:
        """The redraw for a language switch (and the page's opening), which the page sends without a chained step:
        the curves' data and colours in one message, right while the curves stay the ones the plot holds; the next
        tick redraws in two steps (the board may have changed meanwhile)."""
        out = self(*values, visitor)
        plot = out.get(self.ui.plot)
        if plot is not None:
            out[self.ui.curves] = gr.LinePlot(out[self.ui.curves], **self.plot_style(plot, visitor.language))
            with visitor.lock:
                visitor.board_seen = None
        return out

    def wire(self, event, visitor_state: gr.State) -> None:
        """Chain `style` after an event whose outputs include the redraw's."""
        event.then(self.style, [self.ui.plot, visitor_state], [self.ui.curves, self.ui.plot],
                   api_visibility="private", show_progress="hidden", queue=False)
