"""Long jobs as Dask distributed tasks (`Cluster`): an embedded LocalCluster (one worker process, `slots` jobs at once)
by default, or the workers of a running scheduler (`dask scheduler`, and `dask worker ADDR --resources train=N` where
this repository can be imported: README.md, "Serve a class").

The web process keeps the line (`jobs.JobQueue`): a ticket it admits is sent to a worker as a task asking for one
`train` resource, so each worker runs as many jobs at once as it has slots. What the worker's job emits arrives
through the scheduler's event log (`remote.TOPIC`) and goes to that visitor's consumer; Stop sets the run's
`distributed.Event`, which the job polls between batches; the result is checked before anyone uses it
(`remote.unpack`).

The cluster's slots are the usable workers' `train` resources, read from the scheduler every MONITOR_S, so workers
may join and leave while the app serves (`on_slots` tells the line). Each new worker is checked once (it loads MNIST
from its own data folder, which also warms it up): a scheduler's worker that cannot is named once in the log and gets
no jobs, and while no worker can run anything, runs are refused at once with the workers' problems (the embedded
worker is this machine's only one: each run says the problem itself). A worker that dies mid-run: that run ends with
`WorkerLost` (its visitor is told and can press Train again; a task the scheduler would run again elsewhere is
cancelled and stopped), and nobody else notices. Measured on this machine: docs/measurements.md ("A class on one
link").
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import dask
from distributed import Client, Event, KilledWorker, LocalCluster

from mnist_demo.app.core.jobs import remote
from mnist_demo.app.core.jobs.runner import Outcome, run_job
from mnist_demo.errors import CheckpointError, DemoError

log = logging.getLogger(__name__)
MONITOR_S = 0.5  # how often the workers are read from the scheduler (a worker's loss is noticed within this)
WATCH_S = 0.1  # how often a run's watcher looks at Stop and at its task (Stop reaches the worker within ~0.3 s)
END_WAIT_S = 5.0  # how long a finished run's last items may trail its result through the scheduler


class WorkerLost(DemoError):
    """The worker running a job stopped before the job finished; nothing of the job was kept."""

    def __init__(self, host: str):
        super().__init__(f"the machine running this job ({host}) stopped before it finished, and nothing of it was "
                         "kept: press the button again to run it on another worker", code="worker_lost", host=host)


@dataclass
class WorkerInfo:
    """One worker as the app sees it: where it runs, its slots, what its check found (None: not checked yet)."""

    address: str
    host: str
    slots: int
    devices: tuple = ()
    problem: str | None = None
    checked: bool = False


@dataclass
class Run:
    """A job sent to the cluster: its ticket, where its items go, its task and stop event, and where it runs."""

    id: str
    ticket: Any
    put: Callable
    label: str
    future: Any = None
    stop_event: Any = None
    stop_sent: bool = False
    worker: str | None = None
    host: str | None = None
    attempt: str | None = None
    lost: bool = False
    ended: threading.Event = field(default_factory=threading.Event)


class Cluster:
    """The app's Dask client and, by default, its embedded LocalCluster; `run(ticket, work)` is a runner."""

    def __init__(self, address: str | None = None, slots: int = 1, data_dir: str = "data",
                 threads: int | None = None, on_slots: Callable[[int, str | None], None] | None = None):
        self.data_dir, self.threads, self.on_slots = str(data_dir), threads, on_slots
        self.local = None
        if address is None:
            # A task on a worker that died is not run again by itself (the default is 3 tries): its visitor is
            # told instead, and can run it again on purpose.
            # The worker process starts with this process's environment: Dask's nanny would add its own, whose
            # MALLOC_TRIM_THRESHOLD_=65536 makes glibc give memory back after every batch, and the default preset's
            # epoch took 10.7-11.3 s in a worker against 7.4 s without it (and 6.6-8.4 s in this process).
            with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                  "distributed.nanny.pre-spawn-environ": {}}):
                self.local = LocalCluster(n_workers=1, threads_per_worker=slots + 1, processes=True,
                                          resources={"train": slots}, host="127.0.0.1", dashboard_address=None,
                                          silence_logs=logging.ERROR)
            self.client = Client(self.local)
        else:
            self.client = Client(address, timeout=30)
        self.address = self.client.scheduler.address
        self.where = "embedded" if address is None else self.address
        self._slots = slots if address is None else 0  # the embedded worker's, until the scheduler says
        self._why: str | None = None  # what keeps the workers from running anything, while none can
        self._workers: dict[str, WorkerInfo] = {}
        self._checks: dict[str, Any] = {}  # worker address -> its check's future
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.client.subscribe_topic(remote.TOPIC, self._on_event)
        self._monitor = threading.Thread(target=self._watch_workers, name="cluster-monitor", daemon=True)
        self._monitor.start()

    # ----------------------------------------------------------------- the runner

    def run(self, ticket, work: Callable) -> Iterator[Any]:
        """`runner.run_job` with the work sent to a worker."""
        return run_job(ticket, work, launch=self.launch)

    def launch(self, ticket, work, put: Callable) -> threading.Thread:
        """Send `work` to a worker as a task; a watcher thread hands its items, then its Outcome, to `put`, and frees
        the ticket's slot when the task is over."""
        run = Run(uuid.uuid4().hex, ticket, put, f"{ticket.kind} {ticket.id}")
        run.stop_event = Event(f"mnist-demo-stop-{run.id}", client=self.client)
        with self._lock:
            self._runs[run.id] = run
        device = work.keywords.get("device") or getattr(work.keywords.get("config"), "device", None)
        workers = self.usable_workers(device)
        run.future = self.client.submit(remote.run_task, work, run.id, run.stop_event.name,
                                        key=f"mnist-demo-{ticket.kind}-{run.id}", resources={"train": 1},
                                        pure=False, retries=0, workers=workers, allow_other_workers=False)
        watcher = threading.Thread(target=self._watch_run, args=(run,), name=f"{ticket.kind}-{ticket.id}",
                                   daemon=True)
        watcher.start()
        return watcher

    def _watch_run(self, run: Run) -> None:
        outcome = Outcome(error=WorkerLost(run.host or "?"))
        try:
            outcome = self._outcome(run)
        finally:
            with self._lock:
                self._runs.pop(run.id, None)
            self._quietly(run.stop_event.clear)  # an event that was set lives on the scheduler until cleared
            run.ticket.release()
            run.put(outcome)

    def _outcome(self, run: Run) -> Outcome:
        while True:
            if run.ticket.stop.is_set() and not run.stop_sent:
                run.stop_sent = True
                self._quietly(run.stop_event.set)
            if run.lost or self._closed.is_set():
                self._quietly(run.stop_event.set)  # a copy the scheduler started elsewhere ends too
                self._quietly(lambda: self.client.cancel(run.future))
                return Outcome(error=WorkerLost(run.host or "?"))
            try:
                blob = run.future.result(timeout=WATCH_S)
            except TimeoutError:
                continue
            except (KilledWorker, CancelledError):
                return Outcome(error=WorkerLost(run.host or "?"))
            except Exception as err:  # noqa: BLE001 - the job's own error, raised again here from its worker
                return Outcome(error=err)
            run.ended.wait(END_WAIT_S)  # its last items first: the final epoch's log line, the last benchmark cell
            try:
                return Outcome(result=remote.unpack(blob, run.label))
            except CheckpointError as err:
                return Outcome(error=err)

    def _on_event(self, event) -> None:
        """A job's item from the scheduler's event log (on the client's own thread: hand it on, nothing more)."""
        _, message = event
        with self._lock:
            run = self._runs.get(message.get("run")) if isinstance(message, dict) else None
        if run is None:
            return
        if message.get("type") == "placed":
            if run.attempt is not None and message.get("attempt") != run.attempt:
                run.lost = True  # the scheduler started it again elsewhere: its first worker is gone
                return
            run.attempt, run.worker, run.host = message.get("attempt"), message.get("worker"), message.get("host")
        elif message.get("attempt") != run.attempt:
            return
        if message.get("type") == remote.END:
            run.ended.set()
            return
        try:
            run.put(remote.decode(message))
        except (ValueError, TypeError, KeyError):
            log.warning("ignored an item of run %s that no job sends: %.200r", run.id, message)

    # ----------------------------------------------------------------- the workers

    def slots(self) -> int:
        return self._slots

    def workers(self) -> list[WorkerInfo]:
        with self._lock:
            return list(self._workers.values())

    def usable_workers(self, device: str | None = None) -> list[str] | None:
        """The addresses a job may go to (None: any): workers whose check failed get none, and a job for a device
        other than the CPU goes to a worker that has it."""
        workers = self.workers()
        good = [w for w in workers if w.problem is None or self.local is not None]
        if device not in (None, "cpu"):
            good = [w for w in good if not w.checked or device in w.devices]
        if len(good) == len(workers):
            return None
        return [w.address for w in good]

    def devices(self) -> list[str]:
        """Every device some usable worker has (the CPU at least)."""
        found = {d for w in self.workers() if w.problem is None for d in w.devices}
        return ["cpu", *sorted(found - {"cpu"})]

    def describe(self) -> dict:
        """The cluster for the line's status: where its scheduler is, and each worker."""
        with self._lock:
            runs = [{"ticket": r.ticket.id, "worker": r.worker, "host": r.host} for r in self._runs.values()]
        return {"scheduler": self.where, "slots": self._slots, "runs": runs,
                "workers": [{"address": w.address, "host": w.host, "slots": w.slots,
                             "ready": w.checked and w.problem is None, "problem": w.problem} for w in self.workers()]}

    def _watch_workers(self) -> None:
        while not self._closed.wait(MONITOR_S):
            try:
                self._read_workers()
            except Exception as err:  # noqa: BLE001 - a scheduler briefly out of reach: try again next time
                log.warning("could not read the cluster's workers: %s", err)

    def _read_workers(self) -> None:
        # Asked of the scheduler directly: `client.scheduler_info()` returns the client's shared copy, which its own
        # periodic refresh overwrites with a worker-less summary, and under load that copy came back empty: four
        # runs of a class were said lost while their workers were fine (benchmarks/class_load.py, 2 workers).
        info = self.client.sync(self.client.scheduler.identity, n_workers=-1).get("workers", {})
        with self._lock:
            for address in list(self._workers):
                if address not in info:
                    gone = self._workers.pop(address)
                    self._checks.pop(address, None)
                    log.warning("worker %s (%s) left the cluster", address, gone.host)
            for address, worker in info.items():
                if address not in self._workers:
                    slots = int((worker.get("resources") or {}).get("train", 0))
                    self._workers[address] = WorkerInfo(address, str(worker.get("host", address)), slots)
                    self._checks[address] = self.client.submit(
                        remote.check_worker, self.data_dir, self.threads, key=f"mnist-demo-check-{uuid.uuid4().hex}",
                        pure=False, workers=[address], allow_other_workers=False)
            for address, check in list(self._checks.items()):
                if check.done():
                    self._checks.pop(address)
                    self._checked(self._workers[address], check)
            for run in self._runs.values():
                if run.worker is not None and run.worker not in info:
                    run.lost = True
            # A scheduler's worker whose check failed gets no jobs (others may well have MNIST); the embedded worker is
            # this machine's only one, so each run says the problem itself, as it would in this process.
            usable = sum(w.slots for w in self._workers.values() if w.problem is None or self.local is not None)
            problems = [f"{w.host} ({w.address}): {w.problem}" for w in self._workers.values() if w.problem]
            why = None if usable else "; ".join(problems) or None
            changed = bool(self._workers) and (usable, why) != (self._slots, self._why)
            if changed:
                self._slots, self._why = usable, why
        if changed and self.on_slots is not None:
            self.on_slots(usable, why)

    def _checked(self, worker: WorkerInfo, check) -> None:
        try:
            found = check.result()
        except Exception as err:  # noqa: BLE001 - a worker that cannot even run the check gets no jobs
            found = {"problem": f"its check failed ({type(err).__name__}: {err})"}
        worker.checked = True
        worker.host = str(found.get("host", worker.host))
        worker.devices = tuple(found.get("devices", ()))
        worker.problem = found.get("problem")
        if worker.problem:
            log.error("worker %s (%s) gets no jobs: %s", worker.address, worker.host, worker.problem)

    # ----------------------------------------------------------------- the end

    def close(self) -> None:
        """Stop every run (their visitors are told), then the client and the embedded cluster."""
        self._closed.set()
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.ticket.cancel()
        deadline = time.monotonic() + 5
        while self._runs and time.monotonic() < deadline:
            time.sleep(0.05)
        self._quietly(self.client.close)
        if self.local is not None:
            self._quietly(self.local.close)

    @staticmethod
    def _quietly(action: Callable) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - the scheduler may be gone already; nothing to tell anyone
            log.debug("ignored while talking to the scheduler: %s", err)
