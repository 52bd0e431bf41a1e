"""Shared fixtures: the real bundled MNIST, read once per test session."""

import pytest

from mnist_demo.data import cached_mnist


@pytest.fixture(scope="session")
def mnist():
    return cached_mnist()
