"""The Keras import's exceptions, shared by its modules."""

from __future__ import annotations

try:  # part of the charrnn package: join its exception hierarchy (charrnn.Error, statuses FORMAT and IO)
    from .. import ConfigError as _ConfigBase
    from .. import FormatError as _FormatBase
    from .. import IOError as _IOBase
except ImportError:  # loaded on its own (no libcharrnn needed to read Keras files)
    _ConfigBase = ValueError
    _FormatBase = ValueError
    _IOBase = OSError


class KerasFormatError(_FormatBase):
    """The file is not a readable Keras model (corrupt archive or HDF5, missing configuration or weights,
    weights whose shapes disagree with the configuration, data kept outside the file). A
    charrnn.FormatError and a ValueError."""


class UnsupportedModelError(KerasFormatError):
    """The Keras model uses something charrnn cannot reproduce exactly; the message names the layer and
    the reason. A charrnn.FormatError and a ValueError."""


class VocabularyError(_ConfigBase):
    """The vocabulary is missing, malformed, has duplicates, has another size than the model's, or does
    not fit the model (its loss on the text it should know is near or above guessing uniformly). A
    charrnn.ConfigError and a ValueError."""


class VocabularyWarning(UserWarning):
    """The import could not check the vocabulary (no text to score it on), or recovered an order it is
    not sure of."""


def file_error(path, reason: str, code: int | None = None) -> OSError:
    """A charrnn.IOError (an OSError) for a file that cannot be opened as asked: "<path>: <reason>", with
    `errno` set when there is one."""
    error = _IOBase(f"{path}: {reason}")
    error.errno = code
    return error
