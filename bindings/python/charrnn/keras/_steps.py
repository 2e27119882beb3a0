"""The network in numpy float64 for the order search: over a text (each layer scanned at once, the
output layer in one product), and one step for many inputs at once (what each input index alone
predicts). The equations are those of :mod:`._reference` (Keras 2/3).
"""

from __future__ import annotations

import numpy as np

from ._reference import activation

__all__ = ["Network"]


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Network:
    """A charrnn configuration and its weights (a dict (layer, weight) -> array, or a callable)."""

    def __init__(self, config: dict, weights):
        get = weights if callable(weights) else (lambda layer, name: weights[(layer, name)])
        self.size = int(config["vocab_size"])
        self.input = config.get("input", "onehot")
        self.embeddings = (
            np.asarray(get("embedding", "embeddings"), dtype=np.float64) if self.input == "embedding" else None
        )
        self.layers = []
        for i, layer in enumerate(config["layers"]):
            name = f"rnn{i}"
            units = int(layer["units"])
            kernel = np.asarray(get(name, "kernel"), dtype=np.float64)
            bias = np.asarray(get(name, "bias"), dtype=np.float64) if layer.get("use_bias", True) else None
            cell, reset_after = layer["cell"], layer.get("reset_after", True)
            if bias is None:
                b_in, b_rec = np.zeros(kernel.shape[1]), np.zeros(kernel.shape[1])
            elif cell == "gru" and reset_after:
                b_in, b_rec = bias[0], bias[1]
            else:
                b_in, b_rec = bias, np.zeros_like(bias)
            self.layers.append(
                {
                    "cell": cell,
                    "units": units,
                    "reset_after": reset_after,
                    "kernel": kernel,
                    "b_in": b_in,
                    "b_rec": b_rec,
                    "recurrent": np.asarray(get(name, "recurrent_kernel"), dtype=np.float64),
                    "act": activation(layer.get("activation", "tanh")),
                    "ract": activation(layer.get("recurrent_activation", "sigmoid")),
                }
            )
        head = config.get("head", {})
        self.head_kernel = np.asarray(get("dense", "kernel"), dtype=np.float64)
        self.head_bias = (
            np.asarray(get("dense", "bias"), dtype=np.float64) if head.get("use_bias", True) else np.zeros(self.size)
        )

    def encode(self, indices) -> np.ndarray:
        """(N, input width) network inputs for vocabulary indices."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.input == "embedding":
            return self.embeddings[idx]
        if self.input == "scalar":
            return (idx.astype(np.float64) / self.size)[:, None]
        x = np.zeros((len(idx), self.size))
        x[np.arange(len(idx)), idx] = 1.0
        return x

    def _cell(self, layer, xw, h, c):
        """One step of `layer` for N rows: xw = x @ kernel + input bias (N, gates * units)."""
        u, act, ract = layer["units"], layer["act"], layer["ract"]
        if layer["cell"] == "lstm":
            z = xw + h @ layer["recurrent"]
            c = ract(z[:, u : 2 * u]) * c + ract(z[:, :u]) * act(z[:, 2 * u : 3 * u])
            return ract(z[:, 3 * u :]) * act(c), c
        if layer["cell"] == "gru":
            rk = layer["recurrent"]
            if layer["reset_after"]:
                inner = h @ rk + layer["b_rec"]
                zg = ract(xw[:, :u] + inner[:, :u])
                r = ract(xw[:, u : 2 * u] + inner[:, u : 2 * u])
                hh = act(xw[:, 2 * u :] + r * inner[:, 2 * u :])
            else:
                zg = ract(xw[:, :u] + h @ rk[:, :u])
                r = ract(xw[:, u : 2 * u] + h @ rk[:, u : 2 * u])
                hh = act(xw[:, 2 * u :] + (r * h) @ rk[:, 2 * u :])
            return zg * h + (1.0 - zg) * hh, c
        return act(xw + h @ layer["recurrent"]), c

    def step(self, x, states):
        """One step for N rows: x (N, width), states [(h, c)] per layer, each (N, units). Returns the new
        states and the (N, V) log-probabilities of the next character."""
        new = []
        for layer, (h, c) in zip(self.layers, states):
            h, c = self._cell(layer, x @ layer["kernel"] + layer["b_in"], h, c)
            new.append((h, c))
            x = h
        return new, _log_softmax(x @ self.head_kernel + self.head_bias)

    def zero_step(self) -> np.ndarray:
        """(V, V): the log-probabilities after each single input index from a zero state (the model's
        bigram table, in index space)."""
        zero = [(np.zeros((self.size, l["units"])), np.zeros((self.size, l["units"]))) for l in self.layers]
        return self.step(self.encode(np.arange(self.size)), zero)[1]

    def run(self, indices, approximate: bool = False) -> np.ndarray:
        """The (T, V) log-probabilities after each step over `indices`, from a zero state. With
        `approximate`, the text is cut into a few pieces run side by side, each from a zero state: the
        first characters of each piece lose their context, and the run is several times faster, for
        rankings that need not be exact. The pieces are as many as keep each step's product under
        OpenBLAS's threading threshold (m*n*k < 4 * 65536): threads synchronised for every step of a
        small product cost far more than they save."""
        idx = np.asarray(indices, dtype=np.int64)
        t_len = len(idx)
        widest = max(l["recurrent"].shape[0] * l["recurrent"].shape[1] for l in self.layers)
        streams = max(1, min((4 * 65536 - 1) // widest, t_len)) if approximate and t_len else 1
        length = max(1, -(-t_len // streams))
        streams = -(-t_len // length) if t_len else 1
        padded = np.concatenate([idx, np.zeros(streams * length - t_len, dtype=np.int64)])
        x = self.encode(padded).reshape(streams, length, -1)
        for layer in self.layers:
            xw = x @ layer["kernel"] + layer["b_in"]
            out = np.zeros((streams, length, layer["units"]))
            h = np.zeros((streams, layer["units"]))
            c = np.zeros((streams, layer["units"]))
            for t in range(length):
                h, c = self._cell(layer, xw[:, t], h, c)
                out[:, t] = h
            x = out
        return _log_softmax(x @ self.head_kernel + self.head_bias).reshape(streams * length, -1)[:t_len]

    def last_step(self, windows) -> np.ndarray:
        """(M, V) log-probabilities after the last character of each row of `windows` (M, N), each run
        from a zero state: what a model trained on windows predicts."""
        windows = np.asarray(windows, dtype=np.int64)
        m, n = windows.shape
        x = self.encode(windows.ravel()).reshape(m, n, -1)
        for layer in self.layers:
            xw = x @ layer["kernel"] + layer["b_in"]
            out = np.zeros((m, n, layer["units"]))
            h = np.zeros((m, layer["units"]))
            c = np.zeros((m, layer["units"]))
            for t in range(n):
                h, c = self._cell(layer, xw[:, t], h, c)
                out[:, t] = h
            x = out
        return _log_softmax(x[:, -1] @ self.head_kernel + self.head_bias)
