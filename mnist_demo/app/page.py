"""The page: `build_app(settings) -> gr.Blocks` puts the six tabs (Train, Draw, Mistakes, CPU vs CUDA, Class,
Checkpoints) on one page under the heading and the language switch, and wires what belongs to the page itself:
opening it, the language switch (every tab's registered redraws in one event), the tabs' own redraws when opened,
the line's status for API clients, and a closed page's jobs.

Layout first (each tab's `create_ui`), then the events (each tab's `create_event_handlers`, with the `Shared`
things of the page); every computation goes through the engine (`mnist_demo.*`) or the core. Nothing is loaded
while the page is built: MNIST loads on the first training, checkpoints are listed when a page opens.

Launch with `kwargs, rest = launch_kwargs(demo, settings, auth=...)` and `demo.launch(**kwargs)`: the
arguments add the CSS (`static/app.css`), the languages (`server.i18n.I18N` and `static/language_head.js`), the
upload size limit, the checkpoint folder as an allowed path for downloads, and the plain `POST /api/predict`
route `rest` (`server/rest.py`) under the same accounts.
"""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.jobs.reasons import PAGE_CLOSED
from mnist_demo.app.core.settings import Settings
from mnist_demo.app.core.visitor import Visitor, close_visitor, new_visitor
from mnist_demo.app.server import editor_guard, i18n
from mnist_demo.app.server.api_names import NamedApi
from mnist_demo.app.server.i18n import t
from mnist_demo.app.server.rest import PredictRoute
from mnist_demo.app.server.shared import Refresher, Shared
from mnist_demo.app.tabs import bench, board, checkpoints, draw, mistakes, train
from mnist_demo.app.tabs.draw import look_inside
from mnist_demo.texts import DEFAULT, pick

__all__ = ["build_app", "launch_kwargs"]

TITLE = "MNIST, hands on"

STATIC = Path(__file__).with_name("static")
CSS = (STATIC / "app.css").read_text(encoding="utf-8")  # passed to demo.launch by launch_kwargs
PAGE_JS = (STATIC / "page.js").read_text(encoding="utf-8")  # runs on load and when the Draw tab opens
HEAD = f"<script>{(STATIC / 'language_head.js').read_text(encoding='utf-8')}</script>"  # before Gradio starts
JOB_THREADS = ("train-", "finetune-", "benchmark-")  # the names of the runner's threads (`queue_status` counts them)


def build_app(settings: Settings | None = None) -> NamedApi:
    """The whole app for these settings (not launched). `demo.mnist_context` holds its services."""
    settings = settings or Settings()
    ctx = AppContext(settings)
    with NamedApi(title=TITLE, analytics_enabled=False) as demo:  # the API page names things in plain English
        visitor = gr.State(new_visitor(), delete_callback=close_visitor)  # deep-copied per session: fresh
        with gr.Row(elem_id="app-header"):
            gr.Markdown(t("app.heading"), elem_id="app-title")
            language = gr.Radio(i18n.choices(), value=DEFAULT, label=t("app.language"), show_label=False,
                                container=False, scale=0, min_width=230, elem_id="language")
            browser_language = gr.Textbox(visible=False)  # filled by the page script on load
        gr.Markdown(t("app.intro"), elem_id="app-intro")
        # six tabs do not fit a phone's width: they wrap onto a second row rather than hide behind a "more" menu
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap"):
            with gr.Tab(t("app.tab_train"), id="train", elem_id="tab-train") as train_tab:
                train_ui = train.create_ui(ctx)
            with gr.Tab(t("app.tab_draw"), id="draw", elem_id="tab-draw") as draw_tab:
                draw_ui = draw.create_ui(ctx)
                editor_guard.bound(draw_ui.pad)  # layers and sizes checked before Gradio decodes anything
                inside_ui = look_inside.create_ui(ctx)
            with gr.Tab(t("app.tab_mistakes"), id="mistakes", elem_id="tab-mistakes") as mistakes_tab:
                mistakes_ui = mistakes.create_ui(ctx)
            with gr.Tab(t("app.tab_bench"), id="bench", elem_id="tab-bench") as bench_tab:
                bench_ui = bench.create_ui(ctx)
            with gr.Tab(t("app.tab_board"), id="board", elem_id="tab-board") as board_tab:
                board_ui = board.create_ui(ctx)
            with gr.Tab(t("app.tab_checkpoints"), id="checkpoints", elem_id="tab-checkpoints") as checkpoints_tab:
                checkpoints_ui = checkpoints.create_ui(ctx)
        with gr.Accordion(t("app.about_sharing"), open=False, elem_id="teach-sharing"):
            gr.Markdown(t("teach.sharing"))

        # ------------------------------------------------------------------ events
        shared = Shared(visitor,
                        Refresher(lambda v: draw.refresh(ctx, v), [draw_ui.model, draw_ui.model_info]),
                        Refresher(lambda v: checkpoints.refresh(ctx, v), [checkpoints_ui.table, checkpoints_ui.name]),
                        tabs=(train_tab, draw_tab, mistakes_tab, bench_tab, board_tab, checkpoints_tab))
        train.create_event_handlers(ctx, train_ui, shared, train_tab)
        draw.create_event_handlers(ctx, draw_ui, shared, draw_tab, PAGE_JS)
        look_inside.create_event_handlers(ctx, inside_ui, draw_ui.pad, draw_ui.model_info, draw_ui.clear, shared)
        mistakes.create_event_handlers(ctx, mistakes_ui, shared, mistakes_tab)
        bench.create_event_handlers(ctx, bench_ui, shared, bench_tab)
        board.create_event_handlers(ctx, board_ui, shared, board_tab)
        checkpoints.create_event_handlers(ctx, checkpoints_ui, shared, checkpoints_tab)
        create_page_events(ctx, demo, shared, language, browser_language,
                           {train_tab: "app.tab_train", draw_tab: "app.tab_draw", mistakes_tab: "app.tab_mistakes",
                            bench_tab: "app.tab_bench", board_tab: "app.tab_board",
                            checkpoints_tab: "app.tab_checkpoints"})
    demo.mnist_context = ctx  # the server's services (demo.py closes the line at exit)
    demo.mnist_shared = shared  # what the tabs share on the page (tests call its language redraws)
    demo.queue(default_concurrency_limit=1)
    return demo


