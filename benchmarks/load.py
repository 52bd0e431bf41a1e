"""Load test: 20 concurrent API clients call `predict` for 30 s while one training runs.

Starts `demo.py` on a free local port (loopback only), starts a training through the app's own
`/train` endpoint, then calls predict from CLIENTS threads, each with its own HTTP connection:
- `--api rest` (default): the app's plain route, `POST /api/predict` with the PNG as the body;
- `--api gradio`: Gradio's REST API for the `predict` endpoint (upload once, then `/gradio_api/call/predict`
  and its event stream), which makes a new Gradio session for every call.
(Both over httpx: gradio_client's own CPU use on these 2 shared cores would dominate the figures.)
Prints requests served, errors and latency percentiles; the last line is one JSON object with
`requests`, `errors`, `p50_ms` and `p95_ms`. Target on a 2-core CPU: zero errors, p95 < 250 ms.

By default each client sends its next request as soon as the last one is answered (a closed loop: the
harshest case). `--think S` makes each client pause S seconds between requests, like a person who
draws a stroke a second. The load clients run on the same 2 cores as the server and the training.

    python benchmarks/load.py [--clients 20] [--seconds 30] [--think 0] [--api rest|gradio]
"""

import argparse
import json
import os
import re
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

from tests.support.app_server import Server  # noqa: E402
from tests.support.digits import draw  # noqa: E402


def digit_files(folder: Path) -> list[tuple[int, str]]:
    """One PNG per digit, drawn like a person would (ink in alpha on an 800x800 canvas)."""
    files = []
    for d in range(10):
        path = folder / f"{d}.png"
        draw(d, size=(800, 800), box=(250, 150, 260, 480), width=40, mode="alpha").save(path)
        files.append((d, str(path)))
    return files


def upload(http: httpx.Client, url: str, files) -> list[tuple[int, dict]]:
    """Upload each digit once; requests then name the uploaded file, as Gradio's own clients do."""
    uploaded = []
    for digit, path in files:
        with open(path, "rb") as f:
            reply = http.post(f"{url}gradio_api/upload", files={"files": (Path(path).name, f, "image/png")})
        reply.raise_for_status()
        uploaded.append((digit, {"path": reply.json()[0], "meta": {"_type": "gradio.FileData"}}))
    return uploaded


def call_predict(http: httpx.Client, url: str, image: dict) -> dict:
    """One call of the public `predict` endpoint over Gradio's REST API (POST, then read the result stream)."""
    reply = http.post(f"{url}gradio_api/call/predict", json={"data": [image]})
    reply.raise_for_status()
    stream = http.get(f"{url}gradio_api/call/predict/{reply.json()['event_id']}")
    event, data = None, None
    for line in stream.text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "complete":
            data = json.loads(line.split(":", 1)[1])
    if data is None:
        raise RuntimeError(f"no result: {stream.text[:200]}")
    return data[0]


def call_rest(http: httpx.Client, url: str, png: bytes) -> str:
    """One call of the plain route: the PNG as the body, the digit from the JSON reply."""
    reply = http.post(f"{url}api/predict", content=png, headers={"Content-Type": "image/png"})
    reply.raise_for_status()
    return str(reply.json()["digit"])


def client_loop(url: str, files, until: float, think: float, api: str, latencies: list, errors: list,
                wrong: list) -> None:
    """One API client: predict digit after digit until the deadline, timing each request."""
    with httpx.Client(timeout=30) as http:
        try:
            if api == "gradio":
                images = upload(http, url, files)
            else:
                images = [(digit, Path(path).read_bytes()) for digit, path in files]
        except Exception as err:  # noqa: BLE001 - counted, not raised: a load test reports failures
            errors.append(f"upload: {err}")
            return
        i = 0
        while time.time() < until:
            digit, image = images[i % len(images)]
            i += 1
            t0 = time.perf_counter()
            try:
                if api == "gradio":
                    label = str(call_predict(http, url, image).get("label"))
                else:
                    label = call_rest(http, url, image)
            except Exception as err:  # noqa: BLE001
                errors.append(str(err)[:200])
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            if label != str(digit):
                wrong.append((digit, label))
            time.sleep(think)


def training_samples_per_s(job) -> float | None:
    """The training's own speed (samples/s) as its latest progress line in the app states it."""
    if job is None:
        return None
    for outputs in reversed(job.outputs()):
        found = re.search(r"([\d,]+) samples/s", str(outputs[1]) if len(outputs) > 1 else "")
        if found:
            return float(found.group(1).replace(",", ""))
    return None


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-training", action="store_true", help="baseline: no training alongside")
    parser.add_argument("--think", type=float, default=0.0, help="seconds each client waits between requests")
    parser.add_argument("--api", choices=("rest", "gradio"), default="rest",
                        help="rest: POST /api/predict (default); gradio: Gradio's /gradio_api/call/predict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))  # the shipped model, the app's default limits
        url = server.url
        try:
            files = digit_files(Path(tmp))
            trainer = Client(url, verbose=False)
            job = None if args.no_training else trainer.submit(preset="fast", epochs=5, api_name="/train")
            time.sleep(3)  # let the training get going (data load, first batches)
            latencies, errors, wrong = [], [], []
            until = time.time() + args.seconds
            loop_args = (url, files, until, args.think, args.api, latencies, errors, wrong)
            threads = [threading.Thread(target=client_loop, args=loop_args) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            training_running = job is not None and not job.done()
            training_rate = training_samples_per_s(job)
            server_cpu_s = process_cpu_s(server.proc.pid)
            trainer.predict(api_name="/stop")
        finally:
            server.stop()
    result = {"api": args.api, "clients": args.clients, "seconds": args.seconds, "think_s": args.think,
              "requests": len(latencies), "errors": len(errors), "wrong": len(wrong),
              "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
              "p95_ms": round(percentile(latencies, 95), 1), "max_ms": round(max(latencies, default=0), 1),
              "training_ran_throughout": training_running, "training_samples_per_s": training_rate,
              "cpu_threads": os.cpu_count(), "server_cpu_s": server_cpu_s,
              "load_clients_cpu_s": round(time.process_time(), 1)}
    during = "while one training ran" if not args.no_training else "with no training"
    print(f"{result['requests']} predictions served by {args.clients} clients in {args.seconds:.0f} s {during}; "
          f"{result['errors']} errors, {result['wrong']} wrong digits")
    if training_rate:
        print(f"the training meanwhile: {training_rate:,.0f} samples/s")
    print(f"latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms")
    for err in errors[:5]:
        print("error:", err)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
