"""A visitor's own labelled drawings, to teach the model their handwriting (no gradio), and MNIST's IDX format.

`Collection` holds up to MAX_DRAWINGS 28x28 MNIST-style images (what `preprocess.to_mnist` makes of a drawing:
ink 255 on 0, the digit centred) with their labels and the time each was added. It is one visitor's: the app
keeps one per session and nothing in it is shared.

It travels as MNIST itself does: two gzip-compressed IDX files, `*-images-idx3-ubyte.gz` (magic 0x00000803,
dimensions N x 28 x 28) and `*-labels-idx1-ubyte.gz` (magic 0x00000801, N labels), so any MNIST reader
(`data.read_idx`, torchvision's, the original C) trains on it. Uploads are untrusted: `read_upload` checks the
file size before reading, inflates at most the bytes a full collection can hold (a small gzip bomb cannot fill
memory), then the magic numbers, the dimensions, the count, the labels and that the two files match; any
problem is a CollectionError naming the file and what is wrong, and nothing is added.
"""

from __future__ import annotations

import gzip
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_demo.errors import DemoError

MAX_DRAWINGS = 1000  # per visitor: ~0.8 MB of pixels, enough for 100 of each digit
SIDE = 28
IMAGE_BYTES = SIDE * SIDE
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # IDX: unsigned bytes, 3 or 1 dimensions
IMAGES_SUFFIX, LABELS_SUFFIX = "-images-idx3-ubyte.gz", "-labels-idx1-ubyte.gz"
# The largest IDX file a full collection makes (images: header + N x 784), and the largest upload read: gzip of
# such data is smaller, an uncompressed file is that size, so twice it leaves room and still refuses a large file.
MOST_IDX_BYTES = 16 + MAX_DRAWINGS * IMAGE_BYTES
MAX_UPLOAD_BYTES = 2 * MOST_IDX_BYTES


class CollectionError(DemoError):
    """A drawing or an upload that cannot join the collection: the message says why; nothing was changed."""


@dataclass(frozen=True)
class Drawing:
    """One labelled drawing: `image` uint8 [28, 28] (read-only), `label` 0-9, `added` (Unix time)."""

    id: int
    image: np.ndarray
    label: int
    added: float


def check_label(label) -> int:
    """`label` as an int 0-9 (a digit given as text too), or CollectionError."""
    text = str(label).strip() if isinstance(label, (str, int, np.integer)) and not isinstance(label, bool) else ""
    if len(text) != 1 or not text.isdigit():
        raise CollectionError(f"Label {label!r} is not a digit: it must be one of 0-9", code="label_not_digit",
                              label=repr(label))
    return int(text)


def check_image(image) -> np.ndarray:
    """`image` as a read-only uint8 [28, 28] copy, or CollectionError."""
    array = np.asarray(image)
    if array.shape != (SIDE, SIDE):
        raise CollectionError(f"A drawing must be a {SIDE}x{SIDE} image, not {'x'.join(map(str, array.shape))}")
    if array.dtype != np.uint8:
        raise CollectionError(f"A drawing must have 8-bit pixels (0-255), not {array.dtype}")
    array = array.copy()
    array.flags.writeable = False
    return array


