"""The Train tab's two plots as data (pandas, no gradio): every kept run and the running one, one series each.

A series is a run's label (see `runs.labels`); the colour map gives each run its own colour, and the running
run comes last so that it is drawn over the others. The x axis is one of X_AXES: samples seen (the default:
fair between batch sizes), optimizer steps, or seconds of training.

The accuracy plot has two series per run: the full 10,000 test images at each epoch's end (the run's label,
strong colour, in the legend) and a 1,000-image sample measured during the epoch (the label and " · 1k", the
light twin of that colour, left out of the legend so that the legend stays short enough to read).

Gradio's LinePlot (6.31) builds its colour scale from the data it holds when its spec is built, and afterwards
only swaps the data: a series added later is not drawn. So the callers send the style again (axis, colours,
legend: `compare.style`) whenever the series drawn change (`Curves.key`), in a message after the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mnist_demo.app.core.runs import PALETTE, KeptRun
from mnist_demo.app.core.texts import tr

X_AXES = {"samples seen": "samples seen", "steps": "steps", "seconds": "seconds"}  # choice -> column
# each choice's words in the locale files: its name in the choice ("curves.x_samples"), its axis title (+ "_title")
X_KEYS = {"samples seen": "curves.x_samples", "steps": "curves.x_steps", "seconds": "curves.x_seconds"}
DEFAULT_X = "samples seen"
SAMPLE_SUFFIX = " · 1k"
COLUMNS = ["steps", "samples seen", "seconds"]


@dataclass(frozen=True)
class Series:
    """What the plots need of one run: its number, label, colour index and curve points."""

    number: int
    label: str
    colour: int
    losses: list  # (step, samples, seconds, loss)
    accuracies: list  # (step, samples, seconds, accuracy %, "sample" | "full")


def series_of(runs: list[KeptRun], names: dict[int, str], live=None) -> list[Series]:
    """The kept runs oldest first, then the running one (`live`: (number, colour, LiveRun) or None)."""
    out = [Series(r.number, names[r.number], r.colour, r.losses, r.accuracies) for r in runs]
    if live is not None:
        number, colour, run = live
        out.append(Series(number, names[number], colour, list(run.losses), list(run.accuracies)))
    return out


@dataclass
class Curves:
    loss: pd.DataFrame | None  # None: nothing to draw yet
    accuracy: pd.DataFrame | None
    loss_colours: dict[str, str]
    accuracy_colours: dict[str, str]
    legend: list[str]  # the accuracy plot's legend: the full-test series only

    @property
    def key(self) -> tuple:
        """Changes exactly when the series drawn (those with points) or their colours change."""
        drawn = [tuple(f["run"].unique()) if f is not None else () for f in (self.loss, self.accuracy)]
        return tuple(drawn), tuple(self.loss_colours.items()), tuple(self.accuracy_colours.items())


def curves(series: list[Series]) -> Curves:
    loss_rows, acc_rows = [], []
    loss_colours, acc_colours, legend = {}, {}, []
    for s in series:
        strong, light = PALETTE[s.colour % len(PALETTE)]
        loss_colours[s.label] = strong
        acc_colours[s.label + SAMPLE_SUFFIX] = light
        acc_colours[s.label] = strong
        legend.append(s.label)
        loss_rows += [(step, samples, secs, loss, s.label) for step, samples, secs, loss in s.losses]
        # the light sample line first, so that the run's strong full-test line is drawn over it
        acc_rows += [(step, samples, secs, acc, s.label + SAMPLE_SUFFIX)
                     for step, samples, secs, acc, kind in s.accuracies if kind == "sample"]
        acc_rows += [(step, samples, secs, acc, s.label)
                     for step, samples, secs, acc, kind in s.accuracies if kind == "full"]
    return Curves(_frame(loss_rows, "loss"), _frame(acc_rows, "accuracy"), loss_colours, acc_colours, legend)


def _frame(rows: list, y: str) -> pd.DataFrame | None:
    """None for no rows: Gradio's LinePlot breaks on an empty first frame."""
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=[*COLUMNS, y, "run"])
    return frame.astype({"steps": "int64", "samples seen": "int64", "seconds": "float64", y: "float64",
                         "run": "string"})


def x_title(choice, lang: str | None = None) -> str:
    """The x axis's title for a choice, in `lang` ("training images seen")."""
    return tr(lang, X_KEYS.get(str(choice), X_KEYS[DEFAULT_X]) + "_title")


def x_column(choice) -> str:
    """The frame column for an x-axis choice (an unknown one falls back to samples seen)."""
    return X_AXES.get(str(choice), X_AXES[DEFAULT_X])
