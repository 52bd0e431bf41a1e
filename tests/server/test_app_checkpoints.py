"""The Checkpoints tab through a running `demo.py` (save, list, download, delete, load, upload), and the Library below
it."""

import os
import shutil
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.support.app_server import TINY, new_client, queue_status, sha, wait_idle

# --------------------------------------------------------------------------- checkpoints

def names_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture(scope="module")
def trained(server) -> Client:
    """A client with a (tiny) current model."""
    c = Client(server.url, verbose=False)
    wait_idle(c)
    assert "Done." in c.predict(*TINY, api_name="/train")[0]
    return c


def test_diverged_training_is_reported_and_the_previous_model_kept(trained):
    before = trained.predict(api_name="/model_info")
    status = trained.predict("fast", "mlp", "sgd", 10, 128, 1, False, "cpu", 3000, api_name="/train")[0]
    assert "Training diverged" in status and "NaN" in status and "previous model" in status, status
    assert trained.predict(api_name="/model_info") == before
    assert queue_status(trained)["running"] == []


def test_save_without_a_model_is_refused(fresh):
    status = fresh.predict("x", api_name="/save")[0]
    assert status.startswith("**Not done.**") and "No model to save" in status


@pytest.mark.parametrize("name,expected", [
    ("", "empty"), ("   ", "empty"), ("../evil", "not allowed"), ("/etc/passwd", "not allowed"),
    ("a/b", "not allowed"), ("..", "not allowed"), (".hidden", "not allowed"), ("x" * 65, "not allowed"),
    ("bad name", "not allowed"), ("default", "shipped model"), ("default.pt", "shipped model"),
    ("C:\\temp\\x", "not allowed"), ("nul\x00", "not allowed"),
])
def test_bad_checkpoint_names_are_refused_and_nothing_is_written(trained, ckpt_dir, name, expected):
    before, default_hash = names_in(ckpt_dir), sha(ckpt_dir / "default.pt")
    status = trained.predict(name, api_name="/save")[0]
    assert status.startswith("**Not done.**") and expected in status, status
    assert names_in(ckpt_dir) == before and sha(ckpt_dir / "default.pt") == default_hash


def test_save_list_ownership_quota_and_delete(server, trained, ckpt_dir):
    other = new_client(server)
    wait_idle(other)
    assert "Done." in other.predict(*TINY, api_name="/train")[0]
    default_hash = sha(ckpt_dir / "default.pt")

    out = trained.predict("mine-1", api_name="/save")
    assert out[0].startswith("**Saved**"), out[0]
    assert (ckpt_dir / "mine-1.pt").is_file()
    table = trained.predict(api_name="/list_checkpoints")[0]
    rows = {r[0]: r for r in table["data"]}
    assert rows["mine-1"][7] == "you" and rows["default"][7] == "shipped" and rows["mine-1"][8] == "usable"
    assert rows["mine-1"][1] == "cnn" and rows["mine-1"][2].endswith("%") and "adam" in rows["mine-1"][4]
    assert {r[0]: r for r in other.predict(api_name="/list_checkpoints")[0]["data"]}["mine-1"][7] == "another visitor"

    def download(name):
        out = other.predict(name, api_name="/download_checkpoint")
        return out.get("value") if isinstance(out, dict) else out

    assert Path(download("mine-1")).read_bytes() == (ckpt_dir / "mine-1.pt").read_bytes()
    assert download("../default") is None and download("nope") is None

    mine_hash = sha(ckpt_dir / "mine-1.pt")
    refused = other.predict("mine-1", api_name="/save")[0]
    assert "already exists" in refused and "only overwrite your own" in refused
    assert "not saved by you" in other.predict("mine-1", api_name="/delete_checkpoint")[0]
    assert "cannot be deleted" in other.predict("default", api_name="/delete_checkpoint")[0]
    assert "cannot be deleted" in trained.predict("default", api_name="/delete_checkpoint")[0]
    assert "not allowed" in trained.predict("../default", api_name="/delete_checkpoint")[0]
    assert sha(ckpt_dir / "mine-1.pt") == mine_hash and sha(ckpt_dir / "default.pt") == default_hash

    assert trained.predict("mine-1", api_name="/save")[0].startswith("**Saved**")  # overwriting your own is fine
    assert trained.predict("mine-2", api_name="/save")[0].startswith("**Saved**")
    quota = trained.predict("mine-3", api_name="/save")[0]  # --max-saves 2
    assert "most allowed per visitor" in quota and not (ckpt_dir / "mine-3.pt").exists()

    assert "Deleted" in trained.predict("mine-2", api_name="/delete_checkpoint")[0]
    assert not (ckpt_dir / "mine-2.pt").exists()
    assert "Deleted" in trained.predict("mine-1", api_name="/delete_checkpoint")[0]
    assert sha(ckpt_dir / "default.pt") == default_hash


