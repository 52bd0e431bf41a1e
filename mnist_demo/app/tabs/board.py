"""The Class tab: the class's posted runs on one board (`core/board.py`, an SQLite file every server process shares).

A visitor picks a display name and posts one of their finished runs (nothing is posted without that press). The
board lists every post (sortable), overlays the posted runs' accuracy curves against images seen (the chosen ones
highlighted), and says the best so far per setting family (by lr, batch size, ...). Anyone can draw with a posted
run's model. A timer asks the board every REFRESH_S whether anything changed (its revision: microseconds) and redraws
only then. The teacher (`demo.py --teacher USER:PASS`) may remove posts, clear the board and export it as CSV.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from mnist_demo.app.core import board_text
from mnist_demo.app.core.board import DEFAULT_CLASS
from mnist_demo.app.core.board_rules import pack
from mnist_demo.app.core.board_view import DEFAULT_FAMILY, FAMILIES, curve_frame, refresh
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.current import BOARD, Origin, adopt
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.teacher import TeacherGate
from mnist_demo.app.core.texts import tr
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import t
from mnist_demo.app.server.shared import Shared
from mnist_demo.errors import DemoError

REFRESH_S = 3.0  # "a few seconds at most" between a post and every open board showing it; a tick costs ~5 us when
# nothing changed (benchmarks/board.py), so 40 pages polling cost nothing worth measuring


@dataclass
class BoardUI:
    heading: gr.Markdown
    name: gr.Textbox
    run: gr.Dropdown
    post: gr.Button
    post_status: gr.Markdown
    summary: gr.Markdown
    sort: gr.Dropdown
    descending: gr.Checkbox
    table: gr.Dataframe
    family: gr.Dropdown
    best: gr.Markdown
    highlight: gr.Dropdown
    curves: gr.LinePlot
    use: gr.Dropdown
    use_button: gr.Button
    use_status: gr.Markdown
    teacher_user: gr.Textbox
    teacher_password: gr.Textbox
    teacher_login: gr.Button
    remove: gr.Dropdown
    remove_button: gr.Button
    clear_confirm: gr.Checkbox
    clear_button: gr.Button
    export_button: gr.Button
    export_file: gr.File
    teacher_status: gr.Markdown
    timer: gr.Timer
    api_rows: gr.JSON
    api_button: gr.Button


def create_ui(ctx: AppContext) -> BoardUI:
    """The post form and the posted models on the left; the board, its best so far and its curves on the right."""
    named = ctx.settings.class_name != DEFAULT_CLASS
    heading = gr.Markdown(f"## {md_escape(ctx.settings.class_name)}" if named else t("board.heading"),
                          elem_id="board-heading")
    gr.Markdown(t("board.intro"), elem_classes=["mnist-small"], elem_id="board-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            name = gr.Textbox("", label=t("board.name_label"), placeholder=t("board.name_placeholder"),
                              max_length=24, elem_id="board-name")
            run = gr.Dropdown([], value=None, label=t("board.run_label"), allow_custom_value=True,
                              elem_id="board-run")
            post = gr.Button(t("board.post_button"), variant="primary", elem_id="board-post")
            post_status = gr.Markdown("", elem_id="board-post-status")
            use = gr.Dropdown([], value=None, label=t("board.use_label"), allow_custom_value=True,
                              elem_id="board-use")
            use_button = gr.Button(t("board.use_button"), elem_id="board-use-button")
            use_status = gr.Markdown("", elem_id="board-use-status")
            with gr.Accordion(t("board.teacher_title"), open=False, elem_id="board-teacher"):
                teacher_user = gr.Textbox("", label=t("board.teacher_user"), elem_id="board-teacher-user")
                teacher_password = gr.Textbox("", label=t("board.teacher_password"), type="password",
                                              elem_id="board-teacher-password")
                teacher_login = gr.Button(t("board.teacher_login"), elem_id="board-teacher-login")
                remove = gr.Dropdown([], value=None, label=t("board.remove_label"), allow_custom_value=True,
                                     elem_id="board-remove")
                remove_button = gr.Button(t("board.remove_button"), variant="stop", elem_id="board-remove-button")
                clear_confirm = gr.Checkbox(False, label=t("board.clear_confirm"), elem_id="board-clear-confirm")
                clear_button = gr.Button(t("board.clear_button"), variant="stop", elem_id="board-clear")
                export_button = gr.Button(t("board.export_button"), elem_id="board-export")
                export_file = gr.File(None, label=t("board.export_label"), interactive=False, visible=False,
                                      elem_id="board-export-file")
                teacher_status = gr.Markdown("", elem_id="board-teacher-status")
        with gr.Column(scale=3, min_width=360):
            summary = gr.Markdown("", elem_id="board-summary")
            with gr.Row():
                sort = gr.Dropdown([(t(f"board.sort_{k}"), k) for k in board_text.SORT_KEYS], value="accuracy",
                                   label=t("board.sort_label"), elem_id="board-sort", min_width=160)
                descending = gr.Checkbox(True, label=t("board.descending"), elem_id="board-descending",
                                         min_width=120)
            table = gr.Dataframe(board_text.table([]), interactive=False, wrap=False, max_height=340,
                                 label=t("board.table_label"), elem_id="board-table")
            highlight = gr.Dropdown([], value=[], multiselect=True, label=t("board.highlight_label"),
                                    allow_custom_value=True, elem_id="board-highlight")
            curves = gr.LinePlot(None, x="samples seen", y="accuracy", color="run", label=t("board.curves_label"),
                                 x_title=t("curves.x_samples_title"), y_title=t("train.accuracy_y"), y_lim=[0, 100],
                                 elem_id="board-curves")
            family = gr.Dropdown([(t(f"board.family_{f}"), f) for f in FAMILIES], value=DEFAULT_FAMILY,
                                 label=t("board.family_label"), elem_id="board-family")
            best = gr.Markdown("", elem_id="board-best")
    timer = gr.Timer(REFRESH_S)
    with gr.Group(visible=False):
        api_rows = gr.JSON(label="rows", elem_id="board-api-rows")
        api_button = gr.Button("class board", elem_id="board-api-button")
    return BoardUI(heading=heading, name=name, run=run, post=post, post_status=post_status, summary=summary,
                   sort=sort, descending=descending, table=table, family=family, best=best, highlight=highlight,
                   curves=curves, use=use, use_button=use_button, use_status=use_status, teacher_user=teacher_user,
                   teacher_password=teacher_password, teacher_login=teacher_login, remove=remove,
                   remove_button=remove_button, clear_confirm=clear_confirm, clear_button=clear_button,
                   export_button=export_button, export_file=export_file, teacher_status=teacher_status, timer=timer,
                   api_rows=api_rows, api_button=api_button)


def your_runs(visitor: Visitor, lang: str | None = None) -> list[tuple[str, str]]:
    """The visitor's kept runs, newest first, as the post form lists them."""
    names = visitor.runs.labels(lang=lang)
    return [(tr(lang, "board.run_option", number=r.number, label=names[r.number],
                accuracy=f"{100 * r.evaluation.accuracy:.2f}"), str(r.number)) for r in reversed(visitor.runs.all())]


