"""An independent, deliberately plain numpy implementation of the Keras recurrent layers, written per
gate (Keras 1 style) for the tests — it shares no code with charrnn.keras."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid2(x):  # Keras 1/2, tf.keras
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def hard_sigmoid3(x):  # Keras 3
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


ACT = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "sigmoid": sigmoid,
    "hard_sigmoid2": hard_sigmoid2,
    "hard_sigmoid3": hard_sigmoid3,
}


def lstm(x, W, U, b, act="tanh", ract="sigmoid"):
    """W (in, 4u), U (u, 4u), b (4u), gates i, f, c, o."""
    u = U.shape[0]
    f_act, g = ACT[act], ACT[ract]
    h, c = np.zeros(u), np.zeros(u)
    out = []
    for xt in x:

        def gate(k):
            return xt @ W[:, k * u : (k + 1) * u] + h @ U[:, k * u : (k + 1) * u] + b[k * u : (k + 1) * u]

        i, f, cc, o = g(gate(0)), g(gate(1)), f_act(gate(2)), g(gate(3))
        c = f * c + i * cc
        h = o * f_act(c)
        out.append(h)
    return np.array(out)


def gru(x, W, U, b, reset_after, act="tanh", ract="sigmoid"):
    """W (in, 3u), U (u, 3u), gates z, r, h; b (3u) or (2, 3u) when reset_after."""
    u = U.shape[0]
    f_act, g = ACT[act], ACT[ract]
    h = np.zeros(u)
    bi, br = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))
    out = []
    for xt in x:
        xz = xt @ W[:, :u] + bi[:u]
        xr = xt @ W[:, u : 2 * u] + bi[u : 2 * u]
        xh = xt @ W[:, 2 * u :] + bi[2 * u :]
        z = g(xz + h @ U[:, :u] + br[:u])
        r = g(xr + h @ U[:, u : 2 * u] + br[u : 2 * u])
        if reset_after:
            hh = f_act(xh + r * (h @ U[:, 2 * u :] + br[2 * u :]))
        else:
            hh = f_act(xh + (r * h) @ U[:, 2 * u :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.array(out)


def simple_rnn(x, W, U, b, act="tanh"):
    h = np.zeros(U.shape[0])
    out = []
    for xt in x:
        h = ACT[act](xt @ W + h @ U + b)
        out.append(h)
    return np.array(out)


def dense_softmax(h, K, b):
    z = h @ K + b
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
