"""The benchmark's results as text: the table, the text plot, the notes and the two-line reading generated
from the figures; and the `bench` command line. Why the figures look as they do is in docs/cpu-vs-cuda.md."""

import json
import math
import os
import sys

from mnist_demo.bench import (DEFAULT_BATCH_SIZES, DEFAULT_MODEL, DEFAULT_REPEATS, DEFAULT_TIME_BUDGET_S,
                              DEFAULT_WARMUP, parse_batch_sizes, parse_devices, run_benchmark)
from mnist_demo.bench_core import COPY, MIN_RUNS, OP_LABELS, TRAIN
from mnist_demo.devices import available_devices
from mnist_demo.errors import ConfigError, DemoError
from mnist_demo.models import MODELS

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


# ---------------------------------------------------------------- reading the numbers

# The reading's English, one template per piece; a line is its pieces joined. The app says the same pieces in
# the visitor's language from its locale files ([bench_reading], the same codes), so the engine stays free of
# the app; tests/test_i18n_bench_reading.py checks that the app's English equals these, branch by branch.
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
                                   "ms": _ms(cpu[small]["ms_median"])}],
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
    times = {"batch": str(b1), "device": name, "cpu_ms": _ms(cpu[b1]["ms_median"]),
             "device_ms": _ms(acc[b1]["ms_median"])}
    first = [["cpu_wins", times] if x1 < 1 else ["accel_wins", {**times, "speedup": f"{x1:.1f}"}]]
    faster = [b for b in shared if (acc[b]["speedup_vs_cpu"] or 0) >= 1]
    top = max(shared, key=lambda b: acc[b]["speedup_vs_cpu"] or 0)
    second = [["faster_from", {"batch": str(faster[0]), "device": name,
                               "speedup": f"{acc[faster[0]]['speedup_vs_cpu']:.1f}",
                               "top_speedup": f"{acc[top]['speedup_vs_cpu']:.0f}", "top": str(top)}] if faster
              else ["never_faster", {"device": name}]]
    copy = _ok(rows, name, COPY).get(top)
    if copy:
        second.append(["copy", {"ms": _ms(copy["ms_median"]),
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

# ---------------------------------------------------------------- output

def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def format_table(report: dict) -> str:
    """The report as text: devices, one-time costs, the table, notes and the two-line reading."""
    out = [f"CPU vs CUDA benchmark: model '{report['model']}' ({report['parameters']:,} parameters), "
           f"torch {report['torch_version']}"]
    for entry in report["devices"]:
        text = entry["description"] if entry["available"] else f"not available: {entry['reason']}"
        out.append(f"  {entry['name']:<5} {text}")
    if report["one_time"]:
        out.append("One-time costs (measured apart, not in the per-step figures):")
        for cost in report["one_time"]:
            note = f"  ({cost['note']})" if cost["note"] else ""
            out.append(f"  {cost['device']:<5} {cost['what']:<62} {_ms(cost['ms']):>9} ms{note}")
    header = (f"{'device':<6} {'operation':<22} {'batch':>6} {'ms median':>10} {'p10-p90 ms':>19} "
              f"{'runs':>5} {'samples/s':>12} {'x CPU':>7}")
    out += ["", header, "-" * len(header)]
    for row in report["rows"]:
        if row["status"] != "ok":
            out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                       f"{row['note']}")
            continue
        spread = f"{_ms(row['ms_p10'])}-{_ms(row['ms_p90'])}" if row["runs"] > 1 else "-"
        sps = f"{row['samples_per_s']:,.0f}" if row["samples_per_s"] else "-"
        speed = f"{row['speedup_vs_cpu']:.2f}" if row["speedup_vs_cpu"] else "-"
        extra = f"  acc {100 * row['accuracy']:.1f}%" if "accuracy" in row else ""
        extra += f"  [{row['note']}]" if row["note"] and not row.get("capped") else ""
        runs = f"{row['runs']}*" if row.get("capped") else str(row["runs"])
        out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                   f"{_ms(row['ms_median']):>10} {spread:>19} {runs:>5} {sps:>12} {speed:>7}{extra}")
    out += [""] + [f"Note: {n}" for n in report["notes"]]
    out += [f"Reading: {report['reading'][0]}", f"         {report['reading'][1]}"]
    if report.get("elapsed_s") is not None:
        out.append(f"({report['elapsed_s']:.1f} s in all)")
    return "\n".join(out)


def plot_series(report: dict, op: str = TRAIN) -> dict[str, list[tuple[int, float]]]:
    """samples/s against batch size, one series per device, for plotting (the app draws it)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in report["rows"]:
        if row["op"] == op and row["status"] == "ok" and row["samples_per_s"]:
            series.setdefault(row["device"], []).append((row["batch_size"], row["samples_per_s"]))
    return series


def format_plot(report: dict, op: str = TRAIN, width: int = 40) -> str:
    """A text plot of samples/s against batch size per device, bars on a log scale."""
    series = plot_series(report, op)
    values = [v for points in series.values() for _, v in points]
    if not values:
        return ""
    low, high = math.log10(min(values)) - 0.3, math.log10(max(values))
    scale = width / max(high - low, 1e-9)
    out = [f"samples/s per {OP_LABELS[op]} (log scale, longer is faster)"]
    for device, points in series.items():
        for batch, value in points:
            bar = "#" * max(1, round((math.log10(value) - low) * scale))
            out.append(f"  {device:<5} batch {batch:>6} {bar:<{width}} {value:,.0f}")
    return "\n".join(out)

# ---------------------------------------------------------------- command line

def add_arguments(parser) -> None:
    """The `bench` options; values are validated by `run_cli` so that errors name the option."""
    parser.description = "Time a training step and an inference pass per device and batch size."
    parser.add_argument("--devices", default=None,
                        help="comma-separated cpu, cuda, mps (default: cpu,cuda and mps where present; "
                             "cpu always runs, as the baseline; an absent device is listed as not available)")
    parser.add_argument("--batch-sizes", default=",".join(map(str, DEFAULT_BATCH_SIZES)),
                        help="comma-separated, each 1 to 65536 and within this host's memory cap: a batch size "
                             "whose training step is estimated to need more than half the available memory is "
                             "refused before anything runs (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"one of {', '.join(MODELS)} (default: {DEFAULT_MODEL}: the tutorial's MLP, quick on cpu)")
    parser.add_argument("--repeats", default=str(DEFAULT_REPEATS),
                        help="timed runs per cell, 1 to 1000 (default: %(default)s)")
    parser.add_argument("--warmup", default=str(DEFAULT_WARMUP),
                        help="untimed runs per cell first, 0 to 100 (default: %(default)s)")
    parser.add_argument("--time-budget", default=str(DEFAULT_TIME_BUDGET_S),
                        help="seconds of timed work per cell before repeats stop (at least 3 runs); "
                             "'none' for no cap (default: %(default)s)")
    parser.add_argument("--epoch", action="store_true",
                        help="add a full-epoch comparison: tutorial loop vs engine (~15-20 s more on cpu)")
    parser.add_argument("--data-dir", default=None, help="where MNIST/raw/ lives, for --epoch (default: data)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def _budget_arg(text):
    return None if text is None or str(text).strip().lower() in ("none", "off") else text


def run_cli(args) -> int:
    """Run from parsed arguments; print the table (or JSON). Exit 2 with one line on bad input."""
    try:
        report = run_benchmark(devices=parse_devices(args.devices), batch_sizes=parse_batch_sizes(args.batch_sizes),
                               model=args.model, repeats=args.repeats, warmup=getattr(args, "warmup", DEFAULT_WARMUP),
                               time_budget_s=_budget_arg(getattr(args, "time_budget", DEFAULT_TIME_BUDGET_S)),
                               epoch=args.epoch, data_dir=getattr(args, "data_dir", None))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DemoError as err:  # e.g. --epoch without the MNIST files
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report))
        plot = format_plot(report)
        if plot:
            print("\n" + plot)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mnist_demo.bench ...`, the same as `python -m mnist_demo bench ...`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mnist_demo bench")
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
