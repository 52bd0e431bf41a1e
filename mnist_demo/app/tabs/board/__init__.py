"""The Class tab: the class's posted runs on one board (`core/board/store.py`, an SQLite file every server process
shares).

A visitor picks a display name and posts one of their finished runs (nothing is posted without that press). The
board lists every post (sortable), overlays the posted runs' accuracy curves against images seen (the chosen ones
highlighted), and says the best so far per setting family (by lr, batch size, ...). Anyone can draw with a posted
run's model. While the tab is shown, a timer asks the board every REFRESH_S whether anything changed (its revision)
and redraws only then.
The teacher (`demo.py --teacher USER:PASS`) may remove posts, clear the board and export it as CSV
(`teacher.py`, over `core/board/teacher.py`).

The parts: `layout.py` (the components), `view.py` (the redraw and its timer), `teacher.py`; here, the visitor's
events: opening the tab, posting, drawing with a posted model, and the board's rows for API clients.
"""

from __future__ import annotations

import gradio as gr

from mnist_demo.app.core.board import text as board_text
from mnist_demo.app.core.board.rules import pack
from mnist_demo.app.core.board.teacher import TeacherGate
from mnist_demo.app.core.board.view import DEFAULT_FAMILY
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.current import BOARD, Origin, adopt
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.shared import Shared
from mnist_demo.app.tabs.board.layout import REFRESH_S, BoardUI, create_ui
from mnist_demo.app.tabs.board.teacher import create_teacher_handlers
from mnist_demo.app.tabs.board.view import Redraw
from mnist_demo.errors import DemoError
from mnist_demo.texts import tr

__all__ = ["REFRESH_S", "BoardUI", "create_event_handlers", "create_ui"]


def your_runs(visitor: Visitor, lang: str | None = None) -> list[tuple[str, str]]:
    """The visitor's kept runs, newest first, as the post form lists them."""
    return [(tr(lang, "board.run_option", number=r.number, model=r.config.model, lr=f"{r.config.lr:g}",
                batch=r.config.batch_size, accuracy=f"{100 * r.evaluation.accuracy:.2f}"), str(r.number))
            for r in reversed(visitor.runs.all())]


def identify(visitor: Visitor, request: gr.Request | None) -> None:
    """The `--auth` login behind a call, as the page's open event records it: API clients never open the page, and
    a login posts (and is rate-limited) as itself in every session."""
    username = getattr(request, "username", None)
    if username:
        visitor.username = username


