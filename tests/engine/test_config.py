"""Hyperparameters are validated before any work, with messages that name the field and the range."""

import math

import pytest

from mnist_demo.config import PRESETS, TUTORIAL, make_config
from mnist_demo.errors import ConfigError


def test_tutorial_preset_is_the_original_recipe():
    c = make_config("tutorial")
    assert (c.model, c.optimizer, c.lr, c.momentum, c.batch_size, c.schedule) == \
        ("tutorial", "sgd", 1e-3, 0.0, 64, "constant")
    assert c == TUTORIAL


def test_overrides_are_coerced_from_text():
    c = make_config("fast", lr="0.01", batch_size="32", epochs="2", seed="7")
    assert (c.lr, c.batch_size, c.epochs, c.seed) == (0.01, 32, 2, 7)


@pytest.mark.parametrize("field,value,fragment", [
    ("lr", 0, "lr: 0 is out of range; must be a number greater than 0 and at most 10"),
    ("lr", -1, "lr: -1 is out of range"),
    ("lr", 11, "lr: 11 is out of range"),
    ("lr", math.nan, "lr: nan is not a finite number"),
    ("lr", math.inf, "lr: inf is not a finite number"),
    ("lr", "fast", "lr: 'fast' is not a number"),
    ("lr", "", "lr: '' is not a number"),
    ("batch_size", 0, "batch_size: 0 is out of range; must be a whole number from 1 to 60000"),
    ("batch_size", 60001, "batch_size: 60001 is out of range"),
    ("batch_size", 2.5, "batch_size: 2.5 is not a whole number"),
    ("batch_size", "abc", "batch_size: 'abc' is not a number"),
    ("batch_size", 10**400, "batch_size"),
    ("epochs", 0, "epochs: 0 is out of range; must be a whole number from 1 to 50"),
    ("epochs", 51, "epochs: 51 is out of range"),
    ("model", "resnet", "model: unknown model 'resnet'; choose one of tutorial, mlp, cnn, cnn-small"),
    ("optimizer", "rmsprop", "optimizer: unknown optimizer 'rmsprop'; choose one of sgd, adam"),
    ("schedule", "cosine", "schedule: unknown schedule"),
    ("momentum", 1.5, "momentum: 1.5 is out of range"),
    ("limit", 0, "limit: 0 is out of range"),
    ("seed", -3, "seed: -3 is out of range"),
    ("augment", "yes", "augment: must be true or false"),
    ("precision", "fp16", "precision: unknown precision 'fp16'; choose one of auto, fp32, bf16"),
])
def test_bad_values_name_the_field(field, value, fragment):
    with pytest.raises(ConfigError) as err:
        make_config("fast", **{field: value})
    assert fragment in str(err.value)
    assert err.value.field == field


@pytest.mark.parametrize("cap,value,message", [
    (8192, 8193, "batch_size: 8193 is out of range; must be a whole number from 1 to 8192"),
    (8192, 60000, "batch_size: 60000 is out of range; must be a whole number from 1 to 8192"),
    (8192, 0, "batch_size: 0 is out of range; must be a whole number from 1 to 8192"),
    (8192, "abc", "batch_size: 'abc' is not a number; must be a whole number from 1 to 8192"),
    # never above the engine's
    (10**9, 60001, "batch_size: 60001 is out of range; must be a whole number from 1 to 60000"),
])
def test_batch_size_cap_is_the_callers_and_the_message_says_it(cap, value, message):
    with pytest.raises(ConfigError) as err:
        make_config("fast", batch_size=value, max_batch_size=cap)
    assert str(err.value) == message
    assert make_config("fast", batch_size=min(cap, 60000), max_batch_size=cap).batch_size == min(cap, 60000)


@pytest.mark.parametrize("value", [8193, 60000, 10**9])
def test_the_apps_batch_size_message_states_the_apps_cap(tmp_path, value):
    from mnist_demo.app.core.context import AppContext
    from mnist_demo.app.core.runs.form import build_config
    from mnist_demo.app.core.settings import APP_MAX_BATCH, Settings

    ctx = AppContext(Settings(checkpoint_dir=str(tmp_path)))
    with pytest.raises(ConfigError) as err:
        build_config(ctx, "fast", "cnn", "adam", 0.003, value, 1, False, "cpu", 60000)
    assert err.value.field == "batch_size"
    assert str(err.value).endswith(f"out of range; must be a whole number from 1 to {APP_MAX_BATCH}")
    assert build_config(ctx, "fast", "cnn", "adam", 0.003, APP_MAX_BATCH, 1, False, "cpu", 60000).batch_size == 8192


def test_epoch_cap_is_configurable():
    assert make_config("fast", epochs=3, max_epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="from 1 to 2"):
        make_config("fast", epochs=3, max_epochs=2)


def test_unknown_preset_and_option():
    with pytest.raises(ConfigError, match="preset: unknown preset 'huge'"):
        make_config("huge")
    with pytest.raises(ConfigError, match="colour: is not a training option"):
        make_config("fast", colour="red")


def test_every_preset_is_valid():
    for name in PRESETS:
        assert make_config(name).epochs >= 1
