"""Hostile requests against a running app: what each costs the server, and what a visitor feels right after.

Starts `demo.py` on a free local port (loopback only, its own checkpoint folder with the shipped model), then
for each case sends the hostile request(s) and, as soon as they are done or abandoned, one normal prediction
(an 800x800 drawing of a 7 through `POST /api/predict`). Per case it prints:
- what the hostile request got back (status and the start of the reply, or what became of the connection)
  and how long that took;
- how far the server's peak memory rose above its resident size before the case (VmHWM, reset for each case
  through /proc/PID/clear_refs, or sampled VmRSS where that is refused);
- the normal prediction's latency, and whether it read the 7;
- how many requests the server dropped unread because their sender had left (its log's INFO lines; servers
  from before issue 10 log none).
Targets (issue 10): the normal prediction answers in under 1 s after a burst of a dozen abandoned hostile
requests; no single request raises peak memory by more than 300 MB.

The cases: a 16-bit RGBA PNG of 4999x4999 (200 kB on the wire) and of 4096x4096; an 8-bit RGBA PNG of
4999x4999; an 8-bit 4096x4096 PNG that takes preprocessing's costliest path; a Sketchpad value of 20 layers of
4096x4096 through Gradio's `choose_model` endpoint (gradio_client; `predict_drawing` is private); a slow client
sending its body (and one its headers) a byte every 2 s; bursts of 12 requests abandoned after 1 s each.
The last line is one JSON object with every figure. Prints, never asserts.

    python benchmarks/hostile.py [--only NAME[,NAME...]] [--slow-wait 90]
"""

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402  (installed with gradio)

from tests.support.app_server import Server, make_default_checkpoint  # noqa: E402
from tests.support.digits import draw, encode  # noqa: E402
from tests.support.hostile_inputs import costly_png, png  # noqa: E402

BURST = 12
ABANDON_S = 1.0


class Memory:
    """The server's peak resident memory during a case, above its resident size before it (MB)."""

    def __init__(self, pid: int):
        self.pid = pid

    def field(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) // 1024
        return 0

    def __enter__(self):
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
            self.reset = True
        except OSError:
            self.reset = False
        self.before = self.field("VmRSS")
        self.sampled, self.running = self.before, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.sampled = max(self.sampled, self.field("VmRSS"))
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        peak = max(self.sampled, self.field("VmHWM")) if self.reset else self.sampled
        self.rise_mb = peak - self.before


def post(url: str, body: bytes, timeout: float = 120) -> str:
    """POST /api/predict; "STATUS reply" (shortened), or what went wrong with the connection."""
    try:
        reply = httpx.post(f"{url}api/predict", content=body, headers={"Content-Type": "image/png"},
                           timeout=timeout)
        answer = reply.json() if reply.headers.get("content-type") == "application/json" else {}
        if reply.status_code == 200:
            return f"200, digit {answer.get('digit')}"
        return f"{reply.status_code} {str(answer.get('error', reply.text))[:70]}"
    except httpx.TimeoutException:
        return "abandoned (client timeout)"
    except httpx.HTTPError as err:
        return f"connection: {type(err).__name__}"


def normal(url: str, seven: bytes) -> tuple[float, bool]:
    """One normal prediction: (latency in ms, read the 7)."""
    start = time.perf_counter()
    reply = httpx.post(f"{url}api/predict", content=seven, headers={"Content-Type": "image/png"}, timeout=120)
    ms = 1000 * (time.perf_counter() - start)
    return ms, reply.status_code == 200 and reply.json().get("digit") == 7


