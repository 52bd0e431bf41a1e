"""The Checkpoints tab: the table of saved checkpoints, load one as your current model, download, delete your
own, upload a .pt. The rules (ownership, quotas, size limits, safe loading) live in
`core/models/checkpoint_folder.py` and the engine.

The table is written in the visitor's language (headers, owners, statuses: a table is data, which the browser
does not translate); `refresh` is called again when the visitor switches language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, md_escape, refused
from mnist_demo.app.core.models.checkpoint_folder import COLUMNS, Row, human_bytes, hyperparameters
from mnist_demo.app.core.models.current import CHECKPOINT, UPLOAD, Origin, adopt
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import filled, t
from mnist_demo.app.server.shared import Shared
from mnist_demo.errors import CheckpointError
from mnist_demo.texts import tr


@dataclass
class CheckpointsUI:
    intro: gr.Markdown
    table: gr.Dataframe
    refresh: gr.Button
    name: gr.Dropdown
    load: gr.Button
    download: gr.DownloadButton
    delete: gr.Button
    upload: gr.File
    status: gr.Markdown


def intro_text(ctx: AppContext, lang: str | None = None) -> str:
    s = ctx.settings
    return tr(lang, "checkpoints.intro", count=s.max_saves_per_visitor, mb=f"{s.max_save_mb_per_visitor:g}")


def upload_label(ctx: AppContext, lang: str | None = None) -> str:
    return tr(lang, "checkpoints.upload_label", mb=f"{ctx.settings.max_upload_mb:g}")


def create_ui(ctx: AppContext) -> CheckpointsUI:
    """The limits in the intro and the upload's label are this server's settings: filled in every language here
    (`i18n.filled`), and written again in the visitor's language whenever the table is listed (see `wire`)."""
    s = ctx.settings
    intro = gr.Markdown(filled("checkpoints.intro", count=s.max_saves_per_visitor, mb=f"{s.max_save_mb_per_visitor:g}"),
                        elem_classes=["mnist-small"], elem_id="ckpt-intro")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True, label=t("checkpoints.table_label"),
                         elem_id="checkpoint-table", max_height=360)
    with gr.Row(equal_height=True):
        name = gr.Dropdown([], value=None, label=t("checkpoints.name_label"), allow_custom_value=True,
                           elem_id="ckpt-name", scale=3)
        refresh = gr.Button(t("checkpoints.refresh"), elem_id="ckpt-refresh", scale=1, size="md")
    with gr.Row():
        load = gr.Button(t("checkpoints.load"), variant="primary", elem_id="ckpt-load")
        download = gr.DownloadButton(t("checkpoints.download"), value=None, elem_id="ckpt-download")
        delete = gr.Button(t("checkpoints.delete"), variant="stop", elem_id="ckpt-delete")
    upload = gr.File(label=filled("checkpoints.upload_label", mb=f"{s.max_upload_mb:g}"), type="filepath",
                     elem_id="ckpt-upload", height=120)
    status = gr.Markdown("", elem_id="ckpt-status")
    return CheckpointsUI(intro=intro, table=table, refresh=refresh, name=name, load=load, download=download,
                         delete=delete, upload=upload, status=status)


COLUMN_KEYS = ["name", "model", "accuracy", "epochs", "hyperparameters", "date", "size", "owner", "status"]


def columns(lang: str | None = None) -> list[str]:
    """The table's headers in `lang` (in English: `library.COLUMNS`)."""
    return [tr(lang, f"checkpoints.col_{key}") for key in COLUMN_KEYS]


def row_cells(row: Row, lang: str | None = None) -> list[str]:
    """One table row in `lang`: the owner and the status are words (why a file cannot be used too, from the
    error the listing keeps); the rest are names, figures and dates."""
    cells = row.as_list()
    if row.meta is not None:
        cells[COLUMN_KEYS.index("hyperparameters")] = hyperparameters(row.meta, lang)
    if row.owner != "none":  # a file made outside the app has no owner to name
        cells[COLUMN_KEYS.index("owner")] = tr(lang, f"checkpoints.owner_{row.owner}")
    cells[COLUMN_KEYS.index("status")] = (tr(lang, "checkpoints.status_usable") if row.usable else
                                          tr(lang, "checkpoints.status_unusable", why=error_text(row.problem, lang)))
    return cells


def table(rows: list[Row], lang: str | None = None) -> pd.DataFrame:
    return pd.DataFrame([row_cells(r, lang) for r in rows], columns=columns(lang))


def refresh(ctx: AppContext, visitor: Visitor):
    """(table, name dropdown) as they are now, in the visitor's language."""
    rows = ctx.library.rows(visitor.owner)
    names = [r.name for r in rows]
    return table(rows, visitor.language), gr.Dropdown(choices=names)


