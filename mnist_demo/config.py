"""Training configuration: one dataclass, named presets, and validation with field-named errors.

Units: `lr` is the peak learning rate (per step), `batch_size` is samples per step, `epochs` are full
passes over the training set, `limit` caps the number of training samples used (None: all 60000).
"""

import math
from dataclasses import asdict, dataclass, fields, replace

from mnist_demo.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("constant", "onecycle")
TRAIN_SIZE = 60000  # MNIST's training images
MAX_BATCH_SIZE = TRAIN_SIZE  # the engine's cap; a caller may set a lower one (the app does)
DEFAULT_MAX_EPOCHS = 50


LOG_EVERY = 100  # batches between the tutorial's "loss: ..." lines (its train_loop hard-codes 100): the app's log too


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. The CLI and the app both build one of these."""

    model: str = "cnn"
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 1
    schedule: str = "onecycle"
    warmup: float = 0.25  # one-cycle only: the share of steps over which the learning rate rises to `lr`
    augment: bool = False
    precision: str = "auto"  # "auto": bf16 mixed precision where it is faster (see train.autocast_dtype), else fp32
    seed: int | None = 0
    device: str | None = None  # None: the fastest device present
    limit: int | None = None  # train on the first N samples only
    log_every: int = LOG_EVERY  # batches between progress events

    def to_dict(self) -> dict:
        return asdict(self)


# The original tutorial recipe, verbatim: its model, SGD without momentum, lr 1e-3, batch 64.
# Evidence: 1 epoch on this machine ends near 25% test accuracy (benchmarks/train_speed.py).
TUTORIAL = TrainConfig(model="tutorial", optimizer="sgd", lr=1e-3, momentum=0.0, batch_size=64,
                       epochs=1, schedule="constant", precision="fp32", log_every=LOG_EVERY)
# The default: the smaller CNN, Adam with a short-warm-up one-cycle schedule, bf16 where the hardware has it.
# Evidence (2-core AMX CPU): one epoch ends at 99.07-99.24% over seeds 0-5 and reaches 99% in 0.88 of the
# tutorial loop's epoch time (benchmarks/train_speed.py); docs/measurements.md.
FAST = TrainConfig(model="cnn-small", lr=5e-3, warmup=0.15)
# The shipped model's recipe (checkpoints/default.pt): augmentation so that drawings read well.
BEST = TrainConfig(epochs=6, augment=True, lr=3e-3)

PRESETS: dict[str, TrainConfig] = {"fast": FAST, "tutorial": TUTORIAL, "best": BEST}
DEFAULT_PRESET = "fast"
PRESET_HELP = {
    "fast": "smaller CNN, Adam + one-cycle, 1 epoch: >= 99% test accuracy in seconds",
    "tutorial": "the original tutorial: 784-512-512-10 MLP with a final ReLU, SGD lr 1e-3, batch 64",
    "best": "the shipped model's recipe: CNN with augmentation, 6 epochs (reads hand drawings best)",
}


def make_config(preset: str | None = None, max_epochs: int = DEFAULT_MAX_EPOCHS,
                max_batch_size: int = MAX_BATCH_SIZE, **overrides) -> TrainConfig:
    """Start from a preset, apply overrides (None means 'keep the preset's'), coerce and validate.

    Raises ConfigError naming the field for anything out of range; nothing runs before this passes.
    """
    name = DEFAULT_PRESET if preset in (None, "") else str(preset)
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}",
                          code="unknown_choice", value=repr(name), options=", ".join(PRESETS))
    known = {f.name for f in fields(TrainConfig)}
    for key in overrides:
        if key not in known:
            raise ConfigError(key, "is not a training option", code="not_an_option")
    changes = {k: v for k, v in overrides.items() if v is not None}
    config = replace(PRESETS[name], **changes)
    return validate(config, max_epochs=max_epochs, max_batch_size=max_batch_size)


def validate(config: TrainConfig, max_epochs: int = DEFAULT_MAX_EPOCHS,
             max_batch_size: int = MAX_BATCH_SIZE) -> TrainConfig:
    """Return a copy with coerced types, or raise ConfigError naming the first bad field.

    `max_epochs` and `max_batch_size` are the caller's caps, so the error states the range the caller allows.
    """
    from mnist_demo.models import MODELS  # local: models imports torch, config stays light

    model = choice("model", config.model, tuple(MODELS))
    optimizer = choice("optimizer", config.optimizer, OPTIMIZERS)
    schedule = choice("schedule", config.schedule, SCHEDULES)
    precision = choice("precision", config.precision, PRECISIONS)
    lr = number("lr", config.lr, 0.0, 10.0, "a number greater than 0 and at most 10", open_low=True)
    momentum = number("momentum", config.momentum, 0.0, 0.999, "a number from 0 to 0.999")
    weight_decay = number("weight_decay", config.weight_decay, 0.0, 1.0, "a number from 0 to 1")
    warmup = number("warmup", config.warmup, 0.0, 0.9, "a share of the steps greater than 0 and at most 0.9",
                    open_low=True)
    batch_size = whole_number("batch_size", config.batch_size, 1, min(max_batch_size, MAX_BATCH_SIZE))
    epochs = whole_number("epochs", config.epochs, 1, max_epochs)
    log_every = whole_number("log_every", config.log_every, 1, 100000)
    limit = None if config.limit is None else whole_number("limit", config.limit, 1, TRAIN_SIZE)
    seed = None if config.seed is None else whole_number("seed", config.seed, 0, 2**63 - 1)
    if not isinstance(config.augment, bool):
        raise ConfigError("augment", "must be true or false", code="not_boolean")
    device = None if config.device in (None, "", "auto") else str(config.device)
    return replace(config, model=model, optimizer=optimizer, schedule=schedule, precision=precision, lr=lr,
                   momentum=momentum, weight_decay=weight_decay, warmup=warmup, batch_size=batch_size, epochs=epochs,
                   log_every=log_every, limit=limit, seed=seed, device=device)


def choice(field: str, value, allowed: tuple[str, ...]) -> str:
    """`value` lower-cased if it is one of `allowed`, or ConfigError naming `field` and the choices."""
    text = str(value).strip().lower() if value is not None else ""
    if text not in allowed:
        raise ConfigError(field, f"unknown {field} {value!r}; choose one of {', '.join(allowed)}",
                          code="unknown_choice", value=repr(value), options=", ".join(allowed))
    return text


def number(field: str, value, low: float, high: float, wanted: str, open_low: bool = False) -> float:
    """`value` (a number or its text) as a finite float in [low, high] (`open_low`: above low), or ConfigError
    naming `field` and saying what is `wanted` (the error's values carry `low`, `high` and `kind`, so the app can
    say what is wanted in another language)."""
    limits = {"wanted": wanted, "kind": "above" if open_low else "between", "low": f"{low:g}", "high": f"{high:g}"}
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"{value!r} is not a number; must be {wanted}", code="not_a_number",
                          value=repr(value), **limits) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ConfigError(field, f"{value!r} is not a finite number; must be {wanted}", code="not_finite",
                          value=repr(value), **limits)
    if number > high or number < low or (open_low and number == low):
        raise ConfigError(field, f"{number:g} is out of range; must be {wanted}", code="out_of_range",
                          value=f"{number:g}", **limits)
    return number


def whole_number(field: str, value, low: int, high: int) -> int:
    """`value` (a number or its text) as an int in [low, high], or ConfigError naming `field`."""
    wanted = f"a whole number from {low} to {high}"
    limits = {"wanted": wanted, "kind": "whole", "low": str(low), "high": str(high)}
    if isinstance(value, bool):
        raise ConfigError(field, f"{value!r} is not a number; must be {wanted}", code="not_a_number",
                          value=repr(value), **limits)
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(field, f"{value!r} is not a number; must be {wanted}", code="not_a_number",
                          value=repr(value), **limits) from None
    if not math.isfinite(number) or number != int(number):
        raise ConfigError(field, f"{value!r} is not a whole number; must be {wanted}", code="not_whole",
                          value=repr(value), **limits)
    if not low <= number <= high:
        raise ConfigError(field, f"{int(number)} is out of range; must be {wanted}", code="out_of_range",
                          value=str(int(number)), **limits)
    return int(number)
