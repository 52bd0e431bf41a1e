"""The benchmark's CPU path end to end (small batches, few repeats), its validation and its guard rails."""

import contextlib
import json
import threading
import time

import pytest
import torch

from mnist_demo import bench
from mnist_demo.app.core.jobs.line import JobQueue
from mnist_demo.app.core.jobs.runner import Finished, run_job
from mnist_demo.bench import core as bench_core
from mnist_demo.bench import memory as bench_memory
from mnist_demo.bench import reading as bench_reading
from mnist_demo.bench import report as bench_report
from mnist_demo.bench import sweep as bench_sweep
from mnist_demo.cli import main as cli_main
from mnist_demo.errors import ConfigError
from mnist_demo.models import build_model, param_count

SIZES = (1, 8, 32)
HAS_CUDA = torch.cuda.is_available()


def small_run(**kwargs) -> dict:
    """A quick sweep: cpu plus cuda (absent on CI), three small batch sizes, three timed runs each."""
    options = dict(devices=["cpu", "cuda"], batch_sizes=SIZES, repeats=3, warmup=1, time_budget_s=None)
    options.update(kwargs)
    return bench.run_benchmark(**options)


@pytest.fixture(scope="module")
def report():
    return small_run()


def test_report_structure(report):
    assert json.loads(json.dumps(report)) == report  # JSON-serialisable as it is
    for key in ("rows", "devices", "torch_version", "one_time", "reading", "cpu_model", "cpu_threads"):
        assert key in report
    assert report["torch_version"] == torch.__version__
    assert report["model"] == bench.DEFAULT_MODEL and report["batch_sizes"] == list(SIZES)
    cpu = next(d for d in report["devices"] if d["name"] == "cpu")
    assert cpu["available"] and cpu["threads"] == torch.get_num_threads() >= 1
    assert f"({cpu['threads']} threads)" in cpu["description"]
    assert len(report["reading"]) == 2 and all(report["reading"])


def test_cpu_rows_are_sane(report):
    rows = [r for r in report["rows"] if r["device"] == "cpu"]
    assert {(r["op"], r["batch_size"]) for r in rows} == {(op, b) for op in (bench.TRAIN, bench.INFER) for b in SIZES}
    for row in rows:
        assert row["status"] == "ok" and row["runs"] == 3
        assert 0 < row["ms_min"] <= row["ms_p10"] <= row["ms_median"] <= row["ms_p90"] <= row["ms_max"]
        assert row["samples_per_s"] == pytest.approx(row["batch_size"] / (row["ms_median"] / 1000), rel=1e-9)
        assert row["speedup_vs_cpu"] == pytest.approx(1.0)
    assert not [r for r in rows if r["op"] == bench.COPY], "no host->device copy on cpu"
    assert any("none on cpu" in note for note in report["notes"])


def test_one_time_costs_are_separate_and_positive(report):
    cpu = [c for c in report["one_time"] if c["device"] == "cpu"]
    assert cpu and all(c["ms"] > 0 for c in cpu)
    assert any("cold" in c["what"] for c in cpu)


@pytest.mark.skipif(HAS_CUDA, reason="checks the machine without CUDA")
def test_cuda_absent_is_reported_not_raised(report):
    assert not [r for r in report["rows"] if r["device"] == "cuda"]
    entry = next(d for d in report["devices"] if d["name"] == "cuda")
    assert entry["available"] is False and entry["reason"]
    assert report["unavailable"] == [entry]
    assert "No GPU here" in report["reading"][1]
    table = bench_report.format_table(report)
    assert "cuda  not available:" in table


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_rows_when_present(report):
    cuda = [r for r in report["rows"] if r["device"] == "cuda"]
    assert {r["op"] for r in cuda} == {bench.TRAIN, bench.INFER, bench.COPY}
    assert all(r["speedup_vs_cpu"] for r in cuda if r["op"] != bench.COPY)
    assert any("CUDA context" in c["what"] for c in report["one_time"])


def test_table_and_plot_show_every_row(report):
    table = bench_report.format_table(report)
    assert "ms median" in table and "samples/s" in table and "Reading:" in table
    assert table.count("\ncpu    ") == 2 * len(SIZES)
    plot = bench_report.format_plot(report)
    assert plot.count("cpu   batch") == len(SIZES)
    assert [b for b, _ in bench_report.plot_series(report)["cpu"]] == list(SIZES)


