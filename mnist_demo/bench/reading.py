"""What the figures say, in words the report carries: the notes under the table and the two-line reading,
generated from the rows. The reading is pieces first (`reading_parts`: codes of READING with their values, data
the app says in the visitor's language), then said in English (`reading_text`): the CLI and `report["reading"]`.
`sweep` puts both in the report it returns; `report` (the table, the plot) prints them as they are."""

import os

from mnist_demo.bench.core import COPY, MIN_RUNS, TRAIN
from mnist_demo.devices import available_devices

BUSY_WARNING = 0.2  # share of CPU time used by other processes above which the cpu figures get a caveat


def notes(present: list[str], budget_s: float | None, busy: float | None, stopped: bool = False,
           cells: int = 0) -> list[str]:
    """Plain-words caveats printed under the table."""
    notes = []
    if stopped:
        notes.append(f"Stopped before the end: {cells} cell{'s' if cells != 1 else ''} finished and are shown; "
                     "the cell that was running was dropped.")
    if "cpu" in present:
        notes.append("host->device copy: none on cpu (the batch is already in host memory); "
                     "the copy rows appear for cuda/mps.")
    if budget_s is not None:
        notes.append(f"runs: timed runs per cell (after untimed warm-up); * = stopped short of --repeats "
                     f"by the {budget_s:g} s time budget per cell (at least {MIN_RUNS} runs).")
    if busy is not None and busy > BUSY_WARNING:
        notes.append(f"Other processes were using {100 * busy:.0f}% of the {os.cpu_count()} CPU cores when the run "
                     "began: cpu timings may be inflated.")
    return notes


def ms_text(value: float | None) -> str:
    """Milliseconds as the table and the reading show them: 3 decimals under 10, 1 under 1000, then whole."""
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


# ---------------------------------------------------------------- reading the numbers

# The reading's English, one template per piece; a line is its pieces joined. The app says the same pieces in
# the visitor's language from its locale files ([bench_reading], the same codes), so the engine stays free of
# the app; tests/app/test_i18n_bench_reading.py checks that the app's English equals these, branch by branch.
READING = {
    "stopped": "Stopped before a training step was timed.",
    "stopped_hint": "Run it again and let it finish, or choose fewer or smaller batch sizes for a quicker run.",
    "untimed": "No training step could be timed (every batch size ran out of memory or was over the memory limit).",
    "untimed_hint": "Try smaller batch sizes, e.g. --batch-sizes 1,64,256.",
    "cpu_flat": "CPU only: a '{model}' training step at batch {batch} runs at {sps} samples/s ({ms} ms per step)",
    "cpu_flat_larger": "; larger batches were no faster per sample.",
    "cpu_flat_one": "; sweep more batch sizes to see how throughput grows with the batch.",
    "cpu_grows": "CPU only: a '{model}' training step goes from {sps_small} samples/s at batch {small} to {sps_best} "
                 "at batch {best} ({gain}x): fixed per-step overhead dominates small batches, arithmetic the large "
                 "ones.",
    "idle": "{devices} is present but was not requested: add it to --devices to see its speed-up over this CPU per "
            "batch size and its host-copy and start-up costs.",
    "no_gpu": "No GPU here",
    "no_gpu_absent": " ({devices}: not available)",
    "no_gpu_would": ". With CUDA present, this table would add a cuda row per batch size with its speed-up over this "
                    "CPU, the cost of copying each batch from host memory, and the one-time CUDA start-up cost.",
    "accel_only": "{device}: {sps} samples/s per training step at batch {batch}.",
    "accel_only_hint": "No cpu rows to compare with: add cpu to --devices for the speed-up column.",
    "no_shared": "{device} and cpu have no batch size in common that ran.",
    "no_shared_hint": "Compare the rows above by batch size.",
    "cpu_wins": "At batch {batch} the CPU wins ({cpu_ms} vs {device_ms} ms per training step): {device} "
                "kernel-launch and synchronisation overhead dominates such small work.",
    "accel_wins": "At batch {batch} {device} is already {speedup}x faster ({device_ms} vs {cpu_ms} ms per training "
                  "step).",
    "faster_from": "From batch {batch} {device} is faster ({speedup}x), up to {top_speedup}x at batch {top}",
    "never_faster": "{device} never beats the CPU in this sweep",
    "copy": "; copying that batch from host memory takes {ms} ms ({share}% of a step), which is why this project "
            "keeps the data on the device.",
    "end": ".",
}

