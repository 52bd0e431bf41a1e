"""The Train tab's form, checked: the values of its controls -> a validated `TrainConfig`, or a ConfigError naming
the first bad field (in English; `messages.error_text` says it in the visitor's language). The engine's own checks
(`config.make_config`) do the work; the app adds its caps (epochs, batch size) and the devices it offers."""

from __future__ import annotations

from dataclasses import replace

from mnist_demo.app.core.settings import APP_MAX_BATCH
from mnist_demo.config import OPTIMIZERS, PRESETS, TRAIN_SIZE, TrainConfig, make_config
from mnist_demo.devices import resolve_device
from mnist_demo.errors import ConfigError, DeviceError
from mnist_demo.models import MODELS

EMPTY_WANTED = {
    "preset": f"choose one of {', '.join(PRESETS)}",
    "model": f"choose one of {', '.join(MODELS)}",
    "optimizer": f"choose one of {', '.join(OPTIMIZERS)}",
    "lr": "must be a number greater than 0 and at most 10",
    "batch_size": f"must be a whole number from 1 to {APP_MAX_BATCH}",
    "epochs": "must be a whole number of passes over the data, from 1",
    "augment": "must be true or false",
    "device": "choose a device this machine has",
    "limit": f"must be a whole number from 1 to {TRAIN_SIZE}",
}


def build_config(ctx, preset, model, optimizer, lr, batch_size, epochs, augment, device, limit) -> TrainConfig:
    """The validated TrainConfig for these control values, or ConfigError naming the first bad field."""
    values = {"preset": preset, "model": model, "optimizer": optimizer, "lr": lr, "batch_size": batch_size,
              "epochs": epochs, "augment": augment, "device": device, "limit": limit}
    for field, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(field, f"is empty; {EMPTY_WANTED[field]}", code="empty")
    if not isinstance(preset, str) or preset.strip().lower() not in PRESETS:
        raise ConfigError("preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}",
                          code="unknown_choice", value=repr(preset), options=", ".join(PRESETS))
    if not isinstance(augment, bool):
        raise ConfigError("augment", f"{augment!r} is not true or false")
    config = make_config(preset.strip().lower(), max_epochs=ctx.settings.max_epochs, max_batch_size=APP_MAX_BATCH,
                         model=model, optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                         augment=augment, limit=limit, device=str(device).strip().lower())
    config = replace(config, device=offered_device(ctx, config.device))
    if config.limit is not None and config.limit >= TRAIN_SIZE:
        config = replace(config, limit=None)
    return config


def offered_device(ctx, device) -> str:
    """`device` (None: the default) if this app offers it, else ConfigError saying why not."""
    device = ctx.default_device if device in (None, "") else str(device).strip().lower()
    if device not in ctx.devices:
        try:
            resolve_device(device)
        except DeviceError as err:
            raise ConfigError("device", str(err).removeprefix("device: "), code=err.code, **err.values) from None
        raise ConfigError("device", f"{device!r} is not offered here; choose one of {', '.join(ctx.devices)}")
    return device
