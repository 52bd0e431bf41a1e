"""The tutorial's code path: torchvision MNIST from the bundled .gz (via a temp root) and its log format."""

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from mnist_demo.data import FILES
from mnist_demo.errors import DataError
from mnist_demo.models import build_model
from mnist_demo.tutorial import BATCH_SIZE, LEARNING_RATE, prepare_root, train_loop, tutorial_datasets, tutorial_loaders
from mnist_demo.tutorial import test_loop as tutorial_test_loop

LOSS_LINE = re.compile(r"^loss: \d+\.\d{6}  \[ *\d+/ *\d+\]$")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A torchvision root made from the repository's bundled .gz files, in a temp dir."""
    return prepare_root(root=tmp_path_factory.mktemp("tutorial-root"))


@pytest.fixture(scope="module")
def datasets(root):
    return tutorial_datasets(root=root)


def test_prepare_root_decompresses_into_mnist_raw(root):
    raw = root / "MNIST" / "raw"
    sizes = {name: (raw / name).stat().st_size for name in FILES.values()}
    assert sizes["train-images-idx3-ubyte"] == 16 + 60000 * 28 * 28
    assert sizes["t10k-labels-idx1-ubyte"] == 8 + 10000
    assert not [p for p in raw.iterdir() if p.name.startswith(".")], "no partial files left behind"


def test_prepare_root_reuses_complete_files(root):
    target = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    before = target.stat().st_mtime_ns
    prepare_root(root=root)
    assert target.stat().st_mtime_ns == before


def test_prepare_root_replaces_a_truncated_file(tmp_path):
    prepare_root(root=tmp_path)
    target = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    target.write_bytes(target.read_bytes()[:100])
    prepare_root(root=tmp_path)
    assert target.stat().st_size == 8 + 10000


def test_missing_files_raise_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="MNIST not found"):
        prepare_root(data_dir=tmp_path / "nothing here", root=tmp_path / "root")


def test_datasets_load_without_download(datasets):
    training_data, test_data = datasets
    assert (len(training_data), len(test_data)) == (60000, 10000)
    image, label = training_data[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0  # ToTensor scales to [0, 1]
    assert label == 5  # the first MNIST training digit


def test_loaders_follow_the_tutorial(datasets):
    train_dataloader, test_dataloader = tutorial_loaders(*datasets)
    assert train_dataloader.batch_size == test_dataloader.batch_size == BATCH_SIZE == 64
    assert isinstance(train_dataloader.sampler, torch.utils.data.RandomSampler)  # shuffle=True
    assert isinstance(test_dataloader.sampler, torch.utils.data.SequentialSampler)


def test_train_loop_prints_the_tutorial_log(datasets, capsys):
    torch.manual_seed(0)
    subset = Subset(datasets[0], range(101 * 64))  # 101 batches: log lines at batch 0 and batch 100
    model = build_model("tutorial")
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    last = train_loop(DataLoader(subset, batch_size=64, shuffle=True), model, nn.CrossEntropyLoss(), optimizer)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(LOSS_LINE.match(line) for line in lines), lines
    assert lines[0].endswith("[    0/ 6464]") and lines[1].endswith("[ 6400/ 6464]")
    assert float(lines[1].split()[1]) == pytest.approx(last, abs=1e-6)


def test_test_loop_prints_and_returns(datasets, capsys):
    loader = DataLoader(Subset(datasets[1], range(640)), batch_size=64)
    accuracy, avg_loss = tutorial_test_loop(loader, build_model("tutorial"), nn.CrossEntropyLoss())
    out = capsys.readouterr().out
    assert re.fullmatch(r"Test Error: \n Accuracy: \d+\.\d%, Avg loss: +\d+\.\d{6} \n\n", out), repr(out)
    assert 0.0 <= accuracy <= 1.0 and avg_loss > 0
    assert f"Accuracy: {100 * accuracy:>0.1f}%" in out


def test_quiet_loops_print_nothing(datasets, capsys):
    loader = DataLoader(Subset(datasets[0], range(128)), batch_size=64)
    model = build_model("tutorial")
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    train_loop(loader, model, nn.CrossEntropyLoss(), optimizer, verbose=False)
    tutorial_test_loop(loader, model, nn.CrossEntropyLoss(), verbose=False)
    assert capsys.readouterr().out == ""
