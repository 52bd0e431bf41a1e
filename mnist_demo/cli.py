"""The command line: `python -m mnist_demo train|export|evaluate|predict|finetune|bench|models`. A thin layer over
the engine.

Exit status: 0 done, 1 the work failed (data missing, training diverged, unreadable checkpoint), 2 bad arguments.
"""

import argparse
import json
import sys

# MANY and checked also type demo.py's and the benchmarks' flags, which import them from here
from mnist_demo.cli_options import MANY, add_run_options, checked, literal, run_config  # noqa: F401
from mnist_demo.errors import CheckpointError, ConfigError, DemoError, DeviceError


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one readable line and exits 2 (this CLI's and demo.py's)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_data_dir(p) -> None:
    p.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives (default: %(default)s, else the "
                   "bundled copy)")


def _add_checkpoint_dir(p) -> None:
    p.add_argument("--checkpoint-dir", default=None, help="where checkpoints are saved and read (default: "
                   "checkpoints/)")


def _add_checkpoint(p) -> None:
    p.add_argument("--checkpoint", default="default", metavar="NAME", help="checkpoint name (default: %(default)s)")
    _add_checkpoint_dir(p)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model and optionally save it",
                       description="Train on MNIST. Any option left out comes from the preset.")
    add_run_options(p)
    p.add_argument("--out", metavar="NAME", help="save the model as checkpoints/NAME.pt")
    _add_data_dir(p)
    p.add_argument("--no-download", action="store_true", help="never try torchvision's download")
    _add_checkpoint_dir(p)
    p.add_argument("--json", action="store_true", help="end with one JSON summary line")
    p.set_defaults(run=cmd_train)


def _add_export(sub) -> None:
    from mnist_demo.config import choice
    from mnist_demo.export import LANGUAGES

    p = sub.add_parser("export", help="write a training run as a PyTorch script or notebook to run anywhere",
                       description="Write the training run that the options describe (as for `train`: any option "
                       "left out comes from the preset) as a Python script that needs only torch and torchvision, "
                       "and/or as a Jupyter notebook of the same code. With neither --out nor --notebook the "
                       "script goes to stdout. A file that exists is left alone (exit 2) unless --force is given.")
    add_run_options(p)
    p.add_argument("--out", metavar="FILE", help="write the script to FILE (e.g. run.py)")
    p.add_argument("--notebook", metavar="FILE", help="write the notebook to FILE (e.g. run.ipynb)")
    p.add_argument("--lang", type=checked(choice, "lang", LANGUAGES), default="en", metavar="|".join(LANGUAGES),
                   help="the language of the notebook's explanations (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace --out and --notebook files that exist")
    p.set_defaults(run=cmd_export)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="test a saved checkpoint on the MNIST test set")
    _add_checkpoint(p)
    _add_data_dir(p)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest present)")
    p.add_argument("--confusion", action="store_true", help="also print the 10x10 confusion matrix (rows: true "
                   "digit, columns: predicted digit)")
    p.add_argument("--json", action="store_true", help="one JSON line: accuracy, avg_loss, per_class and, always, "
                   "\"confusion\" (10 rows of 10 counts, rows = true digit)")
    p.set_defaults(run=cmd_evaluate)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="read digits from image files (PNG, JPEG, ...)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _add_checkpoint(p)
    p.add_argument("--json", action="store_true", help="one JSON line per image: \"image\" (the path as given), "
                   "\"digit\", \"probability\" and \"probabilities\", or \"image\" and \"error\"")
    p.set_defaults(run=cmd_predict)


def _add_finetune(sub) -> None:
    from mnist_demo.config import whole_number
    from mnist_demo.finetune import DEFAULT_STEPS, MAX_DRAWINGS, MAX_STEPS

    p = sub.add_parser("finetune", help="fine-tune a checkpoint on your own digit images",
                       description=literal(f"Fine-tune a checkpoint on the images in DIR (ImageFolder layout: "
                                            f"subfolders 0 to 9, at most {MAX_DRAWINGS} images), mixed with "
                                            "MNIST so it does not forget, and save the result. Prints accuracy "
                                            "on DIR and on MNIST test before and after (on DIR: on a fifth "
                                            "held aside when every digit has at least 5 images)."))
    p.add_argument("directory", metavar="DIR", help="folder with subfolders 0 ... 9 of images (PNG, JPEG, ...)")
    _add_checkpoint(p)
    p.add_argument("--out", required=True, metavar="NEW", help="save the fine-tuned model as NEW")
    p.add_argument("--steps", type=checked(whole_number, "steps", 1, MAX_STEPS), default=DEFAULT_STEPS,
                   metavar="N", help=f"training steps, 1 to {MAX_STEPS} (default: %(default)s)")
    p.add_argument("--seed", type=checked(whole_number, "seed", 0, 2**63 - 1), default=0, metavar="N",
                   help="random seed (default: %(default)s)")
    _add_data_dir(p)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest present)")
    p.add_argument("--json", action="store_true", help="end with one JSON summary line")
    p.set_defaults(run=cmd_finetune)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the model registry")
    p.add_argument("--json", action="store_true", help="one JSON list")
    p.set_defaults(run=cmd_models)


