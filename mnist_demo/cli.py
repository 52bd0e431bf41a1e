"""The command line: `python -m mnist_demo train|evaluate|predict|bench|models`. A thin layer over the engine.

Exit status: 0 done, 1 the work failed (data missing, training diverged, unreadable checkpoint), 2 bad arguments.
"""

import argparse
import json
import sys

from mnist_demo.errors import CheckpointError, ConfigError, DemoError, DeviceError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one readable line and exits 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _literal(text: str) -> str:
    """Text for argparse's help as written: argparse %-formats help, so a bare `%` (as in "99%") must be doubled."""
    return text.replace("%", "%%")


def _add_train(sub) -> None:
    from mnist_demo.config import MAX_BATCH_SIZE, PRESET_HELP, PRESETS

    p = sub.add_parser("train", help="train a model and optionally save it",
                       description="Train on MNIST. Any option left out comes from the preset.")
    p.add_argument("--preset", default=None, help=_literal("; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()))
                   + f" (default: fast; one of {', '.join(PRESETS)})")
    p.add_argument("--model", help="tutorial, mlp or cnn (see `models`)")
    p.add_argument("--optimizer", help="sgd or adam")
    p.add_argument("--lr", help="peak learning rate, in (0, 10]")
    p.add_argument("--momentum", help="SGD momentum, 0 to 0.999")
    p.add_argument("--weight-decay", help="L2 weight decay, 0 to 1")
    p.add_argument("--schedule", help="constant or onecycle")
    p.add_argument("--warmup", help="one-cycle warm-up, the share of steps (0 to 0.9; default 0.25)")
    p.add_argument("--batch-size", help=f"samples per step, 1 to {MAX_BATCH_SIZE}")
    p.add_argument("--epochs", help="passes over the training set")
    p.add_argument("--max-epochs", type=int, default=50, help="the cap on --epochs (default 50)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts, rotations, scaling and stroke width on each batch")
    p.add_argument("--device", help="cpu, cuda or mps (default: the fastest present)")
    p.add_argument("--precision", help="auto (bf16 mixed precision where measured faster), fp32 or bf16")
    p.add_argument("--seed", help="random seed (a whole number)")
    p.add_argument("--limit", help="train on the first N samples only")
    p.add_argument("--log-every", help="batches between log lines (tutorial: 100)")
    p.add_argument("--out", metavar="NAME", help="save the model as checkpoints/NAME.pt")
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives (default: data, else the bundled copy)")
    p.add_argument("--no-download", action="store_true", help="never try torchvision's download")
    p.add_argument("--checkpoint-dir", default=None, help="where checkpoints go (default: checkpoints/)")
    p.add_argument("--json", action="store_true", help="end with one JSON summary line")
    p.set_defaults(run=cmd_train)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="test a saved checkpoint on the MNIST test set")
    p.add_argument("--checkpoint", default="default", help="checkpoint name (default: default)")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_evaluate)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="read digits from image files (PNG, JPEG, ...)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", default="default", help="checkpoint name (default: default)")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--json", action="store_true", help="one JSON line per image")
    p.set_defaults(run=cmd_predict)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)


def _add_bench(sub) -> None:
    from mnist_demo import bench_report

    p = sub.add_parser("bench", help="CPU vs CUDA timing comparison")
    bench_report.add_arguments(p)
    p.set_defaults(run=bench_report.run_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mnist_demo", description="mnist-demo: train, test and use MNIST models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_train, _add_evaluate, _add_predict, _add_bench, _add_models):
        add(sub)
    return parser


def _checkpoint_dir(args):
    from mnist_demo.checkpoints import DEFAULT_DIR

    return args.checkpoint_dir or DEFAULT_DIR


