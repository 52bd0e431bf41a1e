"""The app as tests and benchmarks reach it: `python demo.py` in a subprocess on a free port, and the calls
they make to it. No pytest here, so that benchmarks/ can start the app the same way.

Real data and a real model: the shipped checkpoints/default.pt when present (copied into a temporary
checkpoint folder), else a small model trained here through the engine. Trainings are tiny (`limit`).
"""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "checkpoints" / "default.pt"
TINY = ("fast", "cnn", "adam", 0.003, 128, 1, False, "cpu", 2000)  # preset, model, ..., device, limit
LONG = ("fast", "cnn", "adam", 0.003, 128, 3, False, "cpu", 60000)
FIELDS = ("preset", "model", "optimizer", "lr", "batch_size", "epochs", "augment", "device", "limit")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Logged:
    """A subprocess whose output goes to `log_path`; `stop` asks it to end with `stop_signal`, then kills it."""

    stop_signal = signal.SIGTERM
    log_path: Path
    proc: subprocess.Popen

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Server(Logged):
    """`python demo.py ...` in a subprocess, its output in `tmp`; `url` once it answers HTTP. Stopped as Ctrl-C
    stops it."""

    stop_signal = signal.SIGINT

    def __init__(self, tmp: Path, *args: str, timeout: float = START_TIMEOUT_S):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = tmp / f"server-{self.port}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        self.log = open(self.log_path, "w")
        started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, str(REPO / "demo.py"), "--port", str(self.port), *args],
                                     cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo.py exited early:\n{self.output()}")
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"demo.py did not answer within {timeout:.0f} s:\n{self.output()}")
        self.ready_s = time.monotonic() - started


class DaskProcess(Logged):
    """`dask scheduler` or `dask worker` in a subprocess on loopback, as a teacher would start them on other machines;
    `address` once it says where it listens. Workers import this repository (PYTHONPATH), as the README says."""

    def __init__(self, tmp: Path, name: str, *args: str, env: dict | None = None, timeout: float = START_TIMEOUT_S):
        self.log_path = tmp / f"{name}.log"
        self.log = open(self.log_path, "w")
        environment = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **(env or {}))
        dask = Path(sys.executable).with_name("dask")
        self.proc = subprocess.Popen([str(dask), *args], cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=environment)
        self.address = wait_for(self._address, timeout, 0.1)
        if not self.address:
            self.stop()
            raise RuntimeError(f"dask {' '.join(args)} did not start within {timeout:.0f} s:\n{self.output()}")

    def _address(self) -> str | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"dask exited early:\n{self.output()}")
        for line in self.output().splitlines():
            for marker in ("Scheduler at:", "Start worker at:"):
                if marker in line:
                    return line.split(marker)[1].strip()
        return None

    def kill(self) -> None:
        """Gone at once, as a machine that loses power (SIGKILL: no goodbye to the scheduler)."""
        self.proc.kill()
        self.proc.wait(10)


def loopback_cluster(tmp: Path, workers: int = 2, slots: int = 1, env: dict | None = None):
    """A scheduler and `workers` workers (`slots` train slots each, no nanny: a killed worker stays dead) as separate
    processes on loopback: (scheduler, [worker, ...])."""
    scheduler = DaskProcess(tmp, "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(free_port()),
                            "--no-dashboard")
    return scheduler, loopback_cluster_workers(tmp, scheduler, workers, slots, env)


def loopback_cluster_workers(tmp: Path, scheduler: DaskProcess, count: int, slots: int = 1,
                             env: dict | None = None) -> list[DaskProcess]:
    """`count` more workers for `scheduler`, as README.md starts them: one thread per train slot."""
    first = len(list(tmp.glob("worker-*.log")))
    return [DaskProcess(tmp, f"worker-{i}", "worker", scheduler.address, "--nthreads", str(slots),
                        "--resources", f"train={slots}", "--no-nanny", "--no-dashboard", "--name", f"w{i}", env=env)
            for i in range(first, first + count)]


def make_default_checkpoint(directory: Path) -> None:
    """The shipped model if present, else a small model trained now (fast preset, augmented)."""
    directory.mkdir(parents=True, exist_ok=True)
    if SHIPPED.is_file():
        shutil.copy2(SHIPPED, directory / "default.pt")
        return
    from mnist_demo.checkpoints import metadata, save_checkpoint
    from mnist_demo.config import make_config
    from mnist_demo.data import cached_mnist
    from mnist_demo.train import train

    config = make_config("fast", augment=True, limit=30000)
    result = train(config, cached_mnist())
    meta = metadata(config.to_dict(), result.evaluation, result.epochs_completed, result.steps)
    save_checkpoint(result.model, "default", meta, directory)


def app_with_default_model(tmp_path_factory, *flags: str) -> Server:
    """`demo.py FLAGS` over a checkpoint folder of its own holding the shipped model (`server.checkpoints`)."""
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    make_default_checkpoint(checkpoints)
    server = Server(tmp_path_factory.mktemp("server"), "--checkpoint-dir", str(checkpoints), *flags)
    server.checkpoints = checkpoints
    return server


# --------------------------------------------------------------------------- calls

def new_client(server: Server) -> Client:
    return Client(server.url, verbose=False)


def queue_status(client: Client) -> dict:
    return client.predict(api_name="/queue_status")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def wait_idle(client: Client, timeout: float = 60.0) -> None:
    assert wait_for(lambda: not (s := queue_status(client))["running"] and not s["waiting"], timeout), \
        queue_status(client)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def predict_file(client: Client, path: Path) -> dict:
    return client.predict(handle_file(str(path)), api_name="/predict")


def top(result: dict) -> tuple[str, float]:
    assert result["confidences"], result
    best = result["confidences"][0]
    return best["label"], best["confidence"]


def rest(server: Server, body=None, *, files=None, params=None, content_type="image/png", auth=None, method="POST"):
    """`POST /api/predict` (or `method`) with `body` as the request body or `files` as a form."""
    headers = {} if files is not None or content_type is None else {"Content-Type": content_type}
    return httpx.request(method, server.url + "api/predict", content=body, files=files, params=params,
                         headers=headers, auth=auth, timeout=30)
