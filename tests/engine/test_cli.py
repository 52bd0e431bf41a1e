"""The command line: bad arguments exit 2 with one readable line; train, evaluate and models work."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.digits import one_png

ROOT = Path(__file__).resolve().parents[2]


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


SCRIPTS = ["demo.py"] + sorted(f"benchmarks/{path.name}" for path in (ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_help_prints_and_exits_0(script):
    """demo.py and every benchmark, found in the folder so a new script is covered without editing this list."""
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


# --------------------------------------------------------------------------- hostile checkpoints, data dirs, messages

def _hostile_files(folder):
    """A good checkpoint and crafted ones, as a shared folder might hold them (see test_hostile_checkpoints.py)."""
    import torch

    from mnist_demo.checkpoints import FORMAT, save_checkpoint
    from mnist_demo.models import build_model

    torch.manual_seed(0)
    save_checkpoint(build_model("cnn"), "good", {"model": "cnn", "accuracy": 0.5}, folder)
    state = dict(build_model("cnn").state_dict())
    base = {"format": FORMAT, "version": 1, "model": "cnn", "state_dict": state, "meta": {}}
    torch.save(dict(base, model=["cnn"]), folder / "model-list.pt")
    torch.save(dict(base, model={"cnn": 1}), folder / "model-dict.pt")
    torch.save(dict(base, state_dict={"net": state}), folder / "nested-state.pt")
    torch.save(dict(base, meta={"config": {"batch_size": torch.ones(3)}, "accuracy": torch.ones(2)}),
               folder / "tensor-meta.pt")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("name,code,message", [
    ("model-list", 1, "error: model-list.pt holds an unknown model (a list, not a model name)"),
    ("model-dict", 1, "error: model-dict.pt holds an unknown model (a dict, not a model name)"),
    ("nested-state", 1, "error: nested-state.pt: its weights are not a plain table of named tensors"),
    ("absent", 1, "error: checkpoint absent.pt does not exist"),
    ("x.pt.pt", 1, "error: checkpoint name 'x.pt.pt' is not allowed"),
    ("DEFAULT", 1, "error: checkpoint name 'DEFAULT' is not allowed: it is another spelling"),
    ("nul", 1, "error: checkpoint name 'nul' is not allowed: 'nul' is a reserved device name on Windows"),
    ("tensor-meta", 0, None),  # plain weights with junk metadata: the junk is dropped, the model works
])
def test_a_hostile_checkpoint_is_one_error_line_then_everything_still_works(tmp_path, capsys, command, name, code,
                                                                           message):
    from mnist_demo.cli import main

    _hostile_files(tmp_path)
    image = tmp_path / "one.png"
    image.write_bytes(one_png())
    args = [image] if command == "predict" else ["--data-dir", str(_tiny_data(tmp_path))]
    assert main([command, *map(str, args), "--checkpoint", name, "--checkpoint-dir", str(tmp_path)]) == code
    out, err = capsys.readouterr()
    if message:
        assert err.strip().splitlines() == [err.strip()] and err.startswith(message), err
        assert err.count(name) <= 2  # the name once, or once as typed and once as its file
    else:
        assert err == "" and out
    assert main(["predict", str(image), "--checkpoint", "good", "--checkpoint-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["digit"] in range(10)


def test_a_hostile_checkpoint_exits_1_without_a_traceback_in_a_real_process(tmp_path):
    _hostile_files(tmp_path)
    done = cli("evaluate", "--checkpoint", "model-list", "--checkpoint-dir", str(tmp_path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("error: model-list.pt holds an unknown model (a list, not a model name) "
                                   "(known: tutorial, mlp, cnn, cnn-small)")


def _tiny_data(tmp_path):
    """A 12-image MNIST set in tmp_path/data, so `evaluate` is quick."""
    from tests.engine.test_data import write_set

    write_set(tmp_path / "data" / "MNIST" / "raw")
    return tmp_path / "data"


MISSING_DIR = "error: MNIST not found: the data directory /nonexistent does not exist"


@pytest.mark.parametrize("args,cwd,code,fragment", [
    (["train", "--data-dir", "/nonexistent"], ROOT, 1, MISSING_DIR),
    (["train", "--data-dir", "/nonexistent", "--no-download"], ROOT, 1, MISSING_DIR),
    (["evaluate", "--data-dir", "/nonexistent"], ROOT, 1, MISSING_DIR),
    (["evaluate", "--data-dir", "data"], "tmp", 0, None),  # the default's name, from elsewhere: the bundled copy
    (["evaluate"], "tmp", 0, None),
])
def test_a_chosen_data_dir_is_used_or_refused_never_replaced(tmp_path, args, cwd, code, fragment):
    done = cli(*args, cwd=tmp_path if cwd == "tmp" else cwd)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if fragment:
        assert done.stderr.startswith(fragment) and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Epoch" not in done.stdout and "loss:" not in done.stdout  # refused before any training
    else:
        assert "Accuracy:" in done.stdout


@pytest.mark.parametrize("make,fragment", [
    (None, "no such file"),
    (lambda p: p.write_text("hello"), "not an image file"),
    (lambda p: p.mkdir(), "not a file"),
])
def test_an_image_error_line_names_the_file_once(tmp_path, capsys, make, fragment):
    from mnist_demo.cli import main

    image = tmp_path / "digit.png"
    if make:
        make(image)
    assert main(["predict", str(image)]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{image}: {fragment}") and line.count(str(image)) == 1, line
    assert main(["predict", str(image), "--json"]) == 1
    row = json.loads(capsys.readouterr().out)
    assert row["image"] == str(image) and row["error"].startswith(fragment)


def test_predict_json_names_the_image_as_its_help_says(tmp_path, capsys):
    from mnist_demo.cli import main
    from tests.support.digits import draw

    seven = tmp_path / "seven.png"
    draw(7).save(seven)
    assert main(["predict", str(seven), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert set(row) == {"image", "digit", "probability", "probabilities"} and row["image"] == str(seven)
    assert row["digit"] == 7
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert '"image" (the path as given)' in " ".join(capsys.readouterr().out.split())


# --------------------------------------------------------------------------- README, as written

SHORTER = {  # appended where a README command trains or times, so the walk stays quick; everything else as written
    "train": ["--limit", "3000", "--epochs", "1"],
    "bench": ["--repeats", "2", "--warmup", "1", "--time-budget", "0.2"],
    "finetune": ["--steps", "5"],
}


def readme_commands() -> list[str]:
    """The `python -m mnist_demo ...` lines of README.md's "Command line" section, comments dropped."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.startswith("python -m mnist_demo")]