class _Reporter:
    """Prints the tutorial's log lines to stdout and, on a terminal, a progress bar to stderr."""

    def __init__(self, quiet_bar: bool):
        self.bar = sys.stderr.isatty() and not quiet_bar

    def __call__(self, event) -> None:
        from mnist_demo.train import EpochEnd, Progress

        if isinstance(event, Progress):
            self._clear()
            if event.batch == 0:
                print(f"Epoch {event.epoch}/{event.epochs}\n-------------------------------", flush=True)
            print(event.log_line(), flush=True)
            if self.bar:
                done = event.step / event.total_steps
                sys.stderr.write(f"\r[{'#' * int(30 * done):<30}] {100 * done:5.1f}%  "
                                 f"{event.samples_per_s:,.0f} samples/s  eta {event.eta_s:4.0f}s")
                sys.stderr.flush()
        elif isinstance(event, EpochEnd):
            self._clear()
            note = " (stopped early)" if event.partial else ""
            print(event.evaluation.log_lines().rstrip() + note + "\n", flush=True)

    def _clear(self) -> None:
        if self.bar:
            sys.stderr.write("\r" + " " * 72 + "\r")


def cmd_train(args) -> int:
    from mnist_demo.checkpoints import checkpoint_path, metadata, save_checkpoint
    from mnist_demo.config import make_config
    from mnist_demo.data import load_mnist
    from mnist_demo.devices import resolve_device
    from mnist_demo.train import train

    config = make_config(args.preset, max_epochs=args.max_epochs, model=args.model, optimizer=args.optimizer,
                         lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                         schedule=args.schedule, warmup=args.warmup, batch_size=args.batch_size, epochs=args.epochs,
                         augment=args.augment, device=args.device, precision=args.precision, seed=args.seed,
                         limit=args.limit, log_every=args.log_every)
    if args.out:
        try:  # refuse a bad name before any work
            checkpoint_path(args.out, _checkpoint_dir(args))
        except CheckpointError as err:
            raise ConfigError("out", str(err)) from None
    device = resolve_device(config.device)
    data = load_mnist(args.data_dir, device, download=not args.no_download)
    result = train(config, data, on_event=_Reporter(quiet_bar=args.json))
    print("Done!" if not result.stopped else "Stopped.")
    summary = result.summary()
    if args.out:
        meta = metadata(config.to_dict(), result.evaluation, result.epochs_completed, result.steps,
                        preset=args.preset or "fast")
        summary["checkpoint"] = str(save_checkpoint(result.model, args.out, meta, _checkpoint_dir(args)))
        print(f"Saved {summary['checkpoint']}")
    if args.json:
        print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    from mnist_demo.checkpoints import load_checkpoint
    from mnist_demo.data import load_mnist
    from mnist_demo.devices import resolve_device
    from mnist_demo.train import evaluate

    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.checkpoint, _checkpoint_dir(args))
    data = load_mnist(args.data_dir, device)
    result = evaluate(checkpoint.model.to(device), data.test_images, data.test_labels)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "model": checkpoint.meta["model"],
                          "accuracy": result.accuracy, "avg_loss": result.avg_loss,
                          "per_class": result.per_class}))
        return 0
    print(f"{checkpoint.name} ({checkpoint.meta['model']}) on {result.total} test images")
    print(result.log_lines().rstrip())
    for digit, acc in enumerate(result.per_class):
        print(f"  digit {digit}: {100 * acc:5.1f}%")
    return 0


def cmd_predict(args) -> int:
    from mnist_demo.predict import Predictor, predict_files

    predictor = Predictor.from_checkpoint(args.checkpoint, _checkpoint_dir(args))
    rows = predict_files(args.images, predictor)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        elif "error" in row:
            print(f"{row['file']}: {row['error']}")
        else:
            print(f"{row['file']}: {row['digit']} ({100 * row['probability']:.1f}%)")
    return 1 if all("error" in row for row in rows) else 0


def cmd_models(args) -> int:
    from mnist_demo.models import describe_models

    rows = describe_models()
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(f"{row['name']:<9} {row['parameters']:>9,} parameters  {row['description']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, DeviceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
