"""Where a model goes wrong on a data set: the confusion matrix, accuracy per digit, the most confident
mistakes, and the examples behind any cell of the matrix. No gradio: the app and the CLI only show these.

Everything comes from one pass over the images, `train.evaluate`'s, which keeps each image's predicted digit
and its probability; a finished run's last `Evaluation` (made at the end of its last epoch) is reused as it is
(`from_evaluation`), and any model can be analysed with `analyse` (one more pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnist_demo.errors import DemoError

DIGITS = 10


class NoPredictions(DemoError):
    """An Evaluation made without per-image predictions, or for other images than these labels."""


@dataclass(frozen=True)
class Example:
    """One image of the data set as the model read it: its index there, the true digit, the model's digit and
    the probability the model gave that digit."""

    index: int
    true: int
    predicted: int
    probability: float

    @property
    def wrong(self) -> bool:
        return self.true != self.predicted


@dataclass(frozen=True)
class Mistakes:
    """One model's reading of one labelled data set. Arrays are read-only numpy, in the data set's order."""

    labels: np.ndarray  # int64 [N], the true digits
    predicted: np.ndarray  # int64 [N]
    confidence: np.ndarray  # float32 [N], the probability of the predicted digit

    @property
    def total(self) -> int:
        return len(self.labels)

    @property
    def confusion(self) -> np.ndarray:
        """int64 [10, 10]: row = true digit, column = predicted digit; sums to `total`."""
        return np.bincount(self.labels * DIGITS + self.predicted, minlength=DIGITS * DIGITS).reshape(DIGITS, DIGITS)

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.predicted).mean()) if self.total else 0.0

    def per_digit(self) -> list[float]:
        """Accuracy for each true digit 0-9 (0.0 for a digit absent from the labels)."""
        matrix = self.confusion
        counts = matrix.sum(axis=1)
        return [float(matrix[d, d] / counts[d]) if counts[d] else 0.0 for d in range(DIGITS)]

    def _examples(self, indices: np.ndarray) -> list[Example]:
        return [Example(int(i), int(self.labels[i]), int(self.predicted[i]), float(self.confidence[i]))
                for i in indices]

    def worst(self, k: int = 24) -> list[Example]:
        """The `k` most confidently wrong images, the most confident first (ties: the lower index first)."""
        wrong = np.flatnonzero(self.labels != self.predicted)
        order = np.lexsort((wrong, -self.confidence[wrong]))
        return self._examples(wrong[order][:max(0, int(k))])

    def cell(self, true: int, predicted: int, k: int | None = None) -> list[Example]:
        """The images of the matrix's cell (true, predicted). Off the diagonal (mistakes) the most confident come
        first; on it (right answers) the least confident, the interesting ones, come first. ValueError for a
        digit outside 0-9."""
        for digit in (true, predicted):
            if not isinstance(digit, (int, np.integer)) or isinstance(digit, bool) or not 0 <= digit < DIGITS:
                raise ValueError(f"a digit is a whole number from 0 to 9, not {digit!r}")
        members = np.flatnonzero((self.labels == true) & (self.predicted == predicted))
        sign = 1.0 if true == predicted else -1.0
        order = np.lexsort((members, sign * self.confidence[members]))
        chosen = members[order]
        return self._examples(chosen if k is None else chosen[:max(0, int(k))])

    def summary(self, worst: int = 10) -> dict:
        """Plain JSON-ready figures: total, accuracy, per-digit accuracy, the matrix and the worst mistakes."""
        return {"total": self.total, "accuracy": round(self.accuracy, 6),
                "per_class": [round(a, 4) for a in self.per_digit()], "confusion": self.confusion.tolist(),
                "worst": [{"index": e.index, "true": e.true, "predicted": e.predicted,
                           "probability": round(e.probability, 4)} for e in self.worst(worst)]}


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def from_evaluation(evaluation, labels: torch.Tensor) -> Mistakes:
    """The Mistakes of an existing `train.Evaluation` of images whose true digits are `labels` (no new pass).

    NoPredictions when the evaluation kept no per-image predictions or was made on a different number of images.
    """
    predicted, confidence = getattr(evaluation, "predicted", None), getattr(evaluation, "confidence", None)
    if predicted is None or confidence is None:
        raise NoPredictions("this evaluation kept no per-image predictions")
    if len(predicted) != len(labels):
        raise NoPredictions(f"this evaluation is of {len(predicted)} images, not these {len(labels)}")
    return Mistakes(_frozen(labels.detach().cpu().numpy().astype(np.int64)),
                    _frozen(predicted.detach().cpu().numpy().astype(np.int64)),
                    _frozen(confidence.detach().cpu().numpy().astype(np.float32)))


def analyse(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Mistakes:
    """Mistakes of any `model` on uint8 `images` [N, 28, 28] with `labels` [N]: one pass (`train.evaluate`)."""
    from mnist_demo.train import evaluate

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else images.device
    evaluation = evaluate(model, images.to(device), labels.to(device))
    return from_evaluation(evaluation, labels)


def format_matrix(matrix) -> str:
    """The confusion matrix as aligned text: a header of predicted digits, one row per true digit."""
    matrix = np.asarray(matrix)
    width = max(5, len(str(int(matrix.max()))) + 1 if matrix.size else 5)
    head = "true\\pred" + "".join(f"{d:>{width}}" for d in range(matrix.shape[1]))
    rows = [f"{t:>9}" + "".join(f"{int(v):>{width}}" for v in row) for t, row in enumerate(matrix)]
    return "\n".join([head, *rows])
