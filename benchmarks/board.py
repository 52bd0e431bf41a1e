"""What the class board costs the server: one refresh of the Class tab with 200 posted runs (and at the board's bound
of 500), a post, a poll, drawing with a posted model. Prints figures, asserts nothing; the last line is JSON.

The runs are real: a few short trainings of cnn-small (lr 0.01 and 0.001, batch 8 and 64) on MNIST, measured on
200 test images after every step, so each curve has one point per step, at the board's bound of MAX_CURVE_POINTS
(the worst case: an app's 30-second run has about 20); their trained weights are what the posts carry. The board
is filled by cycling through them under different names, in a real SQLite file in a temporary folder.

A refresh is what the tab computes on each redraw (`board_view.refresh` + `curve_frame`): every row sorted, the
best so far for every family, the curves of 12 posts (3 chosen) as a plot's frame.

    python benchmarks/board.py [--posts 200] [--repeats 20] [--steps 200] [--threads 1]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mnist_demo.app.core.board import Board  # noqa: E402
from mnist_demo.app.core.board_rules import MAX_CURVE_POINTS, MAX_POSTS, make_record, pack  # noqa: E402
from mnist_demo.app.core.board_view import curve_frame, refresh  # noqa: E402
from mnist_demo.config import make_config  # noqa: E402
from mnist_demo.data import MNIST, cached_mnist  # noqa: E402
from mnist_demo.train import Progress, evaluate, init_model, train  # noqa: E402

SAMPLE = 200  # test images measured after every step: enough for a curve's shape, quick enough for 800 steps
SETTINGS = [dict(lr=lr, batch_size=batch) for lr in (0.01, 0.001) for batch in (8, 64)]


def real_runs(steps: int) -> list[tuple]:
    """(record, weights) of one short real training per SETTINGS: `steps` steps, accuracy after every one."""
    full = cached_mnist()
    data = MNIST(full.train_images, full.train_labels, full.test_images[:SAMPLE], full.test_labels[:SAMPLE],
                 full.source)
    runs = []
    for settings in SETTINGS:
        config = make_config("fast", device="cpu", limit=steps * settings["batch_size"], log_every=1, **settings)
        model = init_model(config, torch.device("cpu"))
        curve = [(0, 100 * evaluate(model, data.test_images, data.test_labels).accuracy)]

        def on_event(event, model=model, curve=curve, batch=config.batch_size):
            if isinstance(event, Progress):
                curve.append((event.step * batch, 100 * evaluate(model, data.test_images, data.test_labels).accuracy))

        result = train(config, data, on_event=on_event, model=model)
        record = make_record(config, 100 * result.evaluation.accuracy, result.elapsed_s,
                             result.samples_seen / max(result.train_s, 1e-9), curve)
        runs.append((record, pack(result.model, {"model": config.model, "config": config.to_dict()})))
        print(f"  real run lr {config.lr:g} batch {config.batch_size}: {len(curve)} points "
              f"({len(record.curve)} kept), {record.accuracy_pct:.1f}% in {record.elapsed_s:.1f} s", flush=True)
    return runs


def fill(board: Board, runs: list[tuple], start: int, count: int) -> list[float]:
    """Post `count` runs (cycling through `runs`) as different visitors; each post's seconds."""
    times = []
    for i in range(start, start + count):
        record, weights = runs[i % len(runs)]
        began = time.perf_counter()
        board.post(f"visitor-{i}", f"Student {i}", record, weights)
        times.append(time.perf_counter() - began)
    return times


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return times, out


def tab_refresh(board: Board, chosen: list[int]):
    """What one redraw of the Class tab computes."""
    view = refresh(board, sort="accuracy", descending=True, chosen=chosen, family="lr", owner="visitor-7")
    return view, curve_frame(view)


def ms(values: list[float]) -> dict:
    return {"median_ms": round(1000 * statistics.median(values), 3), "max_ms": round(1000 * max(values), 3)}


def measure(path: Path, posts: int, repeats: int) -> dict:
    """Open the board afresh (a restarted server), refresh once cold, then `repeats` times."""
    with Board(path, class_name="benchmark") as board:
        chosen = [p.id for p in board.rows(sort="id")[:3]]
        began = time.perf_counter()
        tab_refresh(board, chosen)
        cold = time.perf_counter() - began
        times, (view, frame) = timed(lambda: tab_refresh(board, chosen), repeats)
        rows, _ = timed(lambda: board.rows(sort="accuracy"), repeats)
        polls, _ = timed(board.revision, repeats)
        kept = [p.id for p in view.rows if p.has_weights]
        models, _ = timed(lambda: board.model(kept[0]), max(3, repeats // 4))
    figures = {"posts": posts, "refresh": ms(times), "refresh_cold_ms": round(1000 * cold, 2),
               "rows_only": ms(rows), "poll_revision": ms(polls), "draw_with_posted_model": ms(models),
               "curves": len(view.curve_ids), "curve_rows": len(frame), "file_mb": round(path.stat().st_size / 1e6, 1)}
    print(f"{posts} posts: refresh median {figures['refresh']['median_ms']} ms, max {figures['refresh']['max_ms']} ms "
          f"(cold, first after opening: {figures['refresh_cold_ms']} ms; {len(view.curve_ids)} curves, "
          f"{len(frame)} points); rows alone {figures['rows_only']['median_ms']} ms; the poll (revision) "
          f"{figures['poll_revision']['median_ms']} ms; a posted model out (checked) "
          f"{figures['draw_with_posted_model']['median_ms']} ms; file {figures['file_mb']} MB", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--steps", type=int, default=MAX_CURVE_POINTS)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"real runs ({args.steps} steps each, accuracy on 200 test images after every step):", flush=True)
    runs = real_runs(args.steps)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "board.db"
        with Board(path, class_name="benchmark") as board:
            post_times = fill(board, runs, 0, args.posts)
        print(f"posting {args.posts} runs with weights: median {1000 * statistics.median(post_times):.1f} ms, "
              f"max {1000 * max(post_times):.1f} ms each (checks, weights checked, one transaction)", flush=True)
        figures = {"posting": ms(post_times), "at_posts": measure(path, args.posts, args.repeats)}
        with Board(path, class_name="benchmark") as board:
            fill(board, runs, args.posts, MAX_POSTS - args.posts)
        figures["at_bound"] = measure(path, MAX_POSTS, args.repeats)
    figures["torch_threads"] = torch.get_num_threads()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
