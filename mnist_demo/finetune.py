"""Fine-tuning on a visitor's own drawings: a copy of a model, trained briefly on the drawings mixed with MNIST.

The path: drawings (uint8 [N, 28, 28], MNIST-style: white ink on black, as `preprocess.to_mnist` makes them)
-> `check_drawings` -> `split_held_out` (a part held aside to measure on, when there are enough) -> a training
set of the drawings, repeated, mixed with MNIST training images (replay, so the model does not forget what
it knew) -> the same `train()` engine as any run, one epoch of `steps` batches with the batch augmentation
-> before/after accuracy on the held-out drawings and on MNIST's full test set.

The starting model is never changed: training runs on a deep copy.
"""

import copy
import datetime as dt
import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from mnist_demo.config import TrainConfig
from mnist_demo.data import MNIST
from mnist_demo.errors import DemoError
from mnist_demo.models import MODELS, build_model
from mnist_demo.train import Evaluation, evaluate, train

MAX_DRAWINGS = 1000  # per collection (the app's cap per visitor, the CLI's per folder)
MIN_PER_DIGIT_TO_HOLD_OUT = 5  # with fewer of some digit, before/after is measured on the training drawings
HELD_OUT_SHARE = 0.2  # of each digit's drawings, at least one, when holding aside
# The recipe, chosen with benchmarks/finetune.py (ten examples per digit of a style the shipped model reads
# badly; docs/measurements.md, "Fine-tuning on your drawings"). At 300 steps of batch 128, Adam lr 1e-3
# brought the held-apart examples of two styles to 89-90% for an MNIST cost of 0.22-0.29 point; batch 64
# at lr 5e-4 reached only 66-85% for 0.20-0.41; lr 2e-3 at batch 64, 88-89% for 0.30-0.32; SGD with
# momentum (lr 0.02), 86-91% for up to 0.49. 500 steps: 90.6-95% on four styles for 0.15-0.37 point.
DEFAULT_STEPS = 500  # about 11 s of training on this 2-core CPU when it is quiet (22 ms a step)
MAX_STEPS = 1000  # the training set is built whole: steps x BATCH images, 100 MB of uint8 at the cap
BATCH = 128
DRAWING_SHARE = 0.25  # of each batch, so 96 of its 128 images are MNIST replay
OPTIMIZER = "adam"
LR = 1e-3
MOMENTUM = 0.0  # SGD only
WARMUP = 0.15


class FineTuneError(DemoError):
    """The drawings cannot be fine-tuned on (empty, one digit only, bad labels, wrong shape)."""


@dataclass
class FineTuneResult:
    """What a fine-tune gives: the new model (a copy) and accuracy before and after, on drawings and MNIST."""

    model: nn.Module  # the fine-tuned model (a copy; the starting model is untouched)
    before: float  # accuracy on the held-out drawings (or all of them when none are held out), before
    after: float
    mnist_before: float  # MNIST test accuracy (all 10,000 images), before and after
    mnist_after: float
    held_out: int  # drawings held aside for before/after (0: measured on the training drawings themselves)
    drawings: int  # drawings trained on
    steps: int
    train_s: float
    stopped: bool
    config: TrainConfig | None = None  # the recipe the engine ran
    mnist_evaluation: Evaluation | None = None  # MNIST test figures after (loss, per digit)
    digits: list[int] = field(default_factory=list)  # the digits present in the drawings

    def summary(self) -> dict:
        """JSON-plain figures."""
        return {"before": round(self.before, 6), "after": round(self.after, 6),
                "mnist_before": round(self.mnist_before, 6), "mnist_after": round(self.mnist_after, 6),
                "held_out": self.held_out, "drawings": self.drawings, "steps": self.steps,
                "train_s": round(self.train_s, 3), "stopped": self.stopped}


# --------------------------------------------------------------------------- checks and split

def _as_tensors(images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N, 28, 28] and int64 [N] on the CPU, or FineTuneError saying what is wrong."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
    elif isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images)) if images.dtype == np.uint8 else images
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        kind = getattr(images, "dtype", type(images).__name__)
        raise FineTuneError(f"drawings must be uint8 images (28x28, white ink on black, as MNIST stores them), "
                            f"not {kind}")
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise FineTuneError(f"drawings must be 28x28 images, shaped [N, 28, 28]; got {list(images.shape)}")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    try:
        array = np.asarray(labels)
    except Exception:  # noqa: BLE001 - ragged or odd objects
        raise FineTuneError("labels must be a list of digits 0-9") from None
    if array.ndim != 1 or (array.size and not (np.issubdtype(array.dtype, np.integer)
                                               and not np.issubdtype(array.dtype, np.bool_))):
        raise FineTuneError("labels must be a flat list of whole numbers, the digits 0-9")
    return images, torch.from_numpy(array.astype(np.int64, copy=True))


