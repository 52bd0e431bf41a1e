"""The Draw tab's "teach it your handwriting": "Right?" buttons that keep a drawing with its label, the visitor's
collection as a gallery with Remove, MNIST files out and in, and the fine-tune's controls (run by
`finetune.py`).

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

from mnist_demo.app.core.context import AppContext
from mnist_demo.app.core.messages import error_text, progress_html, refused
from mnist_demo.app.core.visitor import Visitor
from mnist_demo.app.server.i18n import resolve, t
from mnist_demo.app.server.shared import Shared
from mnist_demo.collection import (
    IMAGES_SUFFIX,
    LABELS_SUFFIX,
    Collection,
    CollectionError,
    check_label,
    read_upload,
    write_idx,
)
from mnist_demo.config import whole_number
from mnist_demo.errors import DemoError, ImageError
from mnist_demo.finetune import DEFAULT_STEPS, MAX_STEPS
from mnist_demo.preprocess import to_mnist
from mnist_demo.texts import TEXTS, tr

# Clicks the pad's bin (the Draw tab's CLEAR_JS) after a drawing was kept: `kept` is 1 then, 0 when it was refused (a
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
    api_label: gr.Textbox  # the API's `collect`: its own label input, and the drawing it kept as its output
    api_drawing: gr.Image
    api_collect: gr.Button


# --------------------------------------------------------------------------- layout

def create_right() -> tuple:
    """Under the prediction: "Right?" and the ten digits, the counter and the last press's message."""
    with gr.Column(elem_id="collect-box"):
        gr.Markdown(t("collection.prompt"),
                    elem_id="collect-prompt", elem_classes=["mnist-small"])
        with gr.Row(elem_id="collect-digits", equal_height=True):
            digits = [gr.Button(str(d), size="sm", min_width=0, elem_id=f"collect-{d}",
                                elem_classes=["collect-digit"]) for d in range(10)]
        message = gr.Markdown("", elem_id="collect-message")
        counter = gr.Markdown(t("collection.counter_empty"), elem_id="collect-counter", elem_classes=["mnist-small"])
        kept = gr.Number(0, visible="hidden", elem_id="collect-kept", label="kept")
    return digits, kept, counter, message