def _add_bench(sub) -> None:
    from mnist_demo.bench import (
        DEFAULT_BATCH_SIZES,
        DEFAULT_MODEL,
        DEFAULT_REPEATS,
        DEFAULT_TIME_BUDGET_S,
        DEFAULT_WARMUP,
    )
    from mnist_demo.models import MODELS

    p = sub.add_parser("bench", help="CPU vs CUDA timing comparison",
                       description="Time a training step and an inference pass per device and batch size.")
    # Strings, checked when the run starts by the benchmark's own checks (bench/options.py), which name the field.
    p.add_argument("--devices", default=None, help="comma-separated cpu, cuda, mps (default: cpu,cuda and mps where "
                   "present; cpu always runs, as the baseline; an absent device is listed as not available)")
    p.add_argument("--batch-sizes", default=",".join(map(str, DEFAULT_BATCH_SIZES)),
                   help="comma-separated, each 1 to 65536 and within this host's memory cap: a batch size whose "
                   "training step is estimated to need more than half the available memory is refused before "
                   "anything runs (default: %(default)s)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"one of {', '.join(MODELS)} (default: {DEFAULT_MODEL}: the tutorial's MLP, quick on cpu)")
    p.add_argument("--repeats", default=str(DEFAULT_REPEATS), help="timed runs per cell, 1 to 1000 (default: "
                   "%(default)s)")
    p.add_argument("--warmup", default=str(DEFAULT_WARMUP), help="untimed runs per cell first, 0 to 100 (default: "
                   "%(default)s)")
    p.add_argument("--time-budget", default=str(DEFAULT_TIME_BUDGET_S), help="seconds of timed work per cell "
                   "before repeats stop (at least 3 runs); 'none' for no cap (default: %(default)s)")
    p.add_argument("--epoch", action="store_true", help="add a full-epoch comparison: tutorial loop vs engine "
                   "(~15-20 s more on cpu)")
    p.add_argument("--data-dir", default=None, help="where MNIST/raw/ lives, for --epoch (default: data)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.set_defaults(run=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m mnist_demo", description="mnist-demo: train, test and use MNIST models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (_add_train, _add_export, _add_evaluate, _add_predict, _add_finetune, _add_bench, _add_models):
        add(sub)
    return parser


def _checkpoint_dir(args):
    from mnist_demo.checkpoints import DEFAULT_DIR

    return args.checkpoint_dir or DEFAULT_DIR


class _Reporter:
    """Prints the tutorial's log lines to stdout and, on a terminal, a tqdm progress bar to stderr."""

    def __init__(self, quiet_bar: bool):
        self.show_bar = sys.stderr.isatty() and not quiet_bar
        self.bar = None

    def __call__(self, event) -> None:
        from mnist_demo.train import EpochEnd, Progress, epoch_header

        if isinstance(event, Progress):
            if self.show_bar:  # first, so that the bar drawn again under the log lines is up to date
                if self.bar is None:
                    from tqdm import tqdm

                    self.bar = tqdm(total=event.total_steps, unit="step", file=sys.stderr, leave=False)
                self.bar.set_postfix_str(f"{event.samples_per_s:,.0f} samples/s", refresh=False)
                self.bar.update(event.step - self.bar.n)
            if event.batch == 0:
                self._print(epoch_header(event.epoch))
            self._print(event.log_line())
        elif isinstance(event, EpochEnd):
            self._print(event.log_lines())

    def _print(self, text: str) -> None:
        """A log line on stdout; the bar, if any, steps aside for it."""
        if self.bar is None:
            print(text, flush=True)
        else:
            self.bar.write(text, file=sys.stdout)
            sys.stdout.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_train(args) -> int:
    from mnist_demo.checkpoints import checkpoint_path, metadata, save_checkpoint
    from mnist_demo.data import load_mnist
    from mnist_demo.devices import resolve_device
    from mnist_demo.train import train

    config = run_config(args)
    if args.out:
        try:  # refuse a bad name before any work
            checkpoint_path(args.out, _checkpoint_dir(args))
        except CheckpointError as err:
            raise ConfigError("out", str(err)) from None
    device = resolve_device(config.device)
    data = load_mnist(args.data_dir, device, download=not args.no_download)
    reporter = _Reporter(quiet_bar=args.json)
    try:
        result = train(config, data, on_event=reporter)
    finally:
        reporter.close()
    print("Done!" if not result.stopped else "Stopped.")
    summary = result.summary()
    if args.out:
        meta = metadata(config.to_dict(), result.evaluation, result.epochs_completed, result.steps,
                        preset=args.preset)
        summary["checkpoint"] = str(save_checkpoint(result.model, args.out, meta, _checkpoint_dir(args)))
        print(f"Saved {summary['checkpoint']}")
    if args.json:
        print(json.dumps(summary))
    return 0


def cmd_export(args) -> int:
    from mnist_demo.export import check, save, script

    config = run_config(args)
    if args.out is None and args.notebook is None:
        sys.stdout.write(script(check(config)))
        return 0
    for path in save(config, args.out, args.notebook, lang=args.lang, force=args.force):
        print(f"Wrote {path}")
    return 0


def cmd_evaluate(args) -> int:
    from mnist_demo.checkpoints import load_checkpoint
    from mnist_demo.data import load_mnist
    from mnist_demo.devices import resolve_device
    from mnist_demo.mistakes import format_matrix
    from mnist_demo.train import evaluate

    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.checkpoint, _checkpoint_dir(args))
    data = load_mnist(args.data_dir, device)
    result = evaluate(checkpoint.model.to(device), data.test_images, data.test_labels)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "model": checkpoint.meta["model"],
                          "accuracy": result.accuracy, "avg_loss": result.avg_loss,
                          "per_class": result.per_class, "confusion": result.confusion}))
        return 0
    print(f"{checkpoint.name} ({checkpoint.meta['model']}) on {result.total} test images")
    print(result.log_lines().rstrip())
    for digit, acc in enumerate(result.per_class):
        print(f"  digit {digit}: {100 * acc:5.1f}%")
    if args.confusion:
        print("\nConfusion matrix (rows: true digit, columns: predicted digit)")
        print(format_matrix(result.confusion))
    return 0


