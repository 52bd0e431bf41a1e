"""The benchmark's CPU path end to end (small batches, few repeats), its validation and its guard rails."""

import argparse
import json
import time

import pytest
import torch

from mnist_demo import bench
from mnist_demo.errors import ConfigError

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
    table = bench.format_table(report)
    assert "cuda  not available:" in table


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cuda_rows_when_present(report):
    cuda = [r for r in report["rows"] if r["device"] == "cuda"]
    assert {r["op"] for r in cuda} == {bench.TRAIN, bench.INFER, bench.COPY}
    assert all(r["speedup_vs_cpu"] for r in cuda if r["op"] != bench.COPY)
    assert any("CUDA context" in c["what"] for c in report["one_time"])


def test_table_and_plot_show_every_row(report):
    table = bench.format_table(report)
    assert "ms median" in table and "samples/s" in table and "Reading:" in table
    assert table.count("\ncpu    ") == 2 * len(SIZES)
    plot = bench.format_plot(report)
    assert plot.count("cpu   batch") == len(SIZES)
    assert [b for b, _ in bench.plot_series(report)["cpu"]] == list(SIZES)


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
    monkeypatch.setattr(bench, "make_train_step", _failing(bench.make_train_step, 8, error))
    monkeypatch.setattr(bench, "make_inference", _failing(bench.make_inference, 8, error))
    released = []
    real_release = bench.release
    monkeypatch.setattr(bench, "release", lambda device: (released.append(str(device)), real_release(device)))
    report = small_run(devices=["cpu"], repeats=2, warmup=0)
    by_key = {(r["op"], r["batch_size"]): r for r in report["rows"]}
    for op in (bench.TRAIN, bench.INFER):
        assert by_key[(op, 8)]["status"] == "oom"
        assert by_key[(op, 8)]["note"].startswith("out of memory at batch 8")
        assert by_key[(op, 32)]["status"] == "ok" and by_key[(op, 32)]["ms_median"] > 0
    assert released.count("cpu") >= 2
    assert "out of memory at batch 8" in bench.format_table(report)


def test_other_errors_are_not_swallowed(monkeypatch):
    monkeypatch.setattr(bench, "make_train_step", _failing(bench.make_train_step, 8, RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        small_run(devices=["cpu"], repeats=1, warmup=0)


def test_host_memory_guard_skips_batches_that_cannot_fit(monkeypatch):
    monkeypatch.setattr(bench, "host_memory_available", lambda: 48 * 2**20)  # 48 MiB free
    report = small_run(devices=["cpu"], batch_sizes=(1, 4096), repeats=1, warmup=0)
    big = [r for r in report["rows"] if r["batch_size"] == 4096]
    assert big and all(r["status"] == "oom" and "not attempted" in r["note"] for r in big)
    assert all(r["status"] == "ok" for r in report["rows"] if r["batch_size"] == 1)


def test_time_budget_stops_repeats_early():
    runs = bench.time_runs(lambda: time.sleep(0.02), torch.device("cpu"), repeats=50, warmup=1, budget_s=0.05)
    assert len(runs) == bench.MIN_RUNS
    assert len(bench.time_runs(lambda: None, torch.device("cpu"), repeats=7, warmup=0, budget_s=None)) == 7


def test_summarize_median_and_spread():
    stats = bench.summarize([0.004, 0.001, 0.002, 0.003, 0.005], batch_size=10)
    assert stats["ms_median"] == pytest.approx(3.0) and stats["runs"] == 5
    assert stats["ms_min"] == pytest.approx(1.0) and stats["ms_max"] == pytest.approx(5.0)
    assert stats["ms_p10"] == pytest.approx(1.4) and stats["ms_p90"] == pytest.approx(4.6)
    assert stats["samples_per_s"] == pytest.approx(10 / 0.003)


def _args(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_run_cli_json(capsys):
    code = bench.run_cli(_args("--devices", "cpu,cuda", "--batch-sizes", "1,8", "--repeats", "2", "--warmup", "0",
                               "--json"))
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(out)
    assert {"rows", "devices", "torch_version"} <= set(document)
    assert {r["batch_size"] for r in document["rows"] if r["device"] == "cpu"} == {1, 8}
    assert any(d["name"] == "cpu" and "threads" in d["description"] for d in document["devices"])


def test_run_cli_table(capsys):
    assert bench.run_cli(_args("--devices", "cpu", "--batch-sizes", "4", "--repeats", "1", "--warmup", "0")) == 0
    out = capsys.readouterr().out
    assert "train step" in out and "inference" in out and "samples/s per train step" in out


@pytest.mark.parametrize("argv, field", [
    (("--batch-sizes", "0,64"), "batch_sizes"), (("--repeats", "0"), "repeats"),
    (("--devices", "gpu"), "devices"), (("--model", "resnet"), "model"),
])
def test_run_cli_bad_input_exits_2_with_one_line(capsys, argv, field):
    assert bench.run_cli(_args(*argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:")


def test_command_line_entry_point(capsys):
    from mnist_demo.cli import main

    assert main(["bench", "--devices", "cpu", "--batch-sizes", "2", "--repeats", "1", "--warmup", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]


def _fake_row(device, op, batch, ms):
    return bench._row(device, op, batch, **bench.summarize([ms / 1000] * 3, batch))


def test_reading_with_cuda_rows_names_the_crossover_and_the_copy():
    rows = [_fake_row("cpu", bench.TRAIN, 1, 0.5), _fake_row("cuda", bench.TRAIN, 1, 1.5),
            _fake_row("cpu", bench.TRAIN, 256, 20.0), _fake_row("cuda", bench.TRAIN, 256, 2.0),
            _fake_row("cpu", bench.TRAIN, 4096, 400.0), _fake_row("cuda", bench.TRAIN, 4096, 4.0),
            _fake_row("cuda", bench.COPY, 4096, 2.0)]
    bench.add_speedups(rows)
    devices = [{"name": "cpu", "available": True}, {"name": "cuda", "available": True}]
    lines = bench.reading({"rows": rows, "model": "mlp", "devices": devices})
    assert lines[0].startswith("At batch 1 the CPU wins (0.500 vs 1.500 ms")
    assert lines[1].startswith("From batch 256 cuda is faster (10.0x), up to 100x at batch 4096")
    assert "2.000 ms (50% of a step)" in lines[1]
    assert [r["speedup_vs_cpu"] for r in rows if r["op"] == bench.COPY] == [None]


def test_reading_cpu_only_single_batch_size():
    rows = [_fake_row("cpu", bench.TRAIN, 64, 4.0)]
    devices = [{"name": "cpu", "available": True}, {"name": "cuda", "available": False, "reason": "absent"}]
    lines = bench.reading({"rows": rows, "model": "mlp", "devices": devices})
    assert "at batch 64 runs at 16,000 samples/s (4.000 ms per step)" in lines[0]
    assert len(lines) == 2


def test_cpu_is_always_the_baseline():
    report = small_run(devices=["cuda"], batch_sizes=(2,), repeats=1, warmup=0)
    assert [d["name"] for d in report["devices"]] == ["cpu", "cuda"]
    assert {r["device"] for r in report["rows"]} == ({"cpu", "cuda"} if HAS_CUDA else {"cpu"})
    assert any("baseline" in note for note in report["notes"])
