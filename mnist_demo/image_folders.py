"""Drawings from a folder in torchvision's ImageFolder layout: DIR/0/*.png ... DIR/9/*.png, the folder the label.

Each file goes through the same preprocessing as a drawing or an uploaded image (`preprocess.to_mnist`: any
size, dark-on-light or light-on-dark, PNG, JPEG, ...), so the result is uint8 [N, 28, 28] MNIST-style. Limits,
checked before anything is decoded: at most finetune.MAX_DRAWINGS files and MAX_FILE_BYTES per file. Hidden
files (".name") are skipped; any other problem (a blank or unreadable image, a subfolder not named 0-9) is
an error naming the file, so that nothing is trained on a folder that is not what its owner thinks.
"""

from pathlib import Path

import numpy as np

from mnist_demo.errors import DemoError
from mnist_demo.finetune import MAX_DRAWINGS, FineTuneError

MAX_FILE_BYTES = 5 * 2**20  # as /api/predict's body: far above any digit image, below a costly one


def image_files(directory) -> list[tuple[Path, int]]:
    """(file, label) for every image file under DIR/0 ... DIR/9, sorted; FineTuneError when the folder is
    missing, holds no digit subfolder, a subfolder not named 0-9, too many files or a file too large."""
    root = Path(directory)
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "does not exist"
        raise FineTuneError(f"{root} {problem}: give a folder with subfolders 0 to 9 of digit images")
    found: list[tuple[Path, int]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name not in tuple("0123456789"):
            raise FineTuneError(f"{sub}: subfolders must be named 0 to 9 (the digit their images show)")
        for path in sorted(p for p in sub.iterdir() if not p.name.startswith(".")):
            if not path.is_file():
                raise FineTuneError(f"{path}: not an image file (subfolders hold image files only)")
            found.append((path, int(sub.name)))
            if len(found) > MAX_DRAWINGS:
                raise FineTuneError(f"{root} holds more than {MAX_DRAWINGS} images: the limit is {MAX_DRAWINGS}")
    if not found:
        raise FineTuneError(f"{root} holds no images: put them in subfolders 0 to 9, one per digit")
    for path, _ in found:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FineTuneError(f"{path}: {size / 2**20:.1f} MB is too large for a digit image "
                                f"(the limit is {MAX_FILE_BYTES // 2**20} MB)")
    return found


def read_image_folder(directory) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N, 28, 28] MNIST-style images and int64 [N] labels from an ImageFolder-layout DIR.

    FineTuneError naming the file for an image that cannot be read or is blank.
    """
    from mnist_demo.preprocess import to_mnist

    files = image_files(directory)
    images = np.zeros((len(files), 28, 28), np.uint8)
    for i, (path, _) in enumerate(files):
        try:
            prepared = to_mnist(path)
        except DemoError as err:
            raise FineTuneError(f"{path}: {str(err).removeprefix(f'{path}: ')}") from None
        if prepared is None:
            raise FineTuneError(f"{path}: the image is blank (no digit found)")
        images[i] = prepared.image28
    return images, np.array([label for _, label in files], np.int64)
