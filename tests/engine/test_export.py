"""Take a run home: `export` writes a run as a PyTorch script and notebook that run where mnist_demo cannot be
imported, print the tutorial's log lines and reach the engine's accuracy at the same settings and seed."""

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import torch

from mnist_demo.augment import augment
from mnist_demo.cli import main
from mnist_demo.config import make_config
from mnist_demo.export import LANGUAGES, notebook, save, script
from mnist_demo.export.code import sections
from mnist_demo.export.model_class import model_code
from mnist_demo.models import MODELS, build_model
from mnist_demo.train import Progress, autocast_dtype, init_model, train

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
# The runs compared with the engine: the tutorial preset, and a CNN with Adam, one-cycle and augmentation.
TUTORIAL = {"preset": "tutorial"}
CNN = {"preset": "fast", "model": "cnn", "optimizer": "adam", "augment": True, "lr": 0.003, "log_every": 20}
SHORT = {"tutorial": 4000, "cnn": 8000}  # --limit: training images per run (1 epoch)

# The CNN's accuracy, 1 epoch on the first 8000 images, seeds 0-5, 2-core AMX CPU (bf16), engine / script:
# 95.1 95.8 95.6 94.6 95.2 94.8 / 95.7 95.8 95.2 94.9 96.0 96.0: sd 0.47 / 0.45 across seeds, script minus engine
# at the same seed -0.4 to +1.2 (sd 0.6). They differ because the engine's SmallCNN creates its layers in another
# order than the exported class, so the same seed draws other initial weights; given the engine's initial weights
# the script repeats the engine's run (first loss equal to all printed digits, accuracy within 0.2 points at
# limit 4000, seeds 0-3: bf16 rounding and fused Adam). At limit 4000 the seed-to-seed spread was 1.2 (sd).
CNN_TOLERANCE = 2.0  # accuracy points, about 3 sd of the measured script-minus-engine difference
SAME_INIT_TOLERANCE = 0.5  # accuracy points, with the engine's initial weights (measured at most 0.16 apart)
# The tutorial run is the same computation in both (fp32, plain SGD, the same batches): seeds 0-5 gave the
# same accuracy and loss to the printed digits at limits 4000 and 8000 (accuracy 10.1-25.4% across seeds).
TUTORIAL_TOLERANCE = 0.2

LOSS_LINE = re.compile(r"^loss: (\d+\.\d{6})  \[ *(\d+)/ *(\d+)\]$")
TEST_LINE = re.compile(r"^ Accuracy: (\d+\.\d)%, Avg loss: (\d+\.\d{6}) $")