def check_drawings(images, labels) -> None:
    """Raise FineTuneError with a clear message unless the drawings can be fine-tuned on.

    Refused: no drawings, more than MAX_DRAWINGS, labels not matching the images in number, a label outside
    0-9, drawings of one digit only (the model would learn to answer that digit to everything), images that
    are not uint8 [N, 28, 28] (MNIST-style, white ink on black), and blank images.
    """
    images, labels = _as_tensors(images, labels)
    if len(images) == 0:
        raise FineTuneError("no drawings to fine-tune on: collect some first (at least two different digits)",
                            code="finetune_no_drawings")
    if len(images) > MAX_DRAWINGS:
        raise FineTuneError(f"{len(images)} drawings is too many: the limit is {MAX_DRAWINGS}",
                            code="finetune_too_many", count=len(images), limit=MAX_DRAWINGS)
    if len(labels) != len(images):
        raise FineTuneError(f"{len(images)} drawings but {len(labels)} labels: each drawing needs one label",
                            code="finetune_mismatch", count=len(images), labels=len(labels))
    bad = labels[(labels < 0) | (labels > 9)]
    if len(bad):
        raise FineTuneError(f"label {int(bad[0])} is not a digit: labels must be 0-9", code="finetune_bad_label",
                            label=int(bad[0]))
    digits = torch.unique(labels).tolist()
    if len(digits) < 2:
        raise FineTuneError(f"all the drawings are of the digit {digits[0]}: fine-tuning needs at least two "
                            "different digits, or the model learns to answer that one to everything",
                            code="finetune_one_digit", digit=digits[0])
    blank = (images.flatten(1).amax(1) == 0).nonzero().flatten()
    if len(blank):
        raise FineTuneError(f"drawing {int(blank[0]) + 1} is blank: remove it or draw a digit",
                            code="finetune_blank", number=int(blank[0]) + 1)


def split_held_out(images, labels, seed: int = 0):
    """(train_images, train_labels, test_images, test_labels): a part held aside to measure on, when possible.

    When every digit present has at least MIN_PER_DIGIT_TO_HOLD_OUT drawings, HELD_OUT_SHARE of each digit's
    (at least one, chosen at random from `seed`) is held aside and the rest is trained on; otherwise all are
    trained on and the test part is the training part itself (so "after" then says how well it learnt them,
    not how well it generalises). Types follow the input: tensors in, tensors out (uint8 / int64).
    """
    check_drawings(images, labels)
    as_numpy = isinstance(images, np.ndarray)
    images, labels = _as_tensors(images, labels)
    counts = torch.bincount(labels, minlength=10)
    present = counts[counts > 0]
    if int(present.min()) < MIN_PER_DIGIT_TO_HOLD_OUT:
        parts = (images, labels, images, labels)
    else:
        generator = torch.Generator().manual_seed(seed)
        held = torch.zeros(len(labels), dtype=torch.bool)
        for digit in torch.unique(labels).tolist():
            where = (labels == digit).nonzero().flatten()
            where = where[torch.randperm(len(where), generator=generator)]
            held[where[:max(1, round(HELD_OUT_SHARE * len(where)))]] = True
        parts = (images[~held], labels[~held], images[held], labels[held])
    return tuple(p.numpy() for p in parts) if as_numpy else parts


# --------------------------------------------------------------------------- the fine-tune

FREEZE_NORM_STATS = True  # measured at lr 5e-4: MNIST 0.04-0.07 point better kept, one style 10 points worse


class KeptNormStats(nn.Module):
    """`model` whose batch norms keep their running statistics while it trains (they stay in eval mode).

    A fine-tune's batches are a quarter drawings in a style MNIST lacks; letting them re-estimate the
    statistics every MNIST input is normalised with would shift what the model computes for MNIST too.
    Their scales and offsets still learn.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def registry_name(model: nn.Module) -> str:
    """The registered model name whose architecture `model` has, or FineTuneError."""
    shown = repr(model)
    for name in MODELS:
        if repr(build_model(name)) == shown:
            return name
    raise FineTuneError(f"cannot fine-tune a {type(model).__name__}: it is none of the registered models "
                        f"({', '.join(MODELS)})")


def training_set(images: torch.Tensor, labels: torch.Tensor, data: MNIST, steps: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """steps x BATCH images: the drawings repeated to DRAWING_SHARE of them, the rest random MNIST training
    images (train() shuffles the lot, so every batch holds about that share of drawings)."""
    total = steps * BATCH
    own = max(round(DRAWING_SHARE * total), 1)
    repeats = torch.arange(own) % len(images)  # each drawing equally often, up to one
    repeats = repeats[torch.randperm(own, generator=generator)]
    replay = torch.randint(len(data.train_images), (total - own,), generator=generator)
    device = data.device
    mixed_images = torch.cat([images.to(device)[repeats.to(device)], data.train_images[replay.to(device)]])
    mixed_labels = torch.cat([labels.to(device)[repeats.to(device)], data.train_labels[replay.to(device)]])
    return mixed_images, mixed_labels


def finetune_config(model_name: str, steps: int, seed: int, device) -> TrainConfig:
    """The engine's recipe for a fine-tune of `steps` batches (one epoch, so MNIST is evaluated once)."""
    return TrainConfig(model=model_name, optimizer=OPTIMIZER, lr=LR, momentum=MOMENTUM, batch_size=BATCH, epochs=1,
                       schedule="onecycle", warmup=WARMUP, augment=True, seed=seed,
                       device=str(device) if device else None,
                       log_every=max(1, math.ceil(steps / 50)))


