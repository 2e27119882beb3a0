"""Keras import, export and numerical comparison.

    >>> import charrnn.keras
    >>> model = charrnn.keras.load("shakespeare.h5", vocab_from="tinyshakespeare.txt")
    >>> report = charrnn.keras.compare("shakespeare.h5", text, vocab_from="tinyshakespeare.txt")
    >>> charrnn.keras.save(model, "exported.keras")

Reading and writing need numpy and h5py only; :func:`compare` imports Keras (lazily) to run it.

Keras files do not store the vocabulary: give it (`vocab=`: an ordered string, a list, an ix2char or
char2ix dict, or a JSON or pickle file of one) or derive it from the training corpus (`vocab_from=`, as
``sorted(set(text))``, normalised first with `lowercase=True` or `reduce_charset=True`). Every import is
checked on a text the model should know (the corpus, or `check_text=`) and refused when the model does
no better than chance on it, the mark of characters in the wrong order; `recover_order=True` finds the
order from the text (:func:`import_model` returns how sure it is).
"""

from __future__ import annotations

import datetime as _dt
import io as _io
import json as _json
import os as _os
import secrets as _secrets
import zipfile as _zipfile

import numpy as _np

import charrnn as _charrnn

from . import _order
from ._errors import VocabularyError, VocabularyWarning
from ._import import ImportReport, _resolve_vocab, import_model, load, to_model, vocab_from_corpus
from ._order import OrderRecovery, VocabularyCheck
from ._reader import KerasFormatError, KerasModel, UnsupportedModelError, _snake, read
from ._reference import encode, forward
from ._vocab import normalization_of as _normalization_of
from ._vocab import normalize, parse_vocabulary, read_text as _read_text

__all__ = [
    "load",
    "import_model",
    "read",
    "save",
    "compare",
    "to_model",
    "vocab_from_corpus",
    "parse_vocabulary",
    "normalize",
    "ImportReport",
    "VocabularyCheck",
    "OrderRecovery",
    "KerasModel",
    "KerasFormatError",
    "UnsupportedModelError",
    "VocabularyError",
    "VocabularyWarning",
    "forward",
    "encode",
]


# ------------------------------------------------------------------------------------------------
# export


def _scale_gates(config_layer, arrays, factor):
    """Multiplies the recurrent-activation gates' pre-activations by `factor` (LSTM i, f, o; GRU z, r)."""
    u = int(config_layer["units"])
    cell = config_layer["cell"]
    if cell == "lstm":
        cols = list(range(0, 2 * u)) + list(range(3 * u, 4 * u))
    elif cell == "gru":
        cols = list(range(0, 2 * u))
    else:
        return arrays
    out = []
    for a in arrays:
        a = _np.array(a, dtype=_np.float32, copy=True)
        a[..., cols] *= _np.float32(factor)
        out.append(a)
    return out


