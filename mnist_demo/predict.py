"""Predictions for drawings and image files: preprocess (MNIST-style 28x28) -> model -> probabilities.

A Predictor holds its own frozen copy of a model in eval mode and keeps no other state, so one instance
may serve any number of threads at once (each forward runs under torch.inference_mode).
"""

import copy
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnist_demo.checkpoints import DEFAULT_DIR, DEFAULT_NAME, checkpoint_path, load_checkpoint
from mnist_demo.errors import CheckpointError, DemoError
from mnist_demo.preprocess import BLANK_MESSAGE, Preprocessed, to_mnist

PREVIEW_SCALE = 10


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image; for a blank image every field but `message` is None."""

    probabilities: dict[str, float] | None  # "0".."9" -> probability, summing to 1
    digit: int | None
    confidence: float | None  # the probability of `digit`
    preview: np.ndarray | None  # uint8 [280, 280]: the 28x28 input the model saw, enlarged
    message: str = ""

    @property
    def blank(self) -> bool:
        return self.probabilities is None


BLANK = Prediction(None, None, None, None, BLANK_MESSAGE)


class Predictor:
    """A model plus the MNIST preprocessing: `predict(image) -> Prediction`; safe to share across threads."""

    def __init__(self, model: nn.Module, name: str = "model", meta: dict | None = None):
        self.model = copy.deepcopy(model).cpu().eval().requires_grad_(False)
        self.name = name
        self.meta = dict(meta or {})

    @classmethod
    def from_checkpoint(cls, name: str = DEFAULT_NAME, directory: str | Path = DEFAULT_DIR) -> "Predictor":
        """Load `directory/NAME.pt` (CheckpointError with the reason when it cannot be used)."""
        checkpoint = load_checkpoint(name, directory)
        return cls(checkpoint.model, checkpoint.name, checkpoint.meta)

    def predict(self, image) -> Prediction:
        """Predict the digit in any image `preprocess.to_mnist` accepts; BLANK when nothing is drawn.

        Raises ImageError for an image that cannot be read or is too large.
        """
        prepared = to_mnist(image)
        if prepared is None:
            return BLANK
        return self.predict_prepared(prepared)

    __call__ = predict

    def predict_prepared(self, prepared: Preprocessed) -> Prediction:
        """The prediction for an already preprocessed image."""
        probs = self.probabilities(prepared.tensor)[0]
        digit = int(np.argmax(probs))
        return Prediction({str(d): float(p) for d, p in enumerate(probs)}, digit, float(probs[digit]),
                          prepared.preview(PREVIEW_SCALE))

    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        """float64 [N, 10] softmax probabilities for a normalised batch [N, 1, 28, 28]."""
        with torch.inference_mode():
            logits = self.model(batch)
        return torch.softmax(logits.double(), dim=1).numpy()


CACHE_SIZE = 8  # checkpoints kept loaded, the most recently used
_cache: OrderedDict[tuple, Predictor] = OrderedDict()
_cache_lock = threading.Lock()


def cached_predictor(name: str = DEFAULT_NAME, directory: str | Path = DEFAULT_DIR) -> Predictor:
    """A shared Predictor for `directory/NAME.pt`, loaded once and reloaded when the file changes.

    Raises CheckpointError when the checkpoint is missing (for the shipped model's name: what to do) or unusable.
    """
    path = checkpoint_path(name, directory)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        if path.stem == DEFAULT_NAME:
            raise CheckpointError(f"No trained model yet: {path.name} is missing from {path.parent}. "
                                  f"Train a model and save it as {DEFAULT_NAME!r}, then try again.",
                                  code="no_model_yet", file=path.name, folder=str(path.parent),
                                  default=repr(DEFAULT_NAME)) from None
        raise CheckpointError(f"checkpoint {path.stem!r} does not exist", code="not_found",
                              name=repr(path.stem)) from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    predictor = Predictor.from_checkpoint(name, directory)  # outside the lock: other models stay available
    with _cache_lock:
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]
        _cache[key] = predictor
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return predictor


def predict_files(paths, predictor: Predictor) -> list[dict]:
    """One row per image file: {"image", "digit", "probability", "probabilities"}, or {"image", "error"}; "image"
    is the path as given (the key `predict --json` prints, as its help says).

    A file that cannot be read or holds no digit gets an error row; the others still get predictions.
    """
    rows = []
    for path in paths:
        label = os.fspath(path)
        try:
            result = predictor.predict(Path(path))
        except DemoError as err:
            # The row names the file already; the reader's message may start with it too ("FILE: no such file").
            rows.append({"image": label, "error": str(err).removeprefix(f"{label}: ")})
            continue
        if result.blank:
            rows.append({"image": label, "error": "no digit found (the image is blank)"})
        else:
            rows.append({"image": label, "digit": result.digit, "probability": result.confidence,
                         "probabilities": result.probabilities})
    return rows