def create_page_events(ctx: AppContext, demo: gr.Blocks, shared: Shared, language: gr.Radio,
                       browser_language: gr.Textbox, tab_labels: dict) -> None:
    """Opening the page, the language switch, the line's status for API clients, and a closed page's jobs."""
    redraws = [*shared.redraws]
    inputs = [shared.visitor, language, *(c for r in redraws for c in r.inputs)]
    outputs = [language, *tab_labels, *shared.refresh_draw.outputs, *shared.refresh_checkpoints.outputs,
               *dict.fromkeys(c for r in redraws for c in r.outputs)]

    def switch_language(visitor: Visitor, wanted: str | None, *values):
        """The switch: the page's labels change in the browser (its script); the server's texts follow here, each tab's
        as it registered them. Gradio's tab bar keeps the names it first drew until a tab's label is sent again
        (Gradio 6.31), so they are sent too."""
        visitor.language = pick(wanted)
        out = {language: visitor.language, **{block: gr.Tab(label=t(key)) for block, key in tab_labels.items()},
               **shared.refresh_draw(visitor), **shared.refresh_checkpoints(visitor)}
        at = 0
        for redraw in redraws:
            out.update(redraw.fn(visitor, *values[at:at + len(redraw.inputs)]))
            at += len(redraw.inputs)
        return out

    def on_open(request: gr.Request, visitor: Visitor, wanted: str | None, *values):
        """The page opened: the visitor's account, language (from the page script: the saved choice or the
        browser's), and what the tabs list. (The request comes first: Gradio gives it only to the parameters before
        `*values`.)"""
        visitor.username = getattr(request, "username", None) or visitor.username
        return switch_language(visitor, wanted, *values)

    demo.load(on_open, [shared.visitor, browser_language, *inputs[2:]], outputs, js=i18n.language_js("load"),
              api_visibility="private", concurrency_id="files", concurrency_limit=2).then(
        None, None, None, js=PAGE_JS)
    language.input(switch_language, inputs, outputs, js=i18n.language_js("switch"), api_visibility="private",
                   concurrency_id="files", concurrency_limit=2)

    def queue_status():
        """The line for long jobs: runs going, runs waiting with their expected starts, this server's limits, where
        the jobs run (the cluster's workers), and recent predictions."""
        threads = [t.name for t in threading.enumerate() if t.name.startswith(JOB_THREADS)]
        return {**ctx.status(), "job_threads": len(threads)}

    status_json = gr.JSON(visible=False, label="status")  # its name on the API page
    status_button = gr.Button(visible=False)
    status_button.click(queue_status, None, status_json, api_name="queue_status", queue=False)

    def on_unload(request: gr.Request):
        session = getattr(request, "session_hash", None)
        if session:
            ctx.jobs.cancel_owner(session, PAGE_CLOSED)

    demo.unload(on_unload)


def launch_kwargs(demo: gr.Blocks, settings: Settings, **extra) -> tuple[dict, PredictRoute]:
    """(keyword arguments for `demo.launch`, the `/api/predict` route they serve): CSS, upload limit, downloads
    from the checkpoint folder, and the route (registered before Gradio's own routes, protected by the same
    `auth` accounts; warm it up with `route.warm_up()` once the server runs)."""
    gradio_limit_mb = max(2 * settings.max_upload_mb, 50.0)  # ours refuses first, with a clearer message
    rest = PredictRoute(demo.mnist_context, extra.get("auth"), workers=settings.predict_workers)
    kwargs = dict(css=CSS, head=HEAD, max_file_size=f"{gradio_limit_mb:g}mb",
                  allowed_paths=[str(settings.checkpoint_path)],
                  show_error=True, footer_links=["api", "gradio"], run_history=False, i18n=i18n.I18N,
                  app_kwargs={"routes": [rest.route()]})
    kwargs.update(extra)
    return kwargs, rest