def identify(visitor: Visitor, request: gr.Request | None) -> None:
    """The `--auth` login behind a call, as the page's open event records it: API clients never open the page, and
    a login posts (and is rate-limited) as itself in every session."""
    username = getattr(request, "username", None)
    if username:
        visitor.username = username


def create_event_handlers(ctx: AppContext, ui: BoardUI, shared: Shared, tab: gr.Tab) -> None:
    visitor = shared.visitor
    gate = TeacherGate(ctx.settings.teacher)
    view_inputs = [ui.sort, ui.descending, ui.highlight, ui.family, visitor]
    board_outputs = [ui.summary, ui.table, ui.highlight, ui.curves, ui.best, ui.use, ui.remove]
    group = dict(concurrency_id="board", concurrency_limit=4)

    def drawn(sort, descending, highlight, family, visitor: Visitor, keep_highlight: bool = False) -> dict:
        """The board as it is now, in the visitor's language (an unavailable board says why).

        The highlight picker gets the posts as its choices; its value is sent back only when a chosen post has left
        the board, and never when the picker itself asked (`keep_highlight`): a value sent back would undo a choice
        made while this redraw was on its way."""
        lang = visitor.language
        if ctx.board is None:
            return {ui.summary: refused(tr(lang, "board.unavailable", why=error_text(ctx.board_problem, lang)), lang)}
        family = family if family in FAMILIES else DEFAULT_FAMILY
        try:
            view = refresh(ctx.board, sort if sort in board_text.SORT_KEYS else "accuracy", bool(descending),
                           highlight or (), family, owner=visitor.owner)
        except DemoError as err:
            return {ui.summary: refused(error_text(err, lang), lang)}
        with visitor.lock:
            visitor.board_seen = (view.revision, lang)
        every = board_text.choices(view.rows)
        kept = board_text.choices(view.rows, with_model=True)
        present = {value for _, value in every}
        chosen = [str(i) for i in highlight or ()]
        shown = [i for i in chosen if i in present]
        picker = gr.skip() if keep_highlight else \
            gr.Dropdown(choices=every) if shown == chosen else gr.Dropdown(choices=every, value=shown)
        return {ui.summary: board_text.summary(view, ctx.board.class_name, lang),
                ui.table: board_text.table(view.rows, lang), ui.highlight: picker, ui.curves: curve_frame(view),
                ui.best: board_text.best_text(view.best[family], family, lang),
                ui.use: gr.Dropdown(choices=kept), ui.remove: gr.Dropdown(choices=every)}

    def tick(sort, descending, highlight, family, visitor: Visitor):
        """The timer: redraw only when the board changed (any process's post) or the language did."""
        if ctx.board is None or visitor.board_seen == (ctx.board.revision(), visitor.language):
            return {c: gr.skip() for c in board_outputs}
        return drawn(sort, descending, highlight, family, visitor)

    ui.timer.tick(tick, view_inputs, board_outputs, api_visibility="private", show_progress="hidden", **group)
    for control in (ui.sort, ui.descending, ui.family):
        control.input(drawn, view_inputs, board_outputs, api_visibility="private", show_progress="hidden",
                      trigger_mode="always_last", **group)
    ui.highlight.input(lambda *values: drawn(*values, keep_highlight=True), view_inputs, board_outputs,
                       api_visibility="private", show_progress="hidden", trigger_mode="always_last", **group)

    def on_open(sort, descending, highlight, family, visitor: Visitor, request: gr.Request):
        """The tab opened: the visitor's runs to post, whether they are the teacher, and the board."""
        lang = visitor.language
        runs = your_runs(visitor, lang)
        out = {ui.run: gr.Dropdown(choices=runs, value=runs[0][1] if runs else None),
               **drawn(sort, descending, highlight, family, visitor)}
        if gate.is_teacher_login(getattr(request, "username", None)) and not visitor.teacher:
            visitor.teacher = True
            out[ui.teacher_status] = tr(lang, "board.teacher_ok")
        return out

    tab.select(on_open, view_inputs, [ui.run, ui.teacher_status, *board_outputs], api_visibility="private",
               show_progress="hidden", **group)

    def post(name, run=None, sort="accuracy", descending=True, highlight=(), family=DEFAULT_FAMILY,
             visitor: Visitor = None, request: gr.Request = None):
        """Post one of your finished runs to the class board under the display `name` (1-24 letters, digits,
        spaces and - _ . '): `run` is its number in your runs table (None: your latest). Nothing is posted without
        this call. The other inputs say how the board comes back (as the Class tab shows it)."""
        lang = visitor.language
        if ctx.board is None:
            return {ui.post_status: refused(tr(lang, "board.unavailable", why=error_text(ctx.board_problem, lang)),
                                            lang)}
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
                **drawn(sort, descending, highlight, family, visitor)}

    ui.post.click(post, [ui.name, ui.run, *view_inputs], [ui.post_status, *board_outputs], api_name="post_run",
                  **group)

    def use(post_id, visitor: Visitor):
        """Make a posted run's model your current model (for the Draw and Mistakes tabs): `post_id` is its number
        on the board (the `id` of a `/class_board` row)."""
        lang = visitor.language
        if ctx.board is None or not post_id:
            return {ui.use_status: refused(tr(lang, "board.pick_a_post"), lang)}
        try:
            checkpoint = ctx.board.model(post_id)
            post = ctx.board.get(int(post_id))
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
        return [{**vars(p), "mine": p.mine} for p in ctx.board.rows(owner=visitor.owner)]

    ui.api_button.click(rows, [visitor], [ui.api_rows], api_name="class_board", queue=False)
    create_teacher_handlers(ctx, ui, shared, gate, view_inputs, board_outputs, drawn)
    shared.on_language(lambda v, *values: drawn(*values, v), board_outputs, view_inputs[:-1])


