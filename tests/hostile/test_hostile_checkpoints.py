"""Hostile checkpoint files and names: refused or reduced to plain data, never breaking the folder for anyone.

Each case drops a crafted file into a checkpoint folder (as an upload, a copy or a hand-made file would) next
to a good checkpoint, then checks the folder's health: the listing, the app's table and model picker, and a
prediction with the good checkpoint all still work.
"""

import asyncio
import json
import os
import time

import httpx
import pytest
import torch
from fastapi import FastAPI

from mnist_demo import checkpoints
from mnist_demo.app.core.models.checkpoint_folder import ESTIMATE_FACTOR, ORPHAN_AGE_S, Library
from mnist_demo.checkpoints import FORMAT, clean_meta, list_checkpoints, load_checkpoint, save_checkpoint
from mnist_demo.errors import CheckpointError
from mnist_demo.models import build_model
from tests.server.test_rest import one_png

MODEL = "cnn"  # the smallest registered model: 250 KB files
BASE_META = {"model": MODEL, "config": {"model": MODEL, "optimizer": "adam", "lr": 0.003, "batch_size": 128,
                                        "augment": True, "seed": None, "limit": None},
             "accuracy": 0.99, "avg_loss": 0.03, "per_class": [0.99] * 10, "epochs": 1.0, "steps": 469,
             "date": "2026-01-01T00:00:00+00:00", "torch_version": "2.0", "preset": "best", "owner": "me",
             "parameters": 61426, "stopped": False, "source": "trained in the app"}


def weights(model=MODEL) -> dict:
    torch.manual_seed(0)
    return dict(build_model(model).state_dict())


def payload(**changes) -> dict:
    base = {"format": FORMAT, "version": 1, "model": MODEL, "state_dict": weights(),
            "meta": json.loads(json.dumps(BASE_META))}
    return {k: v for k, v in {**base, **changes}.items() if v is not DELETE}


DELETE = object()


@pytest.fixture
def folder(tmp_path):
    """A checkpoint folder with one good checkpoint, `good`."""
    torch.manual_seed(0)
    save_checkpoint(build_model(MODEL), "good", BASE_META, tmp_path)
    return tmp_path


def assert_healthy(folder, hostile: str | None = None) -> dict:
    """The folder still works for everyone; returns the hostile file's listing row (None if not listed)."""
    rows = {r.name: r for r in list_checkpoints(folder)}
    assert rows["good"].error is None and rows["good"].meta["accuracy"] == 0.99
    json.dumps([r.meta for r in rows.values()])  # metadata is plain data (the app sends it as JSON)
    library = Library(folder)
    table = library.rows(owner="me")
    assert all(isinstance(cell, str) for row in table for cell in row.as_list())
    assert "good" in [info.name for info in library.usable()]
    prediction = library.predictor("good").predict(one_png())
    assert prediction.digit in range(10) and abs(sum(prediction.probabilities.values()) - 1) < 1e-6
    assert load_checkpoint("good", folder).meta["config"]["batch_size"] == 128
    return rows.get(hostile)


# --------------------------------------------------------------------------- files that are refused

