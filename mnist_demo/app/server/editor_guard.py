"""Limits for a Sketchpad (any Gradio ImageEditor), applied before Gradio decodes what it was sent.

Gradio's ImageEditor decodes the background, every layer and the composite into full-size arrays before an
event's function sees them: one `choose_model` call with 20 layers of a large PNG took 18 s and 3.8 GB. And
a browser sends its sheets first, as blobs (`accept_blobs`, open to any client), which Gradio keeps in memory
until an event names them, with no cap on their number, their size or the layer index (index 10**9 makes a
list of a billion entries). `bound(pad)` wraps one component instance so that:

- only the composite is decoded when there is one (the prediction uses nothing else); the background and the
  layers are decoded only when it is missing, and then at most MAX_LAYERS of them;
- every sheet that will be decoded is sized from its header first: each, and all of them together, at most
  MAX_SHEET_PIXELS (the Draw tab's canvas is 420x420; even at 3x for a dense screen that is 1.6 megapixels);
- a blob is refused (HTTP 400/413) when its layer index is not below MAX_LAYERS or it is over MAX_BLOB_BYTES,
  and the blobs waiting for their event hold at most MAX_WAITING_BYTES in all, oldest dropped first.

Refusals are `gr.Error`s with one readable line, shown like any other error; the server logs one INFO line
for each, not Gradio's traceback (a refused drawing is the guard working, not a fault).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import gradio as gr
from fastapi import HTTPException

from mnist_demo.errors import ImageError
from mnist_demo.images import MAX_LAYERS, WORK_PIXELS, image_size

MAX_SHEET_PIXELS = WORK_PIXELS  # 2048x2048: larger drawings would be reduced to this size anyway
MAX_BLOB_BYTES = 5 * 1024 * 1024  # as /api/predict's body; a 420x420 sheet is tens of kB
MAX_WAITING_BYTES = 32 * 1024 * 1024  # blobs not yet used by an event, all visitors together
MAX_WAITING_SETS = 1000  # and as many sets of them (so tiny blobs cannot pile up either)
log = logging.getLogger(__name__)


def refuse(message: str) -> gr.Error:
    log.info("refused a drawing: %s", message)
    return gr.Error(message, print_exception=False)


class WaitingBlobs:
    """Gradio's `blob_storage` dict (id -> EditorDataBlobs) with a cap on what it holds; thread-safe.

    Gradio only uses get, `in`, pop and item assignment; `accept_blobs` fills a set in place, then assigns it,
    so sizes are counted at assignment.
    """

    def __init__(self, max_bytes: int = MAX_WAITING_BYTES, max_sets: int = MAX_WAITING_SETS):
        self.max_bytes, self.max_sets = max_bytes, max_sets
        self._sets: OrderedDict[str, object] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.dropped = 0  # sets dropped to keep within the caps

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._sets

    def __len__(self) -> int:
        with self._lock:
            return len(self._sets)

    def get(self, key, default=None):
        with self._lock:
            return self._sets.get(key, default)

    def pop(self, key, *default):
        with self._lock:
            self._sizes.pop(key, None)
            return self._sets.pop(key, *default)

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._sets[key] = value
            self._sets.move_to_end(key)
            self._sizes[key] = _blob_bytes(value)
            while len(self._sets) > 1 and (sum(self._sizes.values()) > self.max_bytes
                                           or len(self._sets) > self.max_sets):
                oldest, _ = self._sets.popitem(last=False)
                self._sizes.pop(oldest, None)
                self.dropped += 1

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())


def _blob_bytes(blobs) -> int:
    sheets = [getattr(blobs, "background", None), getattr(blobs, "composite", None),
              *(getattr(blobs, "layers", None) or [])]
    return sum(len(sheet) for sheet in sheets if sheet is not None)


def bound(pad: gr.ImageEditor) -> gr.ImageEditor:
    """Wrap `pad`'s preprocess and accept_blobs with the limits above (on this instance only); returns it."""
    preprocess, accept_blobs = pad.preprocess, pad.accept_blobs
    pad.blob_storage = WaitingBlobs()

    def bounded_preprocess(payload):
        return preprocess(_trimmed(pad, payload))

    def bounded_accept_blobs(data):
        _check_blob(data)
        return accept_blobs(data)

    bounded_accept_blobs._is_server_fn = True  # what Gradio's /component_server route looks for
    pad.preprocess, pad.accept_blobs = bounded_preprocess, bounded_accept_blobs
    return pad


def _check_blob(data) -> None:
    """HTTP 400/413 for a blob Gradio would store without looking: a bad or too high layer index, too many
    bytes, or not exactly one file."""
    fields, files = getattr(data, "data", None) or {}, getattr(data, "files", None) or []
    if len(files) != 1:
        raise HTTPException(400, "send exactly one blob")
    if len(files[0][1]) > MAX_BLOB_BYTES:
        raise HTTPException(413, f"a drawing's sheet is at most {MAX_BLOB_BYTES // (1024 * 1024)} MB")
    if fields.get("type") == "layer":
        index = str(fields.get("index"))
        if index not in ("", "None", "null") and not (index.isdigit() and int(index) < MAX_LAYERS):
            raise HTTPException(400, f"layer index {index[:20]!r}: a drawing has at most {MAX_LAYERS} layers")


def _trimmed(pad, payload):
    """The payload with only the sheets the prediction uses, each sized from its header; gr.Error if over."""
    if payload is None:
        return payload
    if payload.id is not None:  # the browser's way: the sheets were sent before, as blobs
        blobs = pad.blob_storage.get(payload.id)
        if blobs is None:
            return payload
        if blobs.composite is not None:
            blobs = type(blobs)(background=None, layers=[], composite=blobs.composite)
            pad.blob_storage[payload.id] = blobs
        _check_sheets(blobs.composite, blobs.background, blobs.layers)
        return payload
    if payload.composite is not None:  # an API client's way: uploaded files
        payload = payload.model_copy(update={"background": None, "layers": []})
    _check_sheets(payload.composite, payload.background, payload.layers)
    return payload


def _check_sheets(composite, background, layers) -> None:
    """gr.Error unless the sheets that will be decoded (the composite alone when there is one, else the
    background and at most MAX_LAYERS layers) are readable and within MAX_SHEET_PIXELS together."""
    layers = [layer for layer in layers or [] if layer is not None]
    if composite is None and len(layers) > MAX_LAYERS:
        raise refuse(f"The drawing has {len(layers)} layers; the limit is {MAX_LAYERS}.")
    sheets = [composite] if composite is not None else [s for s in [background, *layers] if s is not None]
    total = 0
    for sheet in sheets:
        try:
            width, height = image_size(sheet if isinstance(sheet, (bytes, bytearray)) else sheet.path)
        except ImageError as err:
            raise refuse(f"The drawing cannot be read: {str(err).split(': ', 1)[-1]}") from None
        total += width * height
        if total > MAX_SHEET_PIXELS:
            raise refuse(f"The drawing is too large (over {total / 1e6:.1f} megapixels); a drawing is at most "
                           f"{MAX_SHEET_PIXELS / 1e6:.1f} megapixels, all its layers together.")
