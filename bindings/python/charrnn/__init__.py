"""charrnn — character-level recurrent language models.

Python binding of libcharrnn (the C ABI in include/charrnn.h), with Keras import and export in
:mod:`charrnn.keras`.

    >>> import charrnn
    >>> model = charrnn.Model.load("model.safetensors")   # or Model.load(): the bundled model
    >>> probs = model.probabilities("ROMEO:")         # (6, vocab_size) float32
    >>> with model.session() as s:
    ...     s.feed("ROMEO:")
    ...     text = "".join(c for c, p in s.generate(100, temperature=0.8, seed=1))

Long calls (evaluate, probabilities, feed, generate_text, train) release the GIL and stop on Ctrl-C
within a fraction of a second with KeyboardInterrupt; train() raises :class:`TrainingInterrupted`,
which carries the model trained so far and its last checkpoint.
"""

from __future__ import annotations

import json as _json
import operator as _operator
import os as _os
from collections import namedtuple as _namedtuple

import numpy as _np

from . import _charrnn, _trace
from ._trace import Trace  # noqa: F401  (re-exported)
from ._history import History  # noqa: F401  (re-exported)
from ._charrnn import (  # noqa: F401  (re-exported)
    BufferTooSmallError,
    CancelledError,
    ConfigError,
    DivergedError,
    Error,
    FormatError,
    InternalError,
    InvalidArgumentError,
    IOError,
    NotFiniteError,
    NotFoundError,
    OutOfMemoryError,
    ShapeError,
    StateError,
    UnknownCharacterError,
    UTF8Error,
)

__version__ = _charrnn.version()  # the library's: include/charrnn.h writes it once

__all__ = [
    "Model",
    "Session",
    "Trace",
    "train",
    "version",
    "ModelInfo",
    "EvalResult",
    "Progress",
    "TrainingInterrupted",
    "History",
    "Error",
    "InvalidArgumentError",
    "IOError",
    "FormatError",
    "UTF8Error",
    "UnknownCharacterError",
    "BufferTooSmallError",
    "ShapeError",
    "NotFoundError",
    "StateError",
    "CancelledError",
    "DivergedError",
    "ConfigError",
    "OutOfMemoryError",
    "NotFiniteError",
    "InternalError",
    "default_train_params",
    "default_sample_params",
]

ModelInfo = _namedtuple("ModelInfo", "vocab_size num_layers hidden_size parameter_count state_size")
EvalResult = _namedtuple("EvalResult", "loss perplexity accuracy chars")
Progress = _namedtuple(
    "Progress",
    "kind step total_steps epoch train_loss val_loss val_accuracy chars_per_s seconds learning_rate checkpoint",
)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (a KeyboardInterrupt) stopped :func:`train`. Training stopped cleanly after a step: the
    work is here, and the script still stops unless this is caught (with exit status 1: CPython ends
    itself by SIGINT only for a plain KeyboardInterrupt).

    `model` is the model trained so far, `checkpoint` the path of the last checkpoint written (None
    without out_dir), to continue with ``charrnn.train(..., resume=checkpoint)``, `steps` the steps
    done and `result` the result dict :func:`train` would have returned."""

    def __init__(self, model, checkpoint, steps, result):
        if checkpoint is not None:
            where = f"the last checkpoint is {checkpoint}: continue with charrnn.train(..., resume={checkpoint!r})"
        else:
            where = (
                "no checkpoint was written (pass out_dir= to train() to be able to resume); "
                "save the model with .model.save(path)"
            )
        super().__init__(
            f"training interrupted after step {steps}; the model so far is this exception's .model, and {where}"
        )
        self.model = model
        self.checkpoint = checkpoint
        self.steps = steps
        self.result = result


def _one_per_stream(value) -> bool:
    """Whether a generate_many keyword gives one value per stream (a sequence) rather than one for all."""
    return not isinstance(value, (str, bytes, dict)) and hasattr(value, "__len__") and hasattr(value, "__getitem__")


def _count(value, name: str) -> int:
    """An integer >= 0 (a Python int or anything with __index__, not a bool), as the C layer takes them."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    value = _operator.index(value)
    if not 0 <= value < 2**63:
        raise InvalidArgumentError(f"{name} must be an integer from 0 to 2**63 - 1, not {value}")
    return value


def version() -> str:
    """The version string of the loaded libcharrnn."""
    return _charrnn.version()


def default_train_params() -> dict:
    """The keyword arguments of :func:`train`, each None: not given. The library resolves them — the
    defaults of a new run, or a resumed checkpoint's values (include/charrnn.h lists the defaults)."""
    return _charrnn.default_train_params()


def default_sample_params() -> dict:
    """The library's default sampling parameters."""
    return _charrnn.default_sample_params()