REFUSED = [
    ("model-is-a-list", lambda: payload(model=[MODEL]), "holds an unknown model (a list, not a model name)"),
    ("model-is-a-dict", lambda: payload(model={MODEL: 1}), "(a dict, not a model name)"),
    ("model-is-a-tensor", lambda: payload(model=torch.zeros(3)), "(a Tensor, not a model name)"),
    ("model-missing", lambda: payload(model=DELETE), "holds an unknown model (none named)"),
    ("model-unknown", lambda: payload(model="resnet"), "holds an unknown model 'resnet'"),
    ("model-huge-name", lambda: payload(model="x" * 100_000), "holds an unknown model 'xxxx"),
    ("state-is-a-list", lambda: payload(state_dict=list(weights().values())), "not a plain table of named tensors"),
    ("state-is-nested", lambda: payload(state_dict={"net": weights()}), "not a plain table of named tensors"),
    ("state-has-a-number", lambda: payload(state_dict={**weights(), "x": 3}), "not a plain table of named tensors"),
    ("state-has-int-keys", lambda: payload(state_dict=dict(enumerate(weights().values()))),
     "not a plain table of named tensors"),
    ("state-missing", lambda: payload(state_dict=DELETE), "not a plain table of named tensors"),
    ("state-is-a-tensor", lambda: payload(state_dict=torch.zeros(3)), "not a plain table of named tensors"),
    ("state-of-another-model", lambda: payload(state_dict=weights("mlp")), "do not match the 'cnn' architecture"),
    ("state-has-an-extra-tensor", lambda: payload(state_dict={**weights(), "extra": torch.zeros(2)}),
     "do not match the 'cnn' architecture"),
    ("weights-nan", lambda: payload(state_dict={k: v.float() * float("nan") if v.is_floating_point() else v
                                                for k, v in weights().items()}), "NaN or infinite"),
    ("format-is-a-tensor", lambda: payload(format=torch.zeros(2)), "not an mnist-demo checkpoint"),
    ("format-missing", lambda: payload(format=DELETE), "not an mnist-demo checkpoint"),
    ("payload-is-a-list", lambda: [payload()], "not an mnist-demo checkpoint"),
    ("payload-is-a-tensor", lambda: torch.zeros(3), "not an mnist-demo checkpoint"),
]


@pytest.mark.parametrize("make,reason", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_bad_file_is_refused_clearly_and_listed_as_unusable(folder, make, reason):
    torch.save(make(), folder / "hostile.pt")
    with pytest.raises(CheckpointError, match=reason.replace("(", r"\(").replace(")", r"\)")) as err:
        load_checkpoint("hostile", folder)
    assert str(err.value).count("hostile.pt") == 1 and len(str(err.value)) < 300
    row = assert_healthy(folder, "hostile")
    assert row.meta is None and reason in row.error
    assert "hostile" not in [info.name for info in Library(folder).usable()]
    with pytest.raises(CheckpointError, match="hostile.pt"):
        Library(folder).predictor("hostile")
    with pytest.raises(CheckpointError, match="hostile.pt"):
        Library(folder).load_upload(folder / "hostile.pt")


def test_an_unexpected_fault_reading_one_file_leaves_the_listing_working(folder, monkeypatch):
    torch.save(payload(), folder / "odd.pt")
    real = checkpoints.load_file

    def fails_for_odd(path, *args, **kwargs):
        if path.name == "odd.pt":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "load_file", fails_for_odd)
    row = assert_healthy(folder, "odd")
    assert row.meta is None and row.error == "odd.pt could not be checked (RecursionError)"


# --------------------------------------------------------------------------- metadata reduced to plain data

BAD_VALUES = [  # (key or config.key, value): each is dropped, the rest of the metadata is kept
    ("config.batch_size", torch.ones(3)),  # the reported case: "Boolean value of Tensor ... is ambiguous"
    ("config.lr", torch.tensor(0.1)),
    ("config.optimizer", "x" * 100_000),
    ("config.limit", [1, 2]),
    ("config.model", {"name": MODEL}),
    ("config.augment", float("nan")),
    ("config.not_an_option", 1),
    ("config", [1, 2, 3]),
    ("config", torch.zeros(3)),
    ("accuracy", torch.tensor(0.99)),
    ("accuracy", float("nan")),
    ("accuracy", float("inf")),
    ("accuracy", True),
    ("accuracy", "99%"),
    ("accuracy", 10**400),
    ("per_class", torch.ones(10)),
    ("per_class", [0.5] * 100_000),
    ("per_class", [[0.5]] * 10),
    ("per_class", [0.5] * 9 + [torch.tensor(0.5)]),
    ("date", "x" * 1_000_000),
    ("date", torch.zeros(1)),
    ("owner", ["me"]),
    ("owner", {"id": "me"}),
    ("steps", 10**30),
    ("steps", 2.5),
    ("stopped", torch.tensor(True)),
    ("parameters", "many"),
    ("evil", torch.zeros(100_000)),
]


