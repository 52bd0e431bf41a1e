"""CPU vs CUDA (and MPS) timing: `python -m mnist_demo bench` and the app's CPU vs CUDA tab. Pure PyTorch.

What each module does, from the bottom up (docs/cpu-vs-cuda.md says how and why it measures as it does):

    core      the timed operations, the clock (synchronised before every read), timed runs, medians, Stop checks
    memory    what a cell is estimated to need, what this host or GPU can give, how busy the CPU is
    options   the defaults and the check of each option (ConfigError naming the field)
    rows      a row of the table; out-of-memory and not-run rows; the speed-up over cpu
    reading   the notes and the two-line reading: pieces (codes of READING) and their English
    epoch     the optional full epoch: the tutorial loop against the engine's train()
    sweep     run_benchmark: checks, one-time costs, the sweep over devices and batch sizes -> the report (a dict)
    report    the report as text: the table and the plot

What may import what (an arrow: "imports"; nothing imports upward, so there is no cycle):

    sweep  -> core, memory, options, rows, reading, epoch
    epoch  -> core, rows                 (and, inside it, the engine's train and the tutorial's loop)
    report -> core, reading              (a finished report in, text out: it never runs or imports the sweep)
    memory, options, rows, reading -> core
    core   -> mnist_demo.devices (sync), never another module of this package

A submodule imports its siblings by their own names, never this file. Outside the package, the command line
(mnist_demo/cli.py: the `bench` options, printing) and the app import this file; the tutorial imports none of it.
"""

from mnist_demo.bench.core import COPY, INFER, MIN_RUNS, OP_LABELS, TRAIN, BenchStopped
from mnist_demo.bench.options import (
                                      DEFAULT_BATCH_SIZES,
                                      DEFAULT_MODEL,
                                      DEFAULT_REPEATS,
                                      DEFAULT_TIME_BUDGET_S,
                                      DEFAULT_WARMUP,
                                      MAX_REPEATS,
                                      MAX_WARMUP,
                                      parse_batch_sizes,
                                      parse_devices,
                                      validate_batch_sizes,
                                      validate_devices,
                                      validate_model,
                                      validate_repeats,
                                      validate_time_budget,
                                      validate_warmup,
)
from mnist_demo.bench.reading import READING, reading_parts, reading_text  # not `reading`: the module's name
from mnist_demo.bench.report import format_plot, format_table, plot_series
from mnist_demo.bench.rows import add_speedups, make_row
from mnist_demo.bench.sweep import (
                                      UNAVAILABLE,
                                      check_memory,
                                      device_entry,
                                      run_benchmark,
                                      unavailable,
                                      unavailable_reason,
)

__all__ = [
    "COPY", "INFER", "MIN_RUNS", "OP_LABELS", "TRAIN", "BenchStopped",
    "DEFAULT_BATCH_SIZES", "DEFAULT_MODEL", "DEFAULT_REPEATS", "DEFAULT_TIME_BUDGET_S", "DEFAULT_WARMUP",
    "MAX_REPEATS", "MAX_WARMUP", "parse_batch_sizes", "parse_devices", "validate_batch_sizes", "validate_devices",
    "validate_model", "validate_repeats", "validate_time_budget", "validate_warmup",
    "READING", "reading_parts", "reading_text",
    "format_plot", "format_table", "plot_series",
    "add_speedups", "make_row",
    "UNAVAILABLE", "check_memory", "device_entry", "run_benchmark", "unavailable", "unavailable_reason",
]
