"""What the class board accepts: its bounds, display names, the record of a posted run, its weights (no gradio).

The board is reachable from a public link, so everything a visitor sends is checked here before the store
(`board.py`) keeps it: a display name of a bounded length and alphabet, a run's settings and figures as plain
checked values, its accuracy curve downsampled to a bound, and its weights as a checkpoint payload of bounded size
that passes a checkpoint file's checks. Each refusal is a `BoardError` with a `code` (prefixed "board_") and the
values its message names, so the app can say it in the visitor's language (`error.<code>` in the locale files).
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass

import torch

from mnist_demo.checkpoints import Checkpoint, CheckpointError, checked, payload
from mnist_demo.config import OPTIMIZERS, SCHEDULES, TRAIN_SIZE, TrainConfig, choice, number, whole_number
from mnist_demo.errors import DemoError
from mnist_demo.models import MODELS

# --------------------------------------------------------------------------- bounds

# 24 characters: a Korean name is 2-4 syllables, an English full name with a class tag ("Maria Garcia-Lopez 2b")
# about 20; longer adds nothing to a table cell or a plot's legend but lets one entry crowd out the others.
MAX_NAME = 24
MAX_CLASS_NAME = 48  # the teacher's class name is a heading, not a cell: "Intro to deep learning 2026 spring"
# Characters looked at before any work (NFC, per-character checks): a 10 KB paste is refused at its length.
# Four times MAX_CLASS_NAME is ample: NFC shrinks at most 3:1 (Hangul typed as jamo: 3 code points per syllable).
MAX_RAW_NAME = 4 * MAX_CLASS_NAME
NAME_PUNCTUATION = "-_.'"
MAX_MARKS = 3  # combining marks in a row after a letter: Devanagari or Thai need 2-3; more is "zalgo" text
# Hangul fillers are letters (Lo) that draw nothing: a name of them would look empty.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")

# 3 posts per visitor per minute: one run of the app's fast preset takes 20-30 s on a classroom CPU, so a visitor
# who trains and posts by hand posts at most 2-3 a minute; a script posting in a loop is held to the same pace.
MAX_POSTS_PER_MINUTE = 3
RATE_WINDOW_S = 60.0
# 500 posts per class: 30 students x ~16 runs; the board says it is full and the teacher can export and clear it.
MAX_POSTS = 500
# 3 MiB of weights per post: the registry's biggest model (mlp and tutorial, 669,706 parameters) is 2,681,557
# bytes as a checkpoint payload, cnn-small 402,977 and cnn 253,479 (measured: torch.save(payload(...)));
# the margin is for metadata. Anything bigger is not one of this app's models.
MAX_WEIGHT_BYTES = 3 * 1024 * 1024
# Only the newest 100 posts in the file keep their weights (3 or so per student of a class of 30); older posts stay
# on the board without a model. At most 100 x 3 MiB = 300 MiB on disk, typically 100 x 0.4 MB (cnn-small) = 40 MB.
MAX_WEIGHTS_KEPT = 100
# 200 points per curve: a 6-epoch run measured every 1.5 s has about 240; 200 draw as smoothly in a plot a few
# hundred pixels wide, and 12 curves of 200 points are 2,400 rows for the plot.
MAX_CURVE_POINTS = 200
MAX_CURVE_INPUT = 100_000  # points accepted before downsampling (a 6-epoch run has a few hundred)
MAX_OWNER = 200  # the app's opaque owner id (a session hash): never shown, only compared
MAX_EPOCHS = 1000
_DEVICE = re.compile(r"[a-z]{2,8}(:[0-9]{1,2})?")


class BoardError(DemoError):
    """The board refused something (a name, a post, a sort, a file); `code` starts with "board_"."""


# --------------------------------------------------------------------------- names

def _shown_char(char: str) -> str:
    """A character as a message may show it, inertly: its code point and Unicode name ("U+202E RIGHT-TO-LEFT ...")."""
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def check_name(text, field: str = "name", limit: int = MAX_NAME) -> str:
    """A display name as the board keeps it, or BoardError: NFC, spaces trimmed and runs of them made one, 1 to
    `limit` characters of letters (any script), digits, spaces and - _ . ', starting with a letter or a digit.

    Refused: control, format (Cf: bidi controls, zero-width joiners) and private characters, HTML's < > & ", other
    symbols, letters that draw nothing (Hangul fillers) and long runs of combining marks. Other space characters
    (no-break, ideographic) count as a plain space. A text longer than MAX_RAW_NAME is refused before any work.
    """
    if not isinstance(text, str):
        raise BoardError(f"{field}: must be text", code="board_name_type", field=field)
    if len(text) > MAX_RAW_NAME:
        raise BoardError(f"{field}: too long ({len(text):,} characters); at most {limit}", code="board_name_long",
                         field=field, length=len(text), limit=limit)
    name = unicodedata.normalize("NFC", text)
    name = "".join(" " if unicodedata.category(c) == "Zs" else c for c in name)
    name = re.sub(" {2,}", " ", name).strip(" ")
    if not name:
        raise BoardError(f"{field}: is empty; type a name (1-{limit} letters or digits)", code="board_name_empty",
                         field=field, limit=limit)
    if len(name) > limit:
        raise BoardError(f"{field}: too long ({len(name)} characters); at most {limit}", code="board_name_long",
                         field=field, length=len(name), limit=limit)
    marks = None  # combining marks since the last letter; None: the last character was not a letter or a mark
    for index, char in enumerate(name):
        kind = unicodedata.category(char)
        if kind in ("Mn", "Mc") and marks is not None and marks < MAX_MARKS:
            marks += 1
            continue
        letter = kind.startswith("L") and char not in INVISIBLE_LETTERS
        marks = 0 if letter else None
        if letter or kind == "Nd":
            continue
        if index > 0 and (char == " " or char in NAME_PUNCTUATION):
            continue
        if index == 0 and (char in NAME_PUNCTUATION or kind in ("Mn", "Mc")):
            raise BoardError(f"{field}: must start with a letter or a digit", code="board_name_start", field=field)
        raise BoardError(f"{field}: {_shown_char(char)} is not allowed; use letters, digits, spaces and "
                         f"{' '.join(NAME_PUNCTUATION)}", code="board_name_char", field=field,
                         char=_shown_char(char), allowed=" ".join(NAME_PUNCTUATION))
    return name


# --------------------------------------------------------------------------- runs

@dataclass(frozen=True)
class RunFacts:
    """What the board says of a run: its settings, then its figures (the board's columns, in this order: `SETTINGS`
    and `FIGURES`). A submission (`RunRecord`) and a posted row (`board.Post`) are both these and more.

    `accuracy_pct` is the final test accuracy in percent (0-100). `images` is the number of training images a pass
    used (the config's limit, or all 60,000). `epochs` is what was asked, `epochs_done` what ran (less when
    stopped)."""

    model: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    epochs_done: float
    augment: bool
    images: int
    device: str
    momentum: float
    schedule: str
    seed: int | None
    accuracy_pct: float
    elapsed_s: float
    samples_per_s: float


SETTINGS = ("model", "optimizer", "lr", "batch_size", "epochs", "epochs_done", "augment", "images", "device",
            "momentum", "schedule", "seed")
FIGURES = ("accuracy_pct", "elapsed_s", "samples_per_s")  # with SETTINGS, RunFacts's fields (a test holds them equal)


@dataclass(frozen=True)
class RunRecord(RunFacts):
    """A finished run as the board keeps it: its facts and its accuracy curve, points of (training images seen,
    accuracy %) in the order of images seen, at most MAX_CURVE_POINTS of them."""

    curve: tuple[tuple[int, float], ...]


def make_record(config: TrainConfig, accuracy_pct: float, elapsed_s: float, samples_per_s: float, curve,
                epochs_done: float | None = None) -> RunRecord:
    """The record of a run trained with `config` (its device as it ran: "cpu", "cuda"), checked by `checked_record`."""
    return checked_record(RunRecord(
        model=config.model, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size,
        epochs=config.epochs, epochs_done=config.epochs if epochs_done is None else epochs_done,
        augment=config.augment, images=config.limit or TRAIN_SIZE, device=str(config.device or "cpu"),
        momentum=config.momentum, schedule=config.schedule, seed=config.seed, accuracy_pct=accuracy_pct,
        elapsed_s=elapsed_s, samples_per_s=samples_per_s, curve=curve))


def checked_record(record: RunRecord) -> RunRecord:
    """`record` with every value checked and coerced to its plain type and the curve downsampled, or ConfigError
    naming the field (the engine's own checks: its codes and values are the Train tab's)."""
    if not isinstance(record, RunRecord):
        raise BoardError("a post needs a run record", code="board_not_a_run")
    device = str(record.device).strip().lower()
    if not _DEVICE.fullmatch(device):
        raise BoardError(f"device: {record.device!r:.40} is not a device name", code="board_device",
                         device=repr(str(record.device)[:40]))
    if not isinstance(record.augment, bool):
        raise BoardError("augment: must be true or false", code="board_augment")
    return RunRecord(
        model=choice("model", record.model, tuple(MODELS)),
        optimizer=choice("optimizer", record.optimizer, OPTIMIZERS),
        lr=number("lr", record.lr, 0.0, 10.0, "a number greater than 0 and at most 10", open_low=True),
        batch_size=whole_number("batch_size", record.batch_size, 1, TRAIN_SIZE),
        epochs=whole_number("epochs", record.epochs, 1, MAX_EPOCHS),
        epochs_done=number("epochs_done", record.epochs_done, 0.0, MAX_EPOCHS, f"from 0 to {MAX_EPOCHS}"),
        augment=record.augment, images=whole_number("images", record.images, 1, TRAIN_SIZE), device=device,
        momentum=number("momentum", record.momentum, 0.0, 0.999, "a number from 0 to 0.999"),
        schedule=choice("schedule", record.schedule, SCHEDULES),
        seed=None if record.seed is None else whole_number("seed", record.seed, 0, 2**63 - 1),
        accuracy_pct=number("accuracy_pct", record.accuracy_pct, 0.0, 100.0, "a percentage from 0 to 100"),
        elapsed_s=number("elapsed_s", record.elapsed_s, 0.0, 1e7, "seconds from 0 to 10,000,000"),
        samples_per_s=number("samples_per_s", record.samples_per_s, 0.0, 1e9, "from 0 to 1e9 images per second"),
        curve=checked_curve(record.curve))


def checked_curve(points) -> tuple[tuple[int, float], ...]:
    """(images seen, accuracy %) points sorted by images seen and downsampled to at most MAX_CURVE_POINTS (evenly
    by position, first and last kept: the last is the run's final test), or BoardError for points that are not
    pairs of finite numbers in range."""
    try:
        points = list(points)
    except TypeError:
        raise BoardError("curve: must be a list of (images seen, accuracy %) points", code="board_curve") from None
    if len(points) > MAX_CURVE_INPUT:
        raise BoardError(f"curve: {len(points):,} points is too many; at most {MAX_CURVE_INPUT:,}",
                         code="board_curve_long", count=len(points), limit=MAX_CURVE_INPUT)
    clean = []
    for point in points:
        try:
            samples, accuracy = point
            ok = not isinstance(samples, bool) and float(samples) == int(samples) and 0 <= samples <= 2**53 \
                and math.isfinite(float(accuracy)) and 0.0 <= float(accuracy) <= 100.0
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise BoardError(f"curve: {point!r:.60} is not an (images seen, accuracy %) point",
                             code="board_curve", point=repr(point)[:60])
        clean.append((int(samples), float(accuracy)))
    clean.sort(key=lambda p: p[0])
    if len(clean) > MAX_CURVE_POINTS:
        last = len(clean) - 1
        clean = [clean[round(i * last / (MAX_CURVE_POINTS - 1))] for i in range(MAX_CURVE_POINTS)]
    return tuple(clean)


# --------------------------------------------------------------------------- weights

def pack(model, meta: dict) -> bytes:
    """A model's checkpoint payload (`checkpoints.payload`: weights on the CPU, metadata cleaned) as bytes."""
    buffer = io.BytesIO()
    torch.save(payload(model, meta), buffer)
    return buffer.getvalue()


def unpack(blob, label: str) -> Checkpoint:
    """The model in `blob` after a checkpoint file's checks (`checkpoints.checked`), or BoardError when it is over
    MAX_WEIGHT_BYTES, CheckpointError (with its code) when it is not a usable checkpoint."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise BoardError(f"{label}: weights must be bytes", code="board_weights_type", label=label)
    if len(blob) > MAX_WEIGHT_BYTES:
        raise BoardError(f"{label}: its weights are {len(blob) / 2**20:.1f} MiB; at most "
                         f"{MAX_WEIGHT_BYTES / 2**20:.0f} MiB", code="board_weights_size", label=label,
                         size_mib=f"{len(blob) / 2**20:.1f}", limit_mib=f"{MAX_WEIGHT_BYTES / 2**20:.0f}")
    try:
        content = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many types for corrupt or foreign bytes
        raise CheckpointError(f"{label} is not a readable checkpoint (corrupt, truncated, or not a PyTorch file saved "
                              "with plain tensors)", code="file_unreadable", file=label) from None
    return checked(content, label)