_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def save(model, path, name: str = "charrnn", window: int = 0) -> None:
    """Writes `model` as a Keras 3 ``.keras`` file (config.json, metadata.json, model.weights.h5), without
    needing Keras. Keras loads it with ``keras.saving.load_model(path)`` and its predictions are the
    model's probabilities. Input: one-hot floats (batch, time, V), scalar ``index / V`` (batch, time, 1),
    or integer indices (batch, time) for an embedding.

    By default the recurrent layers return sequences and any length goes in: the output has one
    distribution per input step, what training on sequences needs. `window=N` writes the Keras
    tutorials' shape instead: input (batch, N, ...), the last recurrent layer returning its last step
    only, the output (batch, V): the distribution of the character after each window.

    hard_sigmoid_keras2 gates (Keras 2's 0.2x + 0.5) are written as Keras 3's hard_sigmoid (x/6 + 0.5)
    with the gates' weights scaled by 1.2, which computes the same function."""
    import h5py

    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0 (0: any length, one output per step), not {window!r}")
    cfg = model.config
    v = int(cfg["vocab_size"])
    kind = cfg.get("input", "onehot")
    steps = window or None
    if kind == "embedding":
        in_shape, in_dtype = [None, steps], "int32"
    elif kind == "scalar":
        in_shape, in_dtype = [None, steps, 1], "float32"
    else:
        in_shape, in_dtype = [None, steps, v], "float32"

    def entry(cls, config, build_shape=None):
        e = {"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None}
        if build_shape is not None:
            e["build_config"] = {"input_shape": build_shape}
        return e

    layers = [
        entry(
            "InputLayer",
            {"batch_shape": in_shape, "dtype": in_dtype, "sparse": False, "ragged": False, "name": "input_layer"},
        )
    ]
    weights = []  # (key, subgroup, [arrays], layer name)
    used = {}

    def key_for(cls):
        base = _snake(cls)
        n = used.get(base, -1) + 1
        used[base] = n
        return base if n == 0 else f"{base}_{n}"

    shape = list(in_shape)
    if kind == "embedding":
        emb = model.get_weights("embedding", "embeddings")
        layers.append(
            entry(
                "Embedding",
                {
                    "name": "embedding",
                    "input_dim": int(emb.shape[0]),
                    "output_dim": int(emb.shape[1]),
                    "mask_zero": False,
                },
                shape,
            )
        )
        weights.append(("embedding", "vars", [emb], "embedding"))
        shape = [None, steps, int(emb.shape[1])]
    for i, layer in enumerate(cfg["layers"]):
        cell = layer["cell"]
        cls = _CLASS[cell]
        lname = f"rnn{i}"
        arrays = [model.get_weights(lname, "kernel"), model.get_weights(lname, "recurrent_kernel")]
        if layer.get("use_bias", True):
            arrays.append(model.get_weights(lname, "bias"))
        sequences = not window or i < len(cfg["layers"]) - 1
        c = {
            "name": lname,
            "units": int(layer["units"]),
            "activation": layer.get("activation", "tanh"),
            "use_bias": bool(layer.get("use_bias", True)),
            "return_sequences": sequences,
            "return_state": False,
            "go_backwards": False,
            "stateful": False,
            "unroll": False,
        }
        if cell != "rnn":
            ract = layer.get("recurrent_activation", "sigmoid")
            if ract == "hard_sigmoid_keras2":
                arrays = _scale_gates(layer, arrays, 1.2)
                ract = "hard_sigmoid"
            elif ract == "hard_sigmoid_keras3":
                ract = "hard_sigmoid"
            c["recurrent_activation"] = ract
        if cell == "gru":
            c["reset_after"] = bool(layer.get("reset_after", True))
        layers.append(entry(cls, c, shape))
        weights.append((key_for(cls), "cell/vars", arrays, lname))
        shape = [None, steps, int(layer["units"])] if sequences else [None, int(layer["units"])]
    head = cfg.get("head", {})
    dense = [model.get_weights("dense", "kernel")]
    if head.get("use_bias", True):
        dense.append(model.get_weights("dense", "bias"))
    layers.append(
        entry(
            "Dense",
            {
                "name": "dense",
                "units": v,
                "activation": "softmax" if head.get("activation", "softmax") == "softmax" else "linear",
                "use_bias": bool(head.get("use_bias", True)),
            },
            shape,
        )
    )
    weights.append((key_for("Dense"), "vars", dense, "dense"))
    if head.get("activation", "softmax") != "softmax":
        layers.append(entry("Activation", {"name": "softmax", "activation": "softmax"}))
        weights.append((key_for("Activation"), "vars", [], "softmax"))

    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": name, "trainable": True, "layers": layers, "build_input_shape": in_shape},
        "registered_name": None,
        "build_config": {"input_shape": in_shape},
        "compile_config": None,
    }
    metadata = {
        "keras_version": "3.0.0",
        "date_saved": _dt.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "producer": f"charrnn {_charrnn.__version__}",
    }

    buf = _io.BytesIO()
    with h5py.File(buf, "w") as f:
        root_layers = f.create_group("layers")
        for key, sub, arrays, lname in weights:
            g = root_layers.create_group(key)
            top_vars = g.create_group("vars")
            top_vars.attrs["name"] = lname
            if sub == "cell/vars":
                cv = g.create_group("cell").create_group("vars")
                cv.attrs["name"] = f"{key}_cell"
                target = cv
            else:
                target = top_vars
            for j, a in enumerate(arrays):
                target.create_dataset(str(j), data=_np.asarray(a, dtype=_np.float32))
        f.create_group("vars").attrs["name"] = name

    def write(fh):
        with _zipfile.ZipFile(fh, "w") as z:
            z.writestr("metadata.json", _json.dumps(metadata))
            z.writestr("config.json", _json.dumps(config))
            z.writestr("model.weights.h5", buf.getvalue(), compress_type=_zipfile.ZIP_STORED)

    _write_atomically(path, write)


def _write_atomically(path, write) -> None:
    """Calls `write(file)` on a new file beside `path`, flushes it to disk and renames it over `path`, so
    that `path` is always the old file or the whole new one. On any failure, Ctrl-C included, the new
    file is removed and `path` is untouched."""
    path = _os.fspath(path)
    tmp = f"{path}.tmp{_os.getpid()}-{_secrets.token_hex(4)}"
    # O_EXCL: always a new file, never one (or a symbolic link) already there under that name
    fd = _os.open(tmp, _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL | _os.O_CLOEXEC, 0o666)
    try:
        with open(fd, "wb") as fh:
            write(fh)
            fh.flush()
            _os.fsync(fh.fileno())
        _os.replace(tmp, path)
    except BaseException:
        try:
            _os.unlink(tmp)
        except OSError:
            pass  # already gone; the error that matters is the one being raised
        raise


# ------------------------------------------------------------------------------------------------
# comparison with Keras


def _import_keras():
    import importlib.util

    if (
        "KERAS_BACKEND" not in _os.environ
        and importlib.util.find_spec("tensorflow") is None
        and importlib.util.find_spec("jax") is not None
    ):
        _os.environ["KERAS_BACKEND"] = "jax"
    try:
        import keras  # noqa: WPS433 (lazy on purpose)
    except ImportError as exc:
        raise ImportError(
            f"charrnn.keras.compare runs Keras, which cannot be imported ({exc}); install it "
            "with a backend, e.g. pip install keras jax"
        ) from exc
    return keras


