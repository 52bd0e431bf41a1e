"""The benchmark's results as text: the table (devices, one-time costs, a row per cell, the notes and the
reading the report carries) and the plot of samples/s against batch size. It reads a finished report and runs
nothing; the command line (mnist_demo/cli.py) prints these. Why the figures look as they do: docs/cpu-vs-cuda.md."""

import math

from mnist_demo.bench.core import OP_LABELS, TRAIN
from mnist_demo.bench.reading import ms_text


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
            out.append(f"  {cost['device']:<5} {cost['what']:<62} {ms_text(cost['ms']):>9} ms{note}")
    header = (f"{'device':<6} {'operation':<22} {'batch':>6} {'ms median':>10} {'p10-p90 ms':>19} "
              f"{'runs':>5} {'samples/s':>12} {'x CPU':>7}")
    out += ["", header, "-" * len(header)]
    for row in report["rows"]:
        if row["status"] != "ok":
            out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                       f"{row['note']}")
            continue
        spread = f"{ms_text(row['ms_p10'])}-{ms_text(row['ms_p90'])}" if row["runs"] > 1 else "-"
        sps = f"{row['samples_per_s']:,.0f}" if row["samples_per_s"] else "-"
        speed = f"{row['speedup_vs_cpu']:.2f}" if row["speedup_vs_cpu"] else "-"
        extra = f"  acc {100 * row['accuracy']:.1f}%" if "accuracy" in row else ""
        extra += f"  [{row['note']}]" if row["note"] and not row.get("capped") else ""
        runs = f"{row['runs']}*" if row.get("capped") else str(row["runs"])
        out.append(f"{row['device']:<6} {OP_LABELS.get(row['op'], row['op']):<22} {row['batch_size']:>6} "
                   f"{ms_text(row['ms_median']):>10} {spread:>19} {runs:>5} {sps:>12} {speed:>7}{extra}")
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
