"""Checkpoints: `DIR/NAME.pt` with the state dict and metadata; atomic saves, safe loads, listing.

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` can read:
{"format": FORMAT, "version": 1, "model": registry name, "state_dict": {name: tensor}, "meta": {...}}.

Files may come from anyone (uploads, a shared folder), so everything read from one is checked before use:
the model name must be registered, the state dict must be a flat table of tensors that fits the model, and the
metadata passes through one schema (`clean_meta`) that keeps plain values of known keys and drops the rest.
Names pass through one normalisation (`clean_name`) for writing, listing, loading and deleting alike.
"""

import datetime as dt
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from mnist_demo.config import TrainConfig
from mnist_demo.errors import CheckpointError
from mnist_demo.models import MODELS, build_model

log = logging.getLogger(__name__)

FORMAT = "mnist-demo-checkpoint"
VERSION = 1
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_NAME = "default"
SUFFIX = ".pt"
TEMP_SUFFIX = ".tmp"  # save_checkpoint writes `.NAME.XXXXXXXX.tmp` first, then renames it over NAME.pt
NAME_RULE = ("1-64 characters: letters, digits, '_' and '-', starting with a letter or digit "
             "(a final .pt is dropped)")
# No dots: then "x.pt.pt" cannot become another name's file, and Windows' "con.txt"-style names cannot occur.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DEVICE_NAMES = ("cpu", "cuda", "mps")
WINDOWS_NAMES = ("con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10)))


@dataclass
class Checkpoint:
    name: str
    model: nn.Module
    meta: dict


@dataclass
class CheckpointInfo:
    """One row of a listing: `meta` when the file loads, `error` (why not) when it does not; `problem` is that
    error itself (its code and values let the app say it in the visitor's language)."""

    name: str
    path: Path
    size: int
    meta: dict | None
    error: str | None = None
    problem: CheckpointError | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- names

def clean_name(name) -> str:
    """The one normalisation of a checkpoint name: the bare name ("x.pt" -> "x"), or CheckpointError.

    Surrounding whitespace and exactly one final ".pt" (any case) are dropped; the rest must follow NAME_RULE
    and not be reserved. So " x ", "x.pt" and "x.PT" are all "x", while "x.pt.pt" is refused rather than
    read as "x.pt". Reserved in any case: device names, Windows device names, and other spellings of the
    shipped model's name (the exact "default" is allowed here: the app's Library refuses writing it).
    """
    text = name.strip() if isinstance(name, str) else ""
    if text[-len(SUFFIX):].lower() == SUFFIX:
        text = text[:-len(SUFFIX)]
    shown = repr(name[:80]) if isinstance(name, str) else f"of type {type(name).__name__}"
    if isinstance(name, str) and not name.strip():
        raise CheckpointError(f"checkpoint name {shown} is not allowed: it is empty; type a name ({NAME_RULE})",
                              code="name_empty", name=shown)
    if not _NAME.fullmatch(text):
        raise CheckpointError(f"checkpoint name {shown} is not allowed: use {NAME_RULE}", code="name_rule", name=shown)
    lower = text.lower()
    if lower in DEVICE_NAMES:
        raise CheckpointError(f"checkpoint name {shown} is not allowed: {lower!r} is a device name "
                              "(cpu, cuda, mps); choose another name", code="name_device", name=shown,
                              reserved=repr(lower))
    if lower in WINDOWS_NAMES:
        raise CheckpointError(f"checkpoint name {shown} is not allowed: {lower!r} is a reserved device name "
                              "on Windows; choose another name", code="name_windows", name=shown, reserved=repr(lower))
    if lower == DEFAULT_NAME and text != DEFAULT_NAME:
        raise CheckpointError(f"checkpoint name {shown} is not allowed: it is another spelling of the shipped "
                              f"model's name {DEFAULT_NAME!r}; choose another name", code="name_default_spelling",
                              name=shown, default=repr(DEFAULT_NAME))
    return text


def checkpoint_path(name: str, directory: str | Path = DEFAULT_DIR) -> Path:
    """`directory/NAME.pt`, guaranteed to lie directly inside `directory`."""
    directory = Path(directory).resolve()
    path = (directory / f"{clean_name(name)}{SUFFIX}").resolve()
    if path.parent != directory:
        raise CheckpointError(f"checkpoint name {name!r} leaves the checkpoint directory", code="name_outside",
                              name=repr(name))
    return path


def checkpoint_files(directory: str | Path = DEFAULT_DIR) -> list[tuple[str, Path]]:
    """(name, path) of every checkpoint file in `directory` whose name `clean_name` accepts, sorted by name.

    Other files (notes, temporary files, names this module would never write) are not checkpoints here.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            name = clean_name(path.name)
        except CheckpointError:
            continue
        if path.name == f"{name}{SUFFIX}" and path.is_file():  # " x.pt" cleans to "x" but is not x.pt
            found.append((name, path))
    return found


def temporary_files(directory: str | Path = DEFAULT_DIR) -> list[Path]:
    """save_checkpoint's temporary files in `directory`: in progress, or orphaned by an interrupted save."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f".*{TEMP_SUFFIX}") if p.is_file())


# --------------------------------------------------------------------------- metadata

MAX_TEXT = 200  # characters in one metadata string
MAX_LIST = 16  # items in one metadata list (per_class has 10)
CONFIG_KEYS = tuple(f.name for f in fields(TrainConfig))
# The keys `metadata`, the app and save_checkpoint write, with the one type each may hold.
META_SCHEMA = {"model": str, "name": str, "preset": str, "source": str, "owner": str, "date": str,
               "torch_version": str, "accuracy": float, "avg_loss": float, "epochs": float, "steps": int,
               "parameters": int, "stopped": bool, "per_class": list, "config": dict,
               # a fine-tuned model (finetune.finetune_meta): from which checkpoint, on how many drawings
               # (and how many held aside to measure on), accuracy on those before/after, MNIST's before
               "fine_tuned_from": str, "drawings": int, "held_out": int, "drawings_before": float,
               "drawings_after": float, "mnist_before": float}
_DROP = object()


def clean_meta(meta) -> dict:
    """Checkpoint metadata as plain data: the known keys whose values have their type; the rest is dropped.

    Metadata is only ever shown, never trusted: it comes from files anyone may upload, so a value of the wrong
    kind (a tensor, nested containers, a huge string, NaN) is left out rather than handed on to code that
    formats, compares or saves it. Applied when loading and when saving, so a saved file's metadata is small.
    """
    if not isinstance(meta, dict):
        return {}
    kept = {}
    for key, kind in META_SCHEMA.items():
        if key in meta:
            value = _config(meta[key]) if kind is dict else _plain(meta[key], kind)
            if value is not _DROP:
                kept[key] = value
    return kept


def _plain(value, kind):
    """`value` as a built-in `kind` (str, int, float, bool, or a short list of floats), or _DROP."""
    if kind is str:
        return str(value) if isinstance(value, str) and len(value) <= MAX_TEXT else _DROP
    if kind is bool:
        return bool(value) if isinstance(value, bool) else _DROP
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
        return int(value) if ok else _DROP
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _DROP
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            return _DROP
        return number if math.isfinite(number) else _DROP
    if kind is list:
        if not isinstance(value, (list, tuple)) or len(value) > MAX_LIST:
            return _DROP
        items = [_plain(v, float) for v in value]
        return _DROP if any(v is _DROP for v in items) else items
    return _DROP


def _config(value):
    """The training recipe: known TrainConfig keys with a plain scalar each (None, bool, number, short text)."""
    if not isinstance(value, dict):
        return _DROP
    kept = {}
    for key in CONFIG_KEYS:
        if key not in value:
            continue
        item = value[key]
        if item is None or isinstance(item, bool):
            kept[key] = item
            continue
        for kind in (int, float, str):
            plain = _plain(item, kind)
            if plain is not _DROP:
                kept[key] = plain
                break
    return kept


def metadata(config: dict, evaluation, epochs: float, steps: int, **extra) -> dict:
    """The metadata stored with a model: recipe, test figures, when and with what it was made."""
    return {"model": config["model"], "config": dict(config), "accuracy": float(evaluation.accuracy),
            "avg_loss": float(evaluation.avg_loss), "per_class": [float(a) for a in evaluation.per_class],
            "epochs": float(epochs), "steps": int(steps),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_version": str(torch.__version__), **extra}


def save_checkpoint(model: nn.Module, name: str, meta: dict, directory: str | Path = DEFAULT_DIR) -> Path:
    """Write atomically: a temporary file in the same directory, fsync, then os.replace over the target.

    Only `clean_meta(meta)` is written, so the file holds the weights plus a few KB of plain metadata.
    """
    path = checkpoint_path(name, directory)
    content = payload(model, dict(meta, name=path.stem))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=TEMP_SUFFIX)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are meant to be shared
        with os.fdopen(fd, "wb") as f:
            torch.save(content, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise CheckpointError(f"could not save checkpoint {path.name}: {err.strerror or err}", code="save_failed",
                              file=path.name, reason=str(err.strerror or err)) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_file(path: str | Path, map_location="cpu") -> Checkpoint:
    """Load and check any file: weights_only, our format, a registered model, a flat table of tensors that
    fits it, finite weights; metadata through `clean_meta`. CheckpointError (naming the file once) if not."""
    path = Path(path)
    label = path.name
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {label} does not exist", code="not_found", name=label) from None
    except Exception:  # noqa: BLE001 - torch raises many types for corrupt or foreign files
        raise CheckpointError(f"{label} is not a readable checkpoint (corrupt, truncated, or not a "
                              "PyTorch file saved with plain tensors)", code="file_unreadable", file=label) from None
    return checked(payload, label, path.stem)


def checked(content, label: str, name: str | None = None) -> Checkpoint:
    """A checkpoint's payload (`{"format", "model", "state_dict", "meta"}`), however it arrived (a file, a task
    on another machine, a database row), through the checks a file gets: our format, a registered model, a flat
    table of tensors that fits it, finite weights; metadata through `clean_meta`. CheckpointError naming `label`
    if not. The model is built here and the weights copied into it: nothing of the payload's own objects runs."""
    if not isinstance(content, dict) or not isinstance(content.get("format"), str) or content["format"] != FORMAT:
        raise CheckpointError(f"{label} is a PyTorch file but not an mnist-demo checkpoint", code="file_foreign",
                              file=label)
    model_name = content.get("model")
    if not isinstance(model_name, str) or model_name not in MODELS:
        raise CheckpointError(f"{label} holds an unknown model {_shown(model_name)} (known: {', '.join(MODELS)})",
                              code="file_unknown_model", file=label, model=_shown(model_name), known=", ".join(MODELS))
    state = content.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{label}: its weights are not a plain table of named tensors", code="file_not_tensors",
                              file=label)
    model = build_model(model_name)
    try:
        model.load_state_dict(state, strict=True)
    except Exception:  # noqa: BLE001 - missing, unexpected or misshapen tensors all mean "not this architecture"
        raise CheckpointError(f"{label}: its weights do not match the {model_name!r} architecture",
                              code="file_wrong_shape", file=label, model=repr(model_name)) from None
    # Checked on the model's own copies: what will actually run.
    if not all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()):
        raise CheckpointError(f"{label}: its weights contain NaN or infinite values", code="file_not_finite",
                              file=label)
    return Checkpoint(name=name or label, model=model.eval(), meta=dict(clean_meta(content.get("meta")),
                                                                        model=model_name))


