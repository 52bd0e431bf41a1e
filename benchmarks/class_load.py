"""A class on one link: N students, each a fresh session, press Train (the default preset) at seeded random moments
within a spread of seconds, while M others draw through `POST /api/predict`.

Prints, per scenario: served (a finished run), refused (the line said no), errors; the wait from the press to the
first log line and the time from the press to the end (p50, max); how long one run held its slot (median, from the
line's own status) and the bound "N x one run / slots"; the predictions' latency (p50, p95); which workers ran the
runs; and a last JSON line with every figure.

    python benchmarks/class_load.py [--students 40] [--spread 60] [--drawers 10] [--seed 0]
                                    [--scheduler ADDR | --loopback-workers 2 | --in-process]
    python benchmarks/class_load.py --compare [--runs 5]   # in-process runner vs the embedded LocalCluster

By default it starts `demo.py` on a free loopback port with the embedded cluster (the app's default).
`--scheduler ADDR` uses a running Dask scheduler; `--loopback-workers K` starts a scheduler and K workers
(`--nthreads 1`-style: one train slot each) as separate processes on loopback first. `--compare` runs `--runs`
trainings one after another, with the drawers drawing, on the in-process runner and then on the embedded cluster,
side by side: Dask's overhead per training is the difference of the medians of (press to end) - (the run's own
time), and the predictions' p95 during trainings is each runner's. Everything runs on this machine's cores: the
load, the server and the trainings share them. Figures for this project's machine: docs/measurements.md.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402  (installed with gradio)
from gradio_client import Client  # noqa: E402

from mnist_demo.config import DEFAULT_PRESET, PRESETS  # noqa: E402
from tests.support.app_server import Server, loopback_cluster  # noqa: E402
from tests.support.digits import draw  # noqa: E402

TABLE = 8  # /train's outputs: status, progress, log, loss, accuracy, Draw's picker and info, save status, runs table
TIME_COLUMN = 11  # the runs table's "time" column: the run's own seconds


def train_args() -> list:
    preset = PRESETS[DEFAULT_PRESET]
    return [DEFAULT_PRESET, preset.model, preset.optimizer, preset.lr, preset.batch_size, preset.epochs,
            preset.augment, "cpu", 60000]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


class Drawers:
    """M threads, each sending a drawn digit to `/api/predict` again and again (a stroke a second: a person drawing)
    until stopped; the latencies of the answers."""

    def __init__(self, url: str, count: int, think_s: float = 1.0):
        folder = Path(tempfile.mkdtemp(prefix="class-load-"))
        self.images = []
        for d in range(10):
            path = folder / f"{d}.png"
            draw(d, size=(400, 400), box=(120, 70, 130, 240), width=24, mode="alpha").save(path)
            self.images.append(path.read_bytes())
        self.url, self.think_s = url + "api/predict", think_s
        self.latencies: list[float] = []
        self.errors = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._draw, args=(i,), daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _draw(self, index: int) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                body = self.images[(index + len(self.latencies)) % 10]
                start = time.perf_counter()
                try:
                    reply = http.post(self.url, content=body, headers={"Content-Type": "image/png"})
                    ok = reply.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies.append(1000 * (time.perf_counter() - start))
                else:
                    self.errors += 1
                self.stop.wait(self.think_s)

    def close(self) -> dict:
        self.stop.set()
        for thread in self.threads:
            thread.join(35)
        return {"predictions": len(self.latencies), "predict_errors": self.errors,
                "predict_p50_ms": pct(self.latencies, 0.5), "predict_p95_ms": pct(self.latencies, 0.95)}


class LineWatcher:
    """Polls the line's status: how long each run held its slot, and which worker ran it."""

    def __init__(self, url: str):
        self.client = Client(url, verbose=False)
        self.held: dict[int, float] = {}
        self.where: dict[int, str] = {}
        self.slots = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.wait(0.5):
            try:
                status = self.client.predict(api_name="/queue_status")
            except Exception:  # noqa: BLE001 - the server is busy: the next poll will do
                continue
            self.slots = max(self.slots, status["max_running"])
            for row in status["running"]:
                self.held[row["id"]] = row["elapsed_s"]
            for run in status["cluster"].get("runs", []):
                if run.get("worker"):
                    self.where[run["ticket"]] = run["worker"]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def student(url: str, at: float, t0: float, out: dict) -> None:
    """One visitor: waits until `at` seconds after t0, opens the page (a fresh session) and presses Train."""
    time.sleep(max(0.0, t0 + at - time.monotonic()))
    pressed = time.monotonic()
    out.update(pressed=pressed - t0)
    try:
        client = Client(url, verbose=False)
        job = client.submit(*train_args(), api_name="/train")
        for update in job:
            if "first_log" not in out and "loss:" in str(update[2] or ""):
                out["first_log"] = time.monotonic() - pressed
        result = job.result()
    except Exception as err:  # noqa: BLE001 - counted and shown: the benchmark must say what went wrong
        out.update(error=f"{type(err).__name__}: {err}"[:300])
        return
    out["finished"] = time.monotonic() - t0
    out["took"] = time.monotonic() - pressed
    status = str(result[0])
    out["status"] = status[:200]
    if status.startswith("**Done.**"):
        out["served"] = True
        try:
            out["run_s"] = float(str(result[TABLE]["data"][-1][TIME_COLUMN]).split()[0])
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    elif "Busy" in status:
        out["refused"] = True


