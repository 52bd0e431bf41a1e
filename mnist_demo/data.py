"""MNIST as uint8 tensors on the training device: IDX parsing, where the files come from, batches.

Where the files come from: a data directory someone chose is used as given: its files, else torchvision's
download into it (when online), else an error; it never falls back to other files unnoticed. The default
(`data`, or none given) means this working directory's data/ if it holds MNIST, else the copy bundled with
this repository, else the download. The whole set lives on the device; batches are cut by index, so no
per-sample Python work happens in the training loop.
"""

import gzip
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_demo.errors import DataError

MEAN, STD = 0.1307, 0.3081  # of the training images scaled to [0, 1]; models.Standardize uses them
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_DATA_DIR = "data"  # the CLI's and the app's default --data-dir: ./data, else the bundled copy
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_MAGIC = {1: 0x00000801, 3: 0x00000803}  # IDX: unsigned byte, 1 or 3 dimensions


@dataclass(frozen=True)
class MNIST:
    """The four arrays, uint8 images [N, 28, 28] and int64 labels [N], all on one device."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # the directory the files were read from

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device) -> "MNIST":
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return MNIST(move(self.train_images), move(self.train_labels), move(self.test_images),
                     move(self.test_labels), self.source)


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """Read an IDX file (optionally .gz) of unsigned bytes with `ndim` dimensions; clear errors if not."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'} ({err})") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated ({len(raw)} bytes, the header alone needs {header})")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != _MAGIC[ndim]:
        raise DataError(f"{path}: not an IDX file of {ndim}-dimensional unsigned bytes "
                        f"(magic number {magic:#010x}, expected {_MAGIC[ndim]:#010x})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = 1
    for size in shape:
        count *= size
    if len(raw) != header + count:
        raise DataError(f"{path}: truncated or padded ({len(raw)} bytes, the header says {header + count})")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header, count=count)
    return data.reshape(shape)


def find_file(directory: Path, name: str) -> Path | None:
    """The file `name` (plain or .gz) in `directory` or its MNIST/raw/ folder, if present."""
    for folder in (directory / "MNIST" / "raw", directory):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_dir(directory: Path) -> MNIST | None:
    """Read the four files from `directory`; None when any is absent, DataError when one is bad."""
    paths = {key: find_file(directory, name) for key, name in FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    arrays = {key: read_idx(p, 3 if key.endswith("images") else 1) for key, p in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if tuple(images.shape[1:]) != (28, 28):
            raise DataError(f"{paths[split + '_images']}: images are {tuple(images.shape[1:])}, not 28x28")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{directory}: {split} has {images.shape[0]} images but {labels.shape[0]} labels")
        if labels.numel() and int(labels.max()) > 9:
            raise DataError(f"{paths[split + '_labels']}: labels must be digits 0-9")
    return MNIST(arrays["train_images"], arrays["train_labels"].long(), arrays["test_images"],
                 arrays["test_labels"].long(), str(directory))


def _download(directory: Path) -> MNIST | None:
    """Let torchvision fetch MNIST into `directory`; None when offline or torchvision is absent."""
    try:
        from torchvision import datasets

        datasets.MNIST(str(directory), train=True, download=True)
        datasets.MNIST(str(directory), train=False, download=True)
    except Exception:  # noqa: BLE001 - offline, blocked, or no torchvision: the caller explains what to do
        return None
    return _read_dir(directory)


def missing_message(directory: Path, chosen: bool = False, downloaded: bool = True) -> str:
    """What to do when MNIST is not found in `directory` (`chosen`: given by the user, so nothing else was tried)."""
    names = ", ".join(f"{n}(.gz)" for n in FILES.values())
    where = Path(directory) / "MNIST" / "raw"
    if chosen and not Path(directory).is_dir():
        problem = "is not a folder" if Path(directory).exists() else "does not exist"
        return (f"MNIST not found: the data directory {directory} {problem} (expected the files {names} in "
                f"{where}); pass an existing --data-dir, or leave --data-dir out to use the bundled copy")
    tried = [] if chosen else [f"this copy has no bundled files at {BUNDLED_DIR / 'MNIST' / 'raw'}"]
    tried += ["the download failed (no internet?)"] if downloaded else ["downloading was switched off"]
    return f"MNIST not found: put the four files {names} in {where} (or pass --data-dir); {' and '.join(tried)}"


def load_mnist(data_dir: str | Path | None = None, device: str | torch.device = "cpu",
               download: bool = True) -> MNIST:
    """Find and read MNIST and put it on `device`; DataError saying what to do when it is not there.

    A chosen directory is the only source (downloading into it when allowed, never into a folder that does
    not exist: that is a typo more often than a wish). The default also looks at the bundled copy.
    """
    chosen = bool(data_dir) and os.fspath(data_dir) != DEFAULT_DATA_DIR
    directory = Path(data_dir) if chosen else Path(DEFAULT_DATA_DIR)
    if chosen and not directory.is_dir():
        raise DataError(missing_message(directory, chosen=True))
    sources = [directory.resolve()] if chosen else [directory.resolve(), BUNDLED_DIR]
    for source in dict.fromkeys(sources):
        found = _read_dir(source)
        if found is not None:
            return found.to(device)
    found = _download(directory) if download else None
    if found is None:
        raise DataError(missing_message(directory, chosen, downloaded=download))
    return found.to(device)


_cache: dict[tuple[str, str], MNIST] = {}
_cache_lock = threading.Lock()


def cached_mnist(data_dir: str | Path | None = None, device: str | torch.device = "cpu") -> MNIST:
    """`load_mnist`, read once per (directory, device) and shared read-only across callers."""
    key = (str(Path(data_dir or "data").resolve()), str(torch.device(device)))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = load_mnist(data_dir, device)
        return _cache[key]


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float [N, 1, 28, 28] in [0, 1], as the tutorial's ToTensor() gives.

    This is the input every model takes; models that want standardised inputs (mean MEAN, std STD)
    do it in their first layer, so training, evaluation and drawings all feed the same thing.
    """
    return images.unsqueeze(1).float() / 255.0


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator, device) -> list[torch.Tensor]:
    """Index tensors for one epoch: a random permutation of range(n) cut into batches (last may be short)."""
    order = torch.randperm(n, generator=generator, device=generator.device).to(device)
    return list(order.split(batch_size))
