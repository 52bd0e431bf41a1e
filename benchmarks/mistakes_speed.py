"""How much "where it goes wrong" and "a look inside" cost. Prints figures, asserts nothing.

1. `train.evaluate` on the whole test set against the bare forward passes it makes and against the earlier
   evaluate that kept only hit counts (what keeping each image's prediction, its probability and the confusion
   matrix adds to the end-of-epoch pass).
2. `inside.look_inside` for one drawing, for every registered model and the shipped one.
3. With --app: the Mistakes tab through a running `demo.py` (tests/support/app_server.py), the answer's round trip
   (images not downloaded): a finished run's matrix and galleries (its last evaluation reused), the shipped
   model's first view (its pass made at start-up, in the background: the time from start until it is ready too)
   and again (cached). `--app-only` skips 1 and 2.

    python benchmarks/mistakes_speed.py [--threads 1] [--app | --app-only]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mnist_demo.checkpoints import load_checkpoint  # noqa: E402
from mnist_demo.cli import Parser  # noqa: E402
from mnist_demo.data import cached_mnist, normalize  # noqa: E402
from mnist_demo.look_inside import look_inside  # noqa: E402
from mnist_demo.models import MODELS, build_model  # noqa: E402
from mnist_demo.preprocess import to_mnist  # noqa: E402
from mnist_demo.train import EVAL_BATCH, evaluate  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@torch.no_grad()
def forward_only(model, images):
    model.eval()
    for start in range(0, len(images), EVAL_BATCH):
        model(normalize(images[start:start + EVAL_BATCH]))


@torch.no_grad()
def hits_only(model, images, labels):
    """`train.evaluate` as it was before it kept predictions: loss and per-digit hits (the reference)."""
    model.eval()
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    total_loss = torch.zeros((), device=images.device)
    hits = torch.zeros(10, device=images.device)
    for start in range(0, len(images), EVAL_BATCH):
        x, y = normalize(images[start:start + EVAL_BATCH]), labels[start:start + EVAL_BATCH]
        logits = model(x)
        total_loss += loss_fn(logits, y)
        hits += torch.bincount(y[logits.argmax(1) == y], minlength=10).float()
    return float(total_loss), hits.tolist()


def evaluation_cost(data, repeats: int) -> None:
    # on a shared machine the fastest run is the one least disturbed by others: medians and fastest both printed
    print("the 10,000 test images: bare forward passes, the earlier evaluate (hits only), evaluate (ms, "
          "interleaved):")
    for name, model in (("shipped cnn", load_checkpoint("default").model), ("mlp", build_model("mlp"))):
        x, y = data.test_images, data.test_labels
        runs = {"forward": (lambda: forward_only(model, x)), "hits only": (lambda: hits_only(model, x, y)),
                "evaluate": (lambda: evaluate(model, x, y))}
        times = {key: [] for key in runs}
        for _ in range(repeats):
            for key, fn in runs.items():
                times[key].append(median_ms(fn, 1))
        medians = "  ".join(f"{k} {statistics.median(v):7.1f}" for k, v in times.items())
        fastest = "  ".join(f"{k} {min(v):7.1f}" for k, v in times.items())
        print(f"  {name:<12} median: {medians}\n  {'':<12} fastest: {fastest}")


def inside_cost(repeats: int) -> None:
    from tests.support.digits import draw

    x = to_mnist(draw(7)).tensor
    print("look_inside for one drawing (median ms):")
    models = [(name, build_model(name).eval()) for name in MODELS] + [("shipped", load_checkpoint("default").model)]
    for name, model in models:
        print(f"  {name:<10} {median_ms(lambda: look_inside(model, x), repeats):6.2f}")
    print(f"  (preprocessing the drawing: {median_ms(lambda: to_mnist(draw(7)), repeats):.2f} ms, drawing included)")


def app_cost(repeats: int) -> None:
    from gradio_client import Client

    from tests.support.app_server import TINY, Server, make_default_checkpoint, wait_for

    tmp = Path(tempfile.mkdtemp())
    make_default_checkpoint(tmp / "checkpoints")
    started = time.monotonic()
    server = Server(tmp, "--checkpoint-dir", str(tmp / "checkpoints"))
    try:
        # the images stay on the server, as a browser fetches them in parallel after the answer
        client = Client(server.url, verbose=False, download_files=False)

        def call(choice):
            start = time.perf_counter()
            client.predict(choice, api_name="/mistakes")
            return 1000 * (time.perf_counter() - start)

        print("the Mistakes tab through the app (round trip, ms):")
        ready = wait_for(lambda: "shipped model is ready" in server.output(), 120, 0.05)
        line = next((x for x in server.output().splitlines() if "shipped model" in x), "no line about it")
        print(f"  the shipped model's pass at start-up: {'ready' if ready else 'NOT READY'} "
              f"{time.monotonic() - started:.1f} s after demo.py started ({line.split(':', 1)[-1].strip()})")
        print(f"  shipped model, first view: {call('default'):.0f}")
        print(f"  shipped model, again (cached): {statistics.median(call('default') for _ in range(repeats)):.0f}")
        client.predict(*TINY, api_name="/train")
        print(f"  a finished run (its last evaluation reused), median of {repeats}: "
              f"{statistics.median(call('@current') for _ in range(repeats)):.0f}")
    finally:
        server.stop()


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure (default: %(default)s)")
    parser.add_argument("--app", action="store_true", help="also time the Mistakes tab through a running demo.py")
    parser.add_argument("--app-only", action="store_true", help="time the Mistakes tab through demo.py only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    if not args.app_only:
        evaluation_cost(cached_mnist(), args.repeats)
        inside_cost(max(args.repeats, 20))
    if args.app or args.app_only:
        app_cost(args.repeats)


if __name__ == "__main__":
    main()