def test_corrupt_checkpoints_are_listed_as_unusable_and_others_still_load(client, ckpt_dir):
    (ckpt_dir / "broken.pt").write_bytes(b"not a checkpoint at all")
    try:
        rows = {r[0]: r for r in client.predict(api_name="/list_checkpoints")[0]["data"]}
        assert rows["broken"][8].startswith("unusable") and rows["default"][8] == "usable"
        assert "not a readable checkpoint" in client.predict("broken", api_name="/load_checkpoint")[0]
        assert client.predict("default", api_name="/load_checkpoint")[0].startswith("**Loaded**")
        assert client.predict(api_name="/model_info")["current"]["origin"] == "checkpoint default"
    finally:
        (ckpt_dir / "broken.pt").unlink()


@pytest.mark.parametrize("name", ["../default", "/etc/passwd", "nope", "", "default/../default"])
def test_loading_bad_names_is_refused(fresh, name):
    status = fresh.predict(name, api_name="/load_checkpoint")[0]
    assert status.startswith("**Not done.**"), status
    assert fresh.predict(api_name="/model_info")["current"] is None


def test_uploads_are_checked(fresh, tmp_path, ckpt_dir):
    def upload(path):
        return fresh.predict(handle_file(str(path)), api_name="/upload_checkpoint")[0]

    (tmp_path / "notes.txt").write_text("hello")
    assert "not a .pt file" in upload(tmp_path / "notes.txt")
    (tmp_path / "random.pt").write_bytes(os.urandom(2000))
    assert "not a readable checkpoint" in upload(tmp_path / "random.pt")
    (tmp_path / "big.pt").write_bytes(b"\x00" * (1024 * 1024 + 10))  # --max-upload-mb 1
    big = upload(tmp_path / "big.pt")
    assert "too large" in big and "1.0 MB" in big
    import torch

    torch.save({"format": "something else"}, tmp_path / "foreign.pt")
    assert "not an mnist-demo checkpoint" in upload(tmp_path / "foreign.pt")
    assert fresh.predict(api_name="/model_info")["current"] is None  # nothing changed so far
    shutil.copy2(ckpt_dir / "default.pt", tmp_path / "mine.pt")
    if (tmp_path / "mine.pt").stat().st_size > 1024 * 1024:
        pytest.skip(reason="the shipped model is over this test server's 1 MB upload limit")
    assert upload(tmp_path / "mine.pt").startswith("**Uploaded**")
    assert fresh.predict(api_name="/model_info")["current"]["origin"] == "upload mine.pt"
    assert names_in(ckpt_dir) >= {"default.pt"} and not (ckpt_dir / "mine.pt").exists()  # uploads are not saved


def test_library_save_faults_leave_the_earlier_file_intact(tmp_path, monkeypatch):
    import errno

    import torch

    from mnist_demo.app.core.models.checkpoint_folder import Library
    from mnist_demo.errors import CheckpointError
    from mnist_demo.models import build_model

    library = Library(tmp_path)
    model = build_model("cnn")
    meta = {"model": "cnn", "config": {"model": "cnn"}, "accuracy": 0.5}
    library.save(model, meta, "mine", owner="me")
    before = sha(tmp_path / "mine.pt")
    for code in (errno.ENOSPC, errno.EROFS, errno.EACCES):
        def broken(*args, _code=code, **kwargs):
            raise OSError(_code, os.strerror(_code))

        monkeypatch.setattr("mnist_demo.checkpoints.os.replace", broken)
        with torch.no_grad():
            next(model.parameters()).add_(1.0)
        with pytest.raises(CheckpointError) as err:
            library.save(model, meta, "mine", owner="me")
        assert "could not save" in str(err.value) and "intact" in str(err.value)
        assert sha(tmp_path / "mine.pt") == before
        assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
        monkeypatch.undo()


def test_library_folder_caps(tmp_path):
    from mnist_demo.app.core.models.checkpoint_folder import Library
    from mnist_demo.errors import CheckpointError
    from mnist_demo.models import build_model

    model = build_model("cnn")
    meta = {"model": "cnn", "config": {"model": "cnn"}, "accuracy": 0.5}
    small = Library(tmp_path / "a", max_total_bytes=100_000)
    with pytest.raises(CheckpointError, match="folder is full"):
        small.save(model, meta, "x", owner="me")
    few = Library(tmp_path / "b", max_files=1, max_per_owner=5)
    few.save(model, meta, "x", owner="me")
    with pytest.raises(CheckpointError, match="folder is full"):
        few.save(model, meta, "y", owner="someone")
    per_bytes = Library(tmp_path / "c", max_bytes_per_owner=100_000)
    with pytest.raises(CheckpointError, match="allowed per visitor"):
        per_bytes.save(model, meta, "x", owner="me")
    assert not any((tmp_path / "a").glob("*.pt")) and not any((tmp_path / "c").glob("*.pt"))
