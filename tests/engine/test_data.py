"""IDX parsing on small files the tests write, and the real bundled MNIST."""

import gzip
import hashlib
import struct

import pytest
import torch

from mnist_demo import data
from mnist_demo.data import FILES, load_mnist, read_idx, shuffled_batches
from mnist_demo.errors import DataError

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: torch.Tensor) -> bytes:
    magic = 0x800 | array.dim()
    return struct.pack(f">I{array.dim()}I", magic, *array.shape) + bytes(array.flatten().tolist())


def write_set(folder, n_train=12, n_test=5, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": torch.randint(0, 256, (n_train, 28, 28), dtype=torch.uint8),
        "train_labels": torch.arange(n_train, dtype=torch.uint8) % 10,
        "test_images": torch.randint(0, 256, (n_test, 28, 28), dtype=torch.uint8),
        "test_labels": torch.arange(n_test, dtype=torch.uint8) % 10,
    }
    for key, array in arrays.items():
        raw = idx_bytes(array)
        name = FILES[key] + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


def test_read_idx_round_trip(tmp_path):
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    (tmp_path / "x").write_bytes(idx_bytes(images))
    assert torch.equal(read_idx(tmp_path / "x", 3), images)


@pytest.mark.parametrize("cut", [0, 3, 10, 100])
def test_truncated_file_names_the_file(tmp_path, cut):
    raw = idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(raw[:cut])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        read_idx(path, 3)


def test_wrong_magic_is_refused(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8)))
    with pytest.raises(DataError, match="labels: not an IDX file of 1-dimensional"):
        read_idx(path, 1)


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 50)[:20])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(path, 1)


@pytest.mark.parametrize("gz", [True, False])
def test_data_dir_comes_first(tmp_path, gz):
    arrays = write_set(tmp_path / "MNIST" / "raw", gz=gz)
    found = load_mnist(tmp_path, download=False)
    assert found.source == str(tmp_path.resolve())
    assert torch.equal(found.train_images, arrays["train_images"])
    assert found.test_labels.dtype == torch.int64


def test_missing_everywhere_gives_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "BUNDLED_DIR", tmp_path / "nothing-bundled")
    monkeypatch.chdir(tmp_path)  # the default ./data is absent too
    with pytest.raises(DataError) as err:
        load_mnist(download=False)
    message = str(err.value)
    assert str(tmp_path / "nothing-bundled" / "MNIST" / "raw") in message and "downloading was switched off" in message
    for name in FILES.values():
        assert name in message


@pytest.mark.parametrize("chosen,exists,fragment", [
    ("nonexistent", False, "does not exist"),
    ("nonexistent/deeper", False, "does not exist"),
    ("empty", True, "MNIST not found: put the four files"),
    ("a-file", None, "is not a folder"),
])
def test_a_chosen_data_dir_never_falls_back_to_the_bundled_files(tmp_path, chosen, exists, fragment):
    """`--data-dir X` means X: a typo must not train quietly on other files (the bundled ones here exist)."""
    directory = tmp_path / chosen
    if exists:
        directory.mkdir()
    elif exists is None:
        directory.write_text("not a folder")
    for download in (False, True):  # offline here; a folder that does not exist is refused before any download
        if download and exists:
            continue  # downloading into an existing folder is allowed: nothing to check offline
        with pytest.raises(DataError) as err:
            load_mnist(directory, download=download)
        assert fragment in str(err.value) and str(directory / "MNIST" / "raw") in str(err.value)
        assert str(data.BUNDLED_DIR) not in str(err.value)  # nothing else was tried, so nothing else is named
    assert not (tmp_path / "nonexistent").exists()  # and nothing was created


@pytest.mark.parametrize("given", [None, "", "data"])
def test_the_default_data_dir_uses_the_bundled_files_from_anywhere(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)  # no ./data here
    assert load_mnist(given, download=False).source == str(data.BUNDLED_DIR)


def test_corrupt_file_in_data_dir_is_an_error_not_a_silent_fallback(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_set(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path, download=False)


def test_bundled_files_are_the_original_bytes():
    expected = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
    for name, md5 in expected.items():
        raw = gzip.decompress((data.BUNDLED_DIR / "MNIST" / "raw" / f"{name}.gz").read_bytes())
        assert hashlib.md5(raw).hexdigest() == md5, name


def test_real_data_shapes_and_label_counts(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert torch.bincount(mnist.train_labels).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test_labels).tolist() == TEST_COUNTS


def test_shuffled_batches_cover_every_index_once():
    batches = shuffled_batches(1000, 64, torch.Generator().manual_seed(1), "cpu")
    assert [len(b) for b in batches] == [64] * 15 + [40]
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(1000))


def test_normalize_scales_to_unit_range():
    x = data.normalize(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert x.shape == (1, 1, 1, 2) and x.tolist() == [[[[0.0, 1.0]]]]
