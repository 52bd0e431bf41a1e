"""The original PyTorch tutorial's training code, kept verbatim: the fidelity reference and the benchmark baseline.

This project grew from the (Korean) PyTorch tutorial "Optimizing model parameters", run on MNIST. What is kept
as written there: torchvision `datasets.MNIST(root, train=..., transform=ToTensor())`, `DataLoader(batch_size=64)`
(the training loader with `shuffle=True`, as in the tutorial; the test loader unshuffled), the bodies of
`train_loop` and `test_loop` with their log lines, `nn.CrossEntropyLoss()` and `torch.optim.SGD(lr=1e-3)`, and the
tutorial's model (`build_model("tutorial")`).

What changed, and only this: `device` is a parameter instead of a global; `verbose=False` silences the prints;
the loops return their figures (train: the last logged loss; test: accuracy and the tutorial's average loss).

Quirks kept on purpose (fidelity): `test_loop` divides the *sum of per-batch mean losses* by the number of
samples, so its "Avg loss" is about 1/64 of the per-sample mean loss that the engine (`train.evaluate`) reports;
`current = batch * len(X)` is the tutorial's sample count; and the model's final ReLU (see `models.py`).

Data: torchvision's MNIST looks for the uncompressed files in `<root>/MNIST/raw/` and otherwise downloads,
checking the md5 of each .gz; this repository's bundled .gz are recompressed (different md5), so `prepare_root`
decompresses them once into `<root>/MNIST/raw/<name>` and torchvision loads those without any download.
"""

import gzip
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from mnist_demo.data import BUNDLED_DIR, FILES, find_file, missing_message
from mnist_demo.devices import sync
from mnist_demo.errors import DataError
from mnist_demo.models import build_model

BATCH_SIZE = 64  # samples per step, as in the tutorial
LEARNING_RATE = 1e-3  # SGD step size, no momentum, as in the tutorial
CACHE_ROOT = Path(tempfile.gettempdir()) / "mnist-demo-tutorial"  # used when the data dir is read-only