_PRECISIONS = {"float32": 0, "int8": 1}  # charrnn_precision

# The bundled model (the repository's models/default.safetensors, copied in when the package is built),
# where the package's programs find it too: charrnn/share/charrnn, as in an installed prefix.
_BUNDLED_MODEL = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "share", "charrnn", "default.safetensors")


class Model(_charrnn.Model):
    """A model: weights, configuration and vocabulary.

    Create one with :meth:`load`, :meth:`create`, :func:`train` or :func:`charrnn.keras.load`.
    Immutable once shared: any number of threads may use it (and its sessions) concurrently."""

    @classmethod
    def load(cls, path=None, **keras) -> "Model":
        """Loads a model or training checkpoint (safetensors written by charrnn) from `path` (str,
        bytes or os.PathLike); without one, the bundled Shakespeare model the package carries (the one
        the `charrnn` and `charrnn-repl` commands use by default).

        A Keras model file (.keras, or HDF5 .h5: told by its content) is imported by
        :func:`charrnn.keras.load`, which needs its characters: ``Model.load("model.h5",
        vocab_from="corpus.txt")`` or ``vocab="..."``; the other keyword arguments are that function's
        (lowercase, check_text, recover_order, ...)."""
        if path is None:
            return super().load(_BUNDLED_MODEL)
        if keras:
            from .keras import _files, load as keras_load

            if _files.sniff(path) is None:
                raise InvalidArgumentError(
                    f"{_os.fsdecode(path)}: {', '.join(sorted(keras))} apply to Keras "
                    "files (.keras, .h5); this is not one"
                )
            return keras_load(path, **keras)
        try:
            return super().load(path)
        except FormatError:
            from .keras import _files

            kind = _files.sniff(path)
            if kind is None:
                raise
            name = _os.fsdecode(path)
            what = "a .keras archive" if kind == "keras" else "an HDF5 (.h5) file"
            raise FormatError(
                f"{name} is a Keras model ({what}), not a charrnn model, and Keras files hold no "
                f"vocabulary: import it with charrnn.Model.load({name!r}, vocab_from=\"corpus.txt\") "
                "(the text it was trained on) or vocab= (its characters in order)"
            ) from None

    @classmethod
    def create(cls, config, vocab: str, seed: int = 0) -> "Model":
        """A model with freshly initialised weights. `config` is the configuration dict (or JSON
        string) of the README's "Model configuration"; its vocab_size is taken from `vocab`. `seed` is
        an integer from 0 to 2**64 - 1 (InvalidArgumentError outside)."""
        if not isinstance(vocab, str):
            raise TypeError(f"vocab must be a str, not {type(vocab).__name__}")
        if isinstance(config, dict):
            config = dict(config)
            config.setdefault("vocab_size", len(vocab))
            config = _json.dumps(config)
        elif not isinstance(config, str):
            raise TypeError(f"config must be a dict or a JSON string, not {type(config).__name__}")
        return cls._create(config, vocab, seed)

    @property
    def vocab(self) -> str:
        """The vocabulary: each character once, in index order."""
        return self._vocab()

    @property
    def vocab_size(self) -> int:
        return self._info()[0]

    @property
    def config(self) -> dict:
        """The model configuration (the schema Model.create takes)."""
        return _json.loads(self._config_json())

    @property
    def info(self) -> ModelInfo:
        """Sizes: vocab_size, num_layers, hidden_size, parameter_count, state_size."""
        return ModelInfo(*self._info())

    def tensors(self) -> dict:
        """{"layer.weight": shape} for every weight tensor, in the library's order."""
        return {name: tuple(shape) for name, shape in self._tensors()}

    def get_weights(self, layer: str, name: str) -> _np.ndarray:
        """Weight `name` of `layer` (e.g. "rnn0", "kernel") as a float32 array in the Keras layout."""
        return self._get_weights(layer, name)

    def set_weights(self, layer: str, name: str, array) -> None:
        """Replaces a weight; `array` must have the model's shape for it (ShapeError otherwise).
        Anything convertible to a float32 array is accepted (lists, float64 arrays)."""
        if not isinstance(array, (_np.ndarray, memoryview)) or (
            isinstance(array, _np.ndarray) and (array.dtype != _np.float32 or not array.flags.c_contiguous)
        ):
            array = _np.ascontiguousarray(array, dtype=_np.float32)
        self._set_weights(layer, name, array)

    def state_dict(self) -> dict:
        """{"layer.weight": array} for every weight."""
        out = {}
        for full in self.tensors():
            layer, _, weight = full.partition(".")
            out[full] = self.get_weights(layer, weight)
        return out

    def trace(self, text, skip_unknown: bool = False, name: str | None = None) -> "Trace":
        """Runs the model over `text` (str, or bytes of UTF-8) from a fresh state and returns a
        :class:`Trace`: every next-character distribution, ``probabilities`` (n, V), and each layer's
        states, ``hidden[layer]`` and (LSTM) ``cell[layer]`` (n, units), with the loss. In Jupyter it
        shows as the page `charrnn explain` writes (``trace.to_html()``, ``trace.save_html(path)``);
        `name` is the model's name there. Runs with the GIL released; Ctrl-C stops it with
        KeyboardInterrupt."""
        return _trace.trace(self, text, skip_unknown=skip_unknown, name=name)

    def evaluate(self, text, skip_unknown: bool = False) -> EvalResult:
        """Mean cross-entropy (nats/char), perplexity and accuracy of predicting each next character
        of `text` (str, or bytes of UTF-8) from a fresh state. Runs with the GIL released; Ctrl-C stops
        it with KeyboardInterrupt."""
        return EvalResult(*self._evaluate(text, skip_unknown=skip_unknown))

    def session(self, seed: int | None = None, precision: str = "float32", window: int | None = None) -> "Session":
        """A new session (zero state, generator seeded with 0, or with `seed`, 0 to 2**64 - 1).
        `precision="int8"` generates with an 8-bit copy of the weights (Q8_0-style blocks, made here):
        faster (README.md gives the measured figure), and `charrnn eval --int8` reports what it
        changes in loss.
        `window=N` computes each distribution from the last N characters run from a zero state, as
        the Keras tutorials' generation loop does; 0 carries the state. None: the model's own
        (config["window"], set for models trained on windows), else 0."""
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(_PRECISIONS)}, not {precision!r}")
        s = Session._open(self, _PRECISIONS[precision])
        if seed is not None:
            s.seed(seed)
        if window is not None:
            s.window = window
        return s

    def generate(self, prompt: str = "", n: int = 200, window: int | None = None, **sample) -> str:
        """Convenience: feed `prompt` into a fresh session and generate `n` characters (`window` as
        in :meth:`session`)."""
        with self.session(window=window) as s:
            if prompt:
                s.feed(prompt)
            else:
                s.feed(self.vocab[0])
            return s.generate_text(n, **sample)

    def generate_many(
        self,
        prompts,
        n: int = 200,
        *,
        temperature=None,
        top_k=None,
        top_p=None,
        greedy=None,
        seed=0,
        precision: str = "float32",
        window: int | None = None,
    ) -> list:
        """Generates `n` characters after each prompt (a list of str), every stream in its own session,
        all stepped together: each layer's products run once per character for all the streams, which
        is several times the characters per second of generating them one after another (README.md
        gives the measured figures). Stream i gives exactly what a session of the same precision and
        window gives alone: for float32, ``generate(prompts[i], n, seed=seed + i, ...)``. Each sampling
        keyword is one value for every stream or a sequence (list, tuple, numpy array) with one per
        prompt; `seed` is an int (stream i is seeded with seed + i) or a sequence of seeds. `precision`
        and `window` as in :meth:`session`. Runs with the GIL released; Ctrl-C stops it with
        KeyboardInterrupt."""
        if isinstance(prompts, (str, bytes)):
            raise TypeError("prompts must be a list of str, one per stream (a single str would be one per character)")
        prompts = list(prompts)
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompts must be a sequence of str")
        n = _count(n, "n")
        if isinstance(seed, int) and not isinstance(seed, bool):
            if prompts and seed + len(prompts) - 1 > 2**64 - 1:
                raise InvalidArgumentError(
                    f"seed {seed} + {len(prompts) - 1} (the last stream's) is past 2**64 - 1: give a smaller seed "
                    "or one seed per prompt"
                )
            seed = [seed + i for i in range(len(prompts))]
        per_stream = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "greedy": greedy, "seed": seed}
        for name, value in per_stream.items():
            if _one_per_stream(value):
                if len(value) != len(prompts):
                    raise InvalidArgumentError(f"{name} has {len(value)} values for {len(prompts)} prompts")
                per_stream[name] = list(value)
            else:
                per_stream[name] = [value] * len(prompts)
        params = [{name: values[i] for name, values in per_stream.items()} for i in range(len(prompts))]
        sessions = [self.session(precision=precision, window=window) for _ in prompts]
        try:
            fed = {}  # prompt -> the session that fed it: a repeated prompt is fed once, its state copied
            for s, prompt in zip(sessions, prompts):
                text = prompt if prompt else self.vocab[0]
                first = fed.get(text)
                if first is not None and s.window == 0:
                    s.state = first.state  # the bits feeding it gives; each stream is seeded before its draws
                else:
                    s.feed(text)
                    fed.setdefault(text, s)
            return Session._sample_many(sessions, n, params)
        finally:
            for s in sessions:
                s.close()

    def __repr__(self):
        if self.closed:
            return "<charrnn.Model (closed)>"
        i = self.info
        cells = ",".join(layer["cell"] for layer in self.config.get("layers", []))
        return (
            f"<charrnn.Model vocab={i.vocab_size} layers={i.num_layers}({cells}) hidden={i.hidden_size} "
            f"params={i.parameter_count}>"
        )


