"""What a benchmark run may be asked for: the defaults, and the checks of each option (config's checks, so a bad
value raises ConfigError naming the field). The command line, the app and `run_benchmark` all check with these."""

from mnist_demo.bench.core import MAX_BATCH_SIZE
from mnist_demo.config import choice, number, whole_number
from mnist_demo.devices import KNOWN, available_devices
from mnist_demo.errors import ConfigError
from mnist_demo.models import MODELS

DEFAULT_BATCH_SIZES = (1, 64, 256, 1024, 4096)
MAX_REPEATS = 1000
MAX_WARMUP = 100
DEFAULT_REPEATS = 20  # timed runs per cell, at most
DEFAULT_WARMUP = 3  # untimed runs per cell before timing
DEFAULT_TIME_BUDGET_S = 1.0  # seconds of timed work per cell after which repeats stop (None: no cap)
# The default model: the tutorial's 784-512-512-10 MLP (without the final-ReLU bug, which costs nothing in
# time). A CPU training step at batch 4096 takes ~0.09 s on 2 cores, so the whole default sweep runs in ~5 s;
# the "cnn" takes ~1.7 s per step there at batch 4096, ~30 s for the sweep (ask for it with --model cnn).
DEFAULT_MODEL = "mlp"


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """"1,64, 256" -> (1, 64, 256), validated (see `validate_batch_sizes`)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ConfigError("batch_sizes", "is empty; give comma-separated whole numbers, e.g. 1,64,256", code="empty")
    if any(not p for p in parts):
        raise ConfigError("batch_sizes", f"{text!r} has an empty item; give comma-separated whole numbers")
    return validate_batch_sizes(parts)


def validate_batch_sizes(values) -> tuple[int, ...]:
    """Each a whole number in 1..65536; returned sorted ascending without duplicates."""
    if isinstance(values, str):
        return parse_batch_sizes(values)
    values = list(values or []) if not isinstance(values, int) else [values]
    if not values:
        raise ConfigError("batch_sizes", "is empty; give at least one batch size", code="empty")
    return tuple(sorted({whole_number("batch_sizes", v, 1, MAX_BATCH_SIZE) for v in values}))


def validate_repeats(value) -> int:
    return whole_number("repeats", value, 1, MAX_REPEATS)


def validate_warmup(value) -> int:
    return whole_number("warmup", value, 0, MAX_WARMUP)


def validate_time_budget(value) -> float | None:
    """Seconds of timed work per cell before repeats stop: a number in (0, 3600], or None for no cap."""
    return None if value is None else number("time_budget_s", value, 0, 3600, "seconds in (0, 3600]", open_low=True)


def validate_model(name) -> str:
    return choice("model", name, tuple(MODELS))


def default_devices() -> list[str]:
    """cpu and cuda always (cuda is then reported as not available where absent), mps where present."""
    return ["cpu", "cuda"] + [d for d in available_devices() if d == "mps"]


def parse_devices(text: str | None) -> list[str]:
    """"cpu,cuda" -> ["cpu", "cuda"]; empty or None -> the default list."""
    if text is None or not str(text).strip():
        return default_devices()
    return validate_devices(str(text).split(","))


def validate_devices(names) -> list[str]:
    """Known device names (cpu, cuda, mps), lower-cased and deduplicated. Absent devices are not an error."""
    if names is None:
        return default_devices()
    names = [choice("devices", raw, KNOWN) for raw in (names.split(",") if isinstance(names, str) else names)]
    if not names:
        raise ConfigError("devices", f"is empty; choose from {', '.join(KNOWN)}", code="empty_choice",
                          options=", ".join(KNOWN))
    return list(dict.fromkeys(names))
