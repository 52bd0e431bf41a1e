"""Shared fixtures: the real bundled MNIST, read once per test session; one running app for the test_app_* modules;
Chromium for the journeys."""

from pathlib import Path

import pytest
from gradio_client import Client

from mnist_demo.data import cached_mnist
from tests.app_server import Server, make_default_checkpoint, new_client


@pytest.fixture(scope="session")
def mnist():
    return cached_mnist()


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("checkpoints")
    make_default_checkpoint(directory)
    return directory


@pytest.fixture(scope="session")
def server(tmp_path_factory, ckpt_dir):
    """`demo.py` with small limits, shared by the test_app_* modules: each visitor (client) has its own state,
    and every test that trains first waits for the server to be idle, so nothing leaks from one to the next."""
    srv = Server(tmp_path_factory.mktemp("server"), "--checkpoint-dir", str(ckpt_dir), "--max-trainings", "1",
                 "--queue-size", "1", "--max-epochs", "3", "--max-train-seconds", "120", "--max-saves", "2",
                 "--max-upload-mb", "1")
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> Client:
    return new_client(server)


@pytest.fixture(scope="module")
def fresh(server) -> Client:
    """A visitor who has not trained or loaded anything in this module."""
    return new_client(server)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium through Playwright, for one journey module (each opens its own contexts). Per module, not
    per session: Playwright's sync API keeps an event loop running in this thread while it is open, which would
    make every later `asyncio.run` in the session fail."""
    from playwright.sync_api import sync_playwright  # a dev requirement, needed by the journeys only

    from tests.browser import CHROMIUM, FLAGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()
