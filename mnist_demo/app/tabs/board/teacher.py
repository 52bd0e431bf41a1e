"""The Class tab's Teacher part: log in as the teacher (`--teacher USER:PASS`, or the app's own `--auth` login of that
user), then remove a post, clear the board, export it as CSV. Every one is checked on the server, per call."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from mnist_demo.app.core.board import text as board_text
from mnist_demo.app.core.board.teacher import TeacherGate
from mnist_demo.app.core.board.view import DEFAULT_FAMILY
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.shared import Shared
from mnist_demo.app.tabs.board.layout import BoardUI
from mnist_demo.app.tabs.board.view import Redraw
from mnist_demo.errors import DemoError
from mnist_demo.texts import tr

KEPT_EXPORTS = 5


def create_teacher_handlers(ctx: AppContext, ui: BoardUI, shared: Shared, gate: TeacherGate, redraw: Redraw) -> None:
    visitor = shared.visitor
    group = dict(concurrency_id="board", concurrency_limit=4)
    # this server's CSV files, one folder per export (the file keeps the class's name), the newest KEPT_EXPORTS kept
    # (Gradio has copied each into its cache by the time the next one is made); removed when the server ends
    exports = tempfile.TemporaryDirectory(prefix="class-board-")

    def refusal(visitor: Visitor, request: gr.Request | None) -> str | None:
        """Why this caller may not do the teacher's things (no board, not the teacher), or None."""
        lang = visitor.language
        if why := redraw.unavailable(lang):
            return why
        if gate.is_teacher_login(getattr(request, "username", None)):
            visitor.teacher = True
        return None if visitor.teacher else refused(tr(lang, "board.not_teacher"), lang)

    def login(user, password, visitor: Visitor):
        lang = visitor.language
        said = gate.check(user, password, visitor.id)
        if said == "ok":
            visitor.teacher = True
            return {ui.teacher_status: tr(lang, "board.teacher_ok"), ui.teacher_password: ""}
        return {ui.teacher_status: refused(tr(lang, f"board.teacher_{said}"), lang), ui.teacher_password: ""}

    ui.teacher_login.click(login, [ui.teacher_user, ui.teacher_password, visitor],
                           [ui.teacher_status, ui.teacher_password], api_visibility="private", **group)
    ui.teacher_password.submit(login, [ui.teacher_user, ui.teacher_password, visitor],
                               [ui.teacher_status, ui.teacher_password], api_visibility="private", **group)

    def remove(post_id, sort="accuracy", descending=True, highlight=(), family=DEFAULT_FAMILY, visitor: Visitor = None,
               request: gr.Request = None):
        """The teacher removes one post (its `id` on the board) and its model. The other inputs say how the board
        comes back."""
        if why := refusal(visitor, request):
            return {ui.teacher_status: why}
        lang = visitor.language
        try:
            gone = ctx.board.remove(post_id)
        except DemoError as err:
            return {ui.teacher_status: refused(error_text(err, lang), lang)}
        key = "board.removed" if gone else "board.already_gone"
        out = redraw(sort, descending, highlight, family, visitor)
        picker = out.get(ui.remove)
        if picker is not None:  # the removed post leaves the picker too
            out[ui.remove] = gr.Dropdown(choices=picker.choices, value=None)
        return {ui.teacher_status: tr(lang, key, post=md_escape(str(post_id))), **out}

    redraw.wire(ui.remove_button.click(remove, [ui.remove, *redraw.inputs, visitor],
                                       [ui.teacher_status, *redraw.outputs], api_name="remove_post", **group),
                visitor)

    def clear(confirmed=False, sort="accuracy", descending=True, highlight=(), family=DEFAULT_FAMILY,
              visitor: Visitor = None, request: gr.Request = None):
        """The teacher clears the whole board: every post and model (`confirmed` must be true)."""
        if why := refusal(visitor, request):
            return {ui.teacher_status: why}
        lang = visitor.language
        if confirmed is not True:
            return {ui.teacher_status: refused(tr(lang, "board.clear_unconfirmed"), lang)}
        try:
            count = ctx.board.clear()
        except DemoError as err:
            return {ui.teacher_status: refused(error_text(err, lang), lang)}
        return {ui.teacher_status: board_text.counted("cleared", count, lang), ui.clear_confirm: False,
                **redraw(sort, descending, highlight, family, visitor)}

    redraw.wire(ui.clear_button.click(clear, [ui.clear_confirm, *redraw.inputs, visitor],
                                      [ui.teacher_status, ui.clear_confirm, *redraw.outputs], api_name="clear_board",
                                      **group), visitor)

    def export(visitor: Visitor, request: gr.Request):
        """The teacher's CSV of the board: one row per post, oldest first, times in UTC, no poster's identity;
        a cell a spreadsheet would read as a formula starts with '."""
        if why := refusal(visitor, request):
            return {ui.teacher_status: why, ui.export_file: None}
        lang = visitor.language
        try:
            text = ctx.board.export_csv()
        except DemoError as err:
            return {ui.teacher_status: refused(error_text(err, lang), lang), ui.export_file: None}
        path = Path(tempfile.mkdtemp(dir=exports.name)) / f"{ctx.board.class_name.replace(' ', '-')}.csv"
        path.write_text(text, encoding="utf-8")
        for old in sorted(Path(exports.name).iterdir(), key=lambda p: p.stat().st_mtime)[:-KEPT_EXPORTS]:
            shutil.rmtree(old, ignore_errors=True)
        return {ui.teacher_status: board_text.counted("exported", len(list(csv.reader(io.StringIO(text)))) - 1, lang),
                ui.export_file: str(path)}

    ui.export_button.click(export, [visitor], [ui.teacher_status, ui.export_file], api_name="export_board", **group)
