"""Gradio's own queue or the app's JobQueue for trainings: the same small app, the same crowd, side by side.

Each variant is a small Gradio app with two events, as in the real app: `train` (a 4 s run that reports every
second) and `predict` (instant, its own concurrency group of 2). The line for runs is bounded at
`--waiting` places (4, the app's default `--queue-size`), one run at a time:
- `gradio`: `train` in `concurrency_id="jobs", concurrency_limit=1` and the bound as `demo.queue(max_size=...)`,
  the only bound Gradio's queue has;
- `jobqueue`: `train` with no Gradio limit, admitted by `mnist_demo.app.core.jobs.line.JobQueue(max_running=1,
  max_waiting=...)` through `run_job`, as `train_tab` does.

Then `--trainers` visitors (default 6: two more than the line holds) press Train at once, and while they wait
one more visitor asks for `--predictions` predictions, one after another. Finally one waiting visitor leaves.
Prints, per variant: how many predictions were answered and refused, their median time, what the trainers
were told, and whether the leaver's place was freed; the last line is one JSON object with both variants.

    python benchmarks/queue_choice.py [--trainers 6] [--waiting 4] [--predictions 20]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr  # noqa: E402
from gradio_client import Client  # noqa: E402

from mnist_demo.app.core.jobs.line import JobQueue  # noqa: E402
from mnist_demo.app.core.jobs.reasons import Busy  # noqa: E402
from mnist_demo.app.core.jobs.runner import Finished, run_job  # noqa: E402

RUN_S = 4


def slow_run(stop, emit):
    for step in range(RUN_S):
        if stop.is_set():
            return "stopped"
        time.sleep(1)
        emit(f"step {step + 1}")
    return "done"


def build(variant: str, waiting: int) -> gr.Blocks:
    jobs = JobQueue(max_running=1, max_waiting=waiting, stale_after_s=5)

    def train_gradio(_):
        for step in range(RUN_S):
            time.sleep(1)
            yield f"step {step + 1}"

    def train_jobqueue(_, request: gr.Request):
        try:
            ticket = jobs.submit(request.session_hash, kind="train")
        except Busy as err:
            yield f"busy: {err}"
            return
        for item in run_job(ticket, slow_run):
            yield f"{type(item).__name__}" if not isinstance(item, Finished) else "done"

    with gr.Blocks(analytics_enabled=False) as demo:
        text, out, train_button, predict_button = gr.Textbox(), gr.Textbox(), gr.Button(), gr.Button()
        if variant == "gradio":
            train_button.click(train_gradio, text, out, api_name="train", concurrency_id="jobs", concurrency_limit=1)
        else:
            train_button.click(train_jobqueue, text, out, api_name="train", concurrency_limit=None)
        predict_button.click(lambda _: "7", text, out, api_name="predict", concurrency_id="predict",
                             concurrency_limit=2)
    demo.queue(max_size=waiting if variant == "gradio" else None, default_concurrency_limit=1)
    demo.jobs = jobs
    return demo


def told(job) -> str:
    """What a trainer sees a moment after pressing Train: "running", "waiting" or "refused"."""
    status = job.status()
    if status.code.name == "IN_QUEUE":
        return "waiting"  # in Gradio's own line
    outputs = job.outputs()
    last = outputs[-1] if outputs else ""
    if status.code.name == "FINISHED" and (status.success is False or not outputs) or last.startswith("busy"):
        return "refused"  # Gradio's "Queue is full", or the JobQueue's "busy" message
    return "waiting" if last == "Waiting" else "running"


def measure(variant: str, trainers: int, waiting: int, predictions: int) -> dict:
    demo = build(variant, waiting)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        clients = [Client(url, verbose=False) for _ in range(trainers + 1)]
        jobs = [c.submit("x", api_name="/train") for c in clients[:trainers]]
        time.sleep(1.5)
        states = [told(job) for job in jobs]
        answered, refused, times = 0, 0, []
        for _ in range(predictions):
            start = time.perf_counter()
            try:
                clients[-1].predict("x", api_name="/predict")
                answered += 1
                times.append(1000 * (time.perf_counter() - start))
            except Exception:  # noqa: BLE001 - "Queue is full" arrives as an exception
                refused += 1
        leaver = next((i for i, state in enumerate(states) if state == "waiting"), None)
        freed = None
        if leaver is not None:
            before = len(demo.jobs.snapshot()["waiting"]) if variant == "jobqueue" else None
            jobs[leaver].cancel()
            time.sleep(2)
            after = len(demo.jobs.snapshot()["waiting"]) if variant == "jobqueue" else None
            freed = jobs[leaver].status().code.name == "CANCELLED" if variant == "gradio" else after < before
        for job in jobs:
            job.cancel()
        return {"variant": variant, "predictions_answered": answered, "predictions_refused": refused,
                "predict_median_ms": round(statistics.median(times), 1) if times else None,
                "trainers": states, "leaver_freed_place": freed}
    finally:
        demo.jobs.close()
        demo.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--trainers", type=int, default=6, help="visitors pressing Train at once")
    parser.add_argument("--waiting", type=int, default=4, help="places in the line for runs")
    parser.add_argument("--predictions", type=int, default=20, help="predictions asked while they wait")
    args = parser.parse_args(argv)
    results = [measure(v, args.trainers, args.waiting, args.predictions) for v in ("gradio", "jobqueue")]
    for r in results:
        print(f"{r['variant']:>9}: predictions {r['predictions_answered']} answered, {r['predictions_refused']} "
              f"refused (median {r['predict_median_ms']} ms); trainers told {r['trainers']}; "
              f"a waiting visitor who left freed their place: {r['leaver_freed_place']}")
    print(json.dumps({r["variant"]: r for r in results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
