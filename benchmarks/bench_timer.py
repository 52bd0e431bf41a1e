"""The benchmark's timing loop against torch.utils.benchmark.Timer, on the same operations, in one run.

Usage: python benchmarks/bench_timer.py [--model mlp] [--batch-sizes 1,64,1024] [--runs 20] [--rounds 3]

For each cell (training step, inference; each batch size), in alternating rounds:
- plain: a synchronised loop, time.perf_counter() around each of N calls after 3 warm-up calls, median;
- bench: mnist_demo.bench.core.time_runs (warm-up, synchronise, clock, per-cell budget), median;
- blocked: Timer(...).blocked_autorange(min_run_time=0.5).median;
- adaptive: Timer(...).adaptive_autorange(max_run_time=2).median.
Timer runs with num_threads=torch.get_num_threads() (its default, 1 thread, would time another thing).
Prints medians in ms (the median over rounds) and each one's ratio to the plain loop; never asserts.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

import mnist_demo.bench.core as bench  # noqa: E402
from mnist_demo.models import build_model  # noqa: E402


def plain(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)  # cpu: nothing queued, nothing to synchronise
    return statistics.median(times)


def handmade(fn, runs: int) -> float:
    return statistics.median(bench.time_runs(fn, torch.device("cpu"), runs, 3, None))


def timer(fn) -> Timer:
    return Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())


METHODS = {"plain": plain, "bench": handmade,
           "blocked": lambda fn, runs: timer(fn).blocked_autorange(min_run_time=0.5).median,
           "adaptive": lambda fn, runs: timer(fn).adaptive_autorange(max_run_time=2).median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--batch-sizes", default="1,64,1024")
    parser.add_argument("--runs", type=int, default=20, help="timed calls for plain and bench (default: 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: 3)")
    args = parser.parse_args()
    device = torch.device("cpu")
    model = build_model(args.model)
    optimizer = bench.make_optimizer(args.model, model)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}; "
          f"medians in ms over {args.rounds} alternating rounds")
    print(f"{'cell':<22}" + "".join(f"{m:>10}" for m in METHODS) + "".join(f"{m + '/plain':>16}"
                                                                          for m in list(METHODS)[1:]))
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        for op, make in ((bench.TRAIN, lambda: bench.make_train_step(model, optimizer, batch, device)),
                         (bench.INFER, lambda: bench.make_inference(model, batch, device))):
            fn = make()
            got = {m: [] for m in METHODS}
            for _ in range(args.rounds):
                for name, method in METHODS.items():
                    got[name].append(1000 * method(fn, args.runs))
            med = {m: statistics.median(v) for m, v in got.items()}
            print(f"{bench.OP_LABELS[op] + ' @' + str(batch):<22}" + "".join(f"{med[m]:>10.3f}" for m in METHODS)
                  + "".join(f"{med[m] / med['plain']:>16.2f}" for m in list(METHODS)[1:]))


if __name__ == "__main__":
    main()
