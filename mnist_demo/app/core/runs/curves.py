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

A run's first points all sit at x = 0 (the untrained model's accuracy, the first batch's loss), and a chart over a
range of zero width drew one tick, "0.000000", and no line. Until a plot has points at two x values, its x axis
spans the running run's whole plan instead (`Curves.x_lim`): a clean empty frame that the curve then grows into.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mnist_demo.app.core.runs.kept import PALETTE, KeptRun
from mnist_demo.texts import tr

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
    ends: dict | None = None  # the running run's planned end per x column (samples, steps; seconds are unknown)


def series_of(runs: list[KeptRun], names: dict[int, str], live=None) -> list[Series]:
    """The kept runs oldest first, then the running one (`live`: (number, colour, LiveRun) or None)."""
    out = [Series(r.number, names[r.number], r.colour, r.losses, r.accuracies) for r in runs]
    if live is not None:
        number, colour, run = live
        ends = {"samples seen": run.config.epochs * run.size, "steps": run.config.epochs * run.batches}
        out.append(Series(number, names[number], colour, list(run.losses), list(run.accuracies), ends))
    return out


@dataclass
class Curves:
    loss: pd.DataFrame | None  # None: nothing to draw yet
    accuracy: pd.DataFrame | None
    loss_colours: dict[str, str]
    accuracy_colours: dict[str, str]
    legend: list[str]  # the accuracy plot's legend: the full-test series only
    ends: dict  # the farthest planned end of a running run per x column (see `x_lim`)

    @property
    def key(self) -> tuple:
        """Changes exactly when the series drawn (those with points) or their colours change."""
        drawn = [tuple(f["run"].unique()) if f is not None else () for f in (self.loss, self.accuracy)]
        return tuple(drawn), tuple(self.loss_colours.items()), tuple(self.accuracy_colours.items())

    def x_lim(self, frame: pd.DataFrame | None, choice) -> list[float] | None:
        """The x range for a plot of `frame` against `choice`: [0, the running run's planned end] (1 when unknown)
        while all its points sit at one x, else None (the chart's own range, from the data)."""
        column = x_column(choice)
        if frame is None or frame[column].nunique() > 1:
            return None
        return [0, self.ends.get(column) or 1]


def curves(series: list[Series]) -> Curves:
    loss_rows, acc_rows = [], []
    loss_colours, acc_colours, legend, ends = {}, {}, [], {}
    for s in series:
        for column, end in (s.ends or {}).items():
            ends[column] = max(ends.get(column, 0), end)
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
    return Curves(_frame(loss_rows, "loss"), _frame(acc_rows, "accuracy"), loss_colours, acc_colours, legend, ends)


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