def finetune(model: nn.Module, images, labels, data: MNIST, *, steps: int = DEFAULT_STEPS, seed: int = 0,
             stop: threading.Event | None = None, on_event: Callable | None = None, device=None,
             hold_out: bool = True) -> FineTuneResult:
    """Fine-tune a copy of `model` on the drawings (`check_drawings` rules) mixed with MNIST replay.

    Runs `train()` for `steps` batches (1 to MAX_STEPS) with the batch augmentation; `on_event` gets its
    Progress and EpochEnd events and `stop.set()` ends it between batches (the result then says stopped).
    `data`: MNIST (its training images are the replay, its test set the MNIST measure). `hold_out=False`
    trains on every drawing (before/after then measured on them), for callers with a test set of their own.
    """
    from mnist_demo.config import whole_number
    from mnist_demo.devices import resolve_device
    from mnist_demo.errors import ConfigError

    check_drawings(images, labels)
    try:
        steps = whole_number("steps", steps, 1, MAX_STEPS)
    except ConfigError as err:
        raise FineTuneError(str(err)) from None
    images, labels = _as_tensors(images, labels)
    if hold_out:
        train_images, train_labels, test_images, test_labels = split_held_out(images, labels, seed=seed)
    else:
        train_images, train_labels, test_images, test_labels = images, labels, images, labels
    held_out = 0 if train_images is test_images else len(test_images)
    device = resolve_device(device) if device is not None else data.device
    if data.device != device:
        data = data.to(device)
    name = registry_name(model)
    tuned = copy.deepcopy(model).to(device).requires_grad_(True)  # a Predictor's model is frozen for serving
    test_images, test_labels = test_images.to(device), test_labels.to(device)
    before = evaluate(tuned, test_images, test_labels).accuracy
    mnist_before = evaluate(tuned, data.test_images, data.test_labels).accuracy
    generator = torch.Generator().manual_seed(seed)
    mixed_images, mixed_labels = training_set(train_images, train_labels, data, steps, generator)
    mixed = MNIST(mixed_images, mixed_labels, data.test_images, data.test_labels, data.source)
    config = finetune_config(name, steps, seed, device)
    result = train(config, mixed, on_event=on_event, stop=stop,
                   model=KeptNormStats(tuned) if FREEZE_NORM_STATS else tuned)
    after = evaluate(tuned, test_images, test_labels).accuracy
    return FineTuneResult(model=tuned.eval(), before=before, after=after, mnist_before=mnist_before,
                          mnist_after=result.evaluation.accuracy, held_out=held_out, drawings=len(train_images),
                          steps=result.steps, train_s=result.train_s, stopped=result.stopped, config=result.config,
                          mnist_evaluation=result.evaluation, digits=torch.unique(train_labels).tolist())


def finetune_meta(meta: dict, result: FineTuneResult, source: str) -> dict:
    """Checkpoint metadata for a fine-tuned model: the starting model's kind, the fine-tune's recipe and
    figures, and where it came from (`source`: the starting checkpoint's name). `accuracy` is MNIST's after."""
    model_name = (meta or {}).get("model") or (result.config.model if result.config else None)
    out = {"model": model_name, "accuracy": float(result.mnist_after), "steps": int(result.steps),
           "stopped": bool(result.stopped), "fine_tuned_from": str(source), "drawings": int(result.drawings),
           "held_out": int(result.held_out), "drawings_before": float(result.before),
           "drawings_after": float(result.after), "mnist_before": float(result.mnist_before),
           "source": f"fine-tuned from {source} on {result.drawings} drawings",
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "torch_version": str(torch.__version__)}
    if result.config is not None:
        out["config"] = result.config.to_dict()
    if result.mnist_evaluation is not None:
        out["avg_loss"] = float(result.mnist_evaluation.avg_loss)
        out["per_class"] = [float(a) for a in result.mnist_evaluation.per_class]
    if not result.stopped:
        out["epochs"] = 1.0  # the fine-tune's one epoch of mixed drawings and MNIST
    return out