def poisoned_meta(where: str, value) -> dict:
    meta = json.loads(json.dumps(BASE_META))
    key, _, sub = where.partition(".")
    if sub:
        meta[key][sub] = value
    else:
        meta[key] = value
    return meta


def without(where: str) -> dict:
    """BASE_META as the schema keeps it, less the poisoned entry."""
    meta = json.loads(json.dumps(BASE_META))
    key, _, sub = where.partition(".")
    (meta[key] if sub else meta).pop(sub or key, None)
    return meta


@pytest.mark.parametrize("where,value", BAD_VALUES, ids=[f"{w}-{i}" for i, (w, _) in enumerate(BAD_VALUES)])
def test_bad_metadata_values_are_dropped_and_the_rest_kept(folder, where, value):
    torch.save(payload(meta=poisoned_meta(where, value)), folder / "hostile.pt")
    loaded = load_checkpoint("hostile", folder).meta
    assert loaded == without(where)
    row = assert_healthy(folder, "hostile")
    assert row.error is None and row.meta == loaded


@pytest.mark.parametrize("meta", [torch.zeros(3), [BASE_META], "meta", None, {i: i for i in range(10_000)}],
                         ids=["tensor", "list", "text", "none", "many-keys"])
def test_metadata_that_is_not_a_table_is_dropped_whole(folder, meta):
    torch.save(payload(meta=meta), folder / "hostile.pt")
    assert load_checkpoint("hostile", folder).meta == {"model": MODEL}
    assert assert_healthy(folder, "hostile").error is None


def test_the_schema_keeps_what_the_engine_writes():
    from mnist_demo.config import make_config
    from mnist_demo.train import Evaluation

    evaluation = Evaluation(accuracy=0.25, avg_loss=2.1, per_class=[0.1] * 10, total=10000)
    meta = checkpoints.metadata(make_config("tutorial").to_dict(), evaluation, 1.0, 938, preset="tutorial",
                                stopped=False, source="trained in the app", owner="x" * 64, parameters=669706)
    assert clean_meta(meta) == meta


# --------------------------------------------------------------------------- saving: metadata cannot inflate a file

@pytest.mark.parametrize("where,value", [
    ("evil", torch.zeros(2_000_000)),
    ("config.batch_size", torch.zeros(2_000_000)),
    ("per_class", [torch.zeros(200_000)] * 10),
    ("date", "x" * 2_000_000),
], ids=["unknown-key", "config-value", "list-items", "long-text"])
def test_a_save_writes_only_plain_metadata_within_the_counted_size(folder, where, value):
    model = build_model(MODEL)
    weights_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    path = Library(folder).save(model, poisoned_meta(where, value), "mine", owner="me")
    assert path.stat().st_size <= weights_bytes * ESTIMATE_FACTOR + 4096  # what the quota counted
    assert load_checkpoint("mine", folder).meta == dict(without(where), name="mine")
    assert_healthy(folder, "mine")


# --------------------------------------------------------------------------- names: the shipped model cannot be planted

@pytest.mark.parametrize("name", ["default", "default.pt", "default.pt.pt", "DEFAULT", " Default.PT ", "default.PT.pt",
                                  "dEfAuLt", "default.pt.pt.pt", "cpu", "CUDA.pt", "nul", "COM1", "lpt9.pt"])
def test_a_visitor_cannot_plant_the_shipped_model_or_a_reserved_name(tmp_path, name):
    library = Library(tmp_path)
    with pytest.raises(CheckpointError, match="not allowed|shipped model"):
        library.save(build_model(MODEL), BASE_META, name, owner="me")
    assert list(tmp_path.iterdir()) == []
    torch.manual_seed(0)
    save_checkpoint(build_model(MODEL), "good", BASE_META, tmp_path)
    assert_healthy(tmp_path)


