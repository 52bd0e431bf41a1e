"""The Checkpoints tab: the table of saved checkpoints, load one as your current model, download, delete your
own, upload a .pt. The rules (ownership, quotas, size limits, safe loading) live in `library.py` and the engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from mnist_demo.app.common import md_escape, refused
from mnist_demo.app.library import COLUMNS, human_bytes
from mnist_demo.app.state import YOURS, AppContext, CurrentModel, Visitor
from mnist_demo.errors import CheckpointError
from mnist_demo.predict import Predictor


@dataclass
class CheckpointsUI:
    table: gr.Dataframe
    refresh: gr.Button
    name: gr.Dropdown
    load: gr.Button
    download: gr.DownloadButton
    delete: gr.Button
    upload: gr.File
    status: gr.Markdown


def build(ctx: AppContext) -> CheckpointsUI:
    s = ctx.settings
    gr.Markdown("Saved models in this app's checkpoint folder. Corrupt files are listed as unusable; the rest "
                "still load. The shipped model (`default`) is read-only; you can delete only checkpoints you "
                f"saved (at most {s.max_saves_per_visitor} per visitor, {s.max_save_mb_per_visitor:g} MB).",
                elem_classes=["mnist-small"])
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, label="Checkpoints",
                         elem_id="checkpoint-table", max_height=360)
    with gr.Row(equal_height=True):
        name = gr.Dropdown([], value=None, label="Checkpoint", allow_custom_value=True, elem_id="ckpt-name",
                           scale=3)
        refresh = gr.Button("Refresh", elem_id="ckpt-refresh", scale=1, size="md")
    with gr.Row():
        load = gr.Button("Load as my current model", variant="primary", elem_id="ckpt-load")
        download = gr.DownloadButton("Download .pt", value=None, elem_id="ckpt-download")
        delete = gr.Button("Delete (yours only)", variant="stop", elem_id="ckpt-delete")
    upload = gr.File(label=f"Upload a .pt checkpoint (at most {s.max_upload_mb:g} MB): it becomes your current model",
                     type="filepath", elem_id="ckpt-upload", height=120)
    status = gr.Markdown("", elem_id="ckpt-status")
    return CheckpointsUI(table, refresh, name, load, download, delete, upload, status)


def refresh(ctx: AppContext, visitor: Visitor):
    """(table, name dropdown) as they are now."""
    rows = ctx.library.rows(visitor.owner)
    names = [r.name for r in rows]
    return [r.as_list() for r in rows], gr.Dropdown(choices=names)


def _adopt(visitor: Visitor, checkpoint, origin: str) -> None:
    predictor = Predictor(checkpoint.model, checkpoint.name, checkpoint.meta)
    with visitor.lock:
        visitor.current = CurrentModel(predictor.model, predictor, dict(checkpoint.meta), origin,
                                       f"{origin}-{int(time.time() * 1000)}")
        visitor.draw_choice = YOURS


def wire(ctx: AppContext, ui: CheckpointsUI, visitor: gr.State, refresh_draw) -> None:
    """`refresh_draw(visitor)` gives `{component: value}` for its `outputs` (the Draw tab's picker and info).
    Handlers return only what they change."""
    group = dict(concurrency_id="files", concurrency_limit=2)

    def on_refresh(visitor: Visitor, request: gr.Request):
        """The checkpoint table: name, model, test accuracy, epochs, hyperparameters, date, size, owner, status."""
        visitor.username = getattr(request, "username", None) or visitor.username
        return refresh(ctx, visitor)

    ui.refresh.click(on_refresh, [visitor], [ui.table, ui.name], api_name="list_checkpoints", **group)

    def on_load(name, visitor: Visitor):
        """Load a saved checkpoint as your current model (used by the Draw tab)."""
        try:
            if not isinstance(name, str) or not name.strip():
                raise CheckpointError("Checkpoint: none chosen; pick one from the list")
            checkpoint = ctx.library.load(name)
        except CheckpointError as err:
            return {ui.status: refused(str(err))}
        _adopt(visitor, checkpoint, f"checkpoint {checkpoint.name}")
        return {ui.status: f"**Loaded** `{md_escape(checkpoint.name)}` as your current model: the Draw tab now uses "
                           "it.", **refresh_draw(visitor)}

    ui.load.click(on_load, [ui.name, visitor], [ui.status, *refresh_draw.outputs], api_name="load_checkpoint",
                  **group)

    def on_pick(name):
        try:
            return gr.DownloadButton(value=str(ctx.library.path(name)), label=f"Download {name}.pt")
        except (CheckpointError, TypeError):
            return gr.DownloadButton(value=None, label="Download .pt")

    ui.name.change(on_pick, [ui.name], [ui.download], api_name="download_checkpoint", **group)

    def on_delete(name, visitor: Visitor, request: gr.Request):
        """Delete a checkpoint you saved (the shipped default and other visitors' files cannot be deleted)."""
        visitor.username = getattr(request, "username", None) or visitor.username
        try:
            if not isinstance(name, str) or not name.strip():
                raise CheckpointError("Checkpoint: none chosen; pick one from the list")
            ctx.library.delete(name, visitor.owner)
        except CheckpointError as err:
            return {ui.status: refused(str(err))}
        rows, dropdown = refresh(ctx, visitor)
        return {ui.status: f"**Deleted** `{md_escape(name.strip())}`.", ui.table: rows,
                ui.name: gr.Dropdown(choices=dropdown.choices, value=None), **refresh_draw(visitor)}

    ui.delete.click(on_delete, [ui.name, visitor], [ui.status, ui.table, ui.name, *refresh_draw.outputs],
                    api_name="delete_checkpoint", **group)

    def on_upload(path, visitor: Visitor):
        """Upload a .pt checkpoint (size limit, weights only, architecture checked); it becomes your current model."""
        if isinstance(path, (list, tuple)):
            return {ui.status: refused("Upload one .pt file at a time."), ui.upload: None}
        original = Path(str(path)).name if path else None
        try:
            checkpoint = ctx.library.load_upload(path, original)
        except CheckpointError as err:
            return {ui.status: refused(str(err)), ui.upload: None}
        size = Path(str(path)).stat().st_size
        _adopt(visitor, checkpoint, f"upload {original}")
        return {ui.status: f"**Uploaded** `{md_escape(original)}` ({human_bytes(size)}, model "
                           f"{md_escape(checkpoint.meta.get('model', '?'))}): it is now your current model. Save it "
                           "from the Train tab to keep it.", ui.upload: None, **refresh_draw(visitor)}

    # The drop zone empties after each upload (the status names the file), ready for the next one.
    ui.upload.upload(on_upload, [ui.upload, visitor], [ui.status, ui.upload, *refresh_draw.outputs],
                     api_name="upload_checkpoint", **group)
