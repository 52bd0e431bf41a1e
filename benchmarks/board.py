"""What the class board costs the server: one refresh of the Class tab with 200 posted runs (and at the board's bound
of 500), a post, a poll, drawing with a posted model. Prints figures, asserts nothing; the last line is JSON.

The runs are real: a few short trainings of cnn-small (lr 0.01 and 0.001, batch 8 and 64) on MNIST, measured on
200 test images after every step, so each curve has one point per step, at the board's bound of MAX_CURVE_POINTS
(the worst case: an app's 30-second run has about 20); their trained weights are what the posts carry. The board
is filled by cycling through them under different names, in a real SQLite file in a temporary folder.

A refresh is what the tab computes on each redraw (`board_view.refresh` + `curve_frame`): every row sorted, the
best so far for every family, the curves of 12 posts (3 chosen) as a plot's frame.

The tab's whole redraw is the Class tab's own handler (`tabs/board/view.Redraw`, taken from the built app) for one
visitor: the refresh, the table's frame in the visitor's language, the pickers, the curves' frame and colours, the
best-so-far text; then what Gradio does with it before it leaves the server (the table, the plot and the texts
postprocessed, the message as JSON), and the chained step that sends the plot's colours. Gradio's queue itself
(its event loop, the page's connection) is not in it.

    python benchmarks/board.py [--posts 200] [--repeats 20] [--steps 200] [--threads 1]
"""

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mnist_demo.app.core.board.rules import MAX_CURVE_POINTS, MAX_POSTS, make_record, pack  # noqa: E402
from mnist_demo.app.core.board.store import Board  # noqa: E402
from mnist_demo.app.core.board.view import curve_frame, refresh  # noqa: E402
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


class TabRedraw:
    """The Class tab's redraw handler of an app built over the board at `path` (nothing launched), for one visitor
    who chose 3 posts to highlight."""

    def __init__(self, path: Path, chosen: list[int]):
        import gradio as gr

        from mnist_demo.app.core.settings import Settings
        from mnist_demo.app.core.visitor import Visitor
        from mnist_demo.app.page import build_app
        from mnist_demo.app.tabs.board.view import Redraw

        self.gr = gr
        self.folder = tempfile.TemporaryDirectory()
        self.demo = build_app(Settings(checkpoint_dir=self.folder.name, board_file=str(path), class_name="benchmark",
                                       scheduler=None))
        self.redraw = next(f.fn for f in self.demo.fns.values() if isinstance(f.fn, Redraw))
        self.visitor = Visitor()
        self.chosen = [str(i) for i in chosen]

    def handler(self) -> dict:
        return self.redraw("accuracy", True, self.chosen, "lr", self.visitor)

    def sent(self) -> bytes:
        """The handler, then Gradio's postprocessing of its values and the message as JSON, then the chained step's
        (the plot's colours)."""
        out = {}
        for component, value in self.handler().items():
            if isinstance(value, dict):  # the tab's state: kept on the server
                continue
            if isinstance(value, self.gr.components.Component):  # a picker's update: its choices travel
                out[str(component._id)] = {"choices": getattr(value, "choices", None)}
                continue
            data = component.postprocess(value)
            out[str(component._id)] = data.model_dump() if hasattr(data, "model_dump") else data
        style = self.redraw.style({"colours": {}, "pending": True}, self.visitor)
        return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY) + orjson.dumps(len(style))

    def close(self) -> None:
        self.demo.mnist_context.close()
        self.folder.cleanup()


def timed_apart(fn, repeats: int) -> tuple[list[float], list[float], object]:
    """`timed`, with the calls during which Python ran a full (generation 2) garbage collection set apart: one
    walks the whole process's heap (torch, gradio, the app: ~200 ms here, measured with gc off against on) every
    few dozen handler calls, whatever the handler; (calls without one, calls with one, the last result)."""
    full = []

    def note(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(True)
    gc.callbacks.append(note)
    try:
        plain, collected, out = [], [], None
        for _ in range(repeats):
            full.clear()
            began = time.perf_counter()
            out = fn()
            (collected if full else plain).append(time.perf_counter() - began)
    finally:
        gc.callbacks.remove(note)
    return plain, collected, out


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
    tab = TabRedraw(path, chosen)
    try:
        handler, _ = timed(tab.handler, repeats)
        whole, with_gc, message = timed_apart(tab.sent, repeats)
    finally:
        tab.close()
    figures = {"posts": posts, "refresh": ms(times), "refresh_cold_ms": round(1000 * cold, 2),
               "rows_only": ms(rows), "poll_revision": ms(polls), "draw_with_posted_model": ms(models),
               "tab_handler": ms(handler), "tab_redraw_sent": ms(whole),
               "tab_redraw_with_full_gc": {"calls": len(with_gc), **(ms(with_gc) if with_gc else {})},
               "message_kb": round(len(message) / 1024, 1),
               "curves": len(view.curve_ids), "curve_rows": len(frame), "file_mb": round(path.stat().st_size / 1e6, 1)}
    print(f"{posts} posts: refresh median {figures['refresh']['median_ms']} ms, max {figures['refresh']['max_ms']} ms "
          f"(cold, first after opening: {figures['refresh_cold_ms']} ms; {len(view.curve_ids)} curves, "
          f"{len(frame)} points); rows alone {figures['rows_only']['median_ms']} ms; the poll (revision) "
          f"{figures['poll_revision']['median_ms']} ms; a posted model out (checked) "
          f"{figures['draw_with_posted_model']['median_ms']} ms; file {figures['file_mb']} MB", flush=True)
    print(f"{posts} posts, the Class tab's whole redraw: the handler median {figures['tab_handler']['median_ms']} ms, "
          f"max {figures['tab_handler']['max_ms']} ms; with Gradio's postprocessing and the JSON message "
          f"({figures['message_kb']} KB) median {figures['tab_redraw_sent']['median_ms']} ms, "
          f"max {figures['tab_redraw_sent']['max_ms']} ms (of {len(whole)} calls; {len(with_gc)} more had Python's "
          f"full garbage collection in them" + (f", max {1000 * max(with_gc):.0f} ms)" if with_gc else ")"), flush=True)
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
