"""How much faster the engine trains than the original tutorial, and how soon the default reaches 99%.

Not a test: a script that prints its figures and ends with one JSON line. Run from the repository root:

    python benchmarks/train_speed.py [--rounds 2] [--device cpu] [--data-dir data]

What it measures, in one process:
1. Alternating (a, b, a, b, ...), `--rounds` times each, medians reported:
   (a) the original tutorial loop verbatim (`mnist_demo.tutorial`): torchvision MNIST + ToTensor +
       DataLoader(batch_size=64, shuffle=True), the tutorial model, CrossEntropyLoss, SGD lr 1e-3, one epoch;
   (b) the engine, `train(make_config("tutorial"), data)`: the same model and hyperparameters, one epoch.
   Epoch times are training only (the test pass is excluded for both); loading the data sets is done once,
   before any clock starts. `speedup` = tutorial_epoch_s / engine_epoch_s.
2. The default preset (`make_config("fast")`), engine, with the test accuracy checked after every epoch:
   `t99_s` is the wall time from the start of that run (evaluation included) until an epoch ends at
   >= 99.0%. The preset trains 1 epoch; if that falls short, the run is repeated with 2, 3, ... epochs
   (up to --max-epochs; the one-cycle schedule spans the whole run, so each length is its own recipe).
   `t99_over_tutorial_epoch` = t99_s / tutorial_epoch_s (< 1: the default reaches 99% before the tutorial has done
   one epoch).
Also printed: `tutorial_loader_s`, one pass of the tutorial's DataLoader without training, the input-pipeline share
of a tutorial epoch (tutorial_epoch_s - tutorial_loader_s is roughly its model compute, which the engine still does).

Targets on a 2-core CPU: speedup >= 5 and t99_over_tutorial_epoch < 1.
"""

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import torch  # noqa: E402

from mnist_demo.cli import Parser, checked  # noqa: E402
from mnist_demo.config import DEFAULT_MAX_EPOCHS, make_config, whole_number  # noqa: E402
from mnist_demo.data import load_mnist  # noqa: E402
from mnist_demo.devices import describe, resolve_device  # noqa: E402
from mnist_demo.train import EpochEnd, train  # noqa: E402
from mnist_demo.tutorial import run_tutorial, tutorial_datasets  # noqa: E402

TARGET_ACCURACY = 0.99  # test accuracy, as a fraction
TARGET_SPEEDUP = 5.0  # engine epoch vs tutorial epoch, same recipe
MAX_EPOCHS = 5  # longest default-preset run tried while looking for 99%


def tutorial_epoch(datasets, device, seed: int) -> dict:
    """(a) One epoch of the tutorial loop; seconds of training and the test accuracy after it."""
    result = run_tutorial(1, device, verbose=False, seed=seed, datasets=datasets)
    return {"epoch_s": result.train_s, "accuracy": result.accuracy}


def loader_epoch(datasets) -> float:
    """Seconds to iterate the tutorial's training DataLoader once without training: the input pipeline's share
    of a tutorial epoch, which the engine does without (its batches are index cuts of tensors on the device)."""
    from mnist_demo.tutorial import tutorial_loaders

    loader, _ = tutorial_loaders(*datasets)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def engine_epoch(data, device, seed: int) -> dict:
    """(b) One epoch of the engine with the tutorial's recipe; seconds of training and the test accuracy."""
    result = train(make_config("tutorial", device=str(device), seed=seed), data)
    return {"epoch_s": result.train_s, "accuracy": result.evaluation.accuracy}


def time_to_target(data, device, epochs: int) -> dict:
    """The default preset trained for `epochs`, stopped at the first epoch that ends >= TARGET_ACCURACY."""
    stop = threading.Event()
    reached = {}

    def on_event(event):
        if isinstance(event, EpochEnd) and not reached and event.evaluation.accuracy >= TARGET_ACCURACY:
            reached.update(t_s=event.elapsed_s, epoch=event.epoch)
            stop.set()

    config = make_config("fast", epochs=epochs, device=str(device))
    result = train(config, data, on_event=on_event, stop=stop)
    accuracies = [round(end.evaluation.accuracy, 4) for end in result.history]
    return {"epochs": epochs, "reached": bool(reached), "t_s": reached.get("t_s", result.elapsed_s),
            "epoch": reached.get("epoch"), "accuracies": accuracies, "model": config.model,
            "train_s": result.train_s}