@pytest.mark.parametrize("text, field", [
    ("0", "batch_sizes"), ("65537", "batch_sizes"), ("1,x", "batch_sizes"), ("", "batch_sizes"),
    ("1,,8", "batch_sizes"), ("2.5", "batch_sizes"),
])
def test_bad_batch_sizes(text, field):
    with pytest.raises(ConfigError) as info:
        bench.parse_batch_sizes(text)
    assert info.value.field == field and "batch_sizes:" in str(info.value)


def test_batch_sizes_sorted_and_deduplicated():
    assert bench.parse_batch_sizes(" 256,1,64,1 ") == (1, 64, 256)
    assert bench.validate_batch_sizes([65536]) == (65536,)


@pytest.mark.parametrize("call, field", [
    (lambda: bench.validate_repeats(0), "repeats"), (lambda: bench.validate_repeats(1001), "repeats"),
    (lambda: bench.validate_repeats("many"), "repeats"), (lambda: bench.validate_warmup(-1), "warmup"),
    (lambda: bench.validate_devices("cpu,tpu"), "devices"), (lambda: bench.validate_model("resnet"), "model"),
    (lambda: bench.validate_time_budget(0), "time_budget_s"),
    (lambda: bench.run_benchmark(batch_sizes=[0]), "batch_sizes"),
    (lambda: bench.run_benchmark(repeats=5000), "repeats"),
])
def test_validation_names_the_field(call, field):
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.field == field


def test_requested_absent_device_is_not_an_error():
    names = bench.validate_devices("CPU, mps, cuda")
    assert names == ["cpu", "mps", "cuda"]
    for name in names:
        entry = bench.device_entry(name)
        assert entry["available"] or entry["reason"]


def _failing(real, batch, error):
    """Wrap a make_* function so that the operation it builds raises `error` at `batch`."""
    def make(*args):
        op = real(*args)
        if args[-2] == batch:  # (model, [optimizer,] batch_size, device)
            def fail():
                raise error
            return fail
        return op
    return make


@pytest.mark.parametrize("error", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: out of memory"),
    MemoryError(),
])
def test_out_of_memory_becomes_a_row_and_the_sweep_goes_on(monkeypatch, error):
    monkeypatch.setattr(bench_core, "make_train_step", _failing(bench_core.make_train_step, 8, error))
    monkeypatch.setattr(bench_core, "make_inference", _failing(bench_core.make_inference, 8, error))
    released = []
    real_release = bench_core.release
    monkeypatch.setattr(bench_core, "release", lambda device: (released.append(str(device)), real_release(device)))
    report = small_run(devices=["cpu"], repeats=2, warmup=0)
    by_key = {(r["op"], r["batch_size"]): r for r in report["rows"]}
    for op in (bench.TRAIN, bench.INFER):
        assert by_key[(op, 8)]["status"] == "oom"
        assert by_key[(op, 8)]["note"].startswith("out of memory at batch 8")
        assert by_key[(op, 32)]["status"] == "ok" and by_key[(op, 32)]["ms_median"] > 0
    assert released.count("cpu") >= 2
    assert "out of memory at batch 8" in bench_report.format_table(report)


def test_other_errors_are_not_swallowed(monkeypatch):
    failing = _failing(bench_core.make_train_step, 8, RuntimeError("shape mismatch"))
    monkeypatch.setattr(bench_core, "make_train_step", failing)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        small_run(devices=["cpu"], repeats=1, warmup=0)


# --------------------------------------------------------------------------- memory caps

GIB, MIB = 2**30, 2**20


def _no_work(monkeypatch):
    """Make any measuring fail the test: a refusal must come before any work."""
    def forbidden(*args, **kwargs):
        raise AssertionError("work started although the batch size should have been refused")
    for name in ("one_time_costs", "sweep_device"):
        monkeypatch.setattr(bench_sweep, name, forbidden)
    monkeypatch.setattr(bench_memory, "host_busy_share", forbidden)
    for name in ("make_train_step", "make_inference"):
        monkeypatch.setattr(bench_core, name, forbidden)


# (model, batch sizes, memory the host has available, the batch size refused or None, the limit named)
MEMORY_CASES = [
    ("cnn", (64, 65536), 24 * GIB, 65536, "12.0 GiB"),      # the case: 18 GB of a 24 GB host, refused
    ("cnn", (1, 32768, 65536), 8 * GIB, 32768, "4.0 GiB"),   # the message names the first; others listed
    ("mlp", (1, 4096), 48 * MIB, 4096, "24 MiB"),
    ("cnn", (64, 32768), 24 * GIB, None, None),              # about 10 GiB estimated: under half of 24 GiB
    ("mlp", (1, 64, 65536), 4 * GIB, None, None),
]


