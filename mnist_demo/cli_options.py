"""The command line's shared pieces: argparse types made of config.py's checks, help text as written, and the
options of a training run, defined once for the commands that take one (`train` runs it, `export` writes it as
code) with the TrainConfig they describe.
"""

import argparse

from mnist_demo.errors import ConfigError

MANY = 10**6  # the top of a range with no practical limit


def checked(check, field: str, *args, **kwargs):
    """An argparse type made of one of config.py's checks (`whole_number`, ...): its range and its message."""

    def parse(text: str):
        try:
            return check(field, text, *args, **kwargs)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{field}: ")) from None

    return parse


def literal(text: str) -> str:
    """Text for argparse's help as written: argparse %-formats help, so a bare `%` (as in "99%") must be doubled."""
    return text.replace("%", "%%")


def _preset_values(field: str) -> str:
    """" (default: the preset's: fast 0.005, tutorial 0.001, best 0.003)" for `--help`, read from config.PRESETS."""
    from mnist_demo.config import PRESETS

    shown = {name: getattr(config, field) for name, config in PRESETS.items()}
    def text(value) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    if len(set(shown.values())) == 1:
        return literal(f" (default: {text(next(iter(shown.values())))})")
    return literal(f" (default: the preset's: {', '.join(f'{k} {text(v)}' for k, v in shown.items())})")


def add_run_options(p) -> None:
    """The options that describe a training run: `train` runs it, `export` writes it as code (one definition)."""
    from mnist_demo.config import (
        DEFAULT_MAX_EPOCHS,
        DEFAULT_PRESET,
        MAX_BATCH_SIZE,
        OPTIMIZERS,
        PRECISIONS,
        PRESET_HELP,
        PRESETS,
        SCHEDULES,
        TRAIN_SIZE,
        whole_number,
    )

    presets = literal("; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()))
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help=f"{presets} (default: %(default)s; one of {', '.join(PRESETS)})")
    # Typed by config.make_config, which checks them all in one place and names the field in its message.
    p.add_argument("--model", metavar="NAME", help="a model from `models`" + _preset_values("model"))
    p.add_argument("--optimizer", metavar="|".join(OPTIMIZERS), help="the optimizer" + _preset_values("optimizer"))
    p.add_argument("--lr", metavar="LR", help="peak learning rate, in (0, 10]" + _preset_values("lr"))
    p.add_argument("--momentum", metavar="M", help="SGD momentum, 0 to 0.999" + _preset_values("momentum"))
    p.add_argument("--weight-decay", metavar="WD", help="L2 weight decay, 0 to 1" + _preset_values("weight_decay"))
    p.add_argument("--schedule", metavar="|".join(SCHEDULES), help="the learning-rate schedule"
                   + _preset_values("schedule"))
    p.add_argument("--warmup", metavar="SHARE", help="one-cycle warm-up, the share of steps (0 to 0.9)"
                   + _preset_values("warmup"))
    p.add_argument("--batch-size", metavar="N", help=f"samples per step, 1 to {MAX_BATCH_SIZE}"
                   + _preset_values("batch_size"))
    p.add_argument("--epochs", metavar="N", help="passes over the training set" + _preset_values("epochs"))
    p.add_argument("--max-epochs", type=checked(whole_number, "max_epochs", 1, MANY),
                   default=DEFAULT_MAX_EPOCHS, metavar="N", help="the cap on --epochs (default: %(default)s)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts, rotations, scaling and stroke width on each batch"
                   + _preset_values("augment"))
    p.add_argument("--device", help="cpu, cuda or mps (default: the fastest present)")
    p.add_argument("--precision", metavar="|".join(PRECISIONS),
                   help="auto: bf16 mixed precision where measured faster" + _preset_values("precision"))
    p.add_argument("--seed", metavar="N", help="random seed, a whole number" + _preset_values("seed"))
    p.add_argument("--limit", metavar="N", help=f"train on the first N samples only (default: all {TRAIN_SIZE})")
    p.add_argument("--log-every", metavar="N", help="batches between log lines" + _preset_values("log_every"))


def run_config(args):
    """The TrainConfig that the `add_run_options` flags describe, checked by config.make_config (which names the
    field of a bad value)."""
    from mnist_demo.config import make_config

    return make_config(args.preset, max_epochs=args.max_epochs, model=args.model, optimizer=args.optimizer,
                       lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                       schedule=args.schedule, warmup=args.warmup, batch_size=args.batch_size, epochs=args.epochs,
                       augment=args.augment, device=args.device, precision=args.precision, seed=args.seed,
                       limit=args.limit, log_every=args.log_every)