def scenario(name: str, server_args: list, students: int, spread: float, drawers: int, seed: int,
             tmp: Path) -> dict:
    server = Server(tmp, *server_args)
    try:
        warm = Client(server.url, verbose=False)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the workers warm up (torch, MNIST) before the class arrives
            cluster = warm.predict(api_name="/queue_status")["cluster"]
            if not cluster.get("workers") or all(w["ready"] for w in cluster["workers"]):
                break
            time.sleep(0.5)
        rng = random.Random(seed)
        moments = sorted(rng.uniform(0, spread) for _ in range(students))
        line = LineWatcher(server.url)
        painting = Drawers(server.url, drawers)
        t0 = time.monotonic()
        results = [{} for _ in moments]
        threads = [threading.Thread(target=student, args=(server.url, at, t0, out), daemon=True)
                   for at, out in zip(moments, results)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        predictions = painting.close()
        line.close()
    finally:
        server.stop()
    served = [r for r in results if r.get("served")]
    held = sorted(line.held.values())
    one_run = statistics.median(held) if held else None
    slots = line.slots or 1
    last = max((r["finished"] for r in served), default=None)
    first = min(r["pressed"] for r in results)
    workers = {}
    for worker in line.where.values():
        workers[worker] = workers.get(worker, 0) + 1
    figures = {
        "scenario": name, "students": students, "spread_s": spread, "drawers": drawers, "slots": slots,
        "served": len(served), "refused": sum(1 for r in results if r.get("refused")),
        "errors": sum(1 for r in results if r.get("error") or not (r.get("served") or r.get("refused"))),
        "first_log_p50_s": pct([r["first_log"] for r in served if "first_log" in r], 0.5),
        "first_log_max_s": pct([r["first_log"] for r in served if "first_log" in r], 1.0),
        "finish_p50_s": pct([r["took"] for r in served], 0.5), "finish_max_s": pct([r["took"] for r in served], 1.0),
        "one_run_s": round(one_run, 2) if one_run else None,
        "run_own_s_p50": pct([r["run_s"] for r in served if "run_s" in r], 0.5),
        "last_finished_s": round(last - first, 1) if last else None,
        "bound_s": round(students * one_run / slots, 1) if one_run else None,
        "runs_per_worker": workers, **predictions,
        "problems": sorted({r.get("error") or r.get("status", "")[:120] for r in results
                            if not r.get("served")})[:5],
    }
    if figures["bound_s"]:
        figures["last_vs_bound"] = round(figures["last_finished_s"] / figures["bound_s"], 3)
    if one_run:
        figures["students_per_minute"] = round(slots * 60 / one_run, 2)
    return figures


def stop_latency(client: Client) -> float:
    """Seconds from pressing Stop during a long training to the run's last message (which follows the partial
    model's test pass over the 10,000 test images: `test_pass_s`)."""
    args = train_args()
    args[5] = 3  # three epochs: long enough to be stopped in the middle
    job = client.submit(*args, api_name="/train")
    while sum(str(o[2] or "").count("loss:") for o in job.outputs()[-1:]) < 2:
        time.sleep(0.1)
    pressed = time.monotonic()
    client.predict(api_name="/stop")
    job.result()
    return round(time.monotonic() - pressed, 3)


def test_pass_s() -> float:
    """One pass over the 10,000 test images with the default preset's model, in this process (median of 3)."""
    from mnist_demo.config import make_config
    from mnist_demo.data import cached_mnist
    from mnist_demo.train import evaluate, init_model

    data = cached_mnist()
    model = init_model(make_config(DEFAULT_PRESET, device="cpu"), "cpu")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        evaluate(model, data.test_images, data.test_labels)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def compare(runs: int, drawers: int, tmp: Path) -> dict:
    """The same trainings one after another, with the drawers drawing, on each runner."""
    out = {}
    for name, flags in (("in-process", ["--in-process"]), ("embedded", [])):
        server = Server(tmp, *flags)
        try:
            client = Client(server.url, verbose=False)
            time.sleep(5)  # the embedded worker warms up as the app starts; the in-process runner waits the same
            painting = Drawers(server.url, drawers)
            overheads, firsts, totals = [], [], []
            for _ in range(runs):
                pressed = time.monotonic()
                job = client.submit(*train_args(), api_name="/train")
                first = None
                for update in job:
                    if first is None and "loss:" in str(update[2] or ""):
                        first = time.monotonic() - pressed
                result = job.result()
                took = time.monotonic() - pressed
                own = float(str(result[TABLE]["data"][-1][TIME_COLUMN]).split()[0])
                overheads.append(took - own)
                firsts.append(first)
                totals.append(took)
            out[name] = {"press_to_end_p50_s": pct(totals, 0.5), "first_log_p50_s": pct(firsts, 0.5),
                         "outside_the_run_p50_s": pct(overheads, 0.5), **painting.close(),
                         "stop_to_last_message_s": stop_latency(client)}
        finally:
            server.stop()
    out["dask_overhead_per_training_s"] = round(out["embedded"]["outside_the_run_p50_s"]
                                                - out["in-process"]["outside_the_run_p50_s"], 3)
    out["test_pass_s"] = test_pass_s()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--spread", type=float, default=60.0, help="seconds over which the students press Train")
    p.add_argument("--drawers", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="a running Dask scheduler's address")
    where.add_argument("--loopback-workers", type=int, default=0, help="start a scheduler and this many workers")
    where.add_argument("--in-process", action="store_true", help="the in-process runner (as before Dask)")
    where.add_argument("--compare", action="store_true", help="in-process runner vs embedded cluster, side by side")
    p.add_argument("--runs", type=int, default=5, help="trainings per runner with --compare")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="class-load-"))
    if args.compare:
        figures = compare(args.runs, args.drawers, tmp)
        for name in ("in-process", "embedded"):
            print(f"{name:>10}: " + ", ".join(f"{k} {v}" for k, v in figures[name].items()))
        print(f"Dask's overhead per training: {figures['dask_overhead_per_training_s']} s; one test pass (the last "
              f"part of a stopped run): {figures['test_pass_s']} s")
        print(json.dumps(figures))
        return
    processes = []
    if args.loopback_workers:
        scheduler, workers = loopback_cluster(tmp, workers=args.loopback_workers)
        processes = [*workers, scheduler]
        flags, name = ["--scheduler", scheduler.address], f"loopback cluster, {args.loopback_workers} workers"
    elif args.scheduler:
        flags, name = ["--scheduler", args.scheduler], f"scheduler {args.scheduler}"
    elif args.in_process:
        flags, name = ["--in-process"], "in-process runner"
    else:
        flags, name = [], "embedded cluster (the default)"
    try:
        figures = scenario(name, flags, args.students, args.spread, args.drawers, args.seed, tmp)
    finally:
        for process in processes:
            process.stop()
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