def test_readme_lists_every_command():
    commands = {line.split()[3] for line in readme_commands()}
    assert commands >= set(_commands()), commands


def test_every_readme_command_runs_as_written_in_order(tmp_path):
    """One walk through the README's examples, in order (`evaluate` reads what `train --out` saved), in a
    folder of its own with a digit.png to read; checkpoints go to a private folder."""
    from tests.support.digits import draw

    draw(7).save(tmp_path / "digit.png")
    for digit in range(10):  # finetune's folder of the README's example
        (tmp_path / "my-digits" / str(digit)).mkdir(parents=True)
        draw(digit).save(tmp_path / "my-digits" / str(digit) / "a.png")
    private = tmp_path / "checkpoints"
    for line in readme_commands():
        args = line.split()[3:]
        args += SHORTER.get(args[0], [])
        if args[0] in ("train", "evaluate", "predict", "finetune"):
            args += ["--checkpoint-dir", str(private)]
            if args[0] != "train" and "--checkpoint" not in args:
                private.mkdir(exist_ok=True)
                (private / "default.pt").write_bytes((ROOT / "checkpoints" / "default.pt").read_bytes())
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, line
        if args[0] == "predict":
            assert json.loads(done.stdout.splitlines()[0])["digit"] == 7, done.stdout


def test_train_log_goes_to_stdout_and_the_bar_to_stderr(capsys):
    from mnist_demo.cli import _Reporter
    from mnist_demo.train import EpochEnd, Evaluation, Progress

    reporter = _Reporter(quiet_bar=False)
    reporter.show_bar = True  # as on a terminal
    for batch in (0, 1):
        reporter(Progress(1, 1, batch, 2, 64 * batch, 128, batch + 1, 2, 2.3, 0.1, 1000.0, 0.1))
    reporter(EpochEnd(1, 1, 2, Evaluation(0.5, 1.0, [0.5] * 10, 10000), 0.2))
    reporter.close()
    out, err = capsys.readouterr()
    assert out == ("Epoch 1\n-------------------------------\nloss: 2.300000  [    0/  128]\n"
                   "loss: 2.300000  [   64/  128]\nTest Error: \n Accuracy: 50.0%, Avg loss: 1.000000\n\n")
    assert "2/2" in err and "1,000 samples/s" in err


