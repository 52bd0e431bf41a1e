"""Checkpoints: round trip, corrupt and foreign files, names that try to leave the folder, failed saves."""

import os

import pytest
import torch

from mnist_demo import checkpoints
from mnist_demo.checkpoints import (
    checkpoint_path,
    clean_name,
    list_checkpoints,
    load_checkpoint,
    load_file,
    save_checkpoint,
)
from mnist_demo.errors import CheckpointError
from mnist_demo.models import build_model

META = {"model": "mlp", "config": {"model": "mlp"}, "accuracy": 0.5}


def saved(tmp_path, name="a", model="mlp"):
    torch.manual_seed(0)
    net = build_model(model)
    save_checkpoint(net, name, dict(META, model=model), tmp_path)
    return net


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    net = saved(tmp_path, "round_trip-1")
    loaded = load_checkpoint("round_trip-1", tmp_path)
    assert loaded.name == "round_trip-1" and loaded.meta["accuracy"] == 0.5 and loaded.meta["model"] == "mlp"
    for a, b in zip(net.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    assert not loaded.model.training


def test_full_metadata_survives_weights_only_loading(tmp_path):
    from mnist_demo.config import make_config
    from mnist_demo.train import Evaluation

    config = make_config("tutorial")
    evaluation = Evaluation(accuracy=0.25, avg_loss=2.1, per_class=[0.1] * 10, total=10000)
    meta = checkpoints.metadata(config.to_dict(), evaluation, epochs=1.0, steps=938, preset="tutorial")
    save_checkpoint(build_model("tutorial"), "full", meta, tmp_path)
    loaded = load_checkpoint("full", tmp_path).meta
    assert loaded["config"]["lr"] == 1e-3 and loaded["accuracy"] == 0.25 and loaded["epochs"] == 1.0
    assert loaded["torch_version"] == torch.__version__ and loaded["date"] and loaded["name"] == "full"


def test_listing_has_every_checkpoint_with_metadata_or_reason(tmp_path):
    saved(tmp_path, "good")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "notes.txt").write_text("ignored")
    rows = {r.name: r for r in list_checkpoints(tmp_path)}
    assert set(rows) == {"good", "broken"}
    assert rows["good"].meta["model"] == "mlp" and rows["good"].error is None
    assert rows["broken"].meta is None and "not a readable checkpoint" in rows["broken"].error


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04truncated zip"])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt is not a readable checkpoint"):
        load_checkpoint("bad", tmp_path)


def test_truncated_real_checkpoint(tmp_path):
    saved(tmp_path, "cut")
    path = tmp_path / "cut.pt"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint("cut", tmp_path)


def test_foreign_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    torch.save(build_model("mlp").state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not an mnist-demo checkpoint"):
        load_checkpoint("other", tmp_path)
    with pytest.raises(CheckpointError, match="not an mnist-demo checkpoint"):
        load_checkpoint("bare", tmp_path)


def test_wrong_architecture_is_refused(tmp_path):
    payload = {"format": checkpoints.FORMAT, "version": 1, "model": "cnn",
               "state_dict": build_model("mlp").state_dict(), "meta": {}}
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not match the 'cnn' architecture"):
        load_checkpoint("mismatch", tmp_path)
    torch.save(dict(payload, model="resnet"), tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="unknown model 'resnet'"):
        load_checkpoint("unknown", tmp_path)


def test_pickled_code_is_never_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"format": checkpoints.FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint("evil", tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "..", ".hidden", "", "x" * 65,
                                  "name with space", "a\\b", "nul\x00", "ümlaut", "~root"])