def clean_env() -> dict:
    """The environment an exported file runs in: no PYTHONPATH, so only the venv's packages are importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return env | {"PYTHONNOUSERSITE": "1"}


def run_python(args: list[str], cwd: Path, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=clean_env(),
                          timeout=timeout)


def flags(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        out += [f"--{key.replace('_', '-')}"] if value is True else [f"--{key.replace('_', '-')}", str(value)]
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A folder outside the repository holding what `export` wrote, through the real command line."""
    folder = tmp_path_factory.mktemp("home")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, settings, extra in (("tutorial", TUTORIAL, ["--notebook", "tutorial.ipynb", "--lang", "ko"]),
                                  ("cnn", CNN, [])):
        done = subprocess.run([sys.executable, "-m", "mnist_demo", "export", *flags(settings), "--out",
                               f"{name}.py", *extra], capture_output=True, text=True, cwd=folder, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [f"Wrote {name}.py"] + ([f"Wrote {name}.ipynb"] if extra else [])
    return folder


@pytest.fixture(scope="module")
def engine(mnist) -> dict:
    """The engine's own runs at the same settings, seed and limit: accuracy in %, avg loss, log lines by batch."""
    runs = {}
    for name, settings in (("tutorial", TUTORIAL), ("cnn", CNN)):
        config = make_config(**settings, epochs=1, limit=SHORT[name])
        events = []
        result = train(config, mnist, on_event=events.append)
        runs[name] = {"config": config, "accuracy": 100 * result.evaluation.accuracy,
                      "avg_loss": result.evaluation.avg_loss, "events": events}
    return runs


def read_log(text: str, size: int) -> dict:
    """The tutorial's log, checked line by line: the epoch header, loss lines, the test report, Done!."""
    lines = text.splitlines()
    start = lines.index("Epoch 1")
    assert lines[start + 1] == "-" * 31
    losses = []
    i = start + 2
    while LOSS_LINE.match(lines[i]):
        loss, current, total = LOSS_LINE.match(lines[i]).groups()
        assert int(total) == size and int(current) < size, lines[i]
        losses.append((float(loss), int(current)))
        i += 1
    assert losses, text
    assert lines[i] == "Test Error: ", lines[i]
    accuracy, avg_loss = TEST_LINE.match(lines[i + 1]).groups()
    assert lines[i + 2:] == ["", "Done!"], lines[i + 2:]
    return {"losses": losses, "accuracy": float(accuracy), "avg_loss": float(avg_loss)}


def engine_losses(run: dict) -> list[tuple[float, int]]:
    """The engine's loss lines at the batches the script logs (the engine also logs the run's last step)."""
    every = run["config"].log_every
    return [(e.loss, e.current) for e in run["events"] if isinstance(e, Progress) and e.batch % every == 0]


def test_mnist_demo_cannot_be_imported_where_the_exports_run(home):
    done = run_python(["-c", "import mnist_demo"], home)
    assert done.returncode == 1 and "No module named 'mnist_demo'" in done.stderr, done.stderr


def test_the_tutorial_script_repeats_the_engines_run(home, engine):
    done = run_python(["tutorial.py", "--data-dir", str(DATA), "--epochs", "1", "--limit", str(SHORT["tutorial"])],
                      home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Using cpu device\nNeuralNetwork(")
    log, run = read_log(done.stdout, SHORT["tutorial"]), engine["tutorial"]
    assert [current for _, current in log["losses"]] == [current for _, current in engine_losses(run)]
    assert log["losses"][0][0] == pytest.approx(engine_losses(run)[0][0], abs=2e-6)
    assert abs(log["accuracy"] - run["accuracy"]) <= TUTORIAL_TOLERANCE
    assert log["avg_loss"] == pytest.approx(run["avg_loss"], abs=1e-5)


def test_the_cnn_script_is_within_noise_of_the_engine(home, engine):
    done = run_python(["cnn.py", "--data-dir", str(DATA), "--epochs", "1", "--limit", str(SHORT["cnn"])], home)
    assert done.returncode == 0, done.stderr
    log, run = read_log(done.stdout, SHORT["cnn"]), engine["cnn"]
    assert [current for _, current in log["losses"]] == [current for _, current in engine_losses(run)] \
        == [0, 2560, 5120, 7680]
    assert abs(log["accuracy"] - run["accuracy"]) <= CNN_TOLERANCE, (log["accuracy"], run["accuracy"])
    assert 90 < log["accuracy"] < 99


def test_with_the_engines_initial_weights_the_cnn_script_repeats_its_run(home, engine, tmp_path):
    """The recipe itself (data, order, augmentation, bf16, optimizer, schedule) is the engine's: only the initial
    weights differ for a seed, and given those the script's run is the engine's (to bf16 rounding)."""
    run = engine["cnn"]
    torch.save(init_model(run["config"], torch.device("cpu")).state_dict(), tmp_path / "init.pt")
    code = (home / "cnn.py").read_text()
    assert code.count("\nmodel = SmallCNN().to(device)\n") == 1
    code = code.replace("\nmodel = SmallCNN().to(device)\n",
                        "\nmodel = SmallCNN().to(device)\nmodel.load_state_dict(torch.load('init.pt'))\n")
    (tmp_path / "cnn.py").write_text(code)
    done = run_python(["cnn.py", "--data-dir", str(DATA), "--limit", str(SHORT["cnn"])], tmp_path)
    assert done.returncode == 0, done.stderr
    log = read_log(done.stdout, SHORT["cnn"])
    assert log["losses"][0][0] == pytest.approx(engine_losses(run)[0][0], abs=1e-5)
    assert abs(log["accuracy"] - run["accuracy"]) <= SAME_INIT_TOLERANCE, (log["accuracy"], run["accuracy"])


def kernel(folder: Path):
    """A kernel manager for this venv's Python with no PYTHONPATH (a kernelspec of its own, so that no other
    Jupyter installation's `python3` kernel is picked)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / "export-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "export test", "language": "python", "env": {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}}))
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="export-test", kernel_spec_manager=specs)


def test_the_korean_notebook_runs_in_a_fresh_kernel_like_the_script(home, engine, tmp_path):
    from nbclient import NotebookClient

    book = nbformat.read(home / "tutorial.ipynb", as_version=4)
    nbformat.validate(book)
    settings = next(c for c in book.cells if c.cell_type == "code" and "\nLIMIT = " in c.source)
    # what a learner would do: edit the settings cell
    settings.source = re.sub(r"(?m)^LIMIT = .*$", f"LIMIT = {SHORT['tutorial']}", settings.source)
    settings.source = re.sub(r"(?m)^DATA_DIR = .*$", f"DATA_DIR = {str(DATA)!r}", settings.source)
    book.cells.append(nbformat.v4.new_code_cell("import importlib.util\n"
                                                "print('mnist_demo:', importlib.util.find_spec('mnist_demo'))"))
    NotebookClient(book, km=kernel(tmp_path), timeout=300, resources={"metadata": {"path": str(home)}}).execute()
    text = "".join(out.get("text", "") for cell in book.cells if cell.cell_type == "code" for out in cell.outputs
                   if out.output_type == "stream" and out.name == "stdout")
    assert text.splitlines()[-1] == "mnist_demo: None"
    log, run = read_log(text.rsplit("\nmnist_demo:", 1)[0], SHORT["tutorial"]), engine["tutorial"]
    assert abs(log["accuracy"] - run["accuracy"]) <= TUTORIAL_TOLERANCE
    assert log["losses"][0][0] == pytest.approx(engine_losses(run)[0][0], abs=2e-6)


# --------------------------------------------------------------------------- the code itself

@pytest.mark.parametrize("name", list(MODELS))
def test_the_exported_model_class_is_the_registrys_model(name):
    """Same state_dict keys and shapes as build_model(name), so a checkpoint's weights load into it, and then the
    same outputs: the class is the registry's architecture, not a look-alike."""
    code, cls = model_code(name)
    assert code in script(make_config(model=name))
    space = {}
    exec("import torch\nfrom torch import nn\n" + code, space)
    exported, ours = space[cls](), build_model(name)
    assert {k: v.shape for k, v in exported.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}
    assert list(exported.state_dict()) == list(ours.state_dict())
    exported.load_state_dict(ours.state_dict())
    if any(isinstance(m, torch.nn.Conv2d) for m in ours.modules()):  # as the script does, and build_model
        exported = exported.to(memory_format=torch.channels_last)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(exported.eval()(x), ours.eval()(x))


def _namespace(config, *keys) -> dict:
    """Run the named sections of the config's code (after its imports and settings) and return their names."""
    parts = {s.key: s for s in sections(config)}
    space = {}
    for key in ("imports", "settings", *keys):
        exec(parts[key].in_notebook(), space)
    return space


def test_the_settings_are_the_runs():
    config = make_config("tutorial", model="mlp", momentum=0.9, weight_decay=1e-4, schedule="onecycle", warmup=0.3,
                         batch_size=32, epochs=3, seed=7, device="cuda", limit=5000, log_every=25)
    space = _namespace(config)
    assert (space["LEARNING_RATE"], space["MOMENTUM"], space["WEIGHT_DECAY"], space["WARMUP"]) == (1e-3, 0.9, 1e-4, 0.3)
    assert (space["BATCH_SIZE"], space["EPOCHS"], space["SEED"], space["DEVICE"], space["LIMIT"],
            space["LOG_EVERY"]) == (32, 3, 7, "cuda", 5000, 25)
    code = script(config)
    assert "torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)" in code
    assert "pct_start=WARMUP, cycle_momentum=True)" in code  # as the engine's schedule with SGD momentum


def test_the_tutorial_script_holds_only_what_the_tutorial_uses():
    code = script(make_config("tutorial"))
    for absent in ("OneCycleLR", "augment(", "autocast", "channels_last", "MOMENTUM", "WEIGHT_DECAY", "mnist_demo"):
        assert absent not in code, absent
    assert "torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)" in code
    assert {line.split()[1] for line in code.splitlines() if line.startswith(("import ", "from "))} == \
        {"argparse", "gzip", "os", "shutil", "torch", "torch.utils.data", "torchvision"}


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("optimizer,schedule,augmented,precision", [
    ("sgd", "constant", False, "fp32"), ("adam", "onecycle", True, "auto"), ("sgd", "onecycle", True, "bf16")])
def test_every_combination_compiles(model, optimizer, schedule, augmented, precision):
    config = replace(make_config(model=model, optimizer=optimizer, schedule=schedule, augment=augmented,
                                 precision=precision, momentum=0.5), seed=None)
    compile(script(config), "run.py", "exec")
    for cell in notebook(config).cells:
        if cell.cell_type == "code":
            compile(cell.source, "cell", "exec")


def test_the_augmentation_is_the_engines():
    space = _namespace(make_config(augment=True), "augment")
    x = torch.rand(16, 1, 28, 28)
    assert torch.equal(space["augment"](x, torch.Generator().manual_seed(3)),
                       augment(x, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("model,precision", [("cnn", "auto"), ("cnn-small", "fp32"), ("mlp", "auto"),
                                             ("mlp", "bf16")])
def test_bf16_is_used_where_the_engine_uses_it(model, precision):
    config = make_config(model=model, precision=precision, device="cpu")
    space = _namespace(config, "device")
    wanted = autocast_dtype(config, build_model(model), torch.device("cpu")) is not None
    assert space.get("USE_BF16", False) == wanted
    assert ("autocast" in script(config)) == (precision != "fp32" and (model != "mlp" or precision == "bf16"))


def test_an_unseeded_run_draws_a_seed():
    with torch.random.fork_rng(devices=[]):  # torch.seed() reseeds the global generator
        space = _namespace(replace(make_config(), seed=None), "seed")  # (make_config's None keeps the preset's)
    assert space["SEED"] is None and isinstance(space["seed"], int)


# --------------------------------------------------------------------------- the notebook's words

def test_the_notebook_is_the_scripts_code_with_a_line_each():
    config = make_config(augment=True)
    book, code = notebook(config), script(config)
    cells = book.cells[1:]
    assert [c.cell_type for c in cells] == ["markdown", "code"] * (len(cells) // 2)
    assert [c.source for c in cells[1::2]] == [s.in_notebook().strip("\n") for s in sections(config)
                                               if s.in_notebook() is not None]
    for cell in cells[1::2]:
        assert cell.source.replace("import argparse\n", "") in code.replace("import argparse\n", "")
    assert all("\n" not in c.source for c in cells[0::2])
    assert "argparse" not in "".join(c.source for c in cells)
    assert book.metadata.kernelspec.name == "python3"
    nbformat.validate(book)


def test_the_korean_notebook_explains_in_korean():
    config = make_config("best")
    english, korean = notebook(config, "en"), notebook(config, "ko")
    words = [c.source for c in korean.cells if c.cell_type == "markdown"]
    assert all(re.search("[가-힣]", line) for line in words)
    text = "\n".join(words)
    for term in ("학습률", "배치 크기", "에폭", "손실", "정확도", "옵티마이저", "데이터 증강"):
        assert term in text, term
    assert not re.search("[가-힣]", "".join(c.source for c in english.cells))
    code = lambda book: [c.source for c in book.cells if c.cell_type == "code"]  # noqa: E731
    assert code(korean) == code(english)


@pytest.mark.parametrize("lang,expected", [("ko-KR", "ko"), ("KO", "ko"), ("fr", "en"), ("", "en"), (None, "en")])
def test_a_language_falls_back_to_english(lang, expected):
    config = make_config()
    assert notebook(config, lang) == notebook(config, expected)
    assert expected in LANGUAGES


# --------------------------------------------------------------------------- the command line

def test_export_help_says_what_happens_to_an_existing_file(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--out FILE" in out and "--notebook FILE" in out and "--lang en|ko" in out
    assert "A file that exists is left alone (exit 2) unless --force is given." in out
    assert "--preset" in out and "--augment" in out and "--limit" in out  # the train command's flags


@pytest.mark.parametrize("args,message", [
    (["--lr", "abc"], "error: lr: 'abc' is not a number"),
    (["--epochs", "0"], "error: epochs: 0 is out of range"),
    (["--device", "tpu"], "error: device: unknown device 'tpu'"),
    (["--lang", "fr"], "error: argument --lang: unknown lang 'fr'; choose one of en, ko"),
    (["--out", "missing/run.py"], "error: out: the folder missing does not exist"),
    (["--out", "old.py"], "error: out: old.py exists; choose another name or pass --force to replace it"),
    (["--out", "new.py", "--notebook", "old.py"], "error: notebook: old.py exists"),
    (["--out", "same.py", "--notebook", "./same.py"], "error: notebook: is the same file as the script"),
])
def test_bad_export_arguments_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.py").write_text("# edited by hand\n")
    try:
        code = main(["export", *args])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.py"]
    assert (tmp_path / "old.py").read_text() == "# edited by hand\n"


def test_export_writes_stdout_or_files_and_replaces_only_with_force(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--preset", "tutorial"]) == 0
    assert capsys.readouterr().out == script(make_config("tutorial"))
    (tmp_path / "run.py").write_text("# edited by hand\n")
    assert main(["export", "--preset", "tutorial", "--out", "run.py", "--notebook", "run.ipynb", "--lang", "ko",
                 "--force"]) == 0
    assert capsys.readouterr().out == "Wrote run.py\nWrote run.ipynb\n"
    assert (tmp_path / "run.py").read_text() == script(make_config("tutorial"))
    assert nbformat.read(tmp_path / "run.ipynb", as_version=4) == notebook(make_config("tutorial"), "ko")
    assert main(["export", "--preset", "tutorial", "--notebook", "run.ipynb", "--force"]) == 0  # English this time
    assert nbformat.read(tmp_path / "run.ipynb", as_version=4) == notebook(make_config("tutorial"), "en")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ipynb", "run.py"]


def test_save_checks_everything_before_writing(tmp_path):
    (tmp_path / "run.ipynb").write_text("{}")
    with pytest.raises(Exception, match="notebook: .* exists"):
        save(make_config(), tmp_path / "run.py", tmp_path / "run.ipynb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ipynb"]
    assert save(make_config(), tmp_path / "run.py") == [tmp_path / "run.py"]