def main(argv=None) -> int:
    parser = Parser(prog="python benchmarks/train_speed.py", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=checked(whole_number, "rounds", 1, 100), default=2, metavar="N",
                        help="alternating rounds of (a) and (b) (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps (default: %(default)s)")
    parser.add_argument("--data-dir", default="data", help="where MNIST/raw/ lives (default: %(default)s)")
    parser.add_argument("--max-epochs", type=checked(whole_number, "max_epochs", 1, DEFAULT_MAX_EPOCHS),
                        default=MAX_EPOCHS, metavar="N",
                        help="longest default-preset run tried while looking for 99%% (default: %(default)s)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"device: {describe(device)}; torch {torch.__version__}; load average {load}", flush=True)

    datasets = tutorial_datasets(args.data_dir)  # loaded before any clock starts
    data = load_mnist(args.data_dir, device)
    tutorials, engines = [], []
    for round_ in range(args.rounds):
        tutorials.append(tutorial_epoch(datasets, device, seed=round_))
        print(f"round {round_ + 1}: tutorial loop {tutorials[-1]['epoch_s']:.2f} s/epoch "
              f"(acc {100 * tutorials[-1]['accuracy']:.1f}%)", flush=True)
        engines.append(engine_epoch(data, device, seed=round_))
        print(f"round {round_ + 1}: engine       {engines[-1]['epoch_s']:.2f} s/epoch "
              f"(acc {100 * engines[-1]['accuracy']:.1f}%)", flush=True)
    loader_s = loader_epoch(datasets)
    print(f"tutorial DataLoader alone (no training): {loader_s:.2f} s/epoch", flush=True)
    tutorial_s = statistics.median(r["epoch_s"] for r in tutorials)
    engine_s = statistics.median(r["epoch_s"] for r in engines)

    attempts = []
    for epochs in range(1, args.max_epochs + 1):
        attempts.append(time_to_target(data, device, epochs))
        a = attempts[-1]
        print(f"default preset ({a['model']}), {epochs} epoch(s): accuracy by epoch {a['accuracies']}, "
              f"{'reached' if a['reached'] else 'did not reach'} {100 * TARGET_ACCURACY:.1f}% "
              f"after {a['t_s']:.2f} s", flush=True)
        if a["reached"]:
            break
    final = attempts[-1]
    t99 = final["t_s"] if final["reached"] else None
    summary = {
        "device": describe(device), "torch_version": torch.__version__, "load_average_1min": load,
        "rounds": args.rounds,
        "tutorial_epoch_s": round(tutorial_s, 3), "engine_epoch_s": round(engine_s, 3),
        "speedup": round(tutorial_s / engine_s, 2),
        "tutorial_acc": round(statistics.median(r["accuracy"] for r in tutorials), 4),
        "engine_acc": round(statistics.median(r["accuracy"] for r in engines), 4),
        "tutorial_loader_s": round(loader_s, 3),
        "tutorial_epoch_s_rounds": [round(r["epoch_s"], 3) for r in tutorials],
        "engine_epoch_s_rounds": [round(r["epoch_s"], 3) for r in engines],
        "t99_s": None if t99 is None else round(t99, 3),
        "t99_epochs": final["epoch"], "t99_run_epochs": final["epochs"],
        "t99_attempts_s": round(sum(a["t_s"] for a in attempts), 3),
        "t99_over_tutorial_epoch": None if t99 is None else round(t99 / tutorial_s, 3),
        "targets_met": {"speedup>=5": tutorial_s / engine_s >= TARGET_SPEEDUP,
                        "t99_over_tutorial_epoch<1": t99 is not None and t99 < tutorial_s},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
