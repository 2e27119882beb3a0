"""Vocabularies in the forms people saved them, and text normalised as charrnn normalises it.

Keras files do not store the characters. The tutorials kept them as an ordered string, a list, an
``ix2char`` ({index: char}) or ``char2ix`` ({char: index}) dict, or a pickle or JSON file of one of
these; :func:`parse_vocabulary` turns each into the ordered string charrnn takes. Pickles are read with
an unpickler that builds only str, int, list, tuple and dict: a pickle is a program, and a stranger's
file must not run one.
"""

from __future__ import annotations

import io
import json
import os
import pickle

from ._files import open_regular

__all__ = ["parse_vocabulary", "normalize", "NORMALIZATIONS", "read_text", "VOCAB_FILE_SUFFIXES"]

NORMALIZATIONS = ("none", "lowercase", "reduce_charset")
REDUCED_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyz,.?! \n:;-'")  # TextNormalization.swift's
VOCAB_FILE_SUFFIXES = (".json", ".pkl", ".pickle", ".p")
MAX_VOCAB_FILE_BYTES = 64 << 20  # a vocabulary is kilobytes; a larger file is the wrong file


class _VocabError(ValueError):
    """Raised here, re-raised by the package as its VocabularyError (which this module cannot import)."""


# ------------------------------------------------------------------------------------------------
# normalisation (the same per-character mapping as the library's TextNormalization)


def _lower(c: str) -> str:
    # one character at a time, as the library maps scalars: str.lower on a whole string applies
    # context rules (Greek final sigma) that a per-character lookup cannot, and keeps multi-character
    # lowercases ("İ" -> "i̇") that the library leaves as they are
    low = c.lower()
    return low if len(low) == 1 else c


def normalize(text: str, normalization: str = "none") -> str:
    """`text` as a model with this normalisation reads it: "none", "lowercase" or "reduce_charset"
    (lowercase, keep a-z and ``,.?! \\n:;-'``, every other character becomes a space)."""
    if normalization == "none":
        return text
    if normalization == "lowercase":
        return "".join(map(_lower, text))
    if normalization == "reduce_charset":
        return "".join(low if (low := _lower(c)) in REDUCED_CHARSET else " " for c in text)
    raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, not {normalization!r}")


def normalization_of(lowercase: bool, reduce_charset: bool) -> str:
    """The normalisation the training options name (reduce_charset implies lowercasing)."""
    return "reduce_charset" if reduce_charset else "lowercase" if lowercase else "none"


def read_text(path) -> str:
    """A UTF-8 text file (a charrnn.IOError unless it is a regular file that can be opened)."""
    with io.TextIOWrapper(open_regular(path), encoding="utf-8", newline="") as fh:
        return fh.read()


# ------------------------------------------------------------------------------------------------
# vocabularies


def parse_vocabulary(value) -> tuple[str, str]:
    """(the characters in index order, where they came from) for a vocabulary given as

    * a string of the characters in order (``"\\n !',-.:;?abc..."``);
    * a list or tuple of one-character strings;
    * ``{index: char}`` (ix2char) or ``{char: index}`` (char2ix), indices 0 to V-1, keys of an
      ix2char may be strings of digits (JSON has no integer keys);
    * a pair of such dicts (``(char2ix, ix2char)``, as some scripts pickled them), which must agree;
    * the path of a JSON or pickle file holding one of these (an os.PathLike, or a str naming an
      existing file whose name ends in .json, .pkl, .pickle or .p).

    Raises ValueError naming what is wrong (repeated characters, missing indices, strings longer than
    one character, a pickle that would build other objects)."""
    if isinstance(value, os.PathLike) or (
        isinstance(value, str) and value.lower().endswith(VOCAB_FILE_SUFFIXES) and os.path.isfile(value)
    ):
        path = os.fspath(value)
        return _from_object(_load_file(path), path), path
    return _from_object(value, "vocab="), "vocab="


