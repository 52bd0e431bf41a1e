"""The app's rules for the checkpoint directory (no gradio): who may write what, quotas, listing, uploads.

- Names follow the engine's rule (`checkpoints.clean_name`), the one normalisation for every operation: no
  paths, nothing outside the directory, no reserved names in any spelling.
- The shipped model (`default`) and any file not saved through the app (no owner in its metadata) are
  read-only here: they cannot be overwritten or deleted from the UI.
- Listing never fails because of one file: a file that cannot be used is a row saying why.
- Temporary files of interrupted saves are removed at start-up once old enough, and count against the folder's
  size cap until then.
- A visitor may overwrite or delete only checkpoints they saved (their owner token is in the metadata).
- Bounded: per visitor (count and bytes), and for the whole directory (count, bytes, free disk space).
- Uploads: size limit first, then the engine's `load_file` (weights_only, format, architecture, finite).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_demo.checkpoints import (
    DEFAULT_NAME,
    Checkpoint,
    CheckpointInfo,
    checkpoint_path,
    clean_name,
    list_checkpoints,
    load_checkpoint,
    load_file,
    save_checkpoint,
    temporary_files,
)
from mnist_demo.errors import CheckpointError
from mnist_demo.predict import Predictor, cached_predictor
from mnist_demo.texts import tr

UPLOAD_SUFFIXES = (".pt", ".pth")
DISK_HEADROOM = 16 * 1024 * 1024  # keep this much free on the disk after a save
ESTIMATE_FACTOR = 1.1  # a checkpoint's size on disk vs its tensors' bytes
# A temporary file untouched this long belongs to no save in progress (a save writes it within seconds, and
# another process may be saving into the same folder right now).
ORPHAN_AGE_S = 300


@dataclass(frozen=True)
class Row:
    """One checkpoint as the table shows it."""

    name: str
    model: str
    accuracy: str
    epochs: str
    hyperparameters: str
    date: str
    size: str
    owner: str  # whose it is, a code: "shipped", "yours", "other" (another visitor's), "none" (made outside the app)
    problem: CheckpointError | None = None  # why it cannot be used (None: usable): `messages.error_text(problem, lang)`
    meta: dict | None = field(default=None, compare=False, repr=False)  # for `hyperparameters(meta, lang)`

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def status(self) -> str:
        """The status cell in English (API clients): "usable", or "unusable: " and why."""
        return "usable" if self.usable else f"unusable: {self.problem}"

    def as_list(self) -> list[str]:
        """The row's cells in English, as API clients read them."""
        return [self.name, self.model, self.accuracy, self.epochs, self.hyperparameters, self.date, self.size,
                OWNERS[self.owner], self.status]


COLUMNS = ["name", "model", "test accuracy", "epochs", "hyperparameters", "date (UTC)", "size", "owner", "status"]
OWNERS = {"shipped": "shipped", "yours": "you", "other": "another visitor", "none": "-"}  # owner code -> English cell


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def hyperparameters(meta: dict | None, lang: str | None = None) -> str:
    """A checkpoint's recipe in one line, "adam, lr 0.003, batch 128, onecycle, augmented", with its words in
    `lang` (None: English); the optimizer, `lr` and the schedule keep their code names."""
    config = (meta or {}).get("config") or {}
    if not isinstance(config, dict) or not config:
        return "-"
    parts = [str(config.get("optimizer", "?"))]
    try:
        parts.append(f"lr {float(config.get('lr')):g}")
    except (TypeError, ValueError):
        pass
    if config.get("batch_size"):
        parts.append(tr(lang, "library.batch", size=config["batch_size"]))
    if config.get("schedule"):
        parts.append(str(config["schedule"]))
    if config.get("augment"):
        parts.append(tr(lang, "library.augmented"))
    if config.get("limit"):
        parts.append(tr(lang, "library.samples", count=config["limit"]))
    return ", ".join(parts)


def _date(meta: dict | None) -> str:
    text = (meta or {}).get("date")
    try:
        when = dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return "-"
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M")


def _accuracy(meta: dict | None) -> str:
    value = (meta or {}).get("accuracy")
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) and math.isfinite(value) else "?"


def _epochs(meta: dict | None) -> str:
    value = (meta or {}).get("epochs")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "?"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


