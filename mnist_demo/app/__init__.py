"""The Gradio app: `build_app(settings) -> gr.Blocks` with the tabs Train, Draw, CPU vs CUDA and Checkpoints.

Layout first (one module per tab), then the events; every computation goes through the engine
(`mnist_demo.*`) or the gradio-free helpers here (`jobs`, `live`, `library`, `state`). Nothing is loaded while
the page is built: MNIST loads on the first training, checkpoints are listed when a page opens.

Launch with `demo.launch(**launch_kwargs(demo, settings, auth=...))`, which adds the CSS, the upload size
limit, the checkpoint folder as an allowed path for downloads, and the plain `POST /api/predict` route
(`rest.py`) under the same accounts.
"""

from __future__ import annotations

import threading

import gradio as gr

from mnist_demo.app import bench_tab, checkpoints_tab, draw_tab, editor_guard, teach, train_tab
from mnist_demo.app.rest import PredictRoute
from mnist_demo.app.state import AppContext, Settings, Visitor, close_visitor, new_visitor

__all__ = ["build_app", "launch_kwargs", "Settings", "AppContext"]

TITLE = "MNIST, hands on"

CSS = """
.mnist-small { font-size: 0.9em; opacity: 0.85; }
.mnist-progress { width: 100%; height: 14px; border-radius: 7px; background: var(--neutral-200, #e5e7eb);
  overflow: hidden; margin-top: 4px; }
.mnist-progress-fill { height: 100%; background: var(--color-accent, #f97316); transition: width 0.4s ease; }
.mnist-progress-done .mnist-progress-fill { background: #2f9e44; }
.mnist-progress-stopped .mnist-progress-fill { background: #f59f00; }
.mnist-progress-failed .mnist-progress-fill { background: #e03131; }
.mnist-progress-text { font-size: 0.9em; margin: 4px 0 2px 0; font-variant-numeric: tabular-nums; }
#train-log textarea { font-family: var(--font-mono, monospace); font-size: 0.85em; }
#draw-preview img { image-rendering: pixelated; }
/* Phones (390 px wide): all four tabs fit without the overflow menu; on the Draw tab the prediction, the pad and
   Clear come first, one under the other, short enough to share the screen, so nobody scrolls between drawing
   and reading the answer (the model picker and the 28x28 preview follow). */
@media (max-width: 640px) {
  #tabs .tab-container button { padding-left: 7px; padding-right: 7px; font-size: 0.92em; }
  #draw-row { flex-direction: column; }
  #draw-row > .draw-column { display: contents; }
  #draw-label { order: 1; }
  #draw-pad { order: 2; height: 330px !important; }
  #draw-clear { order: 3; }
  #draw-message { order: 4; }
  #draw-row .form:has(#draw-model), #draw-model { order: 5; }
  #draw-model-info { order: 6; }
  #draw-preview { order: 7; }
  #teach-preprocess { order: 8; }
}
"""

# A fresh Gradio 6 Sketchpad starts on the "image" tool and asks the user to pick the brush first. This picks
# it for them whenever the pad is visible with no tool chosen and nothing drawn (on load, on opening the
# tab, after Clear), and never overrides a tool the user chose (brush or eraser are then highlighted). It also
# marks the prediction as a live region and names unlabelled fields, for screen readers.
PAGE_JS = """
() => {
  if (window.__mnistBrushTimer) { return; }
  const pick = () => {
    // Screen readers announce each new prediction (the answer changes without focus moving to it).
    const label = document.getElementById('draw-label');
    if (label && !label.hasAttribute('aria-live')) {
      label.setAttribute('aria-live', 'polite');
      label.setAttribute('aria-atomic', 'true');
    }
    // A field whose label Gradio draws beside it rather than around it (the read-only log) gets that label as
    // its accessible name, so a screen reader says what it is.
    document.querySelectorAll('textarea:not([aria-label]), input:not([aria-label])').forEach((field) => {
      if (field.type === 'hidden' || (field.labels && field.labels.length)) { return; }
      const block = field.closest('.block');
      const info = block && block.querySelector('[data-testid="block-info"], [data-testid="block-label"]');
      if (info && info.textContent.trim()) { field.setAttribute('aria-label', info.textContent.trim()); }
    });
    const pad = document.getElementById('draw-pad');
    if (!pad || pad.offsetParent === null) { return; }
    const buttons = Array.from(pad.querySelectorAll('button'));
    let brush = buttons.find((b) => b.getAttribute('aria-label') === 'Brush' || b.title === 'Brush');
    if (!brush) { brush = pad.querySelector('button.quite-round'); }
    if (!brush) { return; }
    const chosen = buttons.some((b) => b.classList.contains('highlight'));
    if (!chosen) { brush.click(); }
  };
  window.__mnistBrushTimer = setInterval(pick, 300);
  pick();
}
"""


