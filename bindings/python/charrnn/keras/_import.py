"""Keras model file + vocabulary -> charrnn Model, checked against a text the model should know.

Keras files hold no characters: the vocabulary comes from the caller (a string, list, dict, or a JSON or
pickle file of one) or from the training corpus (``sorted(set(text))``, as the Keras tutorials that
sorted it). A vocabulary in the wrong order runs and generates garbage, so after every import the model
is scored on text it should know (the corpus, or `check_text`); a loss near or above guessing uniformly
is refused, with both figures and the likely cause. `recover_order` finds the order from the text.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

import charrnn as _charrnn

from . import _order
from ._errors import VocabularyError, VocabularyWarning
from ._reader import KerasModel, read
from ._vocab import (
    NORMALIZATIONS,
    REDUCED_CHARSET,
    _lower,
    _VocabError,
    normalization_of,
    normalize,
    parse_vocabulary,
    read_text,
)

__all__ = ["import_model", "load", "to_model", "vocab_from_corpus", "ImportReport"]


@dataclass
class ImportReport:
    """What an import decided and measured."""

    vocab: str  # the characters, in index order
    vocab_source: str  # where they came from
    normalization: str  # "none", "lowercase" or "reduce_charset"
    window: int  # the generation window stored in the model (0: stateful)
    check: _order.VocabularyCheck | None = None  # the score on the check text (None: no text to score)
    recovery: _order.OrderRecovery | None = None  # the order search, with recover_order=True
    notes: list = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"vocabulary: {len(self.vocab)} characters from {self.vocab_source}"
            + (f", text normalised: {self.normalization}" if self.normalization != "none" else "")
        ]
        if self.window:
            lines.append(
                f"generation window: {self.window} characters (each new character from the last "
                f"{self.window} run from a zero state, as the Keras tutorials' loop)"
            )
        if self.recovery is not None:
            lines.append(self.recovery.describe())
        lines.append(
            f"vocabulary check: {self.check.describe()}"
            if self.check is not None
            else "vocabulary NOT checked: no text to score it on (give vocab_from= or check_text=: "
            "--vocab-from or --check-text)"
        )
        return "\n".join(lines + self.notes)


# ------------------------------------------------------------------------------------------------
# vocabulary


def vocab_from_corpus(path, lowercase: bool = False, reduce_charset: bool = False) -> str:
    """``sorted(set(text))`` of a UTF-8 corpus file, normalised first (`lowercase`, or `reduce_charset`:
    lowercase, a-z and ``,.?! \\n:;-'``, others a space). A path that is not a regular file (a FIFO, a
    device, a directory) is a charrnn.IOError, as is one that cannot be opened."""
    return "".join(sorted(set(normalize(read_text(path), normalization_of(lowercase, reduce_charset)))))


def _size_hint(text: str, size: int, normalization: str) -> str:
    """Another normalisation of the corpus that gives exactly the model's size, as advice; else ""."""
    options = {
        "none": "without lowercase/reduce_charset",
        "lowercase": "lowercase=True (--lowercase)",
        "reduce_charset": "reduce_charset=True (--reduce-charset)",
    }
    fits = [name for name in options if name != normalization and len(set(normalize(text, name))) == size]
    return f" (the corpus gives exactly {size} with {options[fits[0]]}: try that)" if fits else ""


def _auto_normalization(size: int, vocab, text: str | None) -> str:
    """The normalisation a model was most likely trained with: with a corpus, the first under which it
    has `size` characters; with the characters given, lowercase when they include no uppercase letter
    but the text does (it would be skipped otherwise); else none."""
    if vocab is None and text is not None:
        return next((n for n in NORMALIZATIONS if len(set(normalize(text, n))) == size), "none")
    if vocab is not None and text is not None:
        try:
            chars = parse_vocabulary(vocab)[0]
        except _VocabError:
            return "none"  # _resolve_vocab reports it
        if not any(c != _lower(c) for c in chars) and any(c != _lower(c) for c in text):
            return "reduce_charset" if set(chars) <= REDUCED_CHARSET and " " in chars else "lowercase"
    return "none"