def _idx_complete(path: Path) -> bool:
    """True when `path` is an uncompressed IDX file whose size matches its header (so not half-written)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        (magic,) = struct.unpack(">I", head[:4])
        ndim = magic & 0xFF
        if magic >> 8 != 0x08 or ndim not in (1, 3):
            return False
        dims = struct.unpack(f">{ndim}I", head[4:4 + 4 * ndim])
        count = 1
        for size in dims:
            count *= size
        return path.stat().st_size == 4 + 4 * ndim + count
    except (OSError, struct.error):
        return False


def _extract(source: Path, target: Path) -> None:
    """Write `source` (.gz or plain) uncompressed to `target`, atomically (a temp name, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name ends in "-ubyte" so that, inside the repository's data dir, it is git-ignored too.
    partial = target.with_name(f".{target.name}.{os.getpid()}.part-ubyte")
    opener = gzip.open if source.suffix == ".gz" else open
    try:
        with opener(source, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _fill(root: Path, sources: dict[str, Path]) -> Path:
    """Make `<root>/MNIST/raw/<name>` exist uncompressed for every file; return `root`."""
    raw = root / "MNIST" / "raw"
    for name, source in sources.items():
        target = raw / name
        if source.resolve() != target.resolve() and not _idx_complete(target):
            _extract(source, target)
    return root


def prepare_root(data_dir: str | Path | None = None, root: str | Path | None = None) -> Path:
    """A torchvision `root` holding MNIST/raw/ uncompressed, made from the bundled (or given) .gz files.

    `data_dir`: where to find the .gz (default: the repository's data/). `root`: where to write (default: the
    data dir itself, whose uncompressed `MNIST/raw/*-ubyte` are git-ignored; a temp cache if it is read-only).
    """
    directory = Path(data_dir) if data_dir else BUNDLED_DIR
    sources = {name: find_file(directory, name) for name in FILES.values()}
    if any(path is None for path in sources.values()):
        raise DataError(missing_message(directory))
    if root is not None:
        return _fill(Path(root), sources)
    try:
        return _fill(directory, sources)
    except OSError:
        return _fill(CACHE_ROOT, sources)


def tutorial_datasets(data_dir: str | Path | None = None, root: str | Path | None = None):
    """The tutorial's `training_data, test_data`: torchvision MNIST with `ToTensor()` (images in [0, 1])."""
    from torchvision import datasets
    from torchvision.transforms import ToTensor

    root = prepare_root(data_dir, root)
    training_data = datasets.MNIST(root=str(root), train=True, download=False, transform=ToTensor())
    test_data = datasets.MNIST(root=str(root), train=False, download=False, transform=ToTensor())
    return training_data, test_data


def tutorial_loaders(training_data, test_data, batch_size: int = BATCH_SIZE):
    """The tutorial's loaders: the training one shuffles each epoch (shuffle=True), the test one does not."""
    train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)
    return train_dataloader, test_dataloader


def train_loop(dataloader, model, loss_fn, optimizer, device="cpu", verbose: bool = True) -> float:
    """The tutorial's training loop for one epoch; returns the last logged loss."""
    size = len(dataloader.dataset)
    logged = float("nan")
    for batch, (X, y) in enumerate(dataloader):
        X = X.to(device)
        y = y.to(device)
        # 예측(prediction)과 손실(loss) 계산
        pred = model(X)
        loss = loss_fn(pred, y)

        # 역전파
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        if batch % 100 == 0:
            loss, current = loss.item(), batch * len(X)
            logged = loss
            if verbose:
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
    return logged


def test_loop(dataloader, model, loss_fn, device="cpu", verbose: bool = True) -> tuple[float, float]:
    """The tutorial's test loop; returns (accuracy in [0, 1], the tutorial's "Avg loss")."""
    size = len(dataloader.dataset)
    test_loss, correct = 0, 0

    with torch.no_grad():
        for X, y in dataloader:
            X = X.to(device)
            y = y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()

    test_loss /= size
    correct /= size
    if verbose:
        print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return correct, test_loss


@dataclass
class TutorialResult:
    """What `run_tutorial` measured: accuracy in [0, 1], the tutorial's avg loss, seconds per training epoch."""

    model: nn.Module
    accuracy: float
    avg_loss: float
    epoch_s: list[float]  # train_loop wall time per epoch, test_loop excluded

    @property
    def train_s(self) -> float:
        return sum(self.epoch_s)


def run_tutorial(epochs: int = 1, device="cpu", data_dir=None, root=None, verbose: bool = True,
                 seed: int | None = None, datasets=None) -> TutorialResult:
    """The tutorial's script: model, loss, SGD lr 1e-3, then per epoch `train_loop` + `test_loop`.

    `seed` (None: unseeded, as the tutorial) seeds torch's global RNG, which drives both the model's
    initialisation and the loader's shuffling. `datasets`: a ready (training_data, test_data) pair.
    """
    if seed is not None:
        torch.manual_seed(seed)
    training_data, test_data = datasets or tutorial_datasets(data_dir, root)
    train_dataloader, test_dataloader = tutorial_loaders(training_data, test_data)
    model = build_model("tutorial").to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    epoch_s, accuracy, avg_loss = [], 0.0, float("nan")
    for t in range(epochs):
        if verbose:
            print(f"Epoch {t+1}\n-------------------------------")
        sync(torch.device(device))
        start = time.perf_counter()
        train_loop(train_dataloader, model, loss_fn, optimizer, device, verbose)
        sync(torch.device(device))
        epoch_s.append(time.perf_counter() - start)
        accuracy, avg_loss = test_loop(test_dataloader, model, loss_fn, device, verbose)
    if verbose:
        print("Done!")
    return TutorialResult(model, accuracy, avg_loss, epoch_s)
