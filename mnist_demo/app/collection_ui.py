"""The Draw tab's "teach it your handwriting": "Right?" buttons that keep a drawing with its label, the visitor's
collection as a gallery, fine-tuning on it through the jobs queue, saving the result, MNIST files out and in.

The drawings live in `mnist_demo.collection.Collection` (one per session, in its own gr.State) and the
fine-tune is the engine's `finetune.finetune`; this module lays out the controls and turns both into what the
components show. A fine-tune is a run like any training: `ctx.jobs.submit(kind="train")` + `run_job`, so it
waits in the same line, has Stop and the wall-clock cap, and a visitor has one run at a time.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from mnist_demo.app import teach
from mnist_demo.app.common import error_text, md_escape, progress_html, refused, seconds
from mnist_demo.app.jobs import AlreadyActive, Busy, Cancelled, Failed, Finished, Started, Tick, Waiting, run_job
from mnist_demo.app.state import YOURS, AppContext, CurrentModel, Visitor
from mnist_demo.collection import (IMAGES_SUFFIX, LABELS_SUFFIX, Collection, CollectionError, check_label,
                                   read_upload, write_idx)
from mnist_demo.config import whole_number
from mnist_demo.data import cached_mnist
from mnist_demo.devices import resolve_device
from mnist_demo.errors import CheckpointError, DemoError, ImageError
from mnist_demo.finetune import DEFAULT_STEPS, MAX_STEPS, MIN_PER_DIGIT_TO_HOLD_OUT, check_drawings, finetune, \
    finetune_meta
from mnist_demo.predict import Predictor
from mnist_demo.preprocess import to_mnist
from mnist_demo.train import EpochEnd, Progress

REDRAW_S = 1.0  # at most one progress update a second, as the Train tab
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


@dataclass(frozen=True)
class Stage:
    """What the fine-tune is doing when it is not training (loading MNIST, measuring the starting model)."""

    text: str


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
                                 label=f"Add drawings from MNIST files (both: *{IMAGES_SUFFIX} and "
                                       f"*{LABELS_SUFFIX})", elem_id="collection-upload")
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


def held_out_text(held_out: int, drawings: int) -> str:
    if held_out:
        return (f"on the {held_out} drawings held aside (never trained on; at least {MIN_PER_DIGIT_TO_HOLD_OUT} of "
                "each digit, a fifth kept aside)")
    return (f"on the {drawings} drawings it trained on (fewer than {MIN_PER_DIGIT_TO_HOLD_OUT} of some digit, so "
            "none were held aside: this says how well it learnt them, not how well it reads new ones)")


def result_text(result, source: str) -> str:
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    head = (f"**Stopped** after {result.steps:,} steps." if result.stopped
            else f"**Done**: {result.steps:,} steps in {result.train_s:.1f} s.")
    return (f"{head} Fine-tuned from {md_escape(source)}.\n\n"
            f"- Your drawings: **{pct(result.before)} → {pct(result.after)}** right, "
            f"{held_out_text(result.held_out, result.drawings)}.\n"
            f"- MNIST test (10,000 images): **{100 * result.mnist_before:.2f}% → "
            f"{100 * result.mnist_after:.2f}%**.\n\n"
            "This is now your current model: the pad above uses it. Save it below to keep it.")


# --------------------------------------------------------------------------- the fine-tune's work

def finetune_work(ctx: AppContext, model, images, labels, steps: int):
    """`work(stop, emit) -> FineTuneResult` for `jobs.run_job`."""

    def work(stop, emit):
        emit(Stage("Loading MNIST (for replay and the test set)..."))
        device = resolve_device(ctx.default_device)
        data = cached_mnist(ctx.settings.data_dir, device)
        if stop.is_set():
            return None
        emit(Stage("Measuring the model before: your drawings and MNIST's 10,000 test images..."))
        return finetune(model, images, labels, data, steps=steps, stop=stop, on_event=emit, device=device)

    return work


class FineTuneView:
    """The status line and progress bar of one fine-tune, from `run_job`'s items."""

    def __init__(self, ctx: AppContext, drawings: int, steps: int):
        self.ctx, self.drawings, self.steps = ctx, drawings, steps
        self.text = "**Starting...**"
        self.fraction, self.bar, self.state = 0.0, "Waiting for a slot...", "waiting"
        self.result = None
        self.done = False

    def apply(self, item) -> bool:
        """True when worth showing at once."""
        if isinstance(item, Waiting):
            self.text = (f"**Waiting in line: you are number {item.position}** "
                         f"({md_escape(self.ctx.jobs.describe())}). **Stop** leaves the line.")
            self.bar = f"Waiting: number {item.position} in line"
            return True
        if isinstance(item, Started):
            self.text, self.bar, self.state = "**Fine-tuning...**", "Starting...", "running"
            return True
        if isinstance(item, Stage):
            self.text = f"**Fine-tuning** on {self.drawings} drawings. {md_escape(item.text)}"
            self.bar = item.text
            return True
        if isinstance(item, Progress):
            self.fraction = item.step / item.total_steps if item.total_steps else 0.0
            eta = item.eta_s
            self.text = f"**Fine-tuning** on {self.drawings} drawings mixed with MNIST."
            self.bar = (f"Step {item.step:,} of {item.total_steps:,} · {100 * self.fraction:.0f}% · about "
                        f"{seconds(eta)} left · loss {item.loss:.3f}")
            return False
        if isinstance(item, EpochEnd):
            self.bar = "Measuring the model after..."
            return True
        if isinstance(item, Tick):
            return False
        if isinstance(item, Finished):
            self.done = True
            if item.result is None:
                self.text = f"**Not run**: {md_escape(item.stop_reason or 'stopped before it began')}. Nothing changed."
                self.bar, self.state = "Not run", "idle"
            else:
                self.result = item.result
                self.fraction = 1.0 if not item.result.stopped else self.fraction
                self.state = "stopped" if item.result.stopped else "done"
                self.bar = (f"{'Stopped' if item.result.stopped else 'Finished'}: {item.result.steps:,} steps in "
                            f"{item.result.train_s:.1f} s")
                if item.result.stopped and item.stop_reason:
                    self.bar += f" ({item.stop_reason})"
            return True
        if isinstance(item, Failed):
            self.done = True
            self.text = f"**Fine-tuning failed.** {md_escape(error_text(item.error))} Nothing changed."
            self.bar, self.state = "Failed", "failed"
            return True
        if isinstance(item, Cancelled):
            self.done = True
            self.text = f"**Not run**: {md_escape(item.reason)}. Nothing changed."
            self.bar, self.state = "Not run", "idle"
            return True
        return False

    def html(self) -> str:
        return progress_html(self.fraction, self.bar, self.state)