def _resolve_vocab(size: int, vocab, vocab_from, corpus: str | None, normalization: str):
    """(characters in index order, where they came from)."""
    if vocab is not None and vocab_from is not None:
        raise VocabularyError("give either vocab= or vocab_from=, not both")
    if vocab is None and vocab_from is None:
        raise VocabularyError(
            f"Keras files do not store the vocabulary: pass vocab= (the {size} characters in "
            "order: a string, a list, an ix2char or char2ix dict, or a JSON or pickle file of "
            "one) or vocab_from= (the training corpus)"
        )
    if vocab is None:
        chars = "".join(sorted(set(normalize(corpus, normalization))))
        origin = f"the corpus {os.fspath(vocab_from)}"
        if len(chars) != size:
            raise VocabularyError(
                f"the model's vocabulary has {size} characters but {origin} gives {len(chars)}"
                + _size_hint(corpus, size, normalization)
            )
        return chars, origin + " (sorted)"
    try:
        chars, origin = parse_vocabulary(vocab)
    except _VocabError as exc:
        raise VocabularyError(str(exc)) from None
    if len(chars) != size:
        raise VocabularyError(f"the model's vocabulary has {size} characters but {origin} gives {len(chars)}")
    return chars, origin


# ------------------------------------------------------------------------------------------------
# import


def to_model(km: KerasModel, vocab: str, config: dict | None = None) -> "_charrnn.Model":
    """Creates a charrnn Model from a :class:`KerasModel` description and a vocabulary (with `config`,
    e.g. km.config plus normalization and window, instead of km.config)."""
    if len(vocab) != km.vocab_size:
        raise VocabularyError(
            f"the model's vocabulary has {km.vocab_size} characters, the vocabulary given has {len(vocab)}"
        )
    model = _charrnn.Model.create(config or km.config, vocab)
    try:
        for (layer, name), array in km.weights.items():
            model.set_weights(layer, name, np.ascontiguousarray(array, dtype=np.float32))
    except BaseException:
        model.close()
        raise
    return model


def _window(km: KerasModel, window) -> int:
    if window is None:  # the tutorials' fixed-length input (maxlen): generate as their loop did
        return km.timesteps if km.timesteps and not km.stateful else 0
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0 (0: stateful generation), not {window!r}")
    return window


