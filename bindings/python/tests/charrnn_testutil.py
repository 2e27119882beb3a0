"""Helpers shared by the charrnn Python tests (a uniquely named module, not conftest)."""

import json

import h5py
import numpy as np


def onehot(idx, v):
    x = np.zeros((len(idx), v), dtype=np.float32)
    x[np.arange(len(idx)), idx] = 1.0
    return x


def indices(text, vocab):
    pos = {c: i for i, c in enumerate(vocab)}
    return np.array([pos[c] for c in text], dtype=np.int64)


def small_config(
    vocab_size,
    cell="lstm",
    units=16,
    layers=1,
    input="onehot",
    embedding_dim=0,
    recurrent_activation="sigmoid",
    activation="tanh",
    use_bias=True,
    reset_after=True,
    head_activation="softmax",
):
    return {
        "vocab_size": vocab_size,
        "input": input,
        "embedding_dim": embedding_dim,
        "layers": [
            {
                "cell": cell,
                "units": units,
                "activation": activation,
                "recurrent_activation": recurrent_activation,
                "use_bias": use_bias,
                "reset_after": reset_after,
            }
            for _ in range(layers)
        ],
        "dropout": 0.0,
        "head": {"activation": head_activation, "use_bias": True},
    }


def write_h5(path, keras_version, model_config, layers, backend="tensorflow", weights_at_root=False):
    """layers: [(layer_name, [(weight_name, array), ...])] in model order (weightless layers included)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode()
        f.attrs["backend"] = backend.encode()
        f.attrs["model_config"] = json.dumps(model_config).encode()
        g = f if weights_at_root else f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n, _ in layers]
        g.attrs["keras_version"] = keras_version.encode()
        g.attrs["backend"] = backend.encode()
        for name, ws in layers:
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.array([w.encode() for w, _ in ws], dtype="S")
            for wn, arr in ws:
                lg.create_dataset(wn, data=np.asarray(arr, dtype=np.float32))


def k2_rnn(cls, name, units, batch_input_shape=None, **kw):
    c = {
        "name": name,
        "trainable": True,
        "dtype": "float32",
        "return_sequences": True,
        "return_state": False,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "units": units,
        "activation": "tanh",
        "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {}},
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "implementation": 1,
    }
    if cls != "SimpleRNN":
        c["recurrent_activation"] = "hard_sigmoid"
    if batch_input_shape is not None:
        c["batch_input_shape"] = batch_input_shape
    c.update(kw)
    return {"class_name": cls, "config": c}
