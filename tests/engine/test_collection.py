"""A visitor's collection of drawings: add, remove, cap, counts; MNIST's IDX format out and back; hostile uploads."""

import copy
import gzip
import struct

import numpy as np
import pytest

from mnist_demo.collection import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MAX_DRAWINGS,
    Collection,
    CollectionError,
    read_upload,
    write_idx,
)
from mnist_demo.data import read_idx


def image(value: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((28, 28)) * value).astype(np.uint8)


def filled(n: int = 20) -> Collection:
    c = Collection()
    for i in range(n):
        c.add(image(seed=i), i % 10)
    return c


# --------------------------------------------------------------------------- the collection

def test_add_keeps_a_copy_with_label_and_time_and_counts_each_digit():
    c = Collection()
    source = image()
    d = c.add(source, "7", added=123.0)
    source[:] = 0  # the caller's array changing later does not change the collection
    assert d.label == 7 and d.added == 123.0 and d.image.sum() > 0 and not d.image.flags.writeable
    c.add(image(seed=1), 7)
    c.add(image(seed=2), 0)
    assert c.counts() == [1, 0, 0, 0, 0, 0, 0, 2, 0, 0] and len(c) == 3
    images, labels = c.arrays()
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8 and labels.tolist() == [7, 7, 0]


@pytest.mark.parametrize("label", [10, -1, "a", "12", "", None, 3.5, True])
def test_a_label_outside_0_to_9_is_refused_and_nothing_is_added(label):
    c = filled(3)
    with pytest.raises(CollectionError, match="0-9"):
        c.add(image(), label)
    assert len(c) == 3


@pytest.mark.parametrize("bad", [np.zeros((28, 27), np.uint8), np.zeros((28, 28), np.float32),
                                 np.zeros((28, 28, 3), np.uint8)])
def test_a_drawing_not_28x28_uint8_is_refused(bad):
    c = Collection()
    with pytest.raises(CollectionError):
        c.add(bad, 1)
    assert len(c) == 0


def test_remove_by_id_and_a_second_remove_says_it_is_gone():
    c = filled(5)
    target = c.drawings[2]
    assert c.remove(target.id) == target
    assert [d.label for d in c.drawings] == [0, 1, 3, 4]
    with pytest.raises(CollectionError, match="not in your collection"):
        c.remove(target.id)
    assert len(c) == 4


def test_the_cap_refuses_the_next_drawing_clearly_and_keeps_the_rest():
    c = Collection(limit=4)
    for i in range(4):
        c.add(image(seed=i), i)
    with pytest.raises(CollectionError, match="full .4 drawings"):
        c.add(image(), 5)
    assert c.counts() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(CollectionError, match="room for 0 more"):
        c.add_many(np.stack([image()] * 2), np.array([1, 2]))
    assert len(c) == 4


def test_the_default_cap_is_a_thousand_per_visitor():
    c = Collection()
    c.add_many(np.stack([image()] * MAX_DRAWINGS), np.arange(MAX_DRAWINGS) % 10)
    assert len(c) == 1000 == MAX_DRAWINGS
    with pytest.raises(CollectionError, match="full"):
        c.add(image(), 1)


def test_each_session_copy_starts_empty():
    c = filled(3)
    fresh = copy.deepcopy(c)
    assert len(fresh) == 0 and len(c) == 3 and fresh.limit == c.limit


# --------------------------------------------------------------------------- IDX, gzip