@pytest.mark.parametrize("args,message", [
    (["--port", "x"], "argument --port: 'x' is not a number; must be a whole number from 0 to 65535"),
    (["--max-epochs", "60"], "argument --max-epochs: 60 is out of range; must be a whole number from 1 to 50"),
    (["--queue-size", "-1"], "argument --queue-size: -1 is out of range"),
    (["--max-train-seconds", "soon"], "argument --max-train-seconds: 'soon' is not a number"),
    (["--max-upload-mb", "0"], "argument --max-upload-mb: 0 is out of range; must be a number of megabytes"),
])
def test_demo_refuses_bad_numbers_with_config_checks(args, message):
    done = subprocess.run([sys.executable, "demo.py", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"python demo.py: error: {message}"] or (
        len(done.stderr.strip().splitlines()) == 1 and message in done.stderr), done.stderr


# --------------------------------------------------------------------------- finetune

def _digit_folder(root: Path, per_digit: int = 1) -> Path:
    """An ImageFolder of drawn digits (tests/support/digits.py strokes), `per_digit` slants of each."""
    from tests.support.digits import draw

    for digit in range(10):
        (root / str(digit)).mkdir(parents=True)
        for i in range(per_digit):
            draw(digit, slant=0.15 * i).save(root / str(digit) / f"{i}.png")
    return root


def _private_checkpoints(tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "default.pt").write_bytes((ROOT / "checkpoints" / "default.pt").read_bytes())
    return folder


def test_finetune_saves_a_model_that_predict_then_uses(tmp_path):
    folder, checkpoints = _digit_folder(tmp_path / "mine"), _private_checkpoints(tmp_path)
    done = cli("finetune", str(folder), "--out", "mine", "--steps", "6", "--checkpoint-dir", str(checkpoints),
               "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"10 images from {folder}; fine-tuning default for 6 steps")
    assert any(line.startswith(f"{folder} (on the images trained on") and "% -> " in line for line in lines)
    assert any(line.startswith("MNIST test: ") and "% -> " in line for line in lines)
    summary = json.loads(lines[-1])
    assert {"before", "after", "mnist_before", "mnist_after", "train_s"} <= set(summary)
    assert summary["steps"] == 6 and summary["drawings"] == 10 and summary["held_out"] == 0
    assert summary["checkpoint"] == str(checkpoints / "mine.pt")

    from mnist_demo.checkpoints import load_checkpoint

    meta = load_checkpoint("mine", checkpoints).meta
    assert meta["fine_tuned_from"] == "default" and meta["drawings"] == 10 and meta["steps"] == 6
    assert meta["accuracy"] == summary["mnist_after"]
    done = cli("predict", str(folder / "7" / "0.png"), "--checkpoint", "mine", "--checkpoint-dir",
               str(checkpoints), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digit"] == 7


def _blank_folder(root: Path) -> Path:
    from PIL import Image

    _digit_folder(root)
    Image.new("L", (90, 90), 255).save(root / "4" / "x.png")
    return root


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "absent", "does not exist"),
    (lambda p: _digit_folder(p / "cats") / "7" / "0.png", "is not a folder"),
    (lambda p: _blank_folder(p / "one"), "x.png: the image is blank"),
])
def test_finetune_bad_folder_is_one_error_line_and_writes_nothing(tmp_path, make, message):
    checkpoints = _private_checkpoints(tmp_path)
    done = cli("finetune", str(make(tmp_path)), "--out", "mine", "--checkpoint-dir", str(checkpoints))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert sorted(p.name for p in checkpoints.iterdir()) == ["default.pt"]


def test_finetune_of_one_digit_only_is_refused(tmp_path):
    from tests.support.digits import draw

    folder = tmp_path / "fours"
    (folder / "4").mkdir(parents=True)
    for i in range(3):
        draw(4, slant=0.1 * i).save(folder / "4" / f"{i}.png")
    checkpoints = _private_checkpoints(tmp_path)
    done = cli("finetune", str(folder), "--out", "mine", "--checkpoint-dir", str(checkpoints))
    assert done.returncode == 1 and "error: all the drawings are of the digit 4" in done.stderr
    assert not (checkpoints / "mine.pt").exists()


@pytest.mark.parametrize("args,message", [
    (["--steps", "0"], "argument --steps: 0 is out of range; must be a whole number from 1 to 1000"),
    (["--out", "../x"], "error: out: checkpoint name '../x' is not allowed"),
])
def test_finetune_bad_arguments_exit_2(tmp_path, args, message):
    done = cli("finetune", str(tmp_path), *(["--out", "mine"] if "--out" not in args else []), *args)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
        done.stderr


def test_finetune_benchmark_help_and_bad_style():
    script = [sys.executable, "benchmarks/finetune.py"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([*script, "--help"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout and "--steps N" in done.stdout, done.stderr
    done = subprocess.run([*script, "--styles", "wobbly"], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 2 and "unknown style 'wobbly'" in done.stderr
