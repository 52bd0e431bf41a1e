"""What `python demo.py` does as it starts, through a running demo.py of its own (no visitor before these tests):
its start-up lines say how to ask for a public link in this app's terms (--share, not Gradio's `share=True`), and
the Mistakes tab's shipped model is ready before anyone opens the tab (its pass made in the background)."""

import pytest
from gradio_client import Client

from tests.support.app_server import Server, wait_for


@pytest.fixture(scope="module")
def started(tmp_path_factory, ckpt_dir):
    server = Server(tmp_path_factory.mktemp("startup"), "--checkpoint-dir", str(ckpt_dir))
    yield server
    server.stop()


def test_the_start_up_lines_say_how_to_ask_for_a_public_link(started):
    assert wait_for(lambda: "public link" in started.output(), 30), started.output()
    out = started.output()
    assert "To create a public link, start it with --share" in out, out
    assert "share=True" not in out and "launch()" not in out, out


def test_the_mistakes_tabs_shipped_model_is_ready_before_its_first_view(started):
    assert wait_for(lambda: "shipped model is ready" in started.output(), 120), started.output()
    client = Client(started.url, verbose=False, download_files=False)
    status = client.predict("default", api_name="/mistakes")[1]  # this server's first view of it
    assert "default (shipped)" in status and "one test pass, kept" in status, status
