"""The runs one visitor has made in this visit, kept side by side so they can be compared (no gradio).

Each finished (or stopped) training becomes a `KeptRun`: its config, its curves, its final test evaluation, its
timing and its trained model. A visitor keeps at most MAX_RUNS; the oldest goes first. A run is named by
what differs between the kept runs ("sgd · lr 0.1" against "sgd · lr 0.001"), so a legend says at a glance
which curve is which; runs that differ in nothing are numbered ("run 1", "run 2").

`COMPARISONS` are the one-click "try it" pairs: two configs that differ in one thing, run one after another.

Labels and table rows are in the visitor's language (`lang`, None: English; the `runs.*` texts of the app's
locale files, read lazily: no gradio here). Code-like parts ("lr 0.1", "bs 64", model names) read the same in
every language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mnist_demo.app.core.models.current import STOPPED, TRAINED, Origin, adopt
from mnist_demo.checkpoints import metadata
from mnist_demo.config import TRAIN_SIZE, TrainConfig, make_config
from mnist_demo.texts import tr

MAX_RUNS = 8
# Colour pairs per run (Tableau's 20 colours: a strong one for the loss and the full test set, its light twin
# for the 1,000-image sample measured during the epoch). Ten pairs: eight kept runs plus the running one fit.
PALETTE = (("#1f77b4", "#aec7e8"), ("#ff7f0e", "#ffbb78"), ("#2ca02c", "#98df8a"), ("#d62728", "#ff9896"),
           ("#9467bd", "#c5b0d5"), ("#8c564b", "#c49c94"), ("#e377c2", "#f7b6d2"), ("#7f7f7f", "#c7c7c7"),
           ("#bcbd22", "#dbdb8d"), ("#17becf", "#9edae5"))



# What may differ between runs, in the order labels name them: (field, how it reads in a label in `lang`).
LABEL_PARTS = (
    ("model", lambda c, lang: c.model),
    ("optimizer", lambda c, lang: c.optimizer),
    ("lr", lambda c, lang: f"lr {c.lr:g}"),
    ("batch_size", lambda c, lang: f"bs {c.batch_size}"),
    ("epochs", lambda c, lang: tr(lang, "runs.epochs", epochs=c.epochs)),
    ("augment", lambda c, lang: tr(lang, "runs.aug" if c.augment else "runs.no_aug")),
    ("limit", lambda c, lang: tr(lang, "runs.images", k=(c.limit or TRAIN_SIZE) // 1000)),
    ("momentum", lambda c, lang: f"mom {c.momentum:g}"),
    ("schedule", lambda c, lang: c.schedule),
    ("weight_decay", lambda c, lang: f"wd {c.weight_decay:g}"),
    ("seed", lambda c, lang: f"seed {c.seed}"),
    ("device", lambda c, lang: str(c.device)),
)


def labels(runs: list[tuple[int, TrainConfig]], lang: str | None = None) -> dict[int, str]:
    """{run number: label} naming what differs between these runs' configs; "run N" when nothing does, and
    " · run N" added to labels that would otherwise be shared (a curve per label: two runs must never share one)."""
    configs = [config for _, config in runs]
    differing = [text for _, text in LABEL_PARTS if len({text(c, lang) for c in configs}) > 1]
    out = {}
    for number, config in runs:
        out[number] = " · ".join(text(config, lang) for text in differing) or tr(lang, "runs.run", number=number)
    counts: dict[str, int] = {}
    for label in out.values():
        counts[label] = counts.get(label, 0) + 1
    return {n: (tr(lang, "runs.duplicate", label=label, number=n) if counts[label] > 1 else label)
            for n, label in out.items()}


@dataclass
class KeptRun:
    """One finished (or stopped) run, with what is needed to draw it, list it, use it or save it again."""

    number: int  # 1, 2, ... in the order this visit made them (never reused)
    colour: int  # index into PALETTE, unique among the kept runs and the running one
    config: TrainConfig
    preset: str
    losses: list  # (step, samples seen, seconds, loss)
    accuracies: list  # (step, samples seen, seconds, accuracy %, "sample" | "full")
    evaluation: object  # mnist_demo.train.Evaluation: the final test figures
    elapsed_s: float
    samples_per_s: float
    epochs_completed: float
    stopped: bool
    model: object  # torch.nn.Module, on the device it trained on
    meta: dict  # checkpoints.metadata(...) for saving or for the Draw tab
    host: str = ""  # the machine it ran on (a cluster's worker, or this server)


class Runs:
    """A visitor's kept runs, oldest first: at most `limit`; thread-safe (a run ends in a handler thread while
    another handler may list them)."""

    def __init__(self, limit: int = MAX_RUNS):
        self.limit = limit
        self._runs: list[KeptRun] = []
        self._next = 1
        self._reserved: dict[int, int] = {}  # number -> colour of runs started but not yet kept
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def all(self) -> list[KeptRun]:
        with self._lock:
            return list(self._runs)

    def numbers(self) -> list[int]:
        return [r.number for r in self.all()]

    def get(self, number) -> KeptRun | None:
        try:
            number = int(number)
        except (TypeError, ValueError):
            return None
        return next((r for r in self.all() if r.number == number), None)

    def reserve(self) -> tuple[int, int]:
        """(number, colour) for a run about to start: a new number, a colour no kept or running run has."""
        with self._lock:
            number = self._next
            self._next += 1
            used = {r.colour for r in self._runs} | set(self._reserved.values())
            colour = next((i for i in range(len(PALETTE)) if i not in used), number % len(PALETTE))
            self._reserved[number] = colour
            return number, colour

    def release(self, number: int) -> None:
        """A reserved run that ends without a model (failed, diverged, cancelled) gives its colour back."""
        with self._lock:
            self._reserved.pop(number, None)

    def add(self, run: KeptRun) -> list[KeptRun]:
        """Keep `run` (newest last); returns the runs dropped to stay within the limit (oldest first)."""
        with self._lock:
            self._reserved.pop(run.number, None)
            self._runs.append(run)
            dropped = self._runs[: max(0, len(self._runs) - self.limit)]
            del self._runs[: len(dropped)]
            return dropped

    def remove(self, number) -> KeptRun | None:
        run = self.get(number)
        if run is None:
            return None
        with self._lock:
            self._runs = [r for r in self._runs if r.number != run.number]
        return run

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
            self._reserved.clear()

    def labels(self, running: tuple[int, TrainConfig] | None = None, lang: str | None = None) -> dict[int, str]:
        """Labels of the kept runs (and of the running one, when given), by what differs between them all."""
        pairs = [(r.number, r.config) for r in self.all()]
        return labels(pairs + ([running] if running else []), lang)


def table_rows(runs: list[KeptRun], names: dict[int, str], lang: str | None = None) -> list[list]:
    """One row per run, for the runs table (see `table_columns`)."""
    rows = []
    for r in runs:
        c = r.config
        images = f"{c.limit:,}" if c.limit else f"{TRAIN_SIZE:,}"
        epochs = f"{r.epochs_completed:.2f}".rstrip("0").rstrip(".")
        rows.append([r.number, names.get(r.number) or tr(lang, "runs.run", number=r.number), c.model, c.optimizer,
                     f"{c.lr:g}", c.batch_size, epochs + (tr(lang, "runs.stopped_mark") if r.stopped else ""),
                     tr(lang, "runs.yes" if c.augment else "runs.no"), images, str(c.device),
                     f"{100 * r.evaluation.accuracy:.2f}%", tr(lang, "runs.time", s=f"{r.elapsed_s:.1f}"),
                     f"{r.samples_per_s:,.0f}", r.host or "-"])
    return rows


# the runs table's columns, by their keys in the locale files ("runs.col_<name>")
COLUMN_KEYS = ("run", "curve", "model", "optimizer", "lr", "batch_size", "epochs", "augmentation", "images",
               "device", "accuracy", "time", "rate", "where")


def table_columns(lang: str | None = None) -> list[str]:
    """The runs table's headers in `lang` (a Dataframe's headers are not translated by the page)."""
    return [tr(lang, f"runs.col_{name}") for name in COLUMN_KEYS]


@dataclass(frozen=True)
class Comparison:
    """A one-click comparison: a title for its button, a line on what it shows, and its configs in order."""

    key: str
    title: str
    info: str
    preset: str
    variants: tuple[dict, ...]

    def configs(self, device: str, max_epochs: int) -> list[TrainConfig]:
        return [make_config(self.preset, max_epochs=max_epochs, device=device, **v) for v in self.variants]


# Sized to finish well under a minute on this project's 2-core CPU, measured through the app with
# benchmarks/try_it.py on a busy machine (load average 8): the learning rates over the tutorial's whole epoch,
# 14.7 s from the press to the end (5.3 s and 6.6 s of training; 24.8% and 93.5%); the batch sizes, 7.9 s (3.8 s
# and 2.9 s; 94.8% and 64.0%). Same seed for both runs, so the one change is all that differs.
COMPARISONS = (
    Comparison("lr", "Learning rate: 0.001 vs 0.1",
               "the tutorial's MLP and SGD, its one epoch over all 60,000 images each (about 15 s for both)",
               "tutorial", ({"lr": 1e-3}, {"lr": 1e-1})),
    Comparison("batch", "Batch size: 8 vs 512",
               "an MLP with SGD lr 0.05, 1 epoch over 20,000 images each (about 10 s for both)", "tutorial",
               ({"model": "mlp", "lr": 0.05, "batch_size": 8, "limit": 20000},
                {"model": "mlp", "lr": 0.05, "batch_size": 512, "limit": 20000})),
)


def keep(visitor, live, preset: str, number: int, colour: int) -> None:
    """A finished (or stopped) run (`live`: its `LiveRun`) is kept for comparing as run `number`, and its model becomes
    the visitor's current model; a run that failed or made no model gives its number's colour back."""
    r = live.result
    if live.error is not None or r is None or r.model is None:
        visitor.runs.release(number)
        return
    config = live.config
    meta = metadata(config.to_dict(), r.evaluation, r.epochs_completed, r.steps, preset=preset,
                    stopped=bool(r.stopped), source="trained in the app")
    # the kept run and the Draw tab share the current model's CPU copy
    current = adopt(visitor, r.model, meta, Origin(STOPPED if r.stopped else TRAINED), r.evaluation)
    visitor.runs.add(KeptRun(number, colour, config, preset, list(live.losses), list(live.accuracies),
                             r.evaluation, r.elapsed_s, r.samples_seen / max(r.train_s, 1e-9),
                             r.epochs_completed, bool(r.stopped), current.model, meta, live.host or ""))
