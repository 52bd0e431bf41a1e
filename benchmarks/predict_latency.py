"""Server-side latency of one drawing's prediction: preprocess (800x800 RGBA Sketchpad) + CNN forward.

Usage: python benchmarks/predict_latency.py [--n 200] [--threads N] [--checkpoint-dir DIR]
Uses the shipped checkpoints/default.pt when present, else trains a quick model (and says so).
Prints a short summary, then as its last line one JSON object (median_ms, p95_ms, n, threads, ...).
Target: median <= 20 ms on a 2-core CPU.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mnist_demo.checkpoints import DEFAULT_DIR  # noqa: E402
from mnist_demo.errors import CheckpointError  # noqa: E402
from mnist_demo.predict import Predictor, cached_predictor  # noqa: E402
from mnist_demo.preprocess import to_mnist  # noqa: E402
from tests.support.digits import draw  # noqa: E402

TARGET_MS = 20.0


def sketch(size: int = 800) -> np.ndarray:
    """A "7" as Gradio's Sketchpad returns it (type="numpy"): black strokes in alpha, RGB 0 elsewhere."""
    s = size / 800
    return np.array(draw(7, size=(size, size), box=(200 * s, 170 * s, 380 * s, 470 * s), width=round(36 * s),
                         mode="alpha"))


def load_predictor(directory: Path) -> tuple[Predictor, str]:
    try:
        return cached_predictor(directory=directory), f"shipped checkpoint {directory / 'default.pt'}"
    except CheckpointError as err:
        print(f"{err}\nTraining a quick 'fast' model on 10000 samples instead...", flush=True)
    from mnist_demo.config import make_config
    from mnist_demo.data import cached_mnist
    from mnist_demo.train import train

    result = train(make_config("fast", limit=10000), cached_mnist())
    return Predictor(result.model, "quick-fast-10k"), "a quick 'fast' model trained just now (10000 samples)"


def timings_ms(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed predictions (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed predictions first (default 20)")
    parser.add_argument("--size", type=int, default=800, help="canvas side in pixels (default 800)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--checkpoint-dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    predictor, source = load_predictor(args.checkpoint_dir)
    image = sketch(args.size)
    prepared = to_mnist(image)
    for _ in range(args.warmup):
        predictor.predict(image)
    total = timings_ms(lambda: predictor.predict(image), args.n)
    preprocess = timings_ms(lambda: to_mnist(image), args.n)
    forward = timings_ms(lambda: predictor.probabilities(prepared.tensor), args.n)
    answer = predictor.predict(image)

    median, p95 = statistics.median(total), percentile(total, 95)
    threads = torch.get_num_threads()
    print(f"model: {source}")
    print(f"input: {args.size}x{args.size} RGBA sketch of a 7 -> predicted {answer.digit} "
          f"({100 * answer.confidence:.1f}%)")
    print(f"{args.n} predictions, {threads} torch threads: median {median:.2f} ms, p95 {p95:.2f} ms "
          f"(preprocess {statistics.median(preprocess):.2f} ms + forward {statistics.median(forward):.2f} ms); "
          f"target median <= {TARGET_MS:g} ms: {'met' if median <= TARGET_MS else 'MISSED'}")
    print(json.dumps({"median_ms": round(median, 3), "p95_ms": round(p95, 3), "n": args.n, "threads": threads,
                      "preprocess_median_ms": round(statistics.median(preprocess), 3),
                      "forward_median_ms": round(statistics.median(forward), 3),
                      "max_ms": round(max(total), 3), "size": args.size, "digit": answer.digit,
                      "model": predictor.name, "target_ms": TARGET_MS, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