class Library:
    """The checkpoint directory as the app sees it. Thread-safe."""

    def __init__(self, directory, max_per_owner: int = 5, max_bytes_per_owner: int = 50 * 2**20,
                 max_total_bytes: int = 500 * 2**20, max_files: int = 200, max_upload_bytes: int = 20 * 2**20):
        self.directory = Path(directory)
        self.max_per_owner = max_per_owner
        self.max_bytes_per_owner = max_bytes_per_owner
        self.max_total_bytes = max_total_bytes
        self.max_files = max_files
        self.max_upload_bytes = max_upload_bytes
        self._lock = threading.RLock()
        self._infos: dict[str, tuple[tuple, CheckpointInfo]] = {}
        self.temporary_bytes()  # start-up: remove what interrupted saves left behind

    # ----------------------------------------------------------------- reading

    def infos(self) -> list[CheckpointInfo]:
        """Every checkpoint with its metadata or the reason it cannot be used (unchanged files are not re-read)."""
        with self._lock:
            return list_checkpoints(self.directory, self._infos)

    def info(self, name: str) -> CheckpointInfo | None:
        name = clean_name(name)
        return next((i for i in self.infos() if i.name == name), None)

    @staticmethod
    def owner_of(info: CheckpointInfo) -> str | None:
        owner = (info.meta or {}).get("owner")
        return owner if isinstance(owner, str) else None

    def rows(self, owner: str | None = None) -> list[Row]:
        result = []
        for info in self.infos():
            meta = info.meta
            file_owner = self.owner_of(info)
            if info.name == DEFAULT_NAME:
                who = "shipped"
            elif file_owner is None:
                who = "none"
            else:
                who = "yours" if file_owner == owner else "other"
            usable = info.error is None
            result.append(Row(info.name, (meta or {}).get("model", "?") if usable else "?",
                              _accuracy(meta) if usable else "-", _epochs(meta) if usable else "-",
                              hyperparameters(meta) if usable else "-", _date(meta) if usable else "-",
                              human_bytes(info.size), who,
                              None if usable else info.problem or CheckpointError(str(info.error)),
                              meta if usable else None))
        return result

    def usable(self) -> list[CheckpointInfo]:
        """Every loadable checkpoint, the shipped default first, then by name (what the model pickers list)."""
        return sorted((i for i in self.infos() if i.error is None), key=lambda i: (i.name != DEFAULT_NAME, i.name))

    def load(self, name: str) -> Checkpoint:
        return load_checkpoint(name, self.directory)

    def path(self, name: str) -> Path:
        path = checkpoint_path(name, self.directory)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {clean_name(name)!r} does not exist", code="not_found",
                                  name=repr(clean_name(name)))
        return path

    def predictor(self, name: str) -> Predictor:
        """A shared, read-only Predictor for a checkpoint here (predict's cache: reloaded when the file changes)."""
        return cached_predictor(name, self.directory)

    # ----------------------------------------------------------------- writing

    def temporary_bytes(self) -> int:
        """Remove temporary files older than ORPHAN_AGE_S (left by interrupted saves); the bytes of the rest."""
        kept = 0
        for path in temporary_files(self.directory):
            try:
                stat = path.stat()
            except OSError:  # gone already: its save finished
                continue
            if time.time() - stat.st_mtime > ORPHAN_AGE_S:
                try:
                    path.unlink()
                    continue
                except OSError:  # cannot be removed (a read-only folder): it still takes the space
                    pass
            kept += stat.st_size
        return kept

    def _usage(self, owner: str) -> tuple[int, int, int, int]:
        """(files, bytes) of the whole directory and (files, bytes) of `owner`'s checkpoints.

        The directory's bytes include temporary files not yet removed: they take disk space all the same.
        """
        files, total, mine, mine_bytes = 0, self.temporary_bytes(), 0, 0
        for info in self.infos():
            files += 1
            total += info.size
            if self.owner_of(info) == owner:
                mine += 1
                mine_bytes += info.size
        return files, total, mine, mine_bytes

    def check_writable(self, name: str, owner: str) -> str:
        """The clean name if `owner` may write it; CheckpointError saying why not."""
        name = clean_name(name)  # refuses every other spelling of DEFAULT_NAME, so == is enough here
        if name == DEFAULT_NAME:
            raise CheckpointError(f"{DEFAULT_NAME!r} is the shipped model and cannot be overwritten here: "
                                  "choose another name", code="default_readonly", default=repr(DEFAULT_NAME))
        info = self.info(name)
        if info is not None:
            file_owner = self.owner_of(info)
            if file_owner != owner:
                whose = "made outside this app" if file_owner is None else "saved by another visitor"
                raise CheckpointError(f"a checkpoint named {name!r} already exists ({whose}); "
                                      "you can only overwrite your own: choose another name",
                                      code="exists_outside" if file_owner is None else "exists_other",
                                      name=repr(name))
        return name

    def save(self, model, meta: dict, name: str, owner: str) -> Path:
        """Save `model` as NAME for `owner`, within the quotas; the earlier file stays intact on any failure."""
        from mnist_demo.models import param_count

        with self._lock:
            name = self.check_writable(name, owner)
            existing = self.info(name)
            replacing = existing.size if existing is not None else 0
            estimate = int(sum(t.numel() * t.element_size() for t in model.state_dict().values())
                           * ESTIMATE_FACTOR) + 4096
            files, total, mine, mine_bytes = self._usage(owner)
            if existing is None and mine >= self.max_per_owner:
                raise CheckpointError(f"you already have {mine} saved checkpoints, the most allowed per visitor: "
                                      "delete one in the Checkpoints tab or overwrite one of yours",
                                      code="quota_count", count=mine)
            if mine_bytes - replacing + estimate > self.max_bytes_per_owner:
                after = human_bytes(mine_bytes - replacing + estimate)
                raise CheckpointError(f"saving would put your checkpoints at {after}"
                                      f", over the {human_bytes(self.max_bytes_per_owner)} allowed per visitor",
                                      code="quota_bytes", size=after, limit=human_bytes(self.max_bytes_per_owner))
            if existing is None and files >= self.max_files:
                raise CheckpointError(f"the checkpoint folder is full ({files} files, the most allowed); "
                                      "nothing was saved", code="folder_full_files", files=files)
            if total - replacing + estimate > self.max_total_bytes:
                raise CheckpointError(f"the checkpoint folder is full ({human_bytes(total)} of "
                                      f"{human_bytes(self.max_total_bytes)}); nothing was saved",
                                      code="folder_full_bytes", size=human_bytes(total),
                                      limit=human_bytes(self.max_total_bytes))
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                free = shutil.disk_usage(self.directory).free
            except OSError as err:
                raise CheckpointError(f"could not save: the checkpoint folder cannot be used "
                                      f"({err.strerror or err})", code="folder_unusable",
                                      reason=str(err.strerror or err)) from None
            if free < estimate + DISK_HEADROOM:
                raise CheckpointError(f"could not save {name}.pt: the disk is full "
                                      f"({human_bytes(free)} free); the earlier file, if any, is intact",
                                      code="disk_full", file=f"{name}.pt", free=human_bytes(free))
            if not os.access(self.directory, os.W_OK):
                raise CheckpointError(f"could not save {name}.pt: the checkpoint folder is read-only; "
                                      "the earlier file, if any, is intact",
                                      code="folder_read_only", file=f"{name}.pt")
            meta = dict(meta, owner=owner, parameters=param_count(model))
            try:
                return save_checkpoint(model, name, meta, self.directory)
            except CheckpointError as err:
                raise CheckpointError(f"{err}; the earlier file, if any, is intact", code="kept_intact",
                                      cause=err) from None

    def delete(self, name: str, owner: str) -> None:
        with self._lock:
            name = clean_name(name)
            if name == DEFAULT_NAME:
                raise CheckpointError(f"{DEFAULT_NAME!r} is the shipped model and cannot be deleted here",
                                      code="default_undeletable", default=repr(DEFAULT_NAME))
            info = self.info(name)
            if info is None:
                raise CheckpointError(f"checkpoint {name!r} does not exist", code="not_found", name=repr(name))
            if self.owner_of(info) != owner:
                raise CheckpointError(f"{name!r} was not saved by you: you can only delete your own checkpoints",
                                      code="not_yours", name=repr(name))
            try:
                info.path.unlink()
            except OSError as err:
                raise CheckpointError(f"could not delete {name}.pt: {err.strerror or err}", code="delete_failed",
                                      file=f"{name}.pt", reason=str(err.strerror or err)) from None
            self._infos.pop(name, None)

    # ----------------------------------------------------------------- uploads

    def load_upload(self, path, original_name: str | None = None) -> Checkpoint:
        """Check an uploaded file (suffix, size) and load it with the engine's safe loader."""
        if path is None or str(path).strip() == "":
            raise CheckpointError("no file was uploaded", code="no_upload")
        path = Path(path)
        label = Path(original_name).name if original_name else path.name
        if path.suffix.lower() not in UPLOAD_SUFFIXES:
            raise CheckpointError(f"{label} is not a .pt file: upload a checkpoint saved by this app "
                                  "(or `python -m mnist_demo train --out NAME`)",
                                  code="upload_not_pt", file=label)
        try:
            size = path.stat().st_size
        except OSError:
            raise CheckpointError(f"{label}: the upload could not be read", code="upload_unreadable",
                                  file=label) from None
        if size > self.max_upload_bytes:
            raise CheckpointError(f"{label} is too large ({human_bytes(size)}); the limit is "
                                  f"{human_bytes(self.max_upload_bytes)}", code="upload_too_large", file=label,
                                  size=human_bytes(size), limit=human_bytes(self.max_upload_bytes))
        if size == 0:
            raise CheckpointError(f"{label} is empty", code="upload_empty", file=label)
        return load_file(path)
