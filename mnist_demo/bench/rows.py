"""A row of the benchmark's table: its fields, the rows for a cell that ran out of memory or was not run, and
the speed-up over cpu, filled in once every row is in. The sweep and the full epoch both make rows here."""

from mnist_demo.bench.core import COPY


def make_row(device: str, op: str, batch_size: int, **fields) -> dict:
    row = {"device": device, "op": op, "batch_size": batch_size, "status": "ok", "ms_median": None,
           "ms_p10": None, "ms_p90": None, "ms_min": None, "ms_max": None, "runs": 0, "samples_per_s": None,
           "speedup_vs_cpu": None, "note": ""}
    row.update(fields)
    return row


def oom_row(device: str, op: str, batch_size: int, detail: str) -> dict:
    return make_row(device, op, batch_size, status="oom", note=f"out of memory at batch {batch_size}" + detail)


def refused_row(device: str, op: str, batch_size: int, reason: str) -> dict:
    return make_row(device, op, batch_size, status="refused", note=f"not run: {reason}")


def add_speedups(rows: list[dict]) -> None:
    """Fill `speedup_vs_cpu` (cpu median / this median) for timed rows that have a cpu counterpart."""
    cpu = {(r["op"], r["batch_size"]): r["ms_median"] for r in rows
           if r["device"] == "cpu" and r["status"] == "ok" and r["ms_median"]}
    for row in rows:
        base = cpu.get((row["op"], row["batch_size"]))
        if row["status"] == "ok" and row["op"] != COPY and base and row["ms_median"]:
            row["speedup_vs_cpu"] = base / row["ms_median"]