def payload(model: nn.Module, meta: dict) -> dict:
    """What a checkpoint holds, as plain data: the format, the model's registry name, its weights as CPU tensors and
    its metadata (`clean_meta`). `checked(payload(...))` gives the model back."""
    meta = clean_meta(meta)
    if meta.get("model") not in MODELS:
        raise CheckpointError(f"cannot save: unknown model {meta.get('model')!r}", code="save_unknown_model",
                              model=repr(meta.get("model")))
    return {"format": FORMAT, "version": VERSION, "model": meta["model"],
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": meta}

def _shown(value) -> str:
    """A value read from a file, as an error message may quote it: short, and never its contents when not text."""
    if isinstance(value, str):
        return repr(value[:40])
    return "(none named)" if value is None else f"(a {type(value).__name__}, not a model name)"


def load_checkpoint(name: str, directory: str | Path = DEFAULT_DIR, map_location="cpu") -> Checkpoint:
    """Load `directory/NAME.pt` by name (names only: no paths)."""
    return load_file(checkpoint_path(name, directory), map_location)


def read_info(name: str, path: Path) -> CheckpointInfo:
    """One listing row for `path`: its metadata, or why it cannot be used. Never raises for a file's content."""
    try:
        size = path.stat().st_size
    except OSError as err:
        problem = CheckpointError(f"{path.name} cannot be read: {err.strerror or err}", code="file_cannot_read",
                                  file=path.name, reason=str(err.strerror or err))
        return CheckpointInfo(name, path, 0, None, str(problem), problem)
    try:
        return CheckpointInfo(name, path, size, load_file(path).meta)
    except CheckpointError as err:
        return CheckpointInfo(name, path, size, None, str(err), err)
    except Exception as err:  # noqa: BLE001 - one odd file must not break the listing for everyone
        log.exception("checking checkpoint %s failed", path)
        problem = CheckpointError(f"{path.name} could not be checked ({type(err).__name__})", code="file_unchecked",
                                  file=path.name, reason=type(err).__name__)
        return CheckpointInfo(name, path, size, None, str(problem), problem)


def list_checkpoints(directory: str | Path = DEFAULT_DIR, known: dict | None = None) -> list[CheckpointInfo]:
    """Every checkpoint in the directory, with its metadata or the reason it cannot be used.

    `known`: a dict kept up to date here ({name: ((mtime_ns, size), info)}), so that a caller listing again and
    again (the app) does not read unchanged files twice.
    """
    known = {} if known is None else known
    rows = []
    for name, path in checkpoint_files(directory):
        try:
            stat = path.stat()
        except OSError:  # removed since the directory was read
            continue
        key = (stat.st_mtime_ns, stat.st_size)
        if name not in known or known[name][0] != key:
            known[name] = (key, read_info(name, path))
        rows.append(known[name][1])
    for gone in set(known) - {info.name for info in rows}:
        del known[gone]
    return rows