def test_names_that_could_leave_the_directory_are_refused(tmp_path, name):
    with pytest.raises(CheckpointError, match="not allowed"):
        checkpoint_path(name, tmp_path)
    with pytest.raises(CheckpointError):
        save_checkpoint(build_model("mlp"), name, META, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given,bare", [
    ("A9", "A9"), ("run_1-v2-final", "run_1-v2-final"), ("x.pt", "x"), ("  x.pt  ", "x"), ("x.PT", "x"),
    ("x", "x"), ("x" * 64, "x" * 64), ("x" * 64 + ".pt", "x" * 64), ("default", "default"),
    ("default.pt", "default"), ("cpu1", "cpu1"), ("console", "console"), ("com", "com"), ("lpt10", "lpt10"),
])
def test_allowed_names_have_one_bare_form(given, bare):
    assert clean_name(given) == bare
    assert clean_name(bare) == bare  # applied twice, it changes nothing


@pytest.mark.parametrize("name,reason", [
    ("x.pt.pt", "not allowed: use"), ("x.pt.pt.pt", "not allowed: use"), ("default.pt.pt", "not allowed: use"),
    ("run.v2", "not allowed: use"), ("x.", "not allowed: use"), (".pt", "not allowed: use"), ("x.pth", "not allowed"),
    ("DEFAULT", "another spelling of the shipped model"), ("Default.pt", "another spelling of the shipped model"),
    (" DEFAULT.PT ", "another spelling of the shipped model"),
    ("cpu", "device name"), ("CUDA", "device name"), ("mps.pt", "device name"), (" Cpu ", "device name"),
    ("con", "reserved device name on Windows"), ("NUL", "reserved device name on Windows"),
    ("prn.pt", "reserved device name on Windows"), ("aux", "reserved device name on Windows"),
    ("com1", "reserved device name on Windows"), ("COM9", "reserved device name on Windows"),
    ("lpt1", "reserved device name on Windows"), ("Lpt9.pt", "reserved device name on Windows"),
    (None, "not allowed"), (7, "not allowed"), (["x"], "not allowed"),
])
def test_names_refused_in_any_spelling_write_nothing(tmp_path, name, reason):
    with pytest.raises(CheckpointError, match=reason):
        clean_name(name)
    with pytest.raises(CheckpointError, match=reason):
        save_checkpoint(build_model("mlp"), name, META, tmp_path)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("written", ["x", "x.pt", " x.PT ", "a-b_c", "Z" * 64 + ".pt", "default"])
def test_whatever_is_written_can_be_listed_loaded_and_deleted_by_the_listed_name(tmp_path, written):
    path = save_checkpoint(build_model("mlp"), written, META, tmp_path)
    [row] = list_checkpoints(tmp_path)
    assert row.error is None and row.path == path and row.name == clean_name(written) == path.stem
    assert load_checkpoint(row.name, tmp_path).name == row.name
    assert checkpoint_path(row.name, tmp_path) == path  # what the app's Delete removes
    path.unlink()
    assert list_checkpoints(tmp_path) == []


def test_files_whose_names_break_the_rule_are_not_listed(tmp_path):
    """Files put in the folder by hand under names this module never writes: not mistaken for other names."""
    saved(tmp_path, "good")
    for stray in ("x.pt.pt", "DEFAULT.pt", "con.pt", "a.b.pt", " x.pt"):
        (tmp_path / stray).write_bytes((tmp_path / "good.pt").read_bytes())
    assert [r.name for r in list_checkpoints(tmp_path)] == ["good"]


def test_interrupted_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    saved(tmp_path, "keep")
    before = (tmp_path / "keep.pt").read_bytes()

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="could not save checkpoint keep.pt: No space left on device"):
        save_checkpoint(build_model("mlp"), "keep", META, tmp_path)
    assert (tmp_path / "keep.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]  # no temporary file left behind


def test_read_only_directory(tmp_path, monkeypatch):
    """Root ignores permission bits, so the read-only file system is simulated where the write starts."""
    saved(tmp_path, "keep")

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(checkpoints.tempfile, "mkstemp", read_only)
    with pytest.raises(CheckpointError, match="could not save checkpoint keep.pt: Read-only file system"):
        save_checkpoint(build_model("mlp"), "keep", META, tmp_path)
    assert load_file(tmp_path / "keep.pt").meta["accuracy"] == 0.5