def create_event_handlers(ctx: AppContext, ui: BoardUI, shared: Shared, tab: gr.Tab) -> None:
    visitor = shared.visitor
    gate = TeacherGate(ctx.settings.teacher)
    redraw = Redraw(ctx, ui)
    view_inputs = [*redraw.inputs, visitor]
    group = dict(concurrency_id="board", concurrency_limit=4)
    quiet = dict(api_visibility="private", show_progress="hidden")

    def run_picker(visitor: Visitor, chosen) -> dict:
        """The post form's run picker: the visitor's runs, newest first, keeping `chosen` while it is one of them."""
        runs = your_runs(visitor, visitor.language)
        values = [value for _, value in runs]
        value = str(chosen) if str(chosen) in values else values[0] if values else None
        return {ui.run: gr.Dropdown(choices=runs, value=value), ui.runs_seen: tuple(visitor.runs.numbers())}

    def tick(sort, descending, highlight, family, run, runs_seen, visitor: Visitor):
        """The timer: the board when it changed, and the run picker when the visitor's runs did (a run that ends
        while the visitor waits on this tab can be posted at once)."""
        out = redraw.tick(sort, descending, highlight, family, visitor)
        if tuple(visitor.runs.numbers()) != tuple(runs_seen or ()):
            return {**out, **run_picker(visitor, run)}
        return {**out, ui.run: gr.skip(), ui.runs_seen: gr.skip()}

    redraw.wire(ui.timer.tick(tick, [*redraw.inputs, ui.run, ui.runs_seen, visitor],
                              [*redraw.outputs, ui.run, ui.runs_seen], **quiet, **group), visitor)
    for control in (ui.sort, ui.descending, ui.family):
        redraw.wire(control.input(redraw, view_inputs, redraw.outputs, trigger_mode="always_last", **quiet, **group),
                    visitor)
    redraw.wire(ui.highlight.input(lambda *values: redraw(*values, keep_highlight=True), view_inputs, redraw.outputs,
                                   trigger_mode="always_last", **quiet, **group), visitor)

    def on_open(sort, descending, highlight, family, run, visitor: Visitor, request: gr.Request):
        """The tab opened: the visitor's runs to post, whether they are the teacher, the board, and its timer."""
        out = {**run_picker(visitor, run), **redraw(sort, descending, highlight, family, visitor),
               ui.timer: gr.Timer(active=True)}
        if gate.is_teacher_login(getattr(request, "username", None)) and not visitor.teacher:
            visitor.teacher = True
            out[ui.teacher_status] = tr(visitor.language, "board.teacher_ok")
        return out

    redraw.wire(tab.select(on_open, [*redraw.inputs, ui.run, visitor],
                           [ui.run, ui.runs_seen, ui.teacher_status, ui.timer, *redraw.outputs], **quiet, **group),
                visitor)
    for other in shared.tabs:
        if other is not tab:  # another tab opened: the board is out of sight, its timer stops
            other.select(lambda: gr.Timer(active=False), None, ui.timer, queue=False, **quiet)

    def post(name, run=None, sort="accuracy", descending=True, highlight=(), family=DEFAULT_FAMILY,
             visitor: Visitor = None, request: gr.Request = None):
        """Post one of your finished runs to the class board under the display `name` (1-24 letters, digits,
        spaces and - _ . '): `run` is its number in your runs table (None: your latest). Nothing is posted without
        this call. The other inputs say how the board comes back (as the Class tab shows it)."""
        lang = visitor.language
        if why := redraw.unavailable(lang):
            return {ui.post_status: why}
        identify(visitor, request)
        finished = visitor.runs.all()
        if not finished:
            return {ui.post_status: refused(tr(lang, "board.no_run"), lang)}
        kept = finished[-1] if run in (None, "") else visitor.runs.get(run)
        if kept is None:
            return {ui.post_status: refused(tr(lang, "board.no_such_run", run=str(run)[:20]), lang)}
        try:
            record = board_text.record(kept)
            post_id = ctx.board.post(visitor.owner, name, record, pack(kept.model, kept.meta))
        except DemoError as err:
            return {ui.post_status: refused(error_text(err, lang), lang)}
        what = f"{kept.config.model}, lr {kept.config.lr:g}, {record.accuracy_pct:.2f}%"
        return {ui.post_status: tr(lang, "board.posted", post=post_id, what=md_escape(what)),
                **redraw(sort, descending, highlight, family, visitor)}

    redraw.wire(ui.post.click(post, [ui.name, ui.run, *view_inputs], [ui.post_status, *redraw.outputs],
                              api_name="post_run", **group), visitor)

    def use(post_id, visitor: Visitor):
        """Make a posted run's model your current model (for the Draw and Mistakes tabs): `post_id` is its number
        on the board (the `id` of a `/class_board` row)."""
        lang = visitor.language
        if why := redraw.unavailable(lang):
            return {ui.use_status: why}
        if not post_id:
            return {ui.use_status: refused(tr(lang, "board.pick_a_post"), lang)}
        try:
            checkpoint = ctx.board.model(post_id)
            post = ctx.board.get(checkpoint.name.removeprefix("board-"))
        except DemoError as err:
            return {ui.use_status: refused(error_text(err, lang), lang)}
        label = f"{post.name} #{post.id}" if post else f"#{post_id}"
        adopt(visitor, checkpoint.model, checkpoint.meta, Origin(BOARD, label), name=checkpoint.name)
        return {ui.use_status: tr(lang, "board.used", label=md_escape(label)), **shared.refresh_draw(visitor)}

    ui.use_button.click(use, [ui.use, visitor], [ui.use_status, *shared.refresh_draw.outputs],
                        api_name="use_posted_model", **group)

    def rows(visitor: Visitor, request: gr.Request):
        """The class board's rows, best first: every posted run's id, name, settings and figures, and whether you
        posted it (`mine`)."""
        if ctx.board is None:
            return []
        identify(visitor, request)
        return [vars(p) for p in ctx.board.rows(owner=visitor.owner)]

    ui.api_button.click(rows, [visitor], [ui.api_rows], api_name="class_board", queue=False)
    create_teacher_handlers(ctx, ui, shared, gate, redraw)
    shared.on_language(redraw.in_language, redraw.outputs, redraw.inputs)
