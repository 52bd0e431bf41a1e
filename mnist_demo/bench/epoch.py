"""The benchmark's optional full epoch (`--epoch`): the original tutorial loop against the engine's `train()`,
with the same model and recipe, per device. Times cover training only; the test pass is excluded."""

import threading
from contextlib import nullcontext
from typing import Callable

import torch

import mnist_demo.bench.core as core
from mnist_demo.bench.core import EPOCH_ENGINE, EPOCH_TUTORIAL, BenchStopped
from mnist_demo.bench.rows import make_row, oom_row

EPOCH_BATCH_SIZE = 64  # the tutorial's batch size


def epoch_rows(names: list[str], data_dir, on_row: Callable[[dict], None], seed: int = 0,
               stop: threading.Event | None = None) -> list[dict]:
    """One full epoch per device: the tutorial loop (torchvision + DataLoader, batch 64) and the engine's
    `train()` with the same model ("tutorial"), SGD lr 1e-3, batch 64. Times exclude test-set evaluation.

    Raises BenchStopped once `stop` is set: the tutorial loop checks it before every layer's forward (a
    hook on this thread; the loop itself stays verbatim), the engine between batches."""
    from mnist_demo.config import make_config
    from mnist_demo.data import load_mnist
    from mnist_demo.train import train
    from mnist_demo.tutorial import run_tutorial, tutorial_datasets

    datasets = tutorial_datasets(data_dir)
    host_data = load_mnist(data_dir, "cpu")  # not the shared cache: the device copy is freed after each device
    size = len(datasets[0])
    rows = []
    for name in names:
        device = torch.device(name)
        tutorial = engine = None
        core.check_stop(core.stop_predicate(stop))
        try:
            with core.thread_checks(core.stop_predicate(stop)) if stop is not None else nullcontext():
                run = run_tutorial(1, device, verbose=False, seed=seed, datasets=datasets)
            tutorial = make_row(name, EPOCH_TUTORIAL, EPOCH_BATCH_SIZE, ms_median=1000 * run.train_s, runs=1,
                                samples_per_s=size / run.train_s, accuracy=run.accuracy,
                                note="torchvision MNIST + ToTensor + DataLoader(batch_size=64, shuffle=True)")
            del run
            result = train(make_config("tutorial", device=name, seed=seed), host_data.to(device), stop=stop)
            if result.stopped:
                raise BenchStopped()
            engine = make_row(name, EPOCH_ENGINE, EPOCH_BATCH_SIZE, ms_median=1000 * result.train_s, runs=1,
                              samples_per_s=result.samples_seen / result.train_s,
                              accuracy=result.evaluation.accuracy,
                              note=f"data on the device; {tutorial['ms_median'] / (1000 * result.train_s):.1f}x "
                                   "faster than the tutorial loop")
            del result
        except Exception as err:  # noqa: BLE001 - only out-of-memory is caught
            if not core.is_out_of_memory(err):
                raise
            failed = EPOCH_ENGINE if tutorial else EPOCH_TUTORIAL
            engine = oom_row(name, failed, EPOCH_BATCH_SIZE, " (full epoch)")
        core.release(device)
        for row in (tutorial, engine):
            if row is None:
                continue
            rows.append(row)
            on_row(row)
    return rows