def create_section(ctx: AppContext, right: tuple) -> CollectionUI:
    """Below the pad: the gallery, Remove, fine-tune with progress and Stop, Save, MNIST files out and in."""
    digits, kept, counter, message = right
    state = gr.State(Teaching(), delete_callback=close_teaching)
    with gr.Accordion(t("collection.title"), open=True, elem_id="collection-section"):
        gr.Markdown(t("collection.intro"), elem_classes=["mnist-small"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                gr.Markdown(t("collection.gallery_intro"), elem_classes=["mnist-small"])
                gallery = gr.Gallery([], label=t("collection.gallery_label"), show_label=False, columns=10,
                                     fit_columns=False, height=200, object_fit="contain", allow_preview=False,
                                     format="png",
                                     buttons=[], elem_id="collection-gallery")
                selected = gr.Number(-1, visible="hidden", elem_id="collection-selected", label="selected")
                with gr.Row(equal_height=True):
                    remove = gr.Button(t("collection.remove"), size="sm", elem_id="collection-remove")
                    download = gr.Button(t("collection.download"), size="sm", elem_id="collection-download")
                files = gr.File(None, file_count="multiple", interactive=False, visible=False,
                                label=files_label(),  # shown by a download, which sends it in the visitor's language
                                elem_id="collection-files")
                upload = gr.File(None, file_count="multiple", type="filepath", height=150,
                                 label=t("collection.upload_label"), elem_id="collection-upload")
            with gr.Column(scale=2, min_width=300):
                # The browser translates the words and leaves the range, which comes from the engine, as it is.
                steps = gr.Number(DEFAULT_STEPS, label=t("finetune.steps_label") + f" (1-{MAX_STEPS})",
                                  precision=None, step=50,
                                  elem_id="finetune-steps")
                with gr.Row(equal_height=True):
                    finetune_button = gr.Button(t("finetune.button"), variant="primary",
                                                elem_id="finetune-button", scale=3)
                    stop = gr.Button(t("finetune.stop"), variant="stop", interactive=False, elem_id="finetune-stop",
                                     scale=1, min_width=80)
                status = gr.Markdown(t("finetune.status_idle"), elem_id="finetune-status")
                progress = gr.HTML(idle_progress(), elem_id="finetune-progress")  # then as `steps`
                with gr.Row(equal_height=True):
                    save_name = gr.Textbox("", label=t("finetune.save_label"),
                                           placeholder=t("finetune.save_placeholder"),
                                           max_length=64, elem_id="finetune-save-name", scale=3)
                    save = gr.Button(t("finetune.save"), elem_id="finetune-save", scale=1, min_width=80)
                save_status = gr.Markdown("", elem_id="finetune-save-status")
                with gr.Accordion(t("finetune.help_title"), open=False, elem_id="teach-finetune"):
                    gr.Markdown(t("teach.finetune"))
    with gr.Group(visible=False):  # the API's `collect` (the page's "Right?" digits are each a button of their own)
        api_label = gr.Textbox(label="label", elem_id="api-collect-label")
        api_drawing = gr.Image(label="drawing", type="numpy", format="png", elem_id="api-collect-drawing")
        api_collect = gr.Button("collect", elem_id="api-collect")
    return CollectionUI(state=state, digits=digits, kept=kept, counter=counter, message=message, gallery=gallery,
                        selected=selected, remove=remove, steps=steps, finetune=finetune_button, stop=stop,
                        status=status, progress=progress, save_name=save_name, save=save, save_status=save_status,
                        download=download, files=files, upload=upload, api_label=api_label, api_drawing=api_drawing,
                        api_collect=api_collect)


# --------------------------------------------------------------------------- what the components show

def drawings(n: int, lang: str | None = None) -> str:
    """"1 drawing", "3 drawings" (or "3개")."""
    return tr(lang, "collection.drawings_one" if n == 1 else "collection.drawings_many", n=f"{n:,}")


def counter_text(counts: list[int], lang: str | None = None) -> str:
    """A one-row table of how many drawings of each digit are kept (`collection.counter_empty` when none are)."""
    head = "| " + " | ".join(str(d) for d in range(10)) + f" | {tr(lang, 'collection.all')} |"
    rule = "|" + "---|" * 11
    row = "| " + " | ".join(str(c) for c in counts) + f" | **{sum(counts)}** |"
    return f"{tr(lang, 'collection.kept_so_far')}\n\n{head}\n{rule}\n{row}"


def files_label(lang: str | None = None) -> str:
    return tr(lang, "collection.files_label", images=IMAGES_SUFFIX, labels=LABELS_SUFFIX)


def idle_progress(lang: str | None = None) -> str:
    """The fine-tune's bar before any run."""
    return progress_html(0.0, tr(lang, "finetune.bar_idle"), "idle")


def untouched(value, key: str, render: Callable[[str], str] = lambda text: text) -> bool:
    """Whether a component still shows its first text (`render(text of key)` in some language): a language switch
    rewrites those, and leaves a message about something the visitor did as it was."""
    value = resolve(value)  # the page may send back the `t(key)` marker it was built with
    return any(value == render(table[key]) for table in TEXTS.values() if key in table)


def gallery_items(collection: Collection) -> list[tuple]:
    """(image, caption) per drawing, newest first; 28x28 arrays (the page enlarges them).

    Measured: the whole gallery's update costs the server about 0.5 s at the 1,000 cap, 0.05 s at 100
    (gradio writes each thumbnail once; 2-core CPU)."""
    return [(d.image, str(d.label)) for d in reversed(collection.drawings)]


def shown(collection: Collection, lang: str | None = None) -> dict:
    """Counter, gallery and no selection: what every change to the collection redraws (a selection made on the
    old gallery would point at another drawing)."""
    return {"counter": counter_text(collection.counts(), lang), "gallery": gallery_items(collection),
            "selected": -1}


# --------------------------------------------------------------------------- events

def create_event_handlers(ctx: AppContext, ui: CollectionUI, shared: Shared, pad, clear_js: str) -> None:
    """The collection's events on the pad (`pad`, cleared by `clear_js` once a drawing is kept) and on its own
    controls (the fine-tune's are `finetune.create_event_handlers`')."""
    state, visitor = ui.state, shared.visitor
    view = [ui.counter, ui.gallery, ui.selected, ui.files]

    def redraw(teaching: Teaching, lang: str | None) -> dict:
        """After any change: the counter, the gallery, no selection, and no download of the earlier drawings."""
        values = shown(teaching.collection, lang)
        return {ui.counter: values["counter"], ui.gallery: values["gallery"], ui.selected: values["selected"],
                ui.files: gr.File(value=None, visible=False)}

    def keep(label, image, teaching: Teaching, lang: str) -> tuple[str, object]:
        """(message, the kept drawing's 28x28 image, or None when nothing was kept)."""
        try:
            check_label(label)
            prepared = to_mnist(image)
            if prepared is None:
                return refused(tr(lang, "collection.pad_empty"), lang), None
            teaching.collection.add(prepared.image28, label)
        except (CollectionError, ImageError) as err:
            return refused(error_text(err, lang), lang), None
        return tr(lang, "collection.kept", digit=int(str(label).strip())), prepared.image28

    def press_digit(label, image, teaching: Teaching, visitor: Visitor):
        """A "Right?" digit: keep the drawing with that digit, redraw the gallery; the pad is then cleared."""
        message, drawing = keep(label, image, teaching, visitor.language)
        if drawing is None:
            return {ui.message: message, ui.kept: 0}
        return {ui.message: message, ui.kept: 1, **redraw(teaching, visitor.language)}

    group = dict(concurrency_id="predict", concurrency_limit=ctx.settings.predict_workers)
    for button in ui.digits:
        button.click(press_digit, [button, pad, state, visitor], [ui.message, ui.kept, *view],
                     show_progress="hidden", api_visibility="private", **group
                     ).then(None, [ui.kept], None, js=CLEAR_IF_KEPT_JS.format(clear=clear_js.strip()),
                            api_visibility="private", queue=False, show_progress="hidden")

    def collect(label, image, teaching: Teaching, visitor: Visitor):
        """Keep a drawing with the digit it is (label "0"-"9"). Returns what changed: the message, 1 if it was kept
        (else 0), the count per digit, and the drawing as the model will learn it (28x28; None when refused). The
        collection's gallery is not sent again (/remove_drawing returns it): with it, a call took 0.7 s at 20 drawings
        and 1.9 s at 40, a download per thumbnail; without, 0.18 s at either (benchmarks/collect.py, 2-core CPU)."""
        message, drawing = keep(label, image, teaching, visitor.language)
        return {ui.message: message, ui.kept: int(drawing is not None), ui.api_drawing: drawing,
                ui.counter: counter_text(teaching.collection.counts(), visitor.language)}

    ui.api_collect.click(collect, [ui.api_label, pad, state, visitor],
                         [ui.message, ui.kept, ui.counter, ui.api_drawing], api_name="collect", **group)

    def pick(teaching: Teaching, visitor: Visitor, event: gr.SelectData):
        drawings = list(reversed(teaching.collection.drawings))
        index = event.index if isinstance(event.index, int) else -1
        if not 0 <= index < len(drawings):
            return {ui.selected: -1, ui.message: ""}
        d = drawings[index]
        when = time.strftime("%H:%M:%S", time.localtime(d.added))
        return {ui.selected: index, ui.message: tr(visitor.language, "collection.selected", digit=d.label, when=when)}

    ui.gallery.select(pick, [state, visitor], [ui.selected, ui.message], api_visibility="private", queue=False,
                      show_progress="hidden")

    def remove(position, teaching: Teaching, visitor: Visitor):
        """Remove the drawing at `position` in the gallery (0 is the newest)."""
        lang = visitor.language
        drawings = list(reversed(teaching.collection.drawings))
        try:
            index = whole_number("position", position, -1, max(len(drawings) - 1, -1))
        except DemoError:
            index = -1
        if index < 0:
            return {ui.message: refused(tr(lang, "collection.pick_first"), lang)}
        try:
            gone = teaching.collection.remove(drawings[index].id)
        except CollectionError as err:
            return {ui.message: refused(error_text(err, lang), lang)}
        return {ui.message: tr(lang, "collection.removed", digit=gone.label), **redraw(teaching, lang)}

    ui.remove.click(remove, [ui.selected, state, visitor], [ui.message, *view], api_name="remove_drawing",
                    show_progress="hidden", concurrency_id="files", concurrency_limit=2)

    def download(teaching: Teaching, visitor: Visitor):
        """The collection as MNIST's two IDX files, gzip-compressed (images and labels)."""
        lang = visitor.language
        images, labels = teaching.collection.arrays()
        if not len(images):
            return {ui.message: refused(tr(lang, "collection.nothing_to_download"), lang),
                    ui.files: gr.File(value=None, visible=False)}
        with teaching.lock:
            teaching.close()
            teaching.export_dir = Path(tempfile.mkdtemp(prefix="mnist-drawings-"))
            paths = write_idx(images, labels, teaching.export_dir)
        return {ui.message: tr(lang, "collection.downloaded", drawings=drawings(len(images), lang),
                               images=IMAGES_SUFFIX, labels=LABELS_SUFFIX),
                ui.files: gr.File(value=[str(p) for p in paths], visible=True, label=files_label(lang))}

    ui.download.click(download, [state, visitor], [ui.message, ui.files], api_name="download_drawings",
                      concurrency_id="files", concurrency_limit=2)

    def upload(paths, teaching: Teaching, visitor: Visitor):
        """Add the drawings in two MNIST files (images and labels, IDX, gzip or plain) to the collection."""
        lang = visitor.language
        if isinstance(paths, str):
            paths = [paths]
        try:
            images, labels = read_upload(paths or [])
            added = teaching.collection.add_many(images, labels)
        except CollectionError as err:
            error = error_text(err, lang).rstrip(".")  # the sentence goes on: "... . Your collection is unchanged."
            return {ui.message: refused(tr(lang, "collection.upload_refused", error=error), lang), ui.upload: None}
        return {ui.message: tr(lang, "collection.added", drawings=drawings(added, lang)), ui.upload: None,
                **redraw(teaching, lang)}

    ui.upload.upload(upload, [ui.upload, state, visitor], [ui.message, ui.upload, *view], api_name="upload_drawings",
                     concurrency_id="files", concurrency_limit=2)

    def on_language(visitor: Visitor, teaching: Teaching, status, progress):
        """The texts the server wrote before the visitor's language was known or switched: the counter, and the
        fine-tune's status and bar while no run has changed them."""
        lang = visitor.language
        update = {ui.counter: counter_text(teaching.collection.counts(), lang), ui.status: gr.skip(),
                  ui.progress: gr.skip()}
        if untouched(status, "finetune.status_idle"):
            update[ui.status] = tr(lang, "finetune.status_idle")
        if untouched(progress, "finetune.bar_idle", lambda text: progress_html(0.0, text, "idle")):
            update[ui.progress] = idle_progress(lang)
        return update

    shared.on_language(on_language, [ui.counter, ui.status, ui.progress], [state, ui.status, ui.progress])