Piece = list  # [a READING code, {name: value already formatted as the English shows it}]: JSON as it is


def _ok(rows, device: str, op: str) -> dict[int, dict]:
    return {r["batch_size"]: r for r in rows if r["device"] == device and r["op"] == op and r["status"] == "ok"}


def _sps(row: dict) -> str:
    return f"{row['samples_per_s']:,.0f}"


def reading_parts(report: dict) -> list[list[Piece]]:
    """The two lines that say what the numbers show, as pieces [code, values]: generated from the figures,
    said in English by `reading_text` and in the visitor's language by the app."""
    rows, model = report["rows"], report["model"]
    accel = [d["name"] for d in report["devices"] if d["available"] and d["name"] != "cpu"
             and _ok(rows, d["name"], TRAIN)]
    cpu = _ok(rows, "cpu", TRAIN)
    absent = [d["name"] for d in report["devices"] if not d["available"]]
    if not accel:
        if not cpu and report.get("stopped"):
            return [[["stopped", {}]], [["stopped_hint", {}]]]
        if not cpu:
            return [[["untimed", {}]], [["untimed_hint", {}]]]
        small, best = min(cpu), max(cpu, key=lambda b: cpu[b]["samples_per_s"])
        if best == small:
            first = [["cpu_flat", {"model": model, "batch": str(small), "sps": _sps(cpu[small]),
                                   "ms": ms_text(cpu[small]["ms_median"])}],
                     ["cpu_flat_larger" if len(cpu) > 1 else "cpu_flat_one", {}]]
        else:
            first = [["cpu_grows", {"model": model, "sps_small": _sps(cpu[small]), "small": str(small),
                                    "sps_best": _sps(cpu[best]), "best": str(best),
                                    "gain": f"{cpu[best]['samples_per_s'] / cpu[small]['samples_per_s']:.0f}"}]]
        idle = [n for n in available_devices() if n != "cpu"]
        if idle:
            second = [["idle", {"devices": ", ".join(idle)}]]
        else:
            second = ([["no_gpu", {}]] + ([["no_gpu_absent", {"devices": ", ".join(absent)}]] if absent else [])
                      + [["no_gpu_would", {}]])
        return [first, second]
    name = accel[0]
    acc = _ok(rows, name, TRAIN)
    if not cpu:
        b = max(acc)
        return [[["accel_only", {"device": name, "sps": _sps(acc[b]), "batch": str(b)}]], [["accel_only_hint", {}]]]
    shared = sorted(set(acc) & set(cpu))
    if not shared:
        return [[["no_shared", {"device": name}]], [["no_shared_hint", {}]]]
    b1 = shared[0]
    x1 = acc[b1]["speedup_vs_cpu"] or cpu[b1]["ms_median"] / acc[b1]["ms_median"]
    times = {"batch": str(b1), "device": name, "cpu_ms": ms_text(cpu[b1]["ms_median"]),
             "device_ms": ms_text(acc[b1]["ms_median"])}
    first = [["cpu_wins", times] if x1 < 1 else ["accel_wins", {**times, "speedup": f"{x1:.1f}"}]]
    faster = [b for b in shared if (acc[b]["speedup_vs_cpu"] or 0) >= 1]
    top = max(shared, key=lambda b: acc[b]["speedup_vs_cpu"] or 0)
    second = [["faster_from", {"batch": str(faster[0]), "device": name,
                               "speedup": f"{acc[faster[0]]['speedup_vs_cpu']:.1f}",
                               "top_speedup": f"{acc[top]['speedup_vs_cpu']:.0f}", "top": str(top)}] if faster
              else ["never_faster", {"device": name}]]
    copy = _ok(rows, name, COPY).get(top)
    if copy:
        second.append(["copy", {"ms": ms_text(copy["ms_median"]),
                                "share": f"{100 * copy['ms_median'] / acc[top]['ms_median']:.0f}"}])
    else:
        second.append(["end", {}])
    return [first, second]


def reading_text(parts: list[list[Piece]], say=None) -> list[str]:
    """The lines of `reading_parts` as text: `say(code, **values)` gives a piece's text (default: English)."""
    say = say or (lambda code, **values: READING[code].format(**values))
    return ["".join(say(code, **values) for code, values in line) for line in parts]


def reading(report: dict) -> list[str]:
    """Two lines that say what the numbers show, generated from them (English)."""
    return reading_text(reading_parts(report))
