"""Checkpoints: `DIR/NAME.pt` with the state dict and metadata; atomic saves, safe loads, listing.

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` can read:
{"format": FORMAT, "version": 1, "model": registry name, "state_dict": ..., "meta": {...}}.
"""

import datetime as dt
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mnist_demo.errors import CheckpointError
from mnist_demo.models import MODELS, build_model

FORMAT = "mnist-demo-checkpoint"
VERSION = 1
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_NAME = "default"
NAME_RULE = "1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class Checkpoint:
    name: str
    model: nn.Module
    meta: dict


@dataclass
class CheckpointInfo:
    """One row of a listing: `meta` when the file loads, `error` (why not) when it does not."""

    name: str
    path: Path
    size: int
    meta: dict | None
    error: str | None = None


def clean_name(name: str) -> str:
    """The checkpoint's bare name ("x.pt" -> "x"), or CheckpointError when it breaks the name rule."""
    text = str(name or "").strip()
    if text.endswith(".pt"):
        text = text[:-3]
    if not _NAME.fullmatch(text):
        raise CheckpointError(f"checkpoint name {name!r} is not allowed: use {NAME_RULE}")
    return text


def checkpoint_path(name: str, directory: str | Path = DEFAULT_DIR) -> Path:
    """`directory/NAME.pt`, guaranteed to lie directly inside `directory`."""
    directory = Path(directory).resolve()
    path = (directory / f"{clean_name(name)}.pt").resolve()
    if path.parent != directory:
        raise CheckpointError(f"checkpoint name {name!r} leaves the checkpoint directory")
    return path


def metadata(config: dict, evaluation, epochs: float, steps: int, **extra) -> dict:
    """The metadata stored with a model: recipe, test figures, when and with what it was made."""
    return {"model": config["model"], "config": dict(config), "accuracy": float(evaluation.accuracy),
            "avg_loss": float(evaluation.avg_loss), "per_class": [float(a) for a in evaluation.per_class],
            "epochs": float(epochs), "steps": int(steps),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_version": str(torch.__version__), **extra}


def save_checkpoint(model: nn.Module, name: str, meta: dict, directory: str | Path = DEFAULT_DIR) -> Path:
    """Write atomically: a temporary file in the same directory, fsync, then os.replace over the target."""
    path = checkpoint_path(name, directory)
    if meta.get("model") not in MODELS:
        raise CheckpointError(f"cannot save: unknown model {meta.get('model')!r}")
    payload = {"format": FORMAT, "version": VERSION, "model": meta["model"],
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               "meta": dict(meta, name=path.stem)}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; checkpoints are meant to be shared
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise CheckpointError(f"could not save checkpoint {path.name}: {err.strerror or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_file(path: str | Path, map_location="cpu") -> Checkpoint:
    """Load and check any file: weights_only, our format, a known model, matching and finite weights."""
    path = Path(path)
    label = path.name
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {label} does not exist") from None
    except Exception:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(f"{label} is not a readable checkpoint (corrupt, truncated, or not a "
                              "PyTorch file saved with plain tensors)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{label} is a PyTorch file but not an mnist-demo checkpoint")
    name = payload.get("model")
    if name not in MODELS:
        raise CheckpointError(f"{label} holds an unknown model {name!r} (known: {', '.join(MODELS)})")
    state = payload.get("state_dict")
    model = build_model(name)
    try:
        model.load_state_dict(state, strict=True)
    except Exception:
        raise CheckpointError(f"{label}: its weights do not match the {name!r} architecture") from None
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise CheckpointError(f"{label}: its weights contain NaN or infinite values")
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    return Checkpoint(name=path.stem, model=model.eval(), meta=dict(meta, model=name))


def load_checkpoint(name: str, directory: str | Path = DEFAULT_DIR, map_location="cpu") -> Checkpoint:
    """Load `directory/NAME.pt` by name (names only: no paths)."""
    return load_file(checkpoint_path(name, directory), map_location)


def list_checkpoints(directory: str | Path = DEFAULT_DIR) -> list[CheckpointInfo]:
    """Every `*.pt` in the directory, with its metadata or the reason it cannot be used."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    rows = []
    for path in sorted(directory.glob("*.pt")):
        if not _NAME.fullmatch(path.stem) or not path.is_file():
            continue
        try:
            rows.append(CheckpointInfo(path.stem, path, path.stat().st_size, load_file(path).meta))
        except CheckpointError as err:
            rows.append(CheckpointInfo(path.stem, path, path.stat().st_size, None, str(err)))
    return rows


def accuracy_text(meta: dict | None) -> str:
    value = (meta or {}).get("accuracy")
    return f"{100 * value:.2f}%" if isinstance(value, float) and math.isfinite(value) else "?"