class Session(_charrnn.Session):
    """Recurrent state, the pending next-character distribution and a random generator.
    One thread at a time (a concurrent call raises StateError)."""

    def generate(self, n: int, temperature=None, top_k=None, top_p=None, greedy=None, seed=None):
        """Yields up to `n` (char, probability) pairs, sampling one character at a time (each call
        releases the GIL). `seed` reseeds before the first character only. `n` is checked here, the
        sampling parameters at the first character."""
        params = dict(temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy)
        return self._generate(_count(n, "n"), seed, params)

    def _generate(self, n, seed, params):
        for i in range(n):
            yield self.sample(**params, seed=seed if i == 0 else None)

    def __repr__(self):
        return "<charrnn.Session (closed)>" if self.closed else "<charrnn.Session>"


def train(corpus_path, *, progress=None, **params):
    """Trains a model on the UTF-8 text file `corpus_path`.

    Keyword arguments are the fields of charrnn_train_params, the `charrnn train` options of the same
    names: cell ("lstm", "gru", "rnn", any case), layers, hidden, embedding, dropout, objective
    ("sequence", "window"), seq_length, step, batch_size, optimizer ("adam", "rmsprop", "sgd",
    "adagrad"), learning_rate (or lr), momentum, nesterov, rho, beta1, beta2, epsilon, clip_value,
    clip_norm, lr_decay, lr_decay_every, lr_decay_staircase (or staircase), lr_decay_after, epochs,
    max_steps, max_time, seed, lowercase, reduce_charset, max_chars, val_fraction, eval_every, out_dir
    (or out), resume, overwrite. An option left out (or None) is not given: a new run takes the
    default (see include/charrnn.h), a resumed run the value its checkpoint's run used — the rules of
    `charrnn train --resume`, applied by the library for every way in. With max_time and no epochs,
    time decides; with max_time alone (no epochs, lr_decay, or shape), the run is a time budget: a
    warmup-then-cosine schedule that ends with the budget, and the model and batch the budget can
    train best on this machine, with dropout when it will see the text more than 10 times
    (include/charrnn.h, "A time budget"; ``charrnn train --help``).

    Integer options are checked against their C types (InvalidArgumentError for -1, or for a seed
    past 2**64 - 1, instead of wrapping).

    `progress(p)` is called with a :class:`Progress` namedtuple (kind "step", "validation" or
    "checkpoint"); returning True cancels training, which then returns the model so far with
    result["cancelled"] True. An exception raised by the callback cancels training and propagates.

    Ctrl-C stops training cleanly after the current step (with out_dir, a checkpoint is written
    first) and raises :class:`TrainingInterrupted`, a KeyboardInterrupt that carries the model so far
    (`.model`), the last checkpoint (`.checkpoint`, to continue with ``resume=``) and `.steps`.

    Returns (Model, result dict: steps, epochs, train_loss, val_loss, val_perplexity, val_accuracy,
    best_val_loss — the lowest validation loss of the run, the best checkpoint's, NaN without validation —
    chars_per_s, seconds, cancelled, checkpoint — the last checkpoint written, or None — start ("fresh",
    "resumed" or "fine_tuned") and resumed_step, the checkpoint's step a resumed run continued from). The GIL is
    released while training.

    ``result["history"]`` is a :class:`History`, as Keras's ``fit`` returns: ``history.history`` holds
    lists with one entry per validation (step, epoch, seconds, loss, val_loss, val_accuracy,
    learning_rate, chars_per_s), ``history.train`` the progress reports; an error raised by the library
    carries the run's history as its ``.history``. With ``out_dir``, the run also keeps
    ``metrics.jsonl`` and ``loss.svg`` there."""
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable")

    history = History(params)

    def callback(d):
        history._record(d)
        return progress is not None and bool(progress(Progress(**d)))

    corpus_path = _os.fspath(corpus_path)
    try:
        model, result = _charrnn.train(corpus_path, params, callback, Model)
    except Error as e:
        e.history = history._finish()  # a diverged run's curve is what one wants to look at
        raise
    result["history"] = history._finish()
    if result.pop("interrupted"):
        raise TrainingInterrupted(model, result["checkpoint"], result["steps"], result) from None
    return model, result
