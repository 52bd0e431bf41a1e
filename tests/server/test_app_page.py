"""The app's page, its API listing and its login, through a running `demo.py` (tests/support/app_server.py)."""

import re

import httpx
import pytest
from gradio_client import Client

from mnist_demo.app.server.i18n import resolve
from tests.support.app_server import Server, rest
from tests.support.digits import CENTRED, draw, encode

# --------------------------------------------------------------------------- the page

def test_page_has_the_six_tabs_and_stable_ids(server):
    config = httpx.get(server.url + "config", timeout=10).json()
    components = config["components"]
    tabs = [resolve(c["props"].get("label")) for c in components if c.get("type") == "tabitem"]
    assert tabs == ["Train", "Draw", "Mistakes", "CPU vs CUDA", "Class", "Checkpoints"]
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


def test_every_api_input_and_output_has_a_plain_english_name_and_the_page_keeps_its_languages(server, client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = {endpoint: [p["label"] for p in info["parameters"]] + [r["label"] for r in info["returns"]]
             for endpoint, info in endpoints.items()}
    for endpoint, labels in names.items():  # never value_47, param_3 or a translation marker
        for label in labels:
            assert isinstance(label, str) and re.fullmatch(r"[a-z][a-z0-9_ ]*", label), (endpoint, label)
            assert not re.fullmatch(r"(value|param|parameter)_\d+", label), (endpoint, label)
    assert names["/train"][:3] == ["train_preset", "train_model", "train_optimizer"]
    assert names["/train"][9:12] == ["train_status", "train_progress", "train_log"]
    assert names["/predict"] == ["image", "probabilities"]
    raw = httpx.get(server.url + "gradio_api/info", timeout=10).text
    assert "translation_metadata" not in raw and "__i18n__" not in raw
    # the page a visitor sees is as it was: its labels are still translated by the browser
    config = httpx.get(server.url + "config", timeout=10).json()
    lr = next(c for c in config["components"] if c["props"].get("elem_id") == "train-lr")
    translations = config["i18n_translations"]
    assert resolve(lr["props"]["label"], "ko", translations) == "학습률"
    assert resolve(lr["props"]["label"], "en", translations) == "Learning rate"


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
