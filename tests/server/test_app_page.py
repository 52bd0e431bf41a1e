"""The app's page, its API listing and its login, through a running `demo.py` (tests/support/app_server.py)."""

import httpx
import pytest
from gradio_client import Client

from mnist_demo.app.server.i18n import resolve
from tests.support.app_server import Server, rest
from tests.support.digits import CENTRED, draw, encode

# --------------------------------------------------------------------------- the page

def test_page_has_the_five_tabs_and_stable_ids(server):
    config = httpx.get(server.url + "config", timeout=10).json()
    components = config["components"]
    tabs = [resolve(c["props"].get("label")) for c in components if c.get("type") == "tabitem"]
    assert tabs == ["Train", "Draw", "Mistakes", "CPU vs CUDA", "Checkpoints"]
    ids = {c["props"].get("elem_id") for c in components}
    for elem_id in ("draw-pad", "draw-label", "draw-preview", "draw-clear", "train-button", "stop-button",
                    "train-log", "loss-plot", "accuracy-plot", "save-name", "save-button", "checkpoint-table",
                    "train-status", "train-progress", "draw-model", "bench-button", "bench-table", "bench-plot",
                    "mistakes-model", "mistakes-matrix", "mistakes-true", "mistakes-read-as", "mistakes-cell",
                    "mistakes-worst", "mistakes-per-digit", "draw-inside", "inside-saliency", "inside-features",
                    "train-x-axis", "runs-table", "runs-choice", "runs-make-current", "runs-save", "runs-remove",
                    "collect-digits", "collect-counter", "collection-gallery", "collection-remove",
                    "collection-download", "collection-upload", "finetune-steps", "finetune-button", "finetune-stop",
                    "finetune-save-name"):
        assert elem_id in ids, elem_id
    accordions = [c for c in components if c.get("type") == "accordion" and c["props"]["elem_id"].startswith("teach")]
    assert len(accordions) >= 5 and all(c["props"].get("open") is False for c in accordions)


def test_api_lists_the_public_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/train", "/stop", "/save", "/list_checkpoints", "/load_checkpoint", "/upload_checkpoint",
            "/delete_checkpoint", "/bench", "/queue_status", "/model_info", "/mistakes", "/mistakes_cell",
            "/plot_against", "/make_run_current", "/remove_run", "/save_run", "/try_lr", "/try_batch", "/collect",
            "/remove_drawing", "/download_drawings", "/upload_drawings", "/finetune", "/stop_finetune",
            "/save_finetuned"} <= names


def test_auth_protects_the_page_the_gradio_api_and_the_rest_route(tmp_path_factory, ckpt_dir):
    tmp = tmp_path_factory.mktemp("auth")
    srv = Server(tmp, "--checkpoint-dir", str(ckpt_dir), "--auth", "alice:s3cret")
    try:
        seven = encode(draw(7, **CENTRED))
        for auth in (None, ("alice", "wrong"), ("bob", "s3cret")):
            reply = rest(srv, seven, auth=auth)
            assert reply.status_code == 401 and "login required" in reply.json()["error"], reply.text
            assert reply.headers["www-authenticate"].startswith("Basic")
        reply = rest(srv, seven, auth=("alice", "s3cret"))
        assert reply.status_code == 200 and reply.json()["digit"] == 7
        assert httpx.get(srv.url + "gradio_api/info", timeout=10).status_code == 401
        with pytest.raises(Exception):
            Client(srv.url, verbose=False)
        c = Client(srv.url, auth=("alice", "s3cret"), verbose=False)
        assert c.predict(api_name="/model_info")["choice"] == "default"
    finally:
        srv.stop()
