"""The Gradio app: `build_app(settings) -> gr.Blocks` with the tabs Train, Draw, Mistakes, CPU vs CUDA and
Checkpoints.

Layout first (one module per tab), then the events; every computation goes through the engine
(`mnist_demo.*`) or the gradio-free helpers here (`jobs`, `live`, `library`, `state`). Nothing is loaded while
the page is built: MNIST loads on the first training, checkpoints are listed when a page opens.

Launch with `kwargs, rest = launch_kwargs(demo, settings, auth=...)` and `demo.launch(**kwargs)`: the
arguments add the CSS (`static/app.css`), the languages (`i18n.I18N` and `static/language_head.js`), the
upload size limit, the checkpoint folder as an allowed path for downloads, and the plain `POST /api/predict`
route `rest` (`rest.py`) under the same accounts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from mnist_demo.app import (bench_tab, checkpoints_tab, draw_tab, editor_guard, i18n, inside_ui, mistakes_tab,
                            teach, train_tab)
from mnist_demo.app.i18n import t
from mnist_demo.app.rest import PredictRoute
from mnist_demo.app.state import AppContext, Settings, Visitor, close_visitor, new_visitor

__all__ = ["build_app", "launch_kwargs", "Settings", "AppContext"]

TITLE = "MNIST, hands on"

STATIC = Path(__file__).with_name("static")
CSS = (STATIC / "app.css").read_text(encoding="utf-8")  # passed to demo.launch by launch_kwargs
PAGE_JS = (STATIC / "page.js").read_text(encoding="utf-8")  # runs on load and when the Draw tab opens
HEAD = f"<script>{(STATIC / 'language_head.js').read_text(encoding='utf-8')}</script>"  # before Gradio starts


@dataclass
class Refresher:
    """Updates for a fixed list of components as a function of the visitor: `refresher(visitor)` gives
    `{component: value}` for each of `outputs`, from `fn(visitor)`'s values in that order."""

    fn: Callable[[Visitor], tuple]
    outputs: list

    def __call__(self, visitor: Visitor) -> dict:
        return dict(zip(self.outputs, self.fn(visitor), strict=True))


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The whole app for these settings (not launched). `demo.mnist_context` holds its services."""
    settings = settings or Settings()
    ctx = AppContext(settings)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        visitor = gr.State(new_visitor(), delete_callback=close_visitor)  # deep-copied per session: fresh
        with gr.Row(elem_id="app-header"):
            gr.Markdown(t("app.heading"), elem_id="app-title")
            language = gr.Radio(i18n.choices(), value=i18n.DEFAULT, label=t("app.language"), show_label=False,
                                container=False, scale=0, min_width=230, elem_id="language")
            browser_language = gr.Textbox(visible=False)  # filled by the page script on load
        gr.Markdown(t("app.intro"), elem_id="app-intro")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab(t("app.tab_train"), id="train", elem_id="tab-train") as train_tab_block:
                train_ui = train_tab.build(ctx)
            with gr.Tab(t("app.tab_draw"), id="draw", elem_id="tab-draw") as draw_tab_block:
                draw_ui = draw_tab.build(ctx)
                editor_guard.bound(draw_ui.pad)  # layers and sizes checked before Gradio decodes anything
                inside = inside_ui.build(ctx)
            with gr.Tab(t("app.tab_mistakes"), id="mistakes", elem_id="tab-mistakes") as mistakes_tab_block:
                mistakes_ui = mistakes_tab.build(ctx)
            with gr.Tab(t("app.tab_bench"), id="bench", elem_id="tab-bench") as bench_tab_block:
                bench_ui = bench_tab.build(ctx)
            with gr.Tab(t("app.tab_checkpoints"), id="checkpoints", elem_id="tab-checkpoints") as checkpoints_tab_block:
                checkpoints_ui = checkpoints_tab.build(ctx)
        with gr.Accordion(t("app.about_sharing"), open=False, elem_id="teach-sharing"):
            gr.Markdown(teach.SHARING)

        # ------------------------------------------------------------------ events
        refresh_draw = Refresher(lambda v: draw_tab.refresh(ctx, v), [draw_ui.model, draw_ui.model_info])
        refresh_checkpoints = Refresher(lambda v: checkpoints_tab.refresh(ctx, v),
                                        [checkpoints_ui.table, checkpoints_ui.name])
        train_tab.wire(ctx, train_ui, visitor, refresh_draw, refresh_checkpoints)
        draw_tab.wire(ctx, draw_ui, visitor)
        inside_ui.wire(ctx, inside, draw_ui, visitor)
        mistakes_tab.wire(ctx, mistakes_ui, visitor, mistakes_tab_block)
        bench_tab.wire(ctx, bench_ui, visitor)
        checkpoints_tab.wire(ctx, checkpoints_ui, visitor, refresh_draw)

        tab_labels = {train_tab_block: "app.tab_train", draw_tab_block: "app.tab_draw",
                      mistakes_tab_block: "app.tab_mistakes", bench_tab_block: "app.tab_bench",
                      checkpoints_tab_block: "app.tab_checkpoints"}

        def tabs_again() -> dict:
            """The tab names once more: Gradio's tab bar keeps the names it first drew, in the page's first language,
            until a tab's label is sent again (Gradio 6.31)."""
            return {block: gr.Tab(label=t(key)) for block, key in tab_labels.items()}

        def in_language(visitor: Visitor) -> dict:
            """Everything the server wrote that stays on the page, in the visitor's language now."""
            return {language: visitor.language, **tabs_again(), **refresh_draw(visitor),
                    **refresh_checkpoints(visitor), **train_tab.in_language(ctx, train_ui, visitor),
                    **bench_tab.in_language(ctx, bench_ui, visitor)}

        def switch_language(visitor: Visitor, wanted: str | None):
            """The switch: the page's labels change in the browser (its script); the server's texts follow here."""
            visitor.language = i18n.pick(wanted)
            return in_language(visitor)

        def on_open(visitor: Visitor, wanted: str | None, request: gr.Request):
            """The page opened: the visitor's account, language (from the page script: the saved choice or the
            browser's), and what the tabs list."""
            visitor.username = getattr(request, "username", None) or visitor.username
            return switch_language(visitor, wanted)

        page_outputs = [language, *tab_labels, *refresh_draw.outputs, *refresh_checkpoints.outputs,
                        *train_tab.language_outputs(train_ui), *bench_tab.language_outputs(bench_ui)]
        demo.load(on_open, [visitor, browser_language], page_outputs, js=i18n.language_js("load"),
                  api_visibility="private", concurrency_id="files", concurrency_limit=2).then(
            None, None, None, js=PAGE_JS)
        language.input(switch_language, [visitor, language], page_outputs, js=i18n.language_js("switch"),
                       api_visibility="private", concurrency_id="files", concurrency_limit=2)
        draw_tab_block.select(lambda v: refresh_draw(v), [visitor], refresh_draw.outputs, js=PAGE_JS,
                              api_visibility="private", concurrency_id="files", concurrency_limit=2)
        train_tab_block.select(lambda v: train_tab.redraw(train_ui, v), [visitor],
                               [train_ui.loss_plot, train_ui.accuracy_plot], api_visibility="private", queue=False,
                               show_progress="hidden").then(
            lambda v: train_tab.restyle(train_ui, v), [visitor], [train_ui.loss_plot, train_ui.accuracy_plot],
            api_visibility="private", queue=False, show_progress="hidden")
        checkpoints_tab_block.select(lambda v: refresh_checkpoints(v), [visitor], refresh_checkpoints.outputs,
                                     api_visibility="private", concurrency_id="files", concurrency_limit=2)

        def queue_status():
            """The jobs queue: runs going, runs waiting, and this server's limits."""
            threads = [t.name for t in threading.enumerate() if t.name.startswith(("train-", "finetune-", "benchmark-"))]
            return {**ctx.jobs.snapshot(), "predict": ctx.predict_stats(), "job_threads": len(threads)}

        status_json = gr.JSON(visible=False)
        status_button = gr.Button(visible=False)
        status_button.click(queue_status, None, status_json, api_name="queue_status", queue=False)

        def on_unload(request: gr.Request):
            session = getattr(request, "session_hash", None)
            if session:
                ctx.jobs.cancel_owner(session, "the page was closed")

        demo.unload(on_unload)
    demo.mnist_context = ctx
    demo.queue(default_concurrency_limit=1)
    return demo


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
