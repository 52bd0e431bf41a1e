"""The Class tab's components (`create_ui`): the post form and the posted models on the left, the Teacher's part
folded under them; the board, its curves and the best so far on the right. The elem_ids name the components on the
API page too (`server/api_names.py`: "board-post-status" is `board_post_status` there)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from mnist_demo.app.core.board import text as board_text
from mnist_demo.app.core.board.store import DEFAULT_CLASS
from mnist_demo.app.core.board.view import DEFAULT_FAMILY, FAMILIES
from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import md_escape
from mnist_demo.app.server.i18n import t

REFRESH_S = 3.0  # "a few seconds at most" between a post and every open board showing it; a tick costs ~5 us when
# nothing changed (benchmarks/board.py). It ticks only while the Class tab is shown: a page that had opened the tab
# once went on sending a request every 3 s on any tab, and receiving the whole board after every post (122 KB at
# 200 posts), for as long as it stayed open


@dataclass
class BoardUI:
    heading: gr.Markdown
    name: gr.Textbox
    run: gr.Dropdown
    runs_seen: gr.State  # the visitor's run numbers the run picker lists (the timer lists new ones)
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
    plot: gr.State  # the curves' colours, sent after their data (see `view.py`)
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
    named = ctx.settings.class_name != DEFAULT_CLASS
    heading = gr.Markdown(f"## {md_escape(ctx.settings.class_name)}" if named else t("board.heading"),
                          elem_id="board-heading")
    gr.Markdown(t("board.intro"), elem_classes=["mnist-small"], elem_id="board-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            name = gr.Textbox("", label=t("board.name_label"), placeholder=t("board.name_placeholder"),
                              max_length=24, elem_id="board-name")
            run = gr.Dropdown([], value=None, label=t("board.run_label"), allow_custom_value=True,
                              elem_id="board-run")
            runs_seen = gr.State(())
            post = gr.Button(t("board.post_button"), variant="primary", elem_id="board-post")
            post_status = gr.Markdown("", elem_id="board-post-status")
            use = gr.Dropdown([], value=None, label=t("board.use_label"), allow_custom_value=True,
                              elem_id="board-use-post")
            use_button = gr.Button(t("board.use_button"), elem_id="board-use-button")
            use_status = gr.Markdown("", elem_id="board-use-status")
            with gr.Accordion(t("board.teacher_title"), open=False, elem_id="board-teacher"):
                teacher_user = gr.Textbox("", label=t("board.teacher_user"), elem_id="board-teacher-user")
                teacher_password = gr.Textbox("", label=t("board.teacher_password"), type="password",
                                              elem_id="board-teacher-password")
                teacher_login = gr.Button(t("board.teacher_login"), elem_id="board-teacher-login")
                teacher_status = gr.Markdown("", elem_id="board-teacher-status")
                remove = gr.Dropdown([], value=None, label=t("board.remove_label"), allow_custom_value=True,
                                     elem_id="board-remove-post")
                remove_button = gr.Button(t("board.remove_button"), variant="stop", elem_id="board-remove-button")
                clear_confirm = gr.Checkbox(False, label=t("board.clear_confirm"), elem_id="board-clear-confirm")
                clear_button = gr.Button(t("board.clear_button"), variant="stop", elem_id="board-clear")
                export_button = gr.Button(t("board.export_button"), elem_id="board-export")
                export_file = gr.File(None, label=t("board.export_label"), interactive=False,
                                      elem_id="board-export-file")
        with gr.Column(scale=2, min_width=300):
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
                                 x_axis_format="~s",  # 2.5k, 60k: a phone's axis has room for short ticks
                                 elem_id="board-curves")
            plot = gr.State(None)
            family = gr.Dropdown([(t(f"board.family_{f}"), f) for f in FAMILIES], value=DEFAULT_FAMILY,
                                 label=t("board.family_label"), elem_id="board-family")
            best = gr.Markdown("", elem_id="board-best")
    timer = gr.Timer(REFRESH_S, active=False)  # started when the tab opens, stopped when another one does
    with gr.Group(visible=False):
        api_rows = gr.JSON(label="rows", elem_id="board-api-rows")
        api_button = gr.Button("class board", elem_id="board-api-button")
    return BoardUI(heading=heading, name=name, run=run, runs_seen=runs_seen, post=post, post_status=post_status,
                   summary=summary, sort=sort, descending=descending, table=table, family=family, best=best,
                   highlight=highlight, curves=curves, plot=plot, use=use, use_button=use_button, use_status=use_status,
                   teacher_user=teacher_user, teacher_password=teacher_password, teacher_login=teacher_login,
                   remove=remove, remove_button=remove_button, clear_confirm=clear_confirm, clear_button=clear_button,
                   export_button=export_button, export_file=export_file, teacher_status=teacher_status, timer=timer,
                   api_rows=api_rows, api_button=api_button)
