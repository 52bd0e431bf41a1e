"""User-facing errors: each carries a message fit to show a person as it is.

`str(err)` is the English message (the CLI prints it, the API returns it). An error a person commonly meets also
carries a machine-readable `code` and the `values` its message was made from, so the app can say the same thing
in the visitor's language (`mnist_demo.app.core.messages.error_text(err, lang)` formats `error.<code>` from the
locale files). Errors without a code are shown with a lead-in in the visitor's language and the English detail.
"""


class DemoError(Exception):
    """Base of every error the engine raises on purpose; `str(err)` is the message for the user.

    `code` (e.g. "out_of_range") names the kind of problem for translation; `values` are what its message
    says (the numbers, names and limits), as shown in the English message."""

    def __init__(self, *args, code: str | None = None, **values):
        super().__init__(*args)
        self.code = code
        self.values = values

    def __reduce__(self):
        """Rebuilt attribute by attribute (its code and values too, whatever the subclass's own arguments), so that an
        error crosses a process whole: one raised on a Dask worker reads the same in the app."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, state: dict) -> DemoError:
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class ConfigError(DemoError, ValueError):
    """A hyperparameter or option is invalid; `field` names it."""

    def __init__(self, field: str, message: str, code: str | None = None, **values):
        super().__init__(f"{field}: {message}", code=code, **values)
        self.field = field


class DataError(DemoError):
    """The MNIST files are missing, truncated or not MNIST."""


class DeviceError(DemoError):
    """A device was asked for that this machine does not have."""


class CheckpointError(DemoError):
    """A checkpoint name is not allowed, or a file is not a usable checkpoint."""


class ImageError(DemoError):
    """An image cannot be read or holds no digit."""