def cmd_predict(args) -> int:
    from mnist_demo.predict import Predictor, predict_files

    predictor = Predictor.from_checkpoint(args.checkpoint, _checkpoint_dir(args))
    rows = predict_files(args.images, predictor)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        elif "error" in row:
            print(f"{row['image']}: {row['error']}")
        else:
            print(f"{row['image']}: {row['digit']} ({100 * row['probability']:.1f}%)")
    return 1 if all("error" in row for row in rows) else 0


def cmd_finetune(args) -> int:
    from mnist_demo.checkpoints import checkpoint_path, load_checkpoint, save_checkpoint
    from mnist_demo.data import load_mnist
    from mnist_demo.devices import resolve_device
    from mnist_demo.finetune import finetune, finetune_meta
    from mnist_demo.image_folders import read_image_folder

    try:  # refuse a bad name before any work
        checkpoint_path(args.out, _checkpoint_dir(args))
    except CheckpointError as err:
        raise ConfigError("out", str(err)) from None
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.checkpoint, _checkpoint_dir(args))
    images, labels = read_image_folder(args.directory)
    data = load_mnist(args.data_dir, device)
    print(f"{len(images)} images from {args.directory}; fine-tuning {checkpoint.name} for {args.steps} steps",
          flush=True)
    reporter = _Reporter(quiet_bar=args.json)
    try:
        result = finetune(checkpoint.model, images, labels, data, steps=args.steps, seed=args.seed,
                          on_event=reporter, device=device)
    finally:
        reporter.close()
    measured = (f"on the {result.held_out} held aside" if result.held_out
                else "on the images trained on (too few of some digit to hold any aside)")
    print(f"{args.directory} ({measured}): {100 * result.before:.1f}% -> {100 * result.after:.1f}%")
    print(f"MNIST test: {100 * result.mnist_before:.2f}% -> {100 * result.mnist_after:.2f}%")
    summary = result.summary()
    meta = finetune_meta(checkpoint.meta, result, checkpoint.name)
    summary["checkpoint"] = str(save_checkpoint(result.model, args.out, meta, _checkpoint_dir(args)))
    print(f"Saved {summary['checkpoint']} ({result.steps} steps, {result.train_s:.1f} s)")
    if args.json:
        print(json.dumps(summary))
    return 0


def cmd_bench(args) -> int:
    from mnist_demo.bench import format_plot, format_table, parse_batch_sizes, parse_devices, run_benchmark

    no_cap = str(args.time_budget).strip().lower() in ("none", "off")
    report = run_benchmark(devices=parse_devices(args.devices), batch_sizes=parse_batch_sizes(args.batch_sizes),
                           model=args.model, repeats=args.repeats, warmup=args.warmup,
                           time_budget_s=None if no_cap else args.time_budget, epoch=args.epoch,
                           data_dir=args.data_dir)
    if args.json:
        print(json.dumps(report))
        return 0
    plot = format_plot(report)
    print(format_table(report) + ("\n\n" + plot if plot else ""))
    return 0


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
