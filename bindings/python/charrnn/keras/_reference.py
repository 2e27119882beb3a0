"""A plain numpy forward pass over a charrnn configuration and Keras-layout weights.

It is the reference the tests and `compare` use to look inside the network (each recurrent layer's
outputs); it follows the Keras 2/3 equations exactly and computes in float64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["forward", "activation", "encode"]


def activation(name: str):
    if name == "tanh":
        return np.tanh
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name == "linear":
        return lambda x: x
    if name == "sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if name == "hard_sigmoid_keras2":
        return lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)
    if name == "hard_sigmoid_keras3":
        return lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    raise ValueError(f"unknown activation {name!r}")


def encode(config: dict, indices) -> np.ndarray:
    """The network input for a sequence of vocabulary indices: (T, V) one-hot, (T, 1) scalar
    index / vocab_size, or the indices themselves for an embedding."""
    idx = np.asarray(indices, dtype=np.int64)
    v = int(config["vocab_size"])
    kind = config.get("input", "onehot")
    if kind == "onehot":
        x = np.zeros((len(idx), v), dtype=np.float32)
        x[np.arange(len(idx)), idx] = 1.0
        return x
    if kind == "scalar":
        return (idx.astype(np.float32) / np.float32(v)).reshape(-1, 1)
    if kind == "embedding":
        return idx
    raise ValueError(f"unknown input encoding {kind!r}")


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def forward(config: dict, weights, indices, return_hidden: bool = False):
    """Runs the model over `indices` from a zero state.

    `weights` maps (layer, weight) -> array, or is a callable (layer, weight) -> array.
    Returns the (T, V) next-character probabilities, and with return_hidden=True also the list of each
    recurrent layer's (T, units) outputs."""
    get = weights if callable(weights) else (lambda layer, name: weights[(layer, name)])

    def has(layer, name):
        if callable(weights):
            try:
                get(layer, name)
                return True
            except Exception:
                return False
        return (layer, name) in weights

    x = encode(config, indices)
    if config.get("input") == "embedding":
        x = np.asarray(get("embedding", "embeddings"), dtype=np.float64)[x]
    x = np.asarray(x, dtype=np.float64)
    hidden = []
    for i, layer in enumerate(config["layers"]):
        name = f"rnn{i}"
        k = np.asarray(get(name, "kernel"), dtype=np.float64)
        rk = np.asarray(get(name, "recurrent_kernel"), dtype=np.float64)
        use_bias = layer.get("use_bias", True)
        b = np.asarray(get(name, "bias"), dtype=np.float64) if use_bias else None
        u = int(layer["units"])
        act = activation(layer.get("activation", "tanh"))
        ract = activation(layer.get("recurrent_activation", "sigmoid"))
        cell = layer["cell"]
        t_len = x.shape[0]
        out = np.zeros((t_len, u))
        h = np.zeros(u)
        c = np.zeros(u)
        reset_after = layer.get("reset_after", True)
        if cell == "gru" and use_bias and reset_after:
            b_in, b_rec = b[0], b[1]
        elif use_bias:
            b_in, b_rec = b, np.zeros_like(b)
        else:
            b_in = b_rec = np.zeros(k.shape[1])
        xw = x @ k + b_in
        for t in range(t_len):
            if cell == "lstm":
                z = xw[t] + h @ rk
                ig, fg, cg, og = z[:u], z[u : 2 * u], z[2 * u : 3 * u], z[3 * u :]
                c = ract(fg) * c + ract(ig) * act(cg)
                h = ract(og) * act(c)
            elif cell == "gru":
                xz, xr, xh = xw[t][:u], xw[t][u : 2 * u], xw[t][2 * u :]
                if reset_after:
                    inner = h @ rk + b_rec
                    z = ract(xz + inner[:u])
                    r = ract(xr + inner[u : 2 * u])
                    hh = act(xh + r * inner[2 * u :])
                else:
                    z = ract(xz + h @ rk[:, :u])
                    r = ract(xr + h @ rk[:, u : 2 * u])
                    hh = act(xh + (r * h) @ rk[:, 2 * u :])
                h = z * h + (1.0 - z) * hh
            elif cell == "rnn":
                h = act(xw[t] + h @ rk)
            else:
                raise ValueError(f"unknown cell {cell!r}")
            out[t] = h
        hidden.append(out)
        x = out
    head = config.get("head", {})
    logits = x @ np.asarray(get("dense", "kernel"), dtype=np.float64)
    if head.get("use_bias", True):
        logits = logits + np.asarray(get("dense", "bias"), dtype=np.float64)
    probs = _softmax(logits)
    return (probs, hidden) if return_hidden else probs