class Refresher:
    """A function of the visitor that returns updates for a fixed list of output components."""

    def __init__(self, fn, outputs):
        self.fn, self.outputs = fn, list(outputs)

    def __call__(self, visitor: Visitor):
        result = self.fn(visitor)
        return list(result) if isinstance(result, (list, tuple)) else [result]


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The whole app for these settings (not launched). `demo.mnist_context` holds its services."""
    settings = settings or Settings()
    ctx = AppContext(settings)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        visitor = gr.State(new_visitor(), delete_callback=close_visitor)  # deep-copied per session: fresh
        gr.Markdown(f"# {TITLE}\nTrain a digit recogniser on MNIST, draw digits for it to read, compare CPU "
                    "and CUDA speed. Grown from the PyTorch tutorial's 784-512-512-10 MLP.", elem_id="app-title")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Train", id="train", elem_id="tab-train") as train_tab_block:
                train_ui = train_tab.build(ctx)
            with gr.Tab("Draw", id="draw", elem_id="tab-draw") as draw_tab_block:
                draw_ui = draw_tab.build(ctx)
                editor_guard.bound(draw_ui.pad)  # layers and sizes checked before Gradio decodes anything
            with gr.Tab("CPU vs CUDA", id="bench", elem_id="tab-bench"):
                bench_ui = bench_tab.build(ctx)
            with gr.Tab("Checkpoints", id="checkpoints", elem_id="tab-checkpoints") as checkpoints_tab_block:
                checkpoints_ui = checkpoints_tab.build(ctx)
        with gr.Accordion("About sharing this demo", open=False, elem_id="teach-sharing"):
            gr.Markdown(teach.SHARING)

        # ------------------------------------------------------------------ events
        refresh_draw = Refresher(lambda v: draw_tab.refresh(ctx, v), [draw_ui.model, draw_ui.model_info])
        refresh_checkpoints = Refresher(lambda v: checkpoints_tab.refresh(ctx, v),
                                        [checkpoints_ui.table, checkpoints_ui.name])
        train_tab.wire(ctx, train_ui, visitor, refresh_draw, refresh_checkpoints)
        draw_tab.wire(ctx, draw_ui, visitor)
        bench_tab.wire(ctx, bench_ui, visitor)
        checkpoints_tab.wire(ctx, checkpoints_ui, visitor, refresh_draw)

        def on_open(visitor: Visitor, request: gr.Request):
            visitor.username = getattr(request, "username", None) or visitor.username
            return (*refresh_draw(visitor), *refresh_checkpoints(visitor))

        demo.load(on_open, [visitor], [*refresh_draw.outputs, *refresh_checkpoints.outputs], js=PAGE_JS,
                  api_visibility="private", concurrency_id="files", concurrency_limit=2)
        draw_tab_block.select(lambda v: refresh_draw(v), [visitor], refresh_draw.outputs, js=PAGE_JS,
                              api_visibility="private", concurrency_id="files", concurrency_limit=2)
        train_tab_block.select(train_ui.redraw, [visitor], [train_ui.loss_plot, train_ui.accuracy_plot],
                               api_visibility="private", queue=False, show_progress="hidden")
        checkpoints_tab_block.select(lambda v: refresh_checkpoints(v), [visitor], refresh_checkpoints.outputs,
                                     api_visibility="private", concurrency_id="files", concurrency_limit=2)

        def queue_status():
            """The jobs queue: runs going, runs waiting, and this server's limits."""
            threads = [t.name for t in threading.enumerate() if t.name.startswith(("train-", "benchmark-"))]
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
    demo.mnist_rest = None  # the /api/predict route, made by launch_kwargs
    demo.queue(default_concurrency_limit=1)
    return demo


def launch_kwargs(demo: gr.Blocks, settings: Settings, **extra) -> dict:
    """Keyword arguments for `demo.launch`: CSS, upload limit, downloads from the checkpoint folder, and the
    `/api/predict` route (registered before Gradio's own routes, protected by the same `auth` accounts)."""
    gradio_limit_mb = max(2 * settings.max_upload_mb, 50.0)  # ours refuses first, with a clearer message
    rest = PredictRoute(demo.mnist_context, extra.get("auth"), workers=settings.predict_workers)
    demo.mnist_rest = rest
    kwargs = dict(css=CSS, max_file_size=f"{gradio_limit_mb:g}mb", allowed_paths=[str(settings.checkpoint_path)],
                  show_error=True, footer_links=["api", "gradio"], run_history=False,
                  app_kwargs={"routes": [rest.route()]})
    kwargs.update(extra)
    return kwargs
