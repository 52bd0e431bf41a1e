"""The Draw tab's "teach it your handwriting": "Right?" buttons that keep a drawing with its label, the visitor's
collection as a gallery with Remove, MNIST files out and in, and the fine-tune's controls (run by
`finetune_ui.py`).

The drawings live in `mnist_demo.collection.Collection`, one per session in its own gr.State (`Teaching`, with
the session's last download folder); this module lays out the controls and turns the collection into what the
components show.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from mnist_demo.app import finetune_ui, teach
from mnist_demo.app.common import progress_html, refused
from mnist_demo.app.state import AppContext
from mnist_demo.collection import (IMAGES_SUFFIX, LABELS_SUFFIX, Collection, CollectionError, check_label,
                                   read_upload, write_idx)
from mnist_demo.config import whole_number
from mnist_demo.errors import DemoError, ImageError
from mnist_demo.finetune import DEFAULT_STEPS, MAX_STEPS
from mnist_demo.preprocess import to_mnist

# Clicks the pad's bin (draw_tab.CLEAR_JS) after a drawing was kept: `kept` is 1 then, 0 when it was refused (a
# blank pad, a full collection), so a refused drawing stays on the pad.
CLEAR_IF_KEPT_JS = "(kept) => {{ if (kept) {{ ({clear})(); }} }}"


class Teaching:
    """One session's collection and its last download folder. Fresh per session (`__deepcopy__`)."""

    def __init__(self):
        self.collection = Collection()
        self.export_dir: Path | None = None
        self.lock = threading.Lock()

    def __deepcopy__(self, memo) -> "Teaching":
        return Teaching()

    def __repr__(self) -> str:
        return f"Teaching({self.collection!r})"

    def close(self) -> None:
        if self.export_dir is not None:
            shutil.rmtree(self.export_dir, ignore_errors=True)
            self.export_dir = None


def close_teaching(teaching) -> None:
    if isinstance(teaching, Teaching):
        teaching.close()


@dataclass
class CollectionUI:
    state: gr.State
    digits: list  # ten gr.Button, "0".."9"
    kept: gr.Number  # 1 when the last press kept the drawing (then the pad is cleared)
    counter: gr.Markdown
    message: gr.Markdown
    gallery: gr.Gallery
    selected: gr.Number  # the gallery position picked for removal (newest first), -1 for none
    remove: gr.Button
    steps: gr.Number
    finetune: gr.Button
    stop: gr.Button
    status: gr.Markdown
    progress: gr.HTML
    save_name: gr.Textbox
    save: gr.Button
    save_status: gr.Markdown
    download: gr.Button
    files: gr.File
    upload: gr.File


# --------------------------------------------------------------------------- layout

def build_right() -> tuple:
    """Under the prediction: "Right?" and the ten digits, the counter and the last press's message."""
    with gr.Column(elem_id="collect-box"):
        gr.Markdown("**Right?** Press the digit you drew, to keep it for teaching the model:",
                    elem_id="collect-prompt", elem_classes=["mnist-small"])
        with gr.Row(elem_id="collect-digits", equal_height=True):
            digits = [gr.Button(str(d), size="sm", min_width=0, elem_id=f"collect-{d}",
                                elem_classes=["collect-digit"]) for d in range(10)]
        message = gr.Markdown("", elem_id="collect-message")
        counter = gr.Markdown(counter_text([0] * 10), elem_id="collect-counter", elem_classes=["mnist-small"])
        kept = gr.Number(0, visible="hidden", elem_id="collect-kept", label="kept")
    return digits, kept, counter, message


