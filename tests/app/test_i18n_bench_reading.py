"""The benchmark's two-line reading in the visitor's language: the engine says it in English
(mnist_demo/bench/reading.py: `reading_parts` -> `reading_text`, the CLI and `report["reading"]`), the app says the
same pieces from the locale files' [bench_reading] texts (mnist_demo/app/tabs/bench.py: `reading_value`). For every
branch of the reading, the app's English equals the engine's, byte for byte, and the Korean is Hangul with the
figures filled in. The reports are synthetic: rows with chosen timings, as tests/engine/test_bench.py builds them."""

from __future__ import annotations

import re

import pytest

from mnist_demo import bench
from mnist_demo.app.core.messages import md_escape
from mnist_demo.app.tabs.bench import reading_value
from mnist_demo.bench import core as bench_core
from mnist_demo.bench import reading as bench_reading
from mnist_demo.texts import TEXTS, tr

HANGUL = re.compile("[\uac00-\ud7a3]")
CPU = {"name": "cpu", "available": True}
CUDA = {"name": "cuda", "available": True}
NO_CUDA = {"name": "cuda", "available": False, "reason": "absent"}
NO_MPS = {"name": "mps", "available": False, "reason": "absent"}


def row(device, batch, ms, op=bench.TRAIN):
    return bench.make_row(device, op, batch, **bench_core.summarize([ms / 1000] * 3, batch))


def report(rows, devices, stopped=False):
    bench.add_speedups(rows)
    return {"rows": rows, "model": "mlp", "devices": devices, "stopped": stopped}


# name: (report, accelerators this host has besides cpu, the pieces' codes line by line, a phrase of the English)
CASES = {
    "cpu_one_batch_no_gpu": (report([row("cpu", 64, 4.0)], [CPU, NO_CUDA]), [],
                             [["cpu_flat", "cpu_flat_one"], ["no_gpu", "no_gpu_absent", "no_gpu_would"]],
                             "at batch 64 runs at 16,000 samples/s (4.000 ms per step); sweep more"),
    "cpu_larger_no_faster": (report([row("cpu", 1, 0.1), row("cpu", 16, 16.0)], [CPU, NO_CUDA, NO_MPS]), [],
                             [["cpu_flat", "cpu_flat_larger"], ["no_gpu", "no_gpu_absent", "no_gpu_would"]],
                             "No GPU here (cuda, mps: not available). With CUDA"),
    "cpu_grows_nothing_absent": (report([row("cpu", 1, 1.0), row("cpu", 256, 16.0)], [CPU]), [],
                                 [["cpu_grows"], ["no_gpu", "no_gpu_would"]],
                                 "from 1,000 samples/s at batch 1 to 16,000 at batch 256 (16x)"),
    "cpu_with_idle_accelerator": (report([row("cpu", 8, 2.0)], [CPU]), ["cuda"],
                                  [["cpu_flat", "cpu_flat_one"], ["idle"]], "cuda is present but was not requested"),
    "stopped_before_a_step": (report([], [CPU, NO_CUDA], stopped=True), [],
                              [["stopped"], ["stopped_hint"]], "Stopped before a training step was timed."),
    "nothing_timed": (report([], [CPU, NO_CUDA]), [], [["untimed"], ["untimed_hint"]], "--batch-sizes 1,64,256"),
    "accelerator_without_cpu_rows": (report([row("cuda", 512, 2.0)], [CPU, CUDA]), ["cuda"],
                                     [["accel_only"], ["accel_only_hint"]],
                                     "cuda: 256,000 samples/s per training step at batch 512."),
    "no_common_batch": (report([row("cpu", 1, 1.0), row("cuda", 64, 1.0)], [CPU, CUDA]), ["cuda"],
                        [["no_shared"], ["no_shared_hint"]], "cuda and cpu have no batch size in common"),
    "cpu_wins_then_cuda_with_copy": (
        report([row("cpu", 1, 0.5), row("cuda", 1, 1.5), row("cpu", 256, 20.0), row("cuda", 256, 2.0),
                row("cpu", 4096, 400.0), row("cuda", 4096, 4.0), row("cuda", 4096, 2.0, op=bench.COPY)],
               [CPU, CUDA]), ["cuda"], [["cpu_wins"], ["faster_from", "copy"]],
        "From batch 256 cuda is faster (10.0x), up to 100x at batch 4096; copying that batch from host memory "
        "takes 2.000 ms (50% of a step)"),
    "cuda_already_faster_no_copy": (report([row("cpu", 32, 3.0), row("cuda", 32, 1.0), row("cpu", 1024, 90.0),
                                            row("cuda", 1024, 1.5)], [CPU, CUDA]), ["cuda"],
                                    [["accel_wins"], ["faster_from", "end"]],
                                    "At batch 32 cuda is already 3.0x faster (1.000 vs 3.000 ms per training step)."),
    "cuda_never_beats_cpu_with_copy": (report([row("cpu", 2, 0.2), row("cuda", 2, 0.8),
                                               row("cuda", 2, 0.1, op=bench.COPY)], [CPU, CUDA]), ["cuda"],
                                       [["cpu_wins"], ["never_faster", "copy"]],
                                       "cuda never beats the CPU in this sweep; copying that batch"),
    "cuda_never_beats_cpu_no_copy": (report([row("cpu", 2, 0.2), row("cuda", 2, 0.8)], [CPU, CUDA]), ["cuda"],
                                     [["cpu_wins"], ["never_faster", "end"]],
                                     "cuda never beats the CPU in this sweep."),
}


