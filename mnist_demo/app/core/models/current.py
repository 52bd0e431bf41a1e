"""A visitor's current model: the one the Draw and Mistakes tabs use unless the visitor picks a checkpoint.

A model becomes current by being trained here, fine-tuned, made current again from the runs table, loaded or
uploaded in the Checkpoints tab (`adopt`). Where it came from is an `Origin` (a code and its value), said in the
visitor's language by `Origin.text`; the model pickers list it first (`choices`), and `predictor_for` gives the
model of whatever the visitor picked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from torch import nn

from mnist_demo.checkpoints import DEFAULT_NAME
from mnist_demo.errors import CheckpointError
from mnist_demo.predict import Predictor
from mnist_demo.texts import tr
from mnist_demo.train import Evaluation

YOURS = "@current"  # the pickers' value for "this visitor's current model" (not a valid checkpoint name)

# Where a current model came from (`Origin.code`); each has a `draw.origin_<code>` text in the locale files.
TRAINED, STOPPED, FINETUNED, FINETUNED_STOPPED = "trained", "stopped", "finetuned", "finetuned_stopped"
RUN, CHECKPOINT, UPLOAD, BOARD = "run", "checkpoint", "upload", "board"  # with a value: the run's number, the
# file's name, the class board's post ("Minji #12")


@dataclass(frozen=True)
class Origin:
    """Where a current model came from: a code, and for a run, checkpoint or upload its number or name."""

    code: str
    value: str | int | None = None

    def text(self, lang: str | None = None) -> str:
        """"trained just now", "run 2", "checkpoint best" ... in `lang` (None: English, as API clients read it)."""
        values = {} if self.value is None else {"number" if self.code == RUN else "name": self.value}
        return tr(lang, f"draw.origin_{self.code}", **values)


@dataclass
class CurrentModel:
    """A visitor's model for the Draw tab: trained here, loaded from a checkpoint, or uploaded."""

    model: nn.Module
    predictor: Predictor
    meta: dict
    origin: Origin
    run_id: str  # tells one current model from the next (the Mistakes tab's cache and default pick use it)
    evaluation: Evaluation | None = None  # the final test figures of a run trained here (None: not known)


def adopt(visitor, model: nn.Module, meta: dict, origin: Origin, evaluation: Evaluation | None = None,
          name: str = "your model") -> CurrentModel:
    """Make `model` the visitor's current model and their pickers' choice. The model is served through a CPU copy
    (`Predictor`), so the caller's copy may go on changing (a run kept for comparing, a fine-tune's start)."""
    predictor = Predictor(model, name, meta)
    current = CurrentModel(predictor.model, predictor, dict(meta), origin,
                           f"{origin.code}-{int(time.time() * 1000)}", evaluation)
    with visitor.lock:
        visitor.current = current
        visitor.draw_choice = YOURS
    return current


def percent(meta: dict) -> str:
    """A checkpoint's test accuracy as the pickers show it: "98.91%", or "?"."""
    value = meta.get("accuracy")
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) and math.isfinite(value) else "?"


def current_choice(current: CurrentModel, lang: str | None = None) -> str:
    """"Your current model (cnn, 98.9% test accuracy, trained just now)"."""
    meta = current.meta or {}
    accuracy, model, origin = meta.get("accuracy"), meta.get("model", "?"), current.origin.text(lang)
    if isinstance(accuracy, float):
        return tr(lang, "draw.choice_current", model=model, accuracy=f"{100 * accuracy:.1f}", origin=origin)
    return tr(lang, "draw.choice_current_unknown", model=model, origin=origin)


def choices(ctx, visitor, lang: str | None = None) -> list[tuple[str, str]]:
    """The pickers' (label, value) list in `lang`: the visitor's current model, then every loadable checkpoint (the
    shipped default first)."""
    options = []
    current = visitor.current
    if current is not None:
        options.append((current_choice(current, lang), YOURS))
    for info in ctx.library.usable():
        meta = info.meta or {}
        key = "draw.choice_shipped" if info.name == DEFAULT_NAME else "draw.choice_saved"
        options.append((tr(lang, key, name=info.name, model=meta.get("model", "?"), accuracy=percent(meta)),
                        info.name))
    return options


def predictor_for(ctx, visitor, lang: str | None = None) -> tuple[Predictor, str]:
    """The visitor's chosen model and its name in `lang`; CheckpointError saying what to do when there is none
    (`no_own_model`: "your current model" was picked and there is none yet)."""
    choice = visitor.draw_choice
    if choice == YOURS:
        current = visitor.current
        if current is None:
            raise CheckpointError(tr(None, "error.no_own_model"), code="no_own_model")
        return current.predictor, tr(lang, "draw.name_current")
    if choice == DEFAULT_NAME or not choice:
        return ctx.library.predictor(DEFAULT_NAME), tr(lang, "draw.name_shipped", name=DEFAULT_NAME)
    return ctx.library.predictor(choice), choice