def create_teacher_handlers(ctx, ui: BoardUI, shared: Shared, gate: TeacherGate, view_inputs, board_outputs,
                            drawn) -> None:
    """Log in as the teacher; remove a post, clear the board, export it as CSV (each checked on the server)."""
    visitor = shared.visitor

    def is_teacher(visitor: Visitor, request: gr.Request | None) -> bool:
        if gate.is_teacher_login(getattr(request, "username", None)):
            visitor.teacher = True
        return visitor.teacher

    def login(user, password, visitor: Visitor):
        lang = visitor.language
        said = gate.check(user, password)
        if said == "ok":
            visitor.teacher = True
            return {ui.teacher_status: tr(lang, "board.teacher_ok"), ui.teacher_password: ""}
        return {ui.teacher_status: refused(tr(lang, f"board.teacher_{said}"), lang), ui.teacher_password: ""}

    ui.teacher_login.click(login, [ui.teacher_user, ui.teacher_password, visitor],
                           [ui.teacher_status, ui.teacher_password], api_visibility="private",
                           concurrency_id="board", concurrency_limit=4)

    def remove(post_id, sort, descending, chosen, family, visitor: Visitor, request: gr.Request):
        """The teacher removes one post from the board."""
        lang = visitor.language
        if not is_teacher(visitor, request):
            return {ui.teacher_status: refused(tr(lang, "board.not_teacher"), lang)}
        try:
            gone = ctx.board.remove(post_id)
        except DemoError as err:
            return {ui.teacher_status: refused(error_text(err, lang), lang)}
        key = "board.removed" if gone else "board.already_gone"
        return {ui.teacher_status: tr(lang, key, post=md_escape(str(post_id))),
                **drawn(sort, descending, chosen, family, visitor)}

    ui.remove_button.click(remove, [ui.remove, *view_inputs], [ui.teacher_status, *board_outputs],
                           api_name="remove_post", concurrency_id="board", concurrency_limit=4)

    def clear(confirmed, sort, descending, chosen, family, visitor: Visitor, request: gr.Request):
        """The teacher clears the whole board (the box must be ticked first)."""
        lang = visitor.language
        if not is_teacher(visitor, request):
            return {ui.teacher_status: refused(tr(lang, "board.not_teacher"), lang)}
        if confirmed is not True:
            return {ui.teacher_status: refused(tr(lang, "board.clear_unconfirmed"), lang)}
        count = ctx.board.clear()
        return {ui.teacher_status: tr(lang, "board.cleared", count=count), ui.clear_confirm: False,
                **drawn(sort, descending, chosen, family, visitor)}

    ui.clear_button.click(clear, [ui.clear_confirm, *view_inputs],
                          [ui.teacher_status, ui.clear_confirm, *board_outputs], api_name="clear_board",
                          concurrency_id="board", concurrency_limit=4)

    def export(visitor: Visitor, request: gr.Request):
        """The teacher downloads the board as CSV (spreadsheet formulas neutralised)."""
        lang = visitor.language
        if not is_teacher(visitor, request):
            return {ui.teacher_status: refused(tr(lang, "board.not_teacher"), lang),
                    ui.export_file: gr.File(value=None, visible=False)}
        folder = Path(tempfile.mkdtemp(prefix="class-board-"))
        path = folder / f"{ctx.board.class_name.replace(' ', '-')}.csv"
        path.write_text(ctx.board.export_csv(), encoding="utf-8")
        return {ui.teacher_status: tr(lang, "board.exported", count=ctx.board.count()),
                ui.export_file: gr.File(value=str(path), visible=True)}

    ui.export_button.click(export, [visitor], [ui.teacher_status, ui.export_file], api_name="export_board",
                           concurrency_id="board", concurrency_limit=4)