@pytest.fixture(params=sorted(CASES))
def case(request, monkeypatch):
    rep, idle, codes, phrase = CASES[request.param]
    monkeypatch.setattr(bench_reading, "available_devices", lambda: ["cpu", *idle])
    return rep, codes, phrase


def test_the_branch_is_the_one_meant(case):
    rep, codes, phrase = case
    parts = bench_reading.reading_parts(rep)
    assert [[code for code, _ in line] for line in parts] == codes
    assert phrase in " ".join(bench_reading.reading(rep))


def test_the_apps_english_is_the_engines_byte_for_byte(case):
    rep, _, _ = case
    english = bench_reading.reading(rep)
    parts = bench_reading.reading_parts(rep)
    say = lambda code, **values: tr("en", f"bench_reading.{code}", **values)  # noqa: E731
    assert bench_reading.reading_text(parts, say) == english
    assert reading_value({"reading_parts": parts}, "en") == tr("en", "bench.reading", first=md_escape(english[0]),
                                                               second=md_escape(english[1]))
    assert reading_value({"reading_parts": parts}) == reading_value({"reading_parts": parts}, "en")


def test_korean_is_hangul_with_the_figures_filled_in(case):
    rep, _, _ = case
    parts = bench_reading.reading_parts(rep)
    text = reading_value({"reading_parts": parts}, "ko")
    assert text.startswith("**해석.** ")
    lines = text.split("\n\n")
    assert len(lines) == 2
    for line, pieces in zip(lines, parts):
        assert HANGUL.search(line), line
        assert "{" not in line and "}" not in line
        for _, values in pieces:
            for value in values.values():
                assert md_escape(value) in line, (value, line)
    english = " ".join(bench_reading.reading(rep))
    words = set(re.findall(r"[a-z]{5,}", re.sub(r"--[a-z-]+", " ", text)))  # command-line options stay as they are
    assert not words & {"batch", "training", "faster", "present", "copying", "stopped", "sizes", "never"}
    assert text != english


def test_every_piece_is_reached_by_a_case_and_both_languages_have_it():
    reached = {code for rep, _, codes, _ in CASES.values() for line in codes for code in line}
    assert reached == set(bench_reading.READING)
    for lang in ("en", "ko"):
        keys = {key.split(".", 1)[1] for key in TEXTS[lang] if key.startswith("bench_reading.")}
        assert keys == set(bench_reading.READING), lang
    assert all(TEXTS["en"][f"bench_reading.{code}"] == text for code, text in bench_reading.READING.items())


def test_a_real_report_carries_its_pieces_and_says_them_in_english():
    rep = bench.run_benchmark(devices=["cpu"], batch_sizes=(2,), repeats=1, warmup=0, time_budget_s=None)
    assert rep["reading"] == bench_reading.reading_text(rep["reading_parts"])
    assert rep["reading"][0].startswith("CPU only: a 'mlp' training step at batch 2 runs at ")
    assert "**해석.** CPU만: 'mlp' 학습 스텝은 배치 2에서 " in reading_value(rep, "ko")
