"""User-facing errors: each carries a message fit to show a person as it is."""


class DemoError(Exception):
    """Base of every error the engine raises on purpose; `str(err)` is the message for the user."""


class ConfigError(DemoError, ValueError):
    """A hyperparameter or option is invalid; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class DataError(DemoError):
    """The MNIST files are missing, truncated or not MNIST."""


class DeviceError(DemoError):
    """A device was asked for that this machine does not have."""


class CheckpointError(DemoError):
    """A checkpoint name is not allowed, or a file is not a usable checkpoint."""


class ImageError(DemoError):
    """An image cannot be read or holds no digit."""
