"""Hostile clients against the real app (`python demo.py`, started by tests/support/app_server.py), as
tables: slow and vanishing clients, big images, abandoned bursts, many-layer drawings (issue 10).

After each case the server must be healthy: a normal prediction (a 7) is answered correctly, the case raised
the server's peak memory by at most MAX_RISE_MB, and its log gained no traceback (a disconnect is one INFO
line). The server runs with `--request-timeout 2` so slow clients are timed out within the test.
"""

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.support.app_server import Server, make_default_checkpoint, rest
from tests.support.digits import draw
from tests.support.hostile_inputs import png

MAX_RISE_MB = 300  # issue 10: no single request raises peak memory by more than this (measured: 144 MB at most)
REQUEST_TIMEOUT_S = 2
HEAD = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-server")
    make_default_checkpoint(folder / "checkpoints")
    srv = Server(folder, "--checkpoint-dir", str(folder / "checkpoints"), "--request-timeout", str(REQUEST_TIMEOUT_S))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def seven(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("seven") / "seven.png"
    draw(7, size=(800, 800), box=(250, 150, 260, 480), width=40, mode="alpha").save(path)
    return path.read_bytes()


class Health:
    """Around one case: the server's peak memory rise, its new log lines, then a normal prediction's answer."""

    def __init__(self, server: Server, seven: bytes):
        self.server, self.seven = server, seven

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.server.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
        raise AssertionError(f"no {field} for the server")

    def __enter__(self):
        try:
            Path(f"/proc/{self.server.proc.pid}/clear_refs").write_text("5")  # its VmHWM := its VmRSS
        except OSError:
            pytest.skip(reason="needs Linux /proc/PID/clear_refs to measure the server's peak memory")
        self.log_start = len(self.server.output())
        self.before = self.status("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        pass

    def new_log(self) -> str:
        return self.server.output()[self.log_start:]

    def check(self, info_lines: bool = False) -> float:
        """Assert the server is healthy; returns the normal prediction's latency in seconds."""
        start = time.perf_counter()
        reply = rest(self.server, self.seven)
        latency = time.perf_counter() - start
        assert reply.status_code == 200 and reply.json()["digit"] == 7, reply.text
        rise = self.status("VmHWM") - self.before
        assert rise <= MAX_RISE_MB, f"peak memory rose {rise} MB"
        if info_lines:  # the log line may come a moment after the client has gone
            deadline = time.monotonic() + 5
            while "INFO" not in self.new_log() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "INFO" in self.new_log()
        log = self.new_log()
        assert "Traceback" not in log and "ERROR" not in log, log[-2000:]
        # Only INFO lines (and Gradio's start-up banner, "* ...", which can still be arriving from a just-started
        # server: it is printed after the server first answers).
        assert all(line.startswith(("INFO:", "  ", "* ")) for line in log.splitlines() if line.strip()), log[-2000:]
        return latency


def raw(server: Server, data: bytes, then: str, every: float = 0.5) -> str:
    """Send `data` on a raw socket: all at once then "close", or a byte every `every` s ("trickle") until the
    server answers or closes. Returns the status line's code, "closed", or "" (we closed first)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        if then == "flood":  # the headers, then zeros as fast as the server takes them, until it answers
            sock.sendall(data)
            sock.settimeout(0.0)
            chunk, sent = bytes(2**20), 0
            while sent < FLOOD_BYTES:
                try:
                    sock.sendall(chunk)
                    sent += len(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                except OSError:
                    break
                try:
                    answer = sock.recv(100)
                    return answer.split(b" ")[1].decode() if answer else "closed"
                except BlockingIOError:
                    pass
            sock.settimeout(5)
            answer = sock.recv(100)
            return answer.split(b" ")[1].decode() if answer else "closed"
        if then == "close":
            sock.sendall(data)
            time.sleep(0.3)
            return ""
        sock.settimeout(every)
        for i in range(len(data)):
            try:
                sock.send(data[i:i + 1])
                answer = sock.recv(100)
            except socket.timeout:
                continue
            except OSError:
                return "closed"
            return answer.split(b" ")[1].decode() if answer else "closed"
    return "sent whole"


UPLOAD = (b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
          b"Content-Length: 1000\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\""
          b"\r\n\r\nabc")


FLOOD_BYTES = 200 * 2**20  # far over the server's request cap (51 MB with the default 20 MB uploads)
BIG_FORM = (b"POST /gradio_api/component_server HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=XX\r\nContent-Length: %d\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"files\"; "
            b"filename=\"a.bin\"\r\n\r\n" % FLOOD_BYTES)
BIG_BODY = HEAD.replace(b"100000", str(FLOOD_BYTES).encode())


CLIENTS = [  # case, what is sent, how, the answer the client gets, whether the server logs a line
    ("half a body to /api/predict, then gone", HEAD + b"\x89PNG", "close", "", True),
    ("half an upload to Gradio, then gone", UPLOAD, "close", "", True),
    ("half the headers, then gone", HEAD[:30], "close", "", False),
    ("a page request, gone before the answer", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "close", "", False),
    ("headers, a byte every 0.5 s", HEAD, "trickle", "408", True),
    ("a body, a byte every 0.5 s", HEAD + b"\x89PNG" + bytes(2000), "trickle", "408", True),
    ("a 200 MB form to Gradio's component server", BIG_FORM, "flood", "413", True),
    ("a 200 MB body to /api/predict (its own 5 MB cap answers)", BIG_BODY, "flood", "413", False),
]


@pytest.mark.parametrize("case, data, then, expected, logged", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_slow_and_vanishing_clients(server, seven, case, data, then, expected, logged):
    with Health(server, seven) as health:
        start = time.monotonic()
        got = raw(server, data, then)
        took = time.monotonic() - start
        health.check(info_lines=logged)
    assert got == expected
    if then == "trickle":  # timed out by the deadline, not by running out of bytes (the body alone takes 1000 s)
        assert REQUEST_TIMEOUT_S - 0.5 <= took <= REQUEST_TIMEOUT_S + 3


def burst(server: Server, body: bytes, count: int = 12, abandon_s: float = 1.0) -> None:
    """`count` requests at once, each abandoned by its sender after `abandon_s`."""
    def send():
        try:
            httpx.post(server.url + "api/predict", content=body, headers={"Content-Type": "image/png"},
                       timeout=abandon_s)
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


IMAGES = [  # case, how it is sent, the status and text of the answer (None: abandoned by the senders)
    ("16-bit RGBA 4999x4999", lambda s: rest(s, png(4999, 4999, 16)), 400, "too large"),
    ("16-bit RGBA 4096x4096", lambda s: rest(s, png(4096, 4096, 16)), 200, '"digit":1'),
    ("8-bit RGBA 4999x4999", lambda s: rest(s, png(4999, 4999, 8)), 400, "too large"),
    ("a dozen abandoned 16-bit 4096x4096", lambda s: burst(s, png(4096, 4096, 16)), None, None),
]


@pytest.mark.parametrize("case, send, status, says", IMAGES, ids=[c[0] for c in IMAGES])
def test_big_images_and_abandoned_bursts(server, seven, case, send, status, says):
    with Health(server, seven) as health:
        reply = send(server)
        latency = health.check()
    if status is not None:
        assert reply.status_code == status and says in reply.text, reply.text[:300]
    else:  # issue 10's target is under 1 s (measured: 75 ms); the margin is for a shared 2-core machine
        assert latency < 3.0, f"a normal prediction took {latency:.1f} s after the burst"


DRAWINGS = [  # case, with a composite, how many 4096x4096 layers, the refusal (None: answered)
    ("20 layers of 4096x4096", False, 20, "20 layers; the limit is 4"),
    ("a composite and 20 layers of 4096x4096", True, 20, None),
    ("a 4096x4096 composite", True, 0, "too large"),
]


@pytest.mark.parametrize("case, composite, layers, refused", DRAWINGS, ids=[c[0] for c in DRAWINGS])
def test_many_layer_drawings_through_gradio(server, seven, tmp_path, case, composite, layers, refused):
    big = tmp_path / "big.png"
    big.write_bytes(png(4096, 4096))
    small = tmp_path / "small.png"
    draw(7, size=(280, 280), box=(70, 40, 140, 200), width=20, mode="alpha").save(small)
    value = {"background": None, "layers": [handle_file(str(big)) for _ in range(layers)],
             "composite": handle_file(str(big if layers == 0 else small)) if composite else None}
    client = Client(server.url, verbose=False)
    with Health(server, seven) as health:
        start = time.monotonic()
        if refused:
            with pytest.raises(AppError, match=refused):
                client.predict(None, value, api_name="/choose_model")
        else:  # the pad's value is decoded before the (here empty) model choice is looked at
            message = client.predict(None, value, api_name="/choose_model")[0]
            assert "not available" in message
        took = time.monotonic() - start
        health.check()
    assert took < 15  # uploads included; 20 decoded layers took 10 s and 1.5 GB before the guard