def _text_arg(value, name: str) -> str | None:
    """A text given as a str, or as an os.PathLike naming a UTF-8 file."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return read_text(value)
    raise TypeError(f"{name} must be a str (the text) or an os.PathLike (a file), not {type(value).__name__}")


def import_model(
    path,
    vocab=None,
    vocab_from=None,
    lowercase: bool = False,
    reduce_charset: bool = False,
    encoding: str | None = None,
    check: bool = True,
    check_text=None,
    recover_order: bool = False,
    window: int | None = None,
    normalization: str | None = None,
):
    """Imports a Keras model file (.keras, or .h5 from Keras 3, tf.keras, Keras 2 or Keras 1) as a
    :class:`charrnn.Model`; returns (model, :class:`ImportReport`).

    The vocabulary: `vocab` (the characters in index order as a string, a list, an ``{index: char}`` or
    ``{char: index}`` dict, or the path of a JSON or pickle file of one) or `vocab_from` (the training
    corpus: ``sorted(set(text))``). `lowercase` / `reduce_charset` say the model was trained on text
    normalised so; the model stores it and normalises all text given to it. `encoding` ("onehot",
    "scalar", "embedding") overrides the detected input encoding. `window` is the generation window to
    store (default: the input's fixed length, when the Keras model has one and is not stateful).
    `normalization` ("none", "lowercase", "reduce_charset", or "auto": the one under which the corpus has
    the model's number of characters) replaces the two flags.

    The check: the model is scored on `check_text` (a str, or an os.PathLike file), else on the
    vocab_from corpus; a loss at or above 0.9 ln(V) raises VocabularyError with both figures and the
    likely cause (`check=False` skips it, for untrained models). `recover_order=True` finds the order of
    the characters that explains that text best (the report says how sure it is).

    Raises KerasFormatError (unreadable file), UnsupportedModelError (naming the layer and the reason) or
    VocabularyError."""
    km = read(path, encoding=encoding)
    if normalization is None:
        normalization = normalization_of(lowercase, reduce_charset)
    elif normalization not in NORMALIZATIONS + ("auto",):
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)} or auto, not {normalization!r}")
    corpus = read_text(vocab_from) if vocab_from is not None else None
    check_text = _text_arg(check_text, "check_text")
    if normalization == "auto":
        normalization = _auto_normalization(km.vocab_size, vocab, corpus if corpus is not None else check_text)
    chars, source = _resolve_vocab(km.vocab_size, vocab, vocab_from, corpus, normalization)
    text, text_source = (
        (check_text, "check_text")
        if check_text is not None
        else (corpus, f"the corpus {os.fspath(vocab_from)}")
        if corpus is not None
        else (None, None)
    )
    text = normalize(text, normalization) if text is not None else None
    report = ImportReport(
        vocab=chars, vocab_source=source, normalization=normalization, window=_window(km, window), notes=list(km.notes)
    )
    config = dict(km.config)
    if normalization != "none":
        config["normalization"] = normalization
    if report.window:
        config["window"] = report.window

    if recover_order:
        if text is None:
            raise VocabularyError("recover_order=True needs a text the model knows: vocab_from= or check_text=")
        report.recovery = _order.recover(lambda v: to_model(km, v), km.config, km.weights, chars, text, given=chars)
        report.vocab = chars = report.recovery.vocab
        report.vocab_source = f"the order recovered from {text_source}"

    model = to_model(km, chars, config)
    if text is not None and check:
        try:
            report.check = _order.score(model, text, text_source)
        except BaseException:
            model.close()
            raise
        if report.check is not None and not report.check.ok:
            model.close()
            raise VocabularyError(_refusal(path, report, vocab, vocab_from))
    return model, report


def _refusal(path, report: ImportReport, vocab, vocab_from) -> str:
    head = f"{os.fspath(path)}: refused: the vocabulary does not fit the model: {report.check.describe()}."
    if report.recovery is not None:
        cause = (
            "Even the best order found scores this, so the order is not the problem: the model may be "
            "untrained, or the text is not one it learned (give another with check_text=)."
        )
    else:
        given = (
            "vocab_from= sorts the corpus's characters, and the model was probably trained with another order"
            if vocab is None
            else "The order given is probably not the one the model was trained with"
        )
        cause = (
            f"A model scores far below that on text it learned, and near or above it with its characters in "
            f"the wrong order. {given}: the Keras "
            "tutorials built theirs with list(set(text)), an order that changes between Python runs, or "
            "kept an ix2char or char2ix dict (pass that: vocab=\"ix2char.pkl\"). Or let charrnn find the "
            "order from the text: recover_order=True (--recover-order)."
        )
    return (
        f"{head} {cause} An untrained model scores about ln(V) whatever the order: import it with "
        "check=False (--no-check)."
    )


def load(path, vocab=None, vocab_from=None, **options):
    """:func:`import_model`'s model (the same arguments). A vocabulary that could not be checked (no text
    given) or an order recovered without certainty is reported as a :class:`VocabularyWarning`; use
    import_model for the full report."""
    model, report = import_model(path, vocab=vocab, vocab_from=vocab_from, **options)
    if report.check is None and options.get("check", True):
        warnings.warn(
            f"{os.fspath(path)}: the vocabulary was not checked against the model (no text to score it "
            "on): pass check_text= (a text the model was trained on) to be told if its order is wrong",
            VocabularyWarning,
            stacklevel=2,
        )
    if report.recovery is not None and not report.recovery.sure:
        warnings.warn(f"{os.fspath(path)}: {report.recovery.describe()}", VocabularyWarning, stacklevel=2)
    return model