_RNN = ("LSTM", "GRU", "SimpleRNN")


def _sequence_clone(keras, kmodel):
    """A clone of `kmodel` that takes any sequence length, is not stateful and whose last recurrent
    layer returns sequences, with the same weights."""
    cfg = kmodel.get_config()
    entries = cfg["layers"] if isinstance(cfg, dict) else cfg
    last = None
    for e in entries:
        c = e.get("config", {})
        for key in ("batch_shape", "batch_input_shape"):
            if c.get(key) is not None and len(c[key]) >= 2:
                c[key] = [None, None] + list(c[key][2:])
        if e.get("class_name") in _RNN:
            c["stateful"] = False
            last = e
    if last is not None:
        last["config"]["return_sequences"] = True
    clone = kmodel.__class__.from_config(cfg)
    src = [layer for layer in kmodel.layers]
    dst = [layer for layer in clone.layers]
    if len(src) != len(dst):
        raise RuntimeError("the Keras clone has a different number of layers")
    for a, b in zip(src, dst):
        w = a.get_weights()
        if w:
            b.set_weights(w)
    return clone


def compare(
    path,
    text,
    vocab=None,
    vocab_from=None,
    lowercase: bool = False,
    encoding: str | None = None,
    max_chars: int | None = None,
    reduce_charset: bool = False,
) -> dict:
    """Runs Keras and charrnn on `text` and reports the largest absolute differences.

    Returns {"output": max |Keras predict - Model.probabilities|, "layers": {charrnn layer: max difference
    of that recurrent layer's outputs}, "max": the largest of all, "chars": characters compared,
    "keras_layers": {charrnn layer: Keras layer name}, "window": whether the file's last recurrent layer
    had return_sequences=False (compared through a return_sequences=True clone with the same weights),
    "vocab_check": the :class:`VocabularyCheck` of the model on `text` (None with fewer than two
    characters): Keras and charrnn agree on indices whatever the characters are, so agreement says
    nothing about the vocabulary; a check that is not ``.ok`` means its order is probably wrong}.

    Keras' per-layer outputs come from calling the clone's layers; charrnn's from a numpy forward over
    the weights read back from the charrnn model (Model.get_weights)."""
    keras = _import_keras()
    km = read(path, encoding=encoding)
    normalization = _normalization_of(lowercase, reduce_charset)
    corpus = _read_text(vocab_from) if vocab_from is not None else None
    v, _ = _resolve_vocab(km.vocab_size, vocab, vocab_from, corpus, normalization)
    text = normalize(text, normalization)
    if max_chars is not None:
        text = text[: int(max_chars)]
    index = {c: i for i, c in enumerate(v)}
    missing = sorted({c for c in text if c not in index})
    if missing:
        raise _charrnn.UnknownCharacterError(f"the text holds characters outside the vocabulary: {missing[:10]!r}")
    if len(text) == 0:
        raise _charrnn.InvalidArgumentError("the text is empty")
    idx = _np.array([index[c] for c in text], dtype=_np.int64)

    model = to_model(km, v)
    try:
        check = _order.score(model, text, "the text compared on")
        probs = model.probabilities(text)
        cfg = model.config

        def weight(layer, name):
            return model.get_weights(layer, name)

        _, hidden = forward(cfg, weight, idx, return_hidden=True)
    finally:
        model.close()

    try:
        kmodel = keras.saving.load_model(_os.fspath(path), compile=False)
    except Exception as exc:
        raise KerasFormatError(
            f"{path}: Keras {keras.__version__} cannot load this file ({type(exc).__name__}: {exc}); files from "
            f"Keras {km.keras_version} can still be checked against charrnn.keras.forward(read(path).config, "
            "read(path).weights, indices)"
        ) from exc
    clone = _sequence_clone(keras, kmodel)
    x = encode(km.config, idx)[None]
    if km.encoding == "embedding":
        x = x.astype(_np.int32)
    y = _np.asarray(clone.predict(x, verbose=0))[0].astype(_np.float64)
    if km.config["head"]["activation"] == "linear":
        y = _np.exp(y - y.max(axis=-1, keepdims=True))
        y /= y.sum(axis=-1, keepdims=True)

    keras_hidden = []
    h = x
    for layer in clone.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        h = layer(h)
        inner = layer
        if layer.__class__.__name__ in _RNN or getattr(inner, "cell", None) is not None:
            keras_hidden.append(_np.asarray(h)[0])
    layers = {}
    for i, (a, b) in enumerate(zip(keras_hidden, hidden)):
        layers[f"rnn{i}"] = float(_np.abs(a.astype(_np.float64) - b).max())
    out = float(_np.abs(y - probs.astype(_np.float64)).max())
    return {
        "output": out,
        "layers": layers,
        "max": max([out] + list(layers.values())),
        "chars": len(text),
        "keras_layers": dict(km.layer_names),
        "window": km.window,
        "keras_version": km.keras_version,
        "config": km.config,
        "vocab_check": check,
    }