class Collection:
    """One visitor's drawings, in the order they were added. Thread-safe; at most `limit` drawings.

    A plain class with `__deepcopy__` giving an empty one, so the app's per-session state starts empty.
    """

    def __init__(self, limit: int = MAX_DRAWINGS):
        self.limit = limit
        self._drawings: list[Drawing] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def __deepcopy__(self, memo) -> "Collection":
        return Collection(self.limit)

    def __repr__(self) -> str:
        return f"Collection({len(self)} of {self.limit})"

    def __len__(self) -> int:
        return len(self._drawings)

    @property
    def drawings(self) -> list[Drawing]:
        with self._lock:
            return list(self._drawings)

    def full_message(self) -> str:
        return (f"Your collection is full ({self.limit:,} drawings, the most kept per visitor): remove some "
                "before adding more")

    def add(self, image, label, added: float | None = None) -> Drawing:
        """Add one drawing; CollectionError (nothing added) for a bad image or label, or at the cap."""
        image, label = check_image(image), check_label(label)
        with self._lock:
            if len(self._drawings) >= self.limit:
                raise CollectionError(self.full_message(), code="collection_full", limit=f"{self.limit:,}")
            drawing = Drawing(self._next_id, image, label, time.time() if added is None else float(added))
            self._next_id += 1
            self._drawings.append(drawing)
            return drawing

    def add_many(self, images: np.ndarray, labels: np.ndarray) -> int:
        """Add all of them or none (CollectionError when they would pass the cap); returns how many."""
        checked = [(check_image(image), check_label(int(label))) for image, label in zip(images, labels, strict=True)]
        with self._lock:
            room = self.limit - len(self._drawings)
            if len(checked) > room:
                raise CollectionError(f"That is {len(checked):,} drawings and your collection has room for "
                                      f"{room:,} more (at most {self.limit:,}): nothing was added",
                                      code="collection_no_room", count=f"{len(checked):,}", room=f"{room:,}",
                                      limit=f"{self.limit:,}")
            now = time.time()
            for image, label in checked:
                self._drawings.append(Drawing(self._next_id, image, label, now))
                self._next_id += 1
        return len(checked)

    def remove(self, drawing_id) -> Drawing:
        """Remove the drawing with this id; CollectionError when there is none."""
        with self._lock:
            for i, drawing in enumerate(self._drawings):
                if drawing.id == drawing_id:
                    del self._drawings[i]
                    return drawing
        raise CollectionError("That drawing is not in your collection (already removed?): pick one in the gallery",
                              code="drawing_gone")

    def counts(self) -> list[int]:
        """How many drawings of each digit 0-9."""
        counts = [0] * 10
        for drawing in self.drawings:
            counts[drawing.label] += 1
        return counts

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 [N, 28, 28], int64 [N]): the drawings as a data set."""
        drawings = self.drawings
        images = np.stack([d.image for d in drawings]) if drawings else np.zeros((0, SIDE, SIDE), np.uint8)
        return images, np.array([d.label for d in drawings], dtype=np.int64)


# --------------------------------------------------------------------------- IDX, gzip

def idx_bytes(images: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """(images file, labels file) in IDX, uncompressed: big-endian magic, dimensions, then the bytes."""
    images, labels = np.asarray(images, np.uint8), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or len(labels) != len(images):
        raise CollectionError(f"Cannot write {images.shape} images with {len(labels)} labels as MNIST IDX")
    n = len(images)
    head_images = struct.pack(">IIII", IMAGES_MAGIC, n, SIDE, SIDE)
    return head_images + images.tobytes(), struct.pack(">II", LABELS_MAGIC, n) + labels.astype(np.uint8).tobytes()


def write_idx(images: np.ndarray, labels: np.ndarray, directory: Path, stem: str = "my-drawings") -> tuple[Path, Path]:
    """Write `STEM-images-idx3-ubyte.gz` and `STEM-labels-idx1-ubyte.gz` in `directory`; their paths.

    gzip with mtime 0, so the same drawings always give the same bytes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / f"{stem}{IMAGES_SUFFIX}", directory / f"{stem}{LABELS_SUFFIX}"
    for path, raw in zip(paths, idx_bytes(images, labels)):
        path.write_bytes(gzip.compress(raw, mtime=0))
    return paths