def _load_file(path: str):
    with open_regular(path) as fh:
        data = fh.read(MAX_VOCAB_FILE_BYTES + 1)
    if len(data) > MAX_VOCAB_FILE_BYTES:
        raise _VocabError(f"{path}: more than {MAX_VOCAB_FILE_BYTES >> 20} MiB, not a vocabulary")
    if data[:1] == b"\x80" or path.lower().endswith((".pkl", ".pickle", ".p")):
        try:
            return _SafeUnpickler(io.BytesIO(data)).load()
        except _VocabError as exc:
            raise _VocabError(f"{path}: {exc}") from None
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
            RecursionError,
            MemoryError,
            OverflowError,
            UnicodeDecodeError,
        ) as exc:
            raise _VocabError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _VocabError(f"{path}: not valid JSON ({exc})") from None


class _SafeUnpickler(pickle.Unpickler):
    """Builds only the containers and scalars a vocabulary is made of. Python's own str, int, list,
    tuple and dict need no class lookup; anything else (numpy scalars, a class, os.system) would, and is
    refused here before it is imported or called."""

    _ALLOWED = {
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "str"),
        ("builtins", "int"),
        ("__builtin__", "dict"),
        ("__builtin__", "list"),
        ("__builtin__", "str"),
        ("__builtin__", "int"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        hint = (
            " (numpy integers: save the vocabulary with Python ints, e.g. {int(i): c ...})"
            if module.startswith("numpy")
            else ""
        )
        raise _VocabError(
            f"the pickle would build {module}.{name}; a vocabulary pickle may hold only str, int, "
            f"list, tuple and dict{hint}"
        )

    def persistent_load(self, pid):
        raise _VocabError("the pickle refers to persistent objects; a vocabulary pickle holds only plain values")


def _from_object(obj, origin: str) -> str:
    if isinstance(obj, str):
        chars = list(obj)
    elif isinstance(obj, dict):
        chars = _from_dict(obj, origin)
    elif isinstance(obj, (list, tuple)) and len(obj) == 2 and all(isinstance(d, dict) for d in obj):
        a, b = (_from_dict(d, origin) for d in obj)
        if a != b:
            raise _VocabError(f"{origin}: the two dicts give different orders")
        chars = a
    elif isinstance(obj, (list, tuple)):
        bad = [c for c in obj if not (isinstance(c, str) and len(c) == 1)]
        if bad:
            raise _VocabError(f"{origin}: a vocabulary list holds one-character strings, not {_short(bad[0])}")
        chars = list(obj)
    else:
        raise _VocabError(
            f"{origin}: a vocabulary is a string, a list of characters or a dict, not {type(obj).__name__}"
        )
    if len(set(chars)) != len(chars):
        dup = sorted({c for c in chars if chars.count(c) > 1})
        raise _VocabError(f"{origin}: the vocabulary repeats characters: {dup!r}")
    if not chars:
        raise _VocabError(f"{origin}: the vocabulary is empty")
    return "".join(chars)


def _index(key):
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit():
        return int(key)
    return None


def _from_dict(d: dict, origin: str) -> list:
    """ix2char or char2ix, told apart by the values: characters or indices."""
    if not d:
        raise _VocabError(f"{origin}: the vocabulary dict is empty")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in d.values()):
        pairs, kind = [(v, k) for k, v in d.items()], "{char: index}"
    elif all(isinstance(v, str) for v in d.values()):
        pairs, kind = [(_index(k), v) for k, v in d.items()], "{index: char}"
        if any(i is None for i, _ in pairs):
            bad = next(k for k in d if _index(k) is None)
            raise _VocabError(f"{origin}: an {kind} dict has integer keys, not {_short(bad)}")
    else:
        raise _VocabError(
            f"{origin}: a vocabulary dict maps indices to characters or characters to indices; "
            "this one mixes other values"
        )
    for i, c in pairs:
        if not (isinstance(c, str) and len(c) == 1):
            raise _VocabError(f"{origin}: {kind} holds {_short(c)} where a single character belongs")
    indices = sorted(i for i, _ in pairs)
    if indices != list(range(len(pairs))):
        missing = sorted(set(range(len(pairs))) - set(indices))
        raise _VocabError(
            f"{origin}: the {kind} indices are not 0 to {len(pairs) - 1}"
            + (f" (missing {missing[:5]})" if missing else f" (found {indices[0]} to {indices[-1]})")
        )
    return [c for _, c in sorted(pairs)]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
