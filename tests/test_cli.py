"""The command line: bad arguments exit 2 with one readable line; train, evaluate and models work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mnist_demo", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("args,message", [
    (["train", "--lr", "abc"], "error: lr: 'abc' is not a number"),
    (["train", "--lr", "0"], "error: lr: 0 is out of range; must be a number greater than 0 and at most 10"),
    (["train", "--batch-size", "0"], "error: batch_size: 0 is out of range; must be a whole number from 1 to 60000"),
    (["train", "--epochs", "1000"], "error: epochs: 1000 is out of range; must be a whole number from 1 to 50"),
    (["train", "--model", "resnet"], "error: model: unknown model 'resnet'"),
    (["train", "--optimizer", "lion"], "error: optimizer: unknown optimizer 'lion'"),
    (["train", "--preset", "nope"], "error: preset: unknown preset 'nope'"),
    (["train", "--device", "tpu"], "error: device: unknown device 'tpu'"),
    (["train", "--out", "../../etc/x"], "error: out: checkpoint name '../../etc/x' is not allowed"),
    (["train", "--bogus"], "error: unrecognized arguments: --bogus"),
    (["frobnicate"], "error: argument command: invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    done = cli(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_models_lists_the_registry():
    done = cli("models", "--json")
    assert done.returncode == 0
    assert [m["name"] for m in json.loads(done.stdout)] == ["tutorial", "mlp", "cnn", "cnn-small"]


def test_train_prints_the_tutorial_log_and_saves(tmp_path):
    done = cli("train", "--preset", "tutorial", "--limit", "6400", "--out", "tiny", "--checkpoint-dir",
               str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "loss: " in lines[2] and lines[2].endswith("[    0/ 6400]")
    assert any(line.startswith(" Accuracy: ") and "Avg loss:" in line for line in lines)
    summary = json.loads(lines[-1])
    assert summary["model"] == "tutorial" and summary["steps"] == 100 and 0 <= summary["accuracy"] <= 1
    assert (tmp_path / "tiny.pt").is_file()

    done = cli("evaluate", "--checkpoint", "tiny", "--checkpoint-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Accuracy:" in done.stdout and "digit 9:" in done.stdout


def test_evaluate_missing_or_corrupt_checkpoint_is_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for name, message in [("absent", "absent.pt does not exist"), ("junk", "junk.pt is not a readable checkpoint")]:
        done = cli("evaluate", "--checkpoint", name, "--checkpoint-dir", str(tmp_path))
        assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
    env_root = tmp_path / "copy"  # the package without the repository's bundled data beside it
    env_root.mkdir()
    subprocess.run(["cp", "-r", str(ROOT / "mnist_demo"), str(env_root)], check=True)
    env = dict(os.environ, PYTHONPATH=str(env_root))
    done = subprocess.run([sys.executable, "-m", "mnist_demo", "train", "--no-download", "--data-dir",
                           str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 1
    assert "MNIST not found" in done.stderr and str(tmp_path / "none") in done.stderr
    assert "Traceback" not in done.stderr


def _commands() -> list[str]:
    """Every subcommand the parser knows, so a new command is covered without editing this list."""
    import argparse

    from mnist_demo.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_the_command_list_is_complete():
    assert {"train", "evaluate", "predict", "bench", "models"} <= set(_commands())


@pytest.mark.parametrize("command", [[]] + [[c] for c in _commands()], ids=lambda c: " ".join(c) or "top")
def test_every_help_prints_and_exits_0(command):
    done = cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and "Traceback" not in done.stderr


@pytest.mark.parametrize("script", ["demo.py", "benchmarks/train_speed.py", "benchmarks/predict_latency.py",
                                    "benchmarks/load.py"])
def test_every_script_help_prints_and_exits_0(script):
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