def test_idx_gzip_round_trip_is_exact_and_mnist_readers_read_it(tmp_path):
    c = filled(23)
    images, labels = c.arrays()
    image_path, label_path = write_idx(images, labels, tmp_path)
    assert image_path.name == "my-drawings-images-idx3-ubyte.gz"
    assert label_path.name == "my-drawings-labels-idx1-ubyte.gz"
    raw = gzip.decompress(image_path.read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (IMAGES_MAGIC, 23, 28, 28) and len(raw) == 16 + 23 * 784
    assert struct.unpack(">II", gzip.decompress(label_path.read_bytes())[:8]) == (LABELS_MAGIC, 23)
    # the project's own MNIST reader (as used for the real data set) reads it
    assert np.array_equal(read_idx(image_path, 3).numpy(), images)
    assert read_idx(label_path, 1).tolist() == labels.tolist()
    back_images, back_labels = read_upload([label_path, image_path])  # either order
    assert np.array_equal(back_images, images) and back_labels.tolist() == labels.tolist()
    assert back_labels.dtype == np.int64
    again = Collection()
    assert again.add_many(back_images, back_labels) == 23 and again.counts() == c.counts()
    # deterministic bytes: the same drawings give the same files
    second = write_idx(images, labels, tmp_path / "again")
    assert second[0].read_bytes() == image_path.read_bytes()


def test_plain_uncompressed_idx_files_are_read_too(tmp_path):
    images, labels = filled(4).arrays()
    paths = write_idx(images, labels, tmp_path)
    plain = []
    for p in paths:
        q = tmp_path / p.name.removesuffix(".gz")
        q.write_bytes(gzip.decompress(p.read_bytes()))
        plain.append(q)
    back, back_labels = read_upload(plain)
    assert np.array_equal(back, images) and back_labels.tolist() == labels.tolist()


def idx(magic: int, dims: tuple, payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def pair(tmp_path, images: bytes, labels: bytes, compress=True) -> list:
    out = []
    for name, raw in (("x-images-idx3-ubyte.gz", images), ("x-labels-idx1-ubyte.gz", labels)):
        path = tmp_path / name
        path.write_bytes(gzip.compress(raw) if compress else raw)
        out.append(path)
    return out


GOOD_IMAGES = idx(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784))
GOOD_LABELS = idx(LABELS_MAGIC, (2,), bytes([3, 4]))


@pytest.mark.parametrize("images,labels,expected", [
    (idx(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784)), idx(LABELS_MAGIC, (3,), bytes([1, 2, 3])), "do not match"),
    (GOOD_IMAGES, idx(LABELS_MAGIC, (2,), bytes([3, 10])), "label 10 is outside 0-9"),
    (idx(IMAGES_MAGIC, (2, 32, 32), bytes(2 * 1024)), GOOD_LABELS, "32x32"),
    (idx(IMAGES_MAGIC, (1001, 28, 28), b""), GOOD_LABELS, "at most 1,000"),
    (idx(IMAGES_MAGIC, (2, 28, 28), bytes(784)), GOOD_LABELS, "cut short or padded"),
    (idx(IMAGES_MAGIC, (2, 28, 28), bytes(3 * 784)), GOOD_LABELS, "cut short or padded"),
    (idx(0x00000D03, (2, 28, 28), bytes(2 * 784 * 4)), GOOD_LABELS, "magic number 0x00000d03"),
    (b"hello, not an IDX file", GOOD_LABELS, "not an MNIST IDX file"),
    (GOOD_LABELS, GOOD_LABELS, "Both files hold labels"),
    (idx(IMAGES_MAGIC, (0, 28, 28), b""), idx(LABELS_MAGIC, (0,), b""), "no drawings"),
])
def test_bad_idx_uploads_are_refused_clearly(tmp_path, images, labels, expected):
    with pytest.raises(CollectionError, match=expected):
        read_upload(pair(tmp_path, images, labels))


def test_corrupt_truncated_and_bomb_gzip_are_refused_before_using_much_memory(tmp_path):
    good = gzip.compress(GOOD_IMAGES)
    labels = tmp_path / "l.gz"
    labels.write_bytes(gzip.compress(GOOD_LABELS))
    cases = {
        "cut.gz": (good[: len(good) // 2], "cut short"),
        "garbled.gz": (good[:10] + b"\xff" * 40, "not a readable gzip"),
        # 100 MB of zeros packs into ~100 KB: refused after inflating ~0.8 MB, never the whole
        "bomb.gz": (gzip.compress(bytes(100 * 1024 * 1024), compresslevel=9), "more than 784,016 bytes"),
        "two-streams.gz": (good + good, "more than one gzip stream"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CollectionError, match=expected) as err:
            read_upload([path, labels])
        assert name in str(err.value)


def test_a_huge_file_is_refused_by_its_size_before_reading(tmp_path):
    big = tmp_path / "big-images-idx3-ubyte"
    with open(big, "wb") as f:
        f.truncate(5 * 1024 * 1024)  # sparse: refused from its size alone
    labels = pair(tmp_path, GOOD_IMAGES, GOOD_LABELS)[1]
    with pytest.raises(CollectionError, match="too large"):
        read_upload([big, labels])


@pytest.mark.parametrize("count", [0, 1, 3])
def test_anything_but_two_files_is_refused(tmp_path, count):
    paths = pair(tmp_path, GOOD_IMAGES, GOOD_LABELS) * 2
    with pytest.raises(CollectionError, match="Upload two files"):
        read_upload(paths[:count])
