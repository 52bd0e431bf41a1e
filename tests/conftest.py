"""Shared fixtures: the real bundled MNIST, read once per test session; one running app for tests/server; Chromium
for the journeys. And the map: each test carries the marker of its folder (engine, app, server, browser, hostile;
the files at the top, `lint`), registered in pyproject.toml."""

import os
import shutil
from pathlib import Path

import pytest
from gradio_client import Client

from mnist_demo.data import cached_mnist
from tests.support.app_server import SHIPPED, Server, make_default_checkpoint, new_client


@pytest.fixture(scope="session")
def mnist():
    return cached_mnist()


@pytest.fixture
def route(tmp_path):
    """The plain `POST /api/predict` route in this process, over the shipped model in a tmp folder (one worker, one
    waiting), for tests that call it over ASGI."""
    from mnist_demo.app.core.context import AppContext
    from mnist_demo.app.core.settings import Settings
    from mnist_demo.app.server.rest import PredictRoute

    if not SHIPPED.is_file():
        pytest.skip(reason="needs the shipped checkpoints/default.pt")
    shutil.copy2(SHIPPED, tmp_path / "default.pt")
    return PredictRoute(AppContext(Settings(checkpoint_dir=str(tmp_path))), workers=1, max_waiting=1)


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

    from tests.support.browser import CHROMIUM, FLAGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


ROOMS = ("engine", "app", "server", "browser", "hostile")


def pytest_collection_modifyitems(config, items):
    """Mark each test with its folder's room, so that `-m` picks rooms (`pytest -m "engine or app"`). The browser
    room is skipped, with the reason, where Chromium is missing; except under CI=true, where it must run (and
    then fails, saying what is missing)."""
    from tests.support.browser import CHROMIUM

    tests = Path(__file__).resolve().parent
    no_browser = not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true"
    for item in items:
        parts = Path(item.path).resolve().relative_to(tests).parts
        room = parts[0] if len(parts) > 1 and parts[0] in ROOMS else "lint"
        item.add_marker(room)
        if room == "browser" and no_browser:
            item.add_marker(pytest.mark.skip(reason="Chromium is not installed (apt-get install -y chromium)"))
