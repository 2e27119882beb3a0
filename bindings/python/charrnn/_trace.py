"""Model.trace(): what a model computes along a text, and the page that shows it.

The page is the one `charrnn explain` writes, from the same template (share/charrnn/explain.html in the
package, Sources/CommandLineSupport/Resources/explain.html in the repository, whose top comment describes
its data), filled with the same data: Sources/CommandLineSupport/ExplainPage.swift is the other writer.
"""

from __future__ import annotations

import base64 as _base64
import html as _html
import json as _json
import math as _math
import os as _os

import numpy as _np

__all__ = ["Trace"]

_CELLS = {0: "lstm", 1: "gru", 2: "rnn"}  # charrnn_cell
_KERAS_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
_TEMPLATE = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "share", "charrnn", "explain.html")
_PLACEHOLDER = "__CHARRNN_EXPLAIN_DATA__"

#: The most state values a page holds (as `charrnn explain`), 2**22: the states of its first
#: STATE_VALUE_LIMIT // state width characters.
STATE_VALUE_LIMIT = 1 << 22
#: Alternatives shown where each character was predicted.
ALTERNATIVES = 5


class Trace:
    """The numbers behind the pictures: a model run over a text from a fresh state.

    Attributes (n characters traced, V the vocabulary size):

    - ``text``: the characters traced (the text's, less those skipped as unknown), ``skipped`` their count;
    - ``probabilities``: float32 (n, V); row t is the distribution over the character after ``text[:t + 1]``;
    - ``hidden[layer]``: float32 (n, units), each layer's hidden state after each character;
    - ``cell[layer]``: the same for an LSTM layer's cell state, None for GRU and SimpleRNN layers;
    - ``layers``: [{"cell", "units"}] bottom first; ``vocab``: the model's characters in index order;
    - ``loss`` (nats per character), ``bits`` (bits per character) and ``accuracy`` of the n - 1
      predictions (NaN when n == 1).

    In Jupyter the object shows itself as the page ``charrnn explain`` writes (``to_html()``)."""

    def __init__(self, model, text, probabilities, hidden, cell, layers, skipped, loss, accuracy, name=None):
        self.text = text
        self.probabilities = probabilities
        self.hidden = hidden
        self.cell = cell
        self.layers = layers
        self.skipped = skipped
        self.loss = loss
        self.bits = loss / _math.log(2) if _math.isfinite(loss) else float("nan")
        self.accuracy = accuracy
        self.vocab = model.vocab
        self.parameter_count = model.info.parameter_count
        self.input = model.config.get("input", "onehot")
        self.model_name = name or "model"

    def __len__(self):
        return len(self.text)

    def __repr__(self):
        return (
            f"<charrnn.Trace {len(self.text)} characters, loss {self.loss:.4f} nats/char "
            f"({self.bits:.3f} bits/char), {len(self.layers)} layers>"
        )

    def surprise(self) -> _np.ndarray:
        """Bits per character, (n,) float64: -log2 of the probability the model gave character t before
        reading it; NaN for the first character, which nothing predicted."""
        out = _np.full(len(self.text), _np.nan)
        if len(self.text) > 1:
            index = {c: i for i, c in enumerate(self.vocab)}
            targets = _np.array([index[c] for c in self.text[1:]])
            p = self.probabilities[_np.arange(len(self.text) - 1), targets].astype(_np.float64)
            out[1:] = -_np.log2(_np.maximum(p, 1e-45))
        return out

    # ---- the page ----------------------------------------------------------------------------------

    def to_html(self, title: str | None = None, state_chars: int | None = None) -> str:
        """The self-contained page of `charrnn explain` (no network, no external scripts or fonts).
        `state_chars`: how many characters' states it holds (default: as many as 2**22 values allow)."""
        n, V = self.probabilities.shape
        k = min(ALTERNATIVES, V)
        width = sum(layer["units"] * (2 if layer["cell"] == "lstm" else 1) for layer in self.layers)
        m = min(n, max(1, STATE_VALUE_LIMIT // width if state_chars is None else int(state_chars)))
        index = {c: i for i, c in enumerate(self.vocab)}
        targets = _np.array([index[c] for c in self.text], dtype=_np.int64)

        prob = _np.full(n, _np.nan, dtype=_np.float32)
        top_index = _np.zeros((n, k), dtype=_np.uint32)
        top_prob = _np.zeros((n, k), dtype=_np.uint16)
        if n > 1:
            rows = self.probabilities[:-1]  # row t - 1 predicted character t
            prob[1:] = rows[_np.arange(n - 1), targets[1:]]
            # Most probable first, ties to the lower index (a stable sort, as the Swift writer picks).
            order = _np.argsort(-rows, axis=1, kind="stable")[:, :k]
            top_index[1:] = order
            chosen = _np.take_along_axis(rows, order, axis=1).astype(_np.float64)
            top_prob[1:] = _np.clip(_np.floor(chosen * 65535 + 0.5), 0, 65535).astype(_np.uint16)
        wide = V > 65536

        blocks = []
        for layer_index, layer in enumerate(self.layers):
            for kind, values in (("hidden", self.hidden[layer_index]), ("cell", self.cell[layer_index])):
                if values is None:
                    continue
                scale, quantized = _quantize(values[:m])
                blocks.append(
                    {
                        "layer": layer_index,
                        "kind": kind,
                        "units": layer["units"],
                        "scale": _b64(scale.astype("<f4")),
                        "values": _b64(quantized),
                    }
                )
        data = {
            "format": "charrnn-explain",
            "version": 1,
            "title": title if title is not None else "text",
            "source": "python",
            "model": {
                "name": self.model_name,
                "description": self._description(),
                "parameters": self.parameter_count,
                "vocab_size": V,
                "layers": [{"cell": layer["cell"], "units": layer["units"]} for layer in self.layers],
            },
            "vocab": list(self.vocab),
            "text": self.text,
            "skipped": self.skipped,
            "summary": {
                "chars": n,
                "predictions": n - 1,
                "loss": _finite(self.loss),
                "bits_per_char": _finite(self.bits),
                "accuracy": _finite(self.accuracy),
            },
            "predictions": {
                "k": k,
                "index_bytes": 4 if wide else 2,
                "prob": _b64(prob.astype("<f4")),
                "top_index": _b64(top_index.astype("<u4" if wide else "<u2")),
                "top_prob": _b64(top_prob.astype("<u2")),
            },
            "states": {"chars": m, "total_chars": n, "blocks": blocks},
        }
        text = _json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        for c, escaped in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            text = text.replace(c, escaped)  # inside strings only: JSON has these nowhere else
        with open(_TEMPLATE, encoding="utf-8") as f:
            template = f.read()
        if template.count(_PLACEHOLDER) != 1:
            raise RuntimeError(f"{_TEMPLATE}: the explain page's template has no single data placeholder")
        return template.replace(_PLACEHOLDER, text)

    def save_html(self, path, title: str | None = None, state_chars: int | None = None) -> None:
        """Writes :meth:`to_html` to `path` (through a temporary file in the same folder, then a rename)."""
        path = _os.fspath(path)
        tmp = f"{path}.tmp{_os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(self.to_html(title=title, state_chars=state_chars))
                f.flush()
                _os.fsync(f.fileno())
            _os.replace(tmp, path)
        finally:
            if _os.path.exists(tmp):
                _os.unlink(tmp)

    def _repr_html_(self) -> str:
        # In a sandboxed frame: the page's styles and script stay its own, whatever the notebook's.
        return (
            '<iframe class="charrnn-explain" sandbox="allow-scripts" style="width:100%;height:46rem;'
            f'border:1px solid #d8dbe0;border-radius:6px" srcdoc="{_html.escape(self.to_html(), quote=True)}">'
            '</iframe>'
        )

    def _description(self) -> str:
        """ "LSTM 2x512, one-hot input", as the Swift writer says it."""
        first = self.layers[0]
        if all(layer == first for layer in self.layers):
            shape = f"{_KERAS_NAMES[first['cell']]} {len(self.layers)}\u00d7{first['units']}"
        else:
            shape = " + ".join(f"{_KERAS_NAMES[layer['cell']]} {layer['units']}" for layer in self.layers)
        return f"{shape}, {'one-hot' if self.input == 'onehot' else self.input} input"


def _b64(array) -> str:
    return _base64.b64encode(_np.ascontiguousarray(array).tobytes()).decode("ascii")


def _finite(x):
    return x if isinstance(x, float) and _math.isfinite(x) else None


def _quantize(values):
    """(rows, units) values as int8 per unit, unit-major, and each unit's scale (largest magnitude / 127),
    computed as the Swift writer computes them (double precision, rounded half up)."""
    x = values.astype(_np.float64)
    peak = _np.abs(values).max(axis=0).astype(_np.float64) if len(values) else _np.zeros(values.shape[1])
    ok = (peak > 0) & _np.isfinite(peak)
    safe = _np.where(ok, peak, 1.0)
    with _np.errstate(invalid="ignore"):
        q = _np.floor(x * 127 / safe + 0.5)
    q = _np.where(ok & ~_np.isnan(q), _np.clip(_np.nan_to_num(q), -127, 127), 0).astype(_np.int8)
    scale = _np.where(ok, peak / 127, 0).astype(_np.float32)
    return scale, _np.ascontiguousarray(q.T)


def trace(model, text, skip_unknown: bool = False, name: str | None = None) -> Trace:
    """See Model.trace."""
    probs, states, (n, skipped, loss, accuracy), layers = model._trace(text, skip_unknown=skip_unknown)
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8")
    if skipped:
        known = set(model.vocab)
        text = "".join(c for c in text if c in known)
    hidden, cell, described = [], [], []
    for kind, units, offset in layers:
        kind = _CELLS.get(kind, "rnn")
        hidden.append(states[n * offset : n * (offset + units)].reshape(n, units))
        cell.append(
            states[n * (offset + units) : n * (offset + 2 * units)].reshape(n, units) if kind == "lstm" else None
        )
        described.append({"cell": kind, "units": units})
    return Trace(model, text, probs, hidden, cell, described, skipped, loss, accuracy, name=name)
