"""Shared by the board's tests: run records, small real weights, and the work of a second process (spawned, so it
must be importable: module-level functions only)."""

from __future__ import annotations

import os

from mnist_demo.app.core.board.rules import BoardError, RunRecord, make_record, pack
from mnist_demo.app.core.board.store import Board
from mnist_demo.config import make_config
from mnist_demo.models import build_model


def record(accuracy: float = 97.5, curve_points: int = 20, **settings) -> RunRecord:
    """A run of the fast preset with `settings` changed, ending at `accuracy` %, with a rising curve."""
    config = make_config("fast", device="cpu", **settings)
    images = config.limit or 60000
    curve = [(round(i * images / max(1, curve_points - 1)), accuracy * (0.5 + 0.5 * i / max(1, curve_points - 1)))
             for i in range(curve_points)]
    return make_record(config, accuracy, elapsed_s=20.0, samples_per_s=3000.0, curve=curve)


def fresh_weights(model: str = "cnn-small", seed: int = 0) -> bytes:
    import torch

    torch.manual_seed(seed)
    return pack(build_model(model), {"model": model})


def post_many(path: str, class_name: str, prefix: str, count: int, barrier, shared_owner_tries: int, results) -> None:
    """In a second process: wait for the other at `barrier`, then post `count` runs with weights under owners of
    its own and `shared_owner_tries` under the owner both processes share. Puts what was posted and refused on the
    `results` queue, or the error that stopped it (so the test fails at once rather than waiting)."""
    posted, refused = [], []
    try:
        weights = fresh_weights(seed=len(prefix))
        with Board(path, class_name=class_name) as board:
            barrier.wait(timeout=60)
            for i in range(count):
                posted.append(board.post(f"{prefix}-{i}", f"{prefix} {i}", record(accuracy=50 + i % 40), weights))
            for i in range(shared_owner_tries):
                try:
                    posted.append(board.post("shared", f"{prefix} shared", record(accuracy=40.0)))
                except BoardError as err:
                    if err.code != "board_rate_limited":
                        raise
                    refused.append(err.code)
    except BaseException as err:  # noqa: BLE001 - reported to the test, which fails on it
        results.put({"error": f"{type(err).__name__}: {err}"})
        return
    results.put({"posted": posted, "refused": refused})


def post_and_vanish(path: str, class_name: str) -> None:
    """In a second process: post once, then end at once, without closing the board (a crash or a kill)."""
    board = Board(path, class_name=class_name)
    board.post("vanishing", "Gone Soon", record(accuracy=88.0), fresh_weights())
    os._exit(0)
