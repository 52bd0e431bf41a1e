"""Load test: 20 concurrent API clients call `predict` for 30 s while one training runs.

Starts `demo.py` on a free local port (loopback only), starts a training through the app's own
`/train` endpoint, then hammers `/predict` from CLIENTS threads, each with its own gradio_client.
Prints requests served, errors and latency percentiles; the last line is one JSON object with
`requests`, `errors`, `p50_ms` and `p95_ms`. Target on a 2-core CPU: zero errors, p95 < 250 ms.

    python benchmarks/load.py [--clients 20] [--seconds 30]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradio_client import Client, handle_file  # noqa: E402

from tests.digits import draw  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int) -> subprocess.Popen:
    """demo.py in its own process; returns once the page answers (or raises after 60 s)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "demo.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not answer within 60 s")


def digit_files(folder: Path) -> list[tuple[int, str]]:
    """One PNG per digit, drawn like a person would (ink in alpha on an 800x800 canvas)."""
    files = []
    for d in range(10):
        path = folder / f"{d}.png"
        draw(d, size=(800, 800), box=(250, 150, 260, 480), width=40, mode="alpha").save(path)
        files.append((d, str(path)))
    return files


def client_loop(url: str, files, until: float, latencies: list, errors: list, wrong: list) -> None:
    """One visitor: predict digit after digit until the deadline, timing each request."""
    try:
        client = Client(url, verbose=False)
    except Exception as err:  # noqa: BLE001 - counted, not raised: a load test reports failures
        errors.append(f"connect: {err}")
        return
    i = 0
    while time.time() < until:
        digit, path = files[i % len(files)]
        i += 1
        t0 = time.perf_counter()
        try:
            result = client.predict(handle_file(path), api_name="/predict")
        except Exception as err:  # noqa: BLE001
            errors.append(str(err)[:200])
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        if str(result.get("label")) != str(digit):
            wrong.append((digit, result.get("label")))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_app(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = digit_files(Path(tmp))
            trainer = Client(url, verbose=False)
            job = trainer.submit("fast", "cnn", "adam", 0.003, 128, 3, False, "cpu", None, api_name="/train")
            time.sleep(3)  # let the training get going (data load, first batches)
            latencies, errors, wrong = [], [], []
            until = time.time() + args.seconds
            threads = [threading.Thread(target=client_loop, args=(url, files, until, latencies, errors, wrong))
                       for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            training_running = not job.done()
            trainer.predict(api_name="/stop")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {"clients": args.clients, "seconds": args.seconds, "requests": len(latencies),
              "errors": len(errors), "wrong": len(wrong),
              "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
              "p95_ms": round(percentile(latencies, 95), 1), "max_ms": round(max(latencies, default=0), 1),
              "training_ran_throughout": training_running, "cpu_threads": os.cpu_count()}
    print(f"{result['requests']} predictions served by {args.clients} clients in {args.seconds:.0f} s "
          f"while one training ran; {result['errors']} errors, {result['wrong']} wrong digits")
    print(f"latency p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms")
    for err in errors[:5]:
        print("error:", err)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