# --------------------------------------------------------------------------- temporary files of interrupted saves

@pytest.mark.parametrize("file,age_s,removed", [
    (".mine.k2j3h4g5.tmp", ORPHAN_AGE_S + 60, True),  # orphaned by a killed save
    (".default.abcdefgh.tmp", 24 * 3600, True),
    (".mine.k2j3h4g5.tmp", 5, False),  # perhaps a save in progress in another process: kept, but counted
    (".keep", 24 * 3600, False),  # not a save's temporary file
    ("notes.tmp", 24 * 3600, False),
])
def test_temporary_files_are_removed_at_start_up_once_orphaned(folder, file, age_s, removed):
    path = folder / file
    path.write_bytes(b"\0" * 1000)
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    library = Library(folder)
    assert path.exists() is not removed
    counted = 1000 if path.name.startswith(".") and path.name.endswith(".tmp") and not removed else 0
    assert library.temporary_bytes() == counted
    assert_healthy(folder)


def test_a_temporary_file_counts_against_the_folder_size_cap_until_removed(folder):
    model = build_model(MODEL)
    estimate = int(sum(t.numel() * t.element_size() for t in model.state_dict().values()) * ESTIMATE_FACTOR) + 4096
    cap = (folder / "good.pt").stat().st_size + estimate + 50_000
    stale = folder / ".big.x1y2z3w4.tmp"
    stale.write_bytes(b"\0" * 100_000)  # fresh: not yet orphaned
    library = Library(folder, max_total_bytes=cap)
    with pytest.raises(CheckpointError, match="folder is full"):
        library.save(model, BASE_META, "mine", owner="me")
    old = time.time() - ORPHAN_AGE_S - 1
    os.utime(stale, (old, old))  # its save never finished: the next save's count removes it
    assert library.save(model, BASE_META, "mine", owner="me").is_file()
    assert not stale.exists()
    assert_healthy(folder, "mine")


# --------------------------------------------------------------------------- /api/predict answers 4xx, never 500

@pytest.mark.parametrize("name,setup,status,fragment", [
    ("hostile", lambda d: torch.save(payload(model=[MODEL]), d / "hostile.pt"), 400, "unknown model (a list"),
    ("hostile", lambda d: torch.save(payload(state_dict={"n": weights()}), d / "hostile.pt"), 400, "plain table"),
    ("hostile", lambda d: torch.save(payload(meta={"config": {"batch_size": torch.ones(3)}}), d / "hostile.pt"),
     200, None),
    ("default", lambda d: torch.save(payload(model={"x": 1}), d / "default.pt"), 400, "(a dict, not a model"),
    ("default.pt.pt", lambda d: None, 400, "not allowed"),
    ("DEFAULT", lambda d: None, 400, "another spelling of the shipped model"),
    ("cpu", lambda d: None, 400, "device name"),
    ("absent", lambda d: None, 404, "does not exist"),
], ids=["model-list", "nested-state", "tensor-in-meta", "poisoned-default", "double-suffix", "upper-default", "device",
        "absent"])
def test_rest_answers_hostile_checkpoints_with_a_4xx_and_still_serves(folder, name, setup, status, fragment):
    from mnist_demo.app.core.context import AppContext
    from mnist_demo.app.core.settings import Settings
    from mnist_demo.app.server.rest import PATH, PredictRoute

    setup(folder)
    route = PredictRoute(AppContext(Settings(checkpoint_dir=str(folder))), workers=1)

    async def post(model):
        app = FastAPI(routes=[route.route()])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
            return await client.post(PATH, params={"model": model}, content=one_png(),
                                     headers={"Content-Type": "image/png"})

    answer = asyncio.run(post(name))
    assert answer.status_code == status, answer.text
    if fragment:
        assert fragment in answer.json()["error"]
    assert asyncio.run(post("good")).json()["digit"] in range(10)
    assert_healthy(folder)