def build_section(ctx: AppContext, right: tuple) -> CollectionUI:
    """Below the pad: the gallery, Remove, fine-tune with progress and Stop, Save, MNIST files out and in."""
    digits, kept, counter, message = right
    state = gr.State(Teaching(), delete_callback=close_teaching)
    with gr.Accordion("Teach it your handwriting", open=True, elem_id="collection-section"):
        gr.Markdown("Draw a digit, press the right digit under the prediction, repeat: a few of each digit you "
                    "write unusually is enough. Then fine-tune the model on them and see whether it reads you "
                    "better, and what that cost on MNIST.", elem_classes=["mnist-small"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                gr.Markdown("**Your drawings**, as the model sees them (28x28), newest first. Click one to "
                            "select it.", elem_classes=["mnist-small"])
                gallery = gr.Gallery([], label="Your drawings", show_label=False, columns=10, fit_columns=False,
                                     height=200, object_fit="contain", allow_preview=False, format="png",
                                     buttons=[], elem_id="collection-gallery")
                selected = gr.Number(-1, visible="hidden", elem_id="collection-selected", label="selected")
                with gr.Row(equal_height=True):
                    remove = gr.Button("Remove the selected drawing", size="sm", elem_id="collection-remove")
                    download = gr.Button("Download as MNIST files", size="sm", elem_id="collection-download")
                files = gr.File(None, file_count="multiple", interactive=False, visible=False,
                                label=f"Your drawings: images (*{IMAGES_SUFFIX}) and labels (*{LABELS_SUFFIX})",
                                elem_id="collection-files")
                upload = gr.File(None, file_count="multiple", type="filepath", height=150,
                                 label="Add drawings from MNIST files (images and labels)",
                                 elem_id="collection-upload")
            with gr.Column(scale=2, min_width=300):
                steps = gr.Number(DEFAULT_STEPS, label=f"Training steps (1-{MAX_STEPS})", precision=None, step=50,
                                  elem_id="finetune-steps")
                with gr.Row(equal_height=True):
                    finetune_button = gr.Button("Fine-tune on my drawings", variant="primary",
                                                elem_id="finetune-button", scale=3)
                    stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="finetune-stop", scale=1,
                                     min_width=80)
                status = gr.Markdown("Collect drawings of at least two different digits, then press "
                                     "**Fine-tune on my drawings**.", elem_id="finetune-status")
                progress = gr.HTML(progress_html(0.0, "Not started", "idle"), elem_id="finetune-progress")
                with gr.Row(equal_height=True):
                    save_name = gr.Textbox("", label="Save your current model as", placeholder="e.g. my-hand",
                                           max_length=64, elem_id="finetune-save-name", scale=3)
                    save = gr.Button("Save", elem_id="finetune-save", scale=1, min_width=80)
                save_status = gr.Markdown("", elem_id="finetune-save-status")
                with gr.Accordion("What does fine-tuning do?", open=False, elem_id="teach-finetune"):
                    gr.Markdown(teach.FINETUNE)
    return CollectionUI(state, digits, kept, counter, message, gallery, selected, remove, steps, finetune_button,
                        stop, status, progress, save_name, save, save_status, download, files, upload)


# --------------------------------------------------------------------------- what the components show

def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def counter_text(counts: list[int]) -> str:
    """A one-row table of how many drawings of each digit are kept."""
    head = "| " + " | ".join(str(d) for d in range(10)) + " | all |"
    rule = "|" + "---|" * 11
    row = "| " + " | ".join(str(c) for c in counts) + f" | **{sum(counts)}** |"
    return f"Kept so far:\n\n{head}\n{rule}\n{row}"


def gallery_items(collection: Collection) -> list[tuple]:
    """(image, caption) per drawing, newest first; 28x28 arrays (the page enlarges them).

    Measured: the whole gallery's update costs the server about 0.5 s at the 1,000 cap, 0.05 s at 100
    (gradio writes each thumbnail once; 2-core CPU)."""
    return [(d.image, str(d.label)) for d in reversed(collection.drawings)]


def shown(collection: Collection) -> dict:
    """Counter, gallery and no selection: what every change to the collection redraws (a selection made on the
    old gallery would point at another drawing)."""
    return {"counter": counter_text(collection.counts()), "gallery": gallery_items(collection), "selected": -1}


# --------------------------------------------------------------------------- events

def wire(ctx: AppContext, ui: CollectionUI, visitor: gr.State, pad, clear_js: str,
         predictor_for: Callable, refresh: Callable, model_outputs: list) -> None:
    """The collection's events on the pad (`pad`, cleared by `clear_js` once a drawing is kept), then the
    fine-tune's (`finetune_ui.wire`: `predictor_for(ctx, visitor) -> (Predictor, name)` is the Draw tab's model,
    `refresh(ctx, visitor)` the values of `model_outputs`, its picker and model info)."""
    state = ui.state
    view = [ui.counter, ui.gallery, ui.selected, ui.files]

    def redraw(teaching: Teaching) -> dict:
        """After any change: the counter, the gallery, no selection, and no download of the earlier drawings."""
        values = shown(teaching.collection)
        return {ui.counter: values["counter"], ui.gallery: values["gallery"], ui.selected: values["selected"],
                ui.files: gr.File(value=None, visible=False)}

    def collect(label, image, teaching: Teaching):
        """Keep the drawing with the digit it is (0-9); the pad is then cleared for the next one."""
        try:
            check_label(label)
            prepared = to_mnist(image)
            if prepared is None:
                return {ui.message: refused("The pad is empty: draw a digit, then press the digit it is."),
                        ui.kept: 0}
            teaching.collection.add(prepared.image28, label)
        except (CollectionError, ImageError) as err:
            return {ui.message: refused(str(err)), ui.kept: 0}
        digit = int(str(label).strip())
        return {ui.message: f"Kept as a **{digit}**. Draw the next one.", ui.kept: 1, **redraw(teaching)}

    group = dict(concurrency_id="predict", concurrency_limit=ctx.settings.predict_workers)
    for button in ui.digits:
        public = button is ui.digits[0]  # one public endpoint, "collect(label, drawing)"; the others the same
        button.click(collect, [button, pad, state], [ui.message, ui.kept, *view], show_progress="hidden",
                     api_name="collect" if public else None, api_visibility="public" if public else "private",
                     **group
                     ).then(None, [ui.kept], None, js=CLEAR_IF_KEPT_JS.format(clear=clear_js.strip()),
                            api_visibility="private", queue=False, show_progress="hidden")

    def pick(teaching: Teaching, event: gr.SelectData):
        drawings = list(reversed(teaching.collection.drawings))
        index = event.index if isinstance(event.index, int) else -1
        if not 0 <= index < len(drawings):
            return {ui.selected: -1, ui.message: ""}
        d = drawings[index]
        when = time.strftime("%H:%M:%S", time.localtime(d.added))
        return {ui.selected: index, ui.message: f"Selected a **{d.label}** kept at {when}: press **Remove** to "
                                                "drop it."}

    ui.gallery.select(pick, [state], [ui.selected, ui.message], api_visibility="private", queue=False,
                      show_progress="hidden")

    def remove(position, teaching: Teaching):
        """Remove the drawing at `position` in the gallery (0 is the newest)."""
        drawings = list(reversed(teaching.collection.drawings))
        try:
            index = whole_number("position", position, -1, max(len(drawings) - 1, -1))
        except DemoError:
            index = -1
        if index < 0:
            return {ui.message: refused("Pick a drawing in the gallery first, then press Remove.")}
        try:
            gone = teaching.collection.remove(drawings[index].id)
        except CollectionError as err:
            return {ui.message: refused(str(err))}
        return {ui.message: f"Removed a **{gone.label}**.", **redraw(teaching)}

    ui.remove.click(remove, [ui.selected, state], [ui.message, *view], api_name="remove_drawing",
                    show_progress="hidden", concurrency_id="files", concurrency_limit=2)

    def download(teaching: Teaching):
        """The collection as MNIST's two IDX files, gzip-compressed (images and labels)."""
        images, labels = teaching.collection.arrays()
        if not len(images):
            return {ui.message: refused("Nothing to download yet: keep some drawings first."),
                    ui.files: gr.File(value=None, visible=False)}
        with teaching.lock:
            teaching.close()
            teaching.export_dir = Path(tempfile.mkdtemp(prefix="mnist-drawings-"))
            paths = write_idx(images, labels, teaching.export_dir)
        return {ui.message: f"Your {plural(len(images), 'drawing')} as MNIST files: the images "
                            f"(`*{IMAGES_SUFFIX}`) and the labels (`*{LABELS_SUFFIX}`), below.",
                ui.files: gr.File(value=[str(p) for p in paths], visible=True)}

    ui.download.click(download, [state], [ui.message, ui.files], api_name="download_drawings",
                      concurrency_id="files", concurrency_limit=2)

    def upload(paths, teaching: Teaching):
        """Add the drawings in two MNIST files (images and labels, IDX, gzip or plain) to the collection."""
        if isinstance(paths, str):
            paths = [paths]
        try:
            images, labels = read_upload(paths or [])
            added = teaching.collection.add_many(images, labels)
        except CollectionError as err:
            return {ui.message: refused(f"{err}. Your collection is unchanged."), ui.upload: None}
        return {ui.message: f"Added {plural(added, 'drawing')} from the files.", ui.upload: None, **redraw(teaching)}

    ui.upload.upload(upload, [ui.upload, state], [ui.message, ui.upload, *view], api_name="upload_drawings",
                     concurrency_id="files", concurrency_limit=2)

    finetune_ui.wire(ctx, ui, visitor, predictor_for, refresh, model_outputs)