# --------------------------------------------------------------------------- events

def wire(ctx: AppContext, ui: CollectionUI, visitor: gr.State, pad, clear_js: str,
         predictor_for: Callable, refresh: Callable, model_outputs: list) -> None:
    """`predictor_for(ctx, visitor) -> (Predictor, name)` is the Draw tab's model; `refresh(ctx, visitor)` gives
    the values of `model_outputs` (the Draw tab's picker and model info) after the current model changed."""
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

    outputs = [ui.status, ui.progress, ui.finetune, ui.stop, *model_outputs]

    def buttons(running: bool) -> dict:
        return {ui.finetune: gr.update(interactive=not running), ui.stop: gr.update(interactive=running)}

    def run(steps, teaching: Teaching, visitor: Visitor, request: gr.Request):
        """Fine-tune the Draw tab's model on this visitor's drawings (mixed with MNIST); streams progress."""
        images, labels = teaching.collection.arrays()
        try:
            steps = whole_number("steps", steps, 1, MAX_STEPS)
            check_drawings(images, labels)
            predictor, source = predictor_for(ctx, visitor)
        except DemoError as err:
            text = error_text(err)
            yield {ui.status: refused(text[:1].upper() + text[1:])}  # the engine's messages start lower-case
            return
        if visitor.draw_choice == YOURS and visitor.current is not None:
            source = f"your current model ({visitor.current.origin})"
        start_meta = dict(predictor.meta or {})
        model = copy.deepcopy(predictor.model).requires_grad_(True)  # a Predictor's copy is frozen for serving
        owner = visitor.job_owner(getattr(request, "session_hash", None))
        try:
            ticket = ctx.jobs.submit(owner, kind="train", label=f"fine-tune on {len(images)} drawings")
        except (Busy, AlreadyActive) as err:
            yield {ui.status: f"**Busy.** {md_escape(str(err))} Nothing was started."}
            return
        with visitor.lock:
            visitor.ticket = ticket
        live = FineTuneView(ctx, len(images), steps)
        yield {ui.status: live.text, ui.progress: live.html(), **buttons(True)}
        last = time.monotonic()
        for item in run_job(ticket, finetune_work(ctx, model, images, labels, steps)):
            important = live.apply(item)
            if live.done:
                break
            if important or time.monotonic() - last >= REDRAW_S:
                last = time.monotonic()
                yield {ui.status: live.text, ui.progress: live.html()}
        result = live.result
        if result is None:
            yield {ui.status: live.text, ui.progress: live.html(), **buttons(False)}
            return
        meta = finetune_meta(start_meta, result, source)
        origin = "fine-tuned, stopped early" if result.stopped else "fine-tuned"
        served = Predictor(result.model, "your model", meta)
        with visitor.lock:
            visitor.current = CurrentModel(served.model, served, meta, origin, f"finetune-{int(time.time() * 1000)}")
            visitor.draw_choice = YOURS
        yield {ui.status: result_text(result, source), ui.progress: live.html(), **buttons(False),
               **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.finetune.click(run, [ui.steps, state, visitor], outputs, api_name="finetune", concurrency_limit=None,
                      concurrency_id="train", show_progress="hidden")

    def stop(visitor: Visitor):
        """Stop this visitor's fine-tune (or training), or leave the line; a stopped fine-tune's model is kept."""
        return {None: "Nothing of yours is running.", "left": "Left the line.",
                "stopping": "Stopping: finishing the current batch and measuring the model..."}[visitor.stop("train")]

    ui.stop.click(stop, [visitor], [ui.status], api_name="stop_finetune", queue=False, show_progress="hidden")

    def save(name, visitor: Visitor, request: gr.Request):
        """Save your current model (fine-tuned or not) as a named checkpoint, as the Train tab's Save does."""
        visitor.username = getattr(request, "username", None) or visitor.username
        current = visitor.current
        if current is None:
            return {ui.save_status: refused("No model of your own to save yet: fine-tune one first.")}
        try:
            if not isinstance(name, str) or not name.strip():
                raise CheckpointError("Checkpoint name: is empty; type a name such as my-hand")
            path = ctx.library.save(current.model, current.meta, name, visitor.owner)
        except CheckpointError as err:
            return {ui.save_status: refused(str(err))}
        return {ui.save_status: f"**Saved** as `{md_escape(path.stem)}`: listed in the Checkpoints tab and the "
                                "model picker above.", **dict(zip(model_outputs, refresh(ctx, visitor), strict=True))}

    ui.save.click(save, [ui.save_name, visitor], [ui.save_status, *model_outputs], api_name="save_finetuned",
                  concurrency_id="files", concurrency_limit=2)