def burst(url: str, body: bytes) -> str:
    """BURST requests at once, each abandoned by its sender after ABANDON_S; returns when all have gone."""
    results = []
    threads = [threading.Thread(target=lambda: results.append(post(url, body, timeout=ABANDON_S)))
               for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = sorted(set(results))
    return f"{BURST} sent; " + "; ".join(f"{results.count(o)}x {o}" for o in outcomes)


def slow(url: str, phase: str, every: float, wait: float) -> str:
    """A client sending its request (headers, or the body after whole headers) a byte every `every` s."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    head = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(every)
        if phase == "body":
            sock.sendall(head)
        payload = head if phase == "headers" else b"\x89PNG\r\n\x1a\n" + bytes(100000)
        start = time.monotonic()
        for i in range(len(payload)):
            if time.monotonic() - start > wait:
                return f"still open after {wait:.0f} s"
            try:
                sock.send(payload[i:i + 1])
                answer = sock.recv(200)
            except socket.timeout:
                continue
            except OSError as err:
                return f"closed by the server after {time.monotonic() - start:.0f} s ({type(err).__name__})"
            if not answer:
                return f"closed by the server after {time.monotonic() - start:.0f} s"
            return f"{answer.split(b' ', 2)[1].decode()} after {time.monotonic() - start:.0f} s, then closed"
    return "sent whole"


def layers(url: str, path: str, count: int) -> str:
    """Gradio's choose_model with a Sketchpad value of `count` layers of `path` (no composite)."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    value = {"background": None, "layers": [handle_file(path) for _ in range(count)], "composite": None}
    try:
        result = client.predict(None, value, api_name="/choose_model")
        return f"answered: {str(result[0])[:60]}"
    except Exception as err:  # noqa: BLE001 - reported, not raised: a benchmark prints what happened
        return f"refused: {str(err)[:80]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--slow-wait", type=float, default=90.0, help="seconds to keep a slow client going")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_default_checkpoint(tmp)
        seven = encode(draw(7, size=(800, 800), box=(250, 150, 260, 480), width=40, mode="alpha"))
        layer_path = tmp / "layer.png"
        layer_path.write_bytes(png(4096, 4096))
        images = {"png16_4999": png(4999, 4999, 16), "png16_4096": png(4096, 4096, 16),
                  "png8_4999": png(4999, 4999, 8), "costly_4096": costly_png(4096)}
        cases = {
            "png16_4999": ("16-bit RGBA PNG 4999x4999", lambda u: post(u, images["png16_4999"])),
            "png16_4096": ("16-bit RGBA PNG 4096x4096", lambda u: post(u, images["png16_4096"])),
            "png8_4999": ("8-bit RGBA PNG 4999x4999", lambda u: post(u, images["png8_4999"])),
            "costly_4096": ("8-bit RGBA PNG 4096x4096, costliest path", lambda u: post(u, images["costly_4096"])),
            "layers_20": ("Sketchpad, 20 layers of 4096x4096", lambda u: layers(u, str(layer_path), 20)),
            "slow_body": ("slow client: body, a byte every 2 s", lambda u: slow(u, "body", 2.0, args.slow_wait)),
            "slow_headers": ("slow client: headers, a byte every 2 s",
                             lambda u: slow(u, "headers", 2.0, args.slow_wait)),
            "burst_4999": (f"{BURST} abandoned after 1 s: 16-bit 4999x4999", lambda u: burst(u, images["png16_4999"])),
            "burst_4096": (f"{BURST} abandoned after 1 s: 16-bit 4096x4096", lambda u: burst(u, images["png16_4096"])),
        }
        chosen = [c for c in args.only.split(",") if c] or list(cases)
        server = Server(tmp, "--checkpoint-dir", str(tmp), timeout=90)
        url = server.url
        rows = []
        try:
            normal(url, seven)  # warm: the model is loaded and the decoders imported before any case
            dropped_before = 0
            for name in chosen:
                label, run = cases[name]
                time.sleep(2)  # let the previous case's leftovers finish
                with Memory(server.proc.pid) as memory:
                    start = time.perf_counter()
                    outcome = run(url)
                    seconds = time.perf_counter() - start
                    after_ms, correct = normal(url, seven)
                time.sleep(0.5)  # the last log lines
                dropped = server.output().count("dropped a request") - dropped_before
                dropped_before += dropped
                row = {"case": name, "what": label, "outcome": outcome, "seconds": round(seconds, 2),
                       "peak_rise_mb": memory.rise_mb, "next_normal_ms": round(after_ms), "next_read_7": correct,
                       "dropped": dropped}
                rows.append(row)
                print(f"{label:45s} {seconds:6.1f} s  +{memory.rise_mb:5d} MB  next normal {after_ms:6.0f} ms "
                      f"{'7' if correct else 'WRONG'}  dropped {dropped:2d}  | {outcome}", flush=True)
        finally:
            server.stop()
    print(json.dumps({"rows": rows, "cpu_threads": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