def create_event_handlers(ctx: AppContext, ui: CheckpointsUI, shared: Shared, tab: gr.Tab) -> None:
    """List, load, download, delete, upload; the Draw tab's picker and model line follow what changes
    (`shared.refresh_draw`). Handlers return only what they change."""
    visitor, refresh_draw = shared.visitor, shared.refresh_draw
    group = dict(concurrency_id="files", concurrency_limit=2)

    def on_refresh(visitor: Visitor, request: gr.Request):
        """The checkpoint table: name, model, test accuracy, epochs, hyperparameters, date, size, owner, status."""
        visitor.username = getattr(request, "username", None) or visitor.username
        return refresh(ctx, visitor)

    ui.refresh.click(on_refresh, [visitor], [ui.table, ui.name], api_name="list_checkpoints", **group)

    def in_language(visitor: Visitor):
        lang = visitor.language
        return {ui.intro: intro_text(ctx, lang), ui.upload: gr.File(label=upload_label(ctx, lang))}

    shared.on_language(in_language, [ui.intro, ui.upload])
    tab.select(lambda v: shared.refresh_checkpoints(v), [visitor], shared.refresh_checkpoints.outputs,
               api_visibility="private", concurrency_id="files", concurrency_limit=2)

    def on_load(name, visitor: Visitor):
        """Load a saved checkpoint as your current model (used by the Draw tab)."""
        lang = visitor.language
        if not isinstance(name, str) or not name.strip():
            return {ui.status: refused(tr(lang, "checkpoints.none_chosen"), lang)}
        try:
            checkpoint = ctx.library.load(name)
        except CheckpointError as err:
            return {ui.status: refused(error_text(err, lang), lang)}
        adopt(visitor, checkpoint.model, checkpoint.meta, Origin(CHECKPOINT, checkpoint.name), name=checkpoint.name)
        return {ui.status: tr(lang, "checkpoints.loaded", name=md_escape(checkpoint.name)), **refresh_draw(visitor)}

    ui.load.click(on_load, [ui.name, visitor], [ui.status, *refresh_draw.outputs], api_name="load_checkpoint",
                  **group)

    def on_pick(name, visitor: Visitor):
        lang = visitor.language
        try:
            return gr.DownloadButton(value=str(ctx.library.path(name)),
                                     label=tr(lang, "checkpoints.download_name", name=name))
        except (CheckpointError, TypeError):
            return gr.DownloadButton(value=None, label=tr(lang, "checkpoints.download"))

    ui.name.change(on_pick, [ui.name, visitor], [ui.download], api_name="download_checkpoint", **group)

    def on_delete(name, visitor: Visitor, request: gr.Request):
        """Delete a checkpoint you saved (the shipped default and other visitors' files cannot be deleted)."""
        visitor.username = getattr(request, "username", None) or visitor.username
        lang = visitor.language
        if not isinstance(name, str) or not name.strip():
            return {ui.status: refused(tr(lang, "checkpoints.none_chosen"), lang)}
        try:
            ctx.library.delete(name, visitor.owner)
        except CheckpointError as err:
            return {ui.status: refused(error_text(err, lang), lang)}
        rows, dropdown = refresh(ctx, visitor)
        return {ui.status: tr(lang, "checkpoints.deleted", name=md_escape(name.strip())), ui.table: rows,
                ui.name: gr.Dropdown(choices=dropdown.choices, value=None), **refresh_draw(visitor)}

    ui.delete.click(on_delete, [ui.name, visitor], [ui.status, ui.table, ui.name, *refresh_draw.outputs],
                    api_name="delete_checkpoint", **group)

    def on_upload(path, visitor: Visitor):
        """Upload a .pt checkpoint (size limit, weights only, architecture checked); it becomes your current model."""
        lang = visitor.language
        if isinstance(path, (list, tuple)):
            return {ui.status: refused(tr(lang, "checkpoints.one_file"), lang), ui.upload: None}
        original = Path(str(path)).name if path else None
        try:
            checkpoint = ctx.library.load_upload(path, original)
        except CheckpointError as err:
            return {ui.status: refused(error_text(err, lang), lang), ui.upload: None}
        size = Path(str(path)).stat().st_size
        adopt(visitor, checkpoint.model, checkpoint.meta, Origin(UPLOAD, original), name=checkpoint.name)
        return {ui.status: tr(lang, "checkpoints.uploaded", name=md_escape(original), size=human_bytes(size),
                              model=md_escape(checkpoint.meta.get("model", "?"))),
                ui.upload: None, **refresh_draw(visitor)}

    # The drop zone empties after each upload (the status names the file), ready for the next one.
    ui.upload.upload(on_upload, [ui.upload, visitor], [ui.status, ui.upload, *refresh_draw.outputs],
                     api_name="upload_checkpoint", **group)