@pytest.mark.parametrize("model, sizes, available, refused, limit", MEMORY_CASES)
def test_batch_size_over_the_memory_cap_is_refused_before_any_work(monkeypatch, model, sizes, available, refused,
                                                                   limit):
    monkeypatch.setattr(bench_memory, "host_memory_available", lambda: available)
    if refused is None:
        bench.check_memory(model, sizes)  # fits: nothing raised (and nothing run: check_memory only estimates)
        return
    _no_work(monkeypatch)
    with pytest.raises(ConfigError) as info:
        bench.run_benchmark(devices=["cpu"], batch_sizes=sizes, model=model)
    message = str(info.value)
    assert info.value.field == "batch_sizes"
    assert f"batch size {refused} is too large" in message and f"the limit of {limit}" in message, message
    assert "the largest batch size that fits is" in message
    if refused == 32768:
        assert "(also too large: 65536)" in message


def test_cli_refuses_an_over_cap_batch_size_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(bench_memory, "host_memory_available", lambda: 24 * GIB)
    _no_work(monkeypatch)
    assert cli_main(["bench", "--model", "cnn", "--batch-sizes", "1,65536"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: batch_sizes: batch size 65536 is too large")
    assert "over the limit of 12.0 GiB (half of the 24.0 GiB this host has available now)" in lines[0]


def test_estimate_is_never_under_the_measured_need():
    """The calibration in docs/cpu-vs-cuda.md: peak RSS growth per sample, measured at batch 4096."""
    measured = {("tutorial", bench.TRAIN): 18087, ("mlp", bench.TRAIN): 21434, ("cnn", bench.TRAIN): 243530,
                ("cnn-small", bench.TRAIN): 142462, ("tutorial", bench.INFER): 13544,
                ("mlp", bench.INFER): 15734, ("cnn", bench.INFER): 84650, ("cnn-small", bench.INFER): 52213}
    for (name, op), per_sample in measured.items():
        model = build_model(name)
        per_sample = bench_memory.activation_bytes_per_sample(model)
        estimate = bench_memory.estimated_bytes(op, 4096, per_sample, param_count(model))
        assert 4096 * per_sample <= estimate <= 3 * 4096 * per_sample, (name, op)


def test_a_cell_over_the_cap_when_it_comes_is_not_run(monkeypatch):
    """Memory can shrink after the up-front check: each cell is checked again just before it runs."""
    monkeypatch.setattr(bench_sweep, "check_memory", lambda *args: None)  # as if the host had had room at first
    monkeypatch.setattr(bench_memory, "host_memory_available", lambda: 48 * MIB)
    report = small_run(devices=["cpu"], batch_sizes=(1, 4096), repeats=1, warmup=0)
    big = [r for r in report["rows"] if r["batch_size"] == 4096]
    assert {r["op"] for r in big} == {bench.TRAIN, bench.INFER}
    assert all(r["status"] == "refused" and r["runs"] == 0 for r in big)
    assert all(r["note"].startswith("not run: batch size 4096 is too large") and "limit of 24 MiB" in r["note"]
               for r in big)
    assert all(r["status"] == "ok" for r in report["rows"] if r["batch_size"] == 1)
    assert "not run: batch size 4096" in bench_report.format_table(report)


def test_one_time_step_over_the_cap_is_not_run(monkeypatch):
    monkeypatch.setattr(bench_memory, "host_memory_available", lambda: 48 * MIB)
    rows = bench_sweep.one_time_costs("cpu", "mlp", 4096)
    assert len(rows) == 1 and rows[0]["ms"] is None and rows[0]["note"].startswith("not run: batch size 4096")


# --------------------------------------------------------------------------- Stop between steps and layers

class _SlowGrad(torch.autograd.Function):
    """Identity whose backward sleeps: a layer whose gradient takes long."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        _slow_layer("backward")
        return grad


LAYER_S = 0.3  # each layer of the slow model takes this long forward and backward, at batch 16 and more
LAYERS = 16  # so one training step takes 2 x 16 x 0.3 = 9.6 s
_LOG: list[str] = []  # the slow layers run so far, "forward" or "backward"
_TRIGGER: dict = {}  # "at": after that many slow layers have started, call "fire" (Stop comes mid-layer)


def _slow_layer(phase: str) -> None:
    _LOG.append(phase)
    if len(_LOG) == _TRIGGER.get("at"):
        _TRIGGER["fired"] = time.perf_counter()
        _TRIGGER["fire"]()
    time.sleep(LAYER_S)


class _Slow(torch.nn.Module):
    """A layer that takes LAYER_S forward and backward at batch >= 16, sleeping: slow without using the CPU
    that other tests and engineers share."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        x = x * self.scale
        if x.shape[0] >= 16:
            _slow_layer("forward")
            x = _SlowGrad.apply(x)
        return x


@pytest.fixture
def slow_model(monkeypatch):
    from mnist_demo.models import MODELS, ModelSpec

    build = lambda: torch.nn.Sequential(torch.nn.Flatten(), *[_Slow() for _ in range(LAYERS)],  # noqa: E731
                                        torch.nn.Linear(28 * 28, 10))
    monkeypatch.setitem(MODELS, "slow", ModelSpec("slow", build, "sleeps in every layer (tests only)"))
    _LOG.clear()
    _TRIGGER.clear()
    yield "slow"
    _TRIGGER.clear()


def _stop_button(run):
    """Stop as the app's button does: the run's `stop` event is set."""
    stop = threading.Event()
    _TRIGGER["fire"] = stop.set
    return run(stop), None


def _time_cap(run):
    """Stop as the app's wall-clock cap does: the jobs queue's watchdog finds the run over its max_seconds
    (its clock jumps an hour ahead when the trigger fires) and sets the ticket's `stop`."""
    ahead = [0.0]
    queue = JobQueue(max_running=1, max_seconds=600, watch_interval_s=0.05, clock=lambda: time.monotonic() + ahead[0])
    _TRIGGER["fire"] = lambda: ahead.__setitem__(0, 3600.0)
    ticket = queue.submit("tester", kind="benchmark", exclusive=True)
    finished = [item for item in run_job(ticket, lambda stop, emit: run(stop)) if isinstance(item, Finished)]
    queue.close()
    return finished[0].result, finished[0].stop_reason


CAP_REASON = "the time limit of 600 s per run was reached"
# (how Stop comes, in which pass of the slow 9.6 s training step, after how many slow layers have started,
#  the stop reason the jobs queue gives)
STOP_CASES = [
    ("Stop button", _stop_button, "forward", 3, None),
    ("Stop button", _stop_button, "backward", LAYERS + 3, None),
    ("wall-clock cap", _time_cap, "forward", 3, CAP_REASON),
    ("wall-clock cap", _time_cap, "backward", LAYERS + 3, CAP_REASON),
]


@pytest.mark.parametrize("how, stopper, phase, at, expected_reason", STOP_CASES)
def test_stop_during_a_long_cell_ends_the_run_within_seconds(slow_model, how, stopper, phase, at, expected_reason):
    """A slow training step of 9.6 s, stopped in its forward or backward pass: the run ends within a layer.

    Expected a layer's LAYER_S (0.3 s) plus one garbage collection after Stop: measured 0.46-0.50 s here. The
    bound is 5 s because this 2-core machine is shared with other test runs and builds, which can slow the
    collection and the thread's wake-up several times over. Checking only between steps would end it at the
    end of the step, 4.1 s to 8.7 s after Stop, and only between cells many steps later; the counts of slow
    layers run show that the step itself was cut short, in the pass where Stop landed.
    """
    _TRIGGER["at"] = at

    def run(stop):
        report = bench.run_benchmark(devices=["cpu"], batch_sizes=(2, 64), model=slow_model, repeats=3, warmup=1,
                                     time_budget_s=None, stop=stop)
        _TRIGGER["ended"] = time.perf_counter()
        return report

    report, reason = stopper(run)
    latency = _TRIGGER["ended"] - _TRIGGER["fired"]
    assert latency < 5.0, f"{how}: the run ended {latency:.1f} s after Stop"
    forward, backward = _LOG.count("forward"), _LOG.count("backward")
    if phase == "forward":
        assert forward == at and backward == 0, _LOG
    else:
        assert forward == LAYERS and backward == at - LAYERS, _LOG
    assert report["stopped"] is True
    assert reason == expected_reason
    # the partial table: the cells of batch 2 finished before Stop and are kept; nothing of batch 64 is
    assert {(r["op"], r["batch_size"], r["status"]) for r in report["rows"]} == {
        (bench.TRAIN, 2, "ok"), (bench.INFER, 2, "ok")}
    assert report["notes"][0].startswith("Stopped before the end: 2 cells finished")
    assert "Stopped before the end" in bench_report.format_table(report)


def test_stop_before_a_run_is_checked_between_runs():
    """Between runs, Stop is checked before each one, outside the clock reads: no run starts after it."""
    stop, calls = threading.Event(), []

    def op():
        calls.append(1)
        if len(calls) == 5:
            stop.set()

    with pytest.raises(bench.BenchStopped):
        bench_core.time_runs(op, torch.device("cpu"), repeats=50, warmup=2, budget_s=None, stop=stop)
    assert len(calls) == 5


# (seconds one run takes, warm-up runs, whether `stop` is given, which runs are hooked, in order)
HOOK_CASES = [
    (0.0, 2, True, [True, False, False, False, False]),  # short: only the first warm-up run
    (0.0, 0, True, [False, False, False]),                # no warm-up: timed runs never hooked
    (0.25, 1, True, [True, True, True, True]),            # long runs: every one checks its layers
    (0.25, 1, False, [False, False, False, False]),       # no stop event, no hooks
]


@pytest.mark.parametrize("run_s, warmup, with_stop, expected", HOOK_CASES)
def test_layer_checks_only_where_they_cannot_distort_the_timing(monkeypatch, run_s, warmup, with_stop, expected):
    """Layer hooks cost ~33 us per run (docs/cpu-vs-cuda.md): only untimed warm-up runs and runs after one
    longer than LONG_RUN_S (where that is under 0.05%) carry them."""
    model, hooked, active = torch.nn.Linear(2, 2), [], []
    real = bench_core.layer_checks

    @contextlib.contextmanager
    def spy(*args):
        active.append(True)
        with real(*args):
            yield
        active.pop()

    monkeypatch.setattr(bench_core, "layer_checks", spy)

    def op():
        hooked.append(bool(active))
        time.sleep(run_s)

    bench_core.time_runs(op, torch.device("cpu"), repeats=3, warmup=warmup, budget_s=None,
                    stop=threading.Event() if with_stop else None, model=model)
    assert hooked == expected


@pytest.mark.parametrize("name", ["tutorial", "mlp", "cnn", "cnn-small"])
def test_layer_checks_stop_a_real_step_in_its_backward_and_leave_the_model_clean(name):
    """Backward checks sit on autograd nodes, so in-place ReLUs (cnn) are untouched; hooks go away after."""
    model = build_model(name)
    step = bench_core.make_train_step(model, bench_core.make_optimizer(name, model), 8, torch.device("cpu"))
    stop = threading.Event()
    last = [m for m in model.modules() if not list(m.children())][-1]
    handle = last.register_forward_hook(lambda *args: stop.set())  # the forward completes, then Stop
    with pytest.raises(bench.BenchStopped):
        with bench_core.layer_checks(model, stop.is_set):
            step()
    handle.remove()
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())
    assert torch.isfinite(step()).all()  # trains on normally without the hooks


def test_normal_run_with_a_stop_event_is_unchanged():
    report = small_run(devices=["cpu"], stop=threading.Event())
    assert report["stopped"] is False and not any("Stopped" in n for n in report["notes"])
    assert {(r["op"], r["batch_size"]) for r in report["rows"]} == {(op, b) for op in (bench.TRAIN, bench.INFER)
                                                                     for b in SIZES}
    assert all(r["status"] == "ok" and r["runs"] == 3 for r in report["rows"])


def test_time_budget_stops_repeats_early():
    runs = bench_core.time_runs(lambda: time.sleep(0.02), torch.device("cpu"), repeats=50, warmup=1, budget_s=0.05)
    assert len(runs) == bench_core.MIN_RUNS
    assert len(bench_core.time_runs(lambda: None, torch.device("cpu"), repeats=7, warmup=0, budget_s=None)) == 7


def test_summarize_median_and_spread():
    stats = bench_core.summarize([0.004, 0.001, 0.002, 0.003, 0.005], batch_size=10)
    assert stats["ms_median"] == pytest.approx(3.0) and stats["runs"] == 5
    assert stats["ms_min"] == pytest.approx(1.0) and stats["ms_max"] == pytest.approx(5.0)
    assert stats["ms_p10"] == pytest.approx(1.4) and stats["ms_p90"] == pytest.approx(4.6)
    assert stats["samples_per_s"] == pytest.approx(10 / 0.003)


def test_cli_json(capsys):
    code = cli_main(["bench", "--devices", "cpu,cuda", "--batch-sizes", "1,8", "--repeats", "2", "--warmup", "0",
                     "--json"])
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(out)
    assert {"rows", "devices", "torch_version"} <= set(document)
    assert {r["batch_size"] for r in document["rows"] if r["device"] == "cpu"} == {1, 8}
    assert any(d["name"] == "cpu" and "threads" in d["description"] for d in document["devices"])


def test_cli_table(capsys):
    assert cli_main(["bench", "--devices", "cpu", "--batch-sizes", "4", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "train step" in out and "inference" in out and "samples/s per train step" in out


@pytest.mark.parametrize("argv, field", [
    (("--batch-sizes", "0,64"), "batch_sizes"), (("--repeats", "0"), "repeats"),
    (("--devices", "gpu"), "devices"), (("--model", "resnet"), "model"),
])
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, field):
    assert cli_main(["bench", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:")


def test_command_line_entry_point(capsys):
    from mnist_demo.cli import main

    assert main(["bench", "--devices", "cpu", "--batch-sizes", "2", "--repeats", "1", "--warmup", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]


def _fake_row(device, op, batch, ms):
    return bench.make_row(device, op, batch, **bench_core.summarize([ms / 1000] * 3, batch))


def test_reading_with_cuda_rows_names_the_crossover_and_the_copy():
    rows = [_fake_row("cpu", bench.TRAIN, 1, 0.5), _fake_row("cuda", bench.TRAIN, 1, 1.5),
            _fake_row("cpu", bench.TRAIN, 256, 20.0), _fake_row("cuda", bench.TRAIN, 256, 2.0),
            _fake_row("cpu", bench.TRAIN, 4096, 400.0), _fake_row("cuda", bench.TRAIN, 4096, 4.0),
            _fake_row("cuda", bench.COPY, 4096, 2.0)]
    bench.add_speedups(rows)
    devices = [{"name": "cpu", "available": True}, {"name": "cuda", "available": True}]
    lines = bench_reading.reading({"rows": rows, "model": "mlp", "devices": devices})
    assert lines[0].startswith("At batch 1 the CPU wins (0.500 vs 1.500 ms")
    assert lines[1].startswith("From batch 256 cuda is faster (10.0x), up to 100x at batch 4096")
    assert "2.000 ms (50% of a step)" in lines[1]
    assert [r["speedup_vs_cpu"] for r in rows if r["op"] == bench.COPY] == [None]


def test_reading_cpu_only_single_batch_size():
    rows = [_fake_row("cpu", bench.TRAIN, 64, 4.0)]
    devices = [{"name": "cpu", "available": True}, {"name": "cuda", "available": False, "reason": "absent"}]
    lines = bench_reading.reading({"rows": rows, "model": "mlp", "devices": devices})
    assert "at batch 64 runs at 16,000 samples/s (4.000 ms per step)" in lines[0]
    assert len(lines) == 2


def test_cpu_is_always_the_baseline():
    report = small_run(devices=["cuda"], batch_sizes=(2,), repeats=1, warmup=0)
    assert [d["name"] for d in report["devices"]] == ["cpu", "cuda"]
    assert {r["device"] for r in report["rows"]} == ({"cpu", "cuda"} if HAS_CUDA else {"cpu"})
    assert any("baseline" in note for note in report["notes"])


# (batch sizes typed in the app, memory the host has available, what the refusal says; None: accepted)
APP_CASES = [
    ("1,65536", 24 * GIB, "65536 is more than this app allows"),
    ("64,8192", 1 * GIB, "batch size 8192 is too large for this machine"),
    ("64,1024", 24 * GIB, None),
]


@pytest.mark.parametrize("sizes, available, refusal", APP_CASES)
def test_app_refuses_over_cap_batch_sizes_before_queueing(monkeypatch, sizes, available, refusal):
    """The CPU vs CUDA tab checks the app's cap (the Train tab's 8192) and the memory cap before it queues."""
    bench_tab = pytest.importorskip("mnist_demo.app.tabs.bench")
    monkeypatch.setattr(bench_memory, "host_memory_available", lambda: available)
    if refusal is None:
        assert bench_tab.validate("cnn", sizes, 3) == ("cnn", tuple(map(int, sizes.split(","))), 3)
        return
    with pytest.raises(ConfigError) as info:
        bench_tab.validate("cnn", sizes, 3)
    assert info.value.field == "batch_sizes" and refusal in str(info.value)