def inflate(raw: bytes, name: str, most: int = MOST_IDX_BYTES) -> bytes:
    """`raw` gunzipped (or as it is when it is not gzip), never more than `most` bytes; CollectionError if not."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, most + 1)
    except zlib.error as err:
        raise CollectionError(f"{name}: not a readable gzip file ({err})", code="upload_bad_gzip", file=name) from None
    if len(out) > most:
        raise CollectionError(f"{name}: unpacks to more than {most:,} bytes, more than {MAX_DRAWINGS:,} drawings "
                              "can fill")
    if not inflater.eof:
        raise CollectionError(f"{name}: the gzip file is cut short", code="upload_cut_short", file=name)
    if inflater.unused_data.strip(b"\x00"):
        raise CollectionError(f"{name}: holds more than one gzip stream; upload the two files MNIST-style, "
                              "one for the images and one for the labels")
    return out


def parse_idx(raw: bytes, name: str) -> tuple[str, np.ndarray]:
    """("images", uint8 [N, 28, 28]) or ("labels", uint8 [N]) from an IDX file's bytes; CollectionError if not."""
    if len(raw) < 8:
        raise CollectionError(f"{name}: not an MNIST IDX file (only {len(raw)} bytes)", code="upload_not_idx",
                              file=name)
    (magic,) = struct.unpack(">I", raw[:4])
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise CollectionError(f"{name}: not an MNIST IDX file of images or labels (magic number {magic:#010x}; "
                              f"expected {IMAGES_MAGIC:#010x} or {LABELS_MAGIC:#010x})", code="upload_not_idx",
                              file=name)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CollectionError(f"{name}: cut short inside its header", code="upload_cut_short", file=name)
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if shape[0] > MAX_DRAWINGS:
        raise CollectionError(f"{name}: holds {shape[0]:,} items; at most {MAX_DRAWINGS:,} drawings are kept",
                              code="upload_too_many", file=name, count=f"{shape[0]:,}", limit=f"{MAX_DRAWINGS:,}")
    if ndim == 3 and tuple(shape[1:]) != (SIDE, SIDE):
        raise CollectionError(f"{name}: images are {shape[1]}x{shape[2]}; MNIST drawings are {SIDE}x{SIDE}",
                              code="upload_wrong_size", file=name, size=f"{shape[1]}x{shape[2]}", side=SIDE)
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise CollectionError(f"{name}: {len(raw) - header:,} bytes of data where its header says {size:,} "
                              "(cut short or padded)", code="upload_cut_short", file=name)
    values = np.frombuffer(raw, np.uint8, count=size, offset=header).reshape(shape)
    if ndim == 1:
        bad = values[values > 9]
        if bad.size:
            raise CollectionError(f"{name}: label {int(bad[0])} is outside 0-9", code="upload_bad_label", file=name,
                                  label=int(bad[0]))
    return ("images" if ndim == 3 else "labels"), values


def read_upload(paths, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N]) from the two uploaded IDX files (gzip or plain, any order).

    Checked in this order, each failure a CollectionError that names the file: two files, each at most
    `max_bytes` (before reading), readable gzip unpacking to at most a full collection, IDX magic numbers,
    28x28 images, at most MAX_DRAWINGS, labels 0-9, one images file and one labels file of the same count.
    """
    paths = [Path(p) for p in (paths or []) if p]
    if len(paths) != 2:
        raise CollectionError(f"Upload two files, the images ({IMAGES_SUFFIX}) and the labels ({LABELS_SUFFIX}); "
                              f"got {len(paths)}", code="upload_two_files", images=IMAGES_SUFFIX,
                              labels=LABELS_SUFFIX, count=len(paths))
    found: dict[str, np.ndarray] = {}
    for path in paths:
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise CollectionError(f"{path.name} is too large ({size:,} bytes; the limit is {max_bytes:,})",
                                      code="upload_file_too_large", file=path.name, size=f"{size:,}",
                                      limit=f"{max_bytes:,}")
            raw = path.read_bytes()
        except OSError:
            raise CollectionError(f"{path.name}: the upload could not be read", code="upload_unreadable",
                                  file=path.name) from None
        kind, values = parse_idx(inflate(raw, path.name), path.name)
        if kind in found:
            raise CollectionError(f"Both files hold {kind}; upload one images file and one labels file")
        found[kind] = values
    images, labels = found["images"], found["labels"]
    if len(images) != len(labels):
        raise CollectionError(f"The files do not match: {len(images):,} images but {len(labels):,} labels",
                              code="upload_mismatch", images=f"{len(images):,}", labels=f"{len(labels):,}")
    if not len(images):
        raise CollectionError("The files hold no drawings", code="upload_no_drawings")
    return images.copy(), labels.astype(np.int64)
