#!/usr/bin/env python3
"""Writes the Keras reader fuzzer's seeds: tiny real model files made with h5py and zipfile (not Keras,
so this takes a second), for each layout the reader knows, and hostile files for each attack it
refuses.

    python make_seeds.py [FOLDER]     (default: Tests/fuzz/build/keras-seeds, not kept in git)

ok-*: Keras 1, 2 and 3 models (.h5 and .keras: LSTM, GRU, SimpleRNN, CuDNN, Embedding, functional,
float16/bfloat16/float64, gzip chunks, an in-file soft link) that must read. hostile-*: external
storage, external links, virtual datasets, soft-link loops, user blocks, deflate and zip bombs, huge
declared shapes; their external references name canary.bin and canary.h5, which the harness creates
beside each input with values no weight may hold.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np

V, U = 4, 2  # vocabulary and units: files of a few kilobytes
RNG = np.random.default_rng(0)


def normal(*shape, dtype="f4"):
    return RNG.normal(size=shape).astype(dtype)


# ------------------------------------------------------------------------------------------------
# configurations


def k2_layer(cls, name, **config):
    return {"class_name": cls, "config": dict({"name": name}, **config)}


def k2_rnn(cls, name, units, **config):
    c = {"units": units, "activation": "tanh", "use_bias": True, "return_sequences": True}
    if cls in ("LSTM", "GRU"):
        c["recurrent_activation"] = "hard_sigmoid"
    return k2_layer(cls, name, **dict(c, **config))


def sequential(*layers):
    return {"class_name": "Sequential", "config": {"name": "s", "layers": list(layers)}}


DENSE = k2_layer("Dense", "dense_1", units=V, activation="softmax")


# ------------------------------------------------------------------------------------------------
# legacy .h5


def write_h5(path, config, layers, version="2.2.4", edit=None, libver="latest"):
    """layers: [(name, [(weight name, array)])]; `edit(f)` may change the file before it is closed."""
    with h5py.File(path, "w", libver=libver) as f:
        f.attrs["keras_version"] = version.encode()
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n, _ in layers]
        for name, weights in layers:
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
            for wn, array in weights:
                lg.create_dataset(wn, data=array)
        if edit is not None:
            edit(f)


def lstm_weights(name, n=4, units=U, inputs=V, bias=None):
    return [
        (f"{name}/kernel:0", normal(inputs, n * units)),
        (f"{name}/recurrent_kernel:0", normal(units, n * units)),
        (f"{name}/bias:0", normal(*(bias or (n * units,)))),
    ]


def dense_weights(name="dense_1", inputs=U):
    return (name, [(f"{name}/kernel:0", normal(inputs, V)), (f"{name}/bias:0", normal(V))])


def k2_lstm(path, edit=None, libver="latest"):
    write_h5(
        path,
        sequential(k2_rnn("LSTM", "lstm_1", U, batch_input_shape=[None, None, V]), DENSE),
        [("lstm_1", lstm_weights("lstm_1")), dense_weights()],
        edit=edit,
        libver=libver,
    )


def legacy_seeds(out: Path):
    k2_lstm(out / "ok-k2-lstm.h5")
    # Keras 1: per-gate W_g, U_g, b_g (i, c, f, o), Dense with output_dim and W, b
    per_gate = [
        (f"lstm_1_{k}_{g}", normal(*shape)) for g in "icfo" for k, shape in (("W", (V, U)), ("U", (U, U)), ("b", (U,)))
    ]
    write_h5(
        out / "ok-k1-lstm-per-gate.h5",
        {
            "class_name": "Sequential",
            "config": [
                k2_layer(
                    "LSTM",
                    "lstm_1",
                    output_dim=U,
                    input_dim=V,
                    inner_activation="hard_sigmoid",
                    activation="tanh",
                    return_sequences=True,
                ),
                k2_layer("TimeDistributedDense", "dense_1", output_dim=V, activation="softmax"),
            ],
        },
        [("lstm_1", per_gate), ("dense_1", [("dense_1_W", normal(U, V)), ("dense_1_b", normal(V))])],
        version="1.2.2",
    )
    write_h5(
        out / "ok-k2-embedding-gru.h5",
        sequential(
            k2_layer("Embedding", "embedding_1", input_dim=V, output_dim=3, batch_input_shape=[None, None]),
            k2_rnn("GRU", "gru_1", U, reset_after=True),
            k2_layer("Dropout", "dropout_1", rate=0.1),
            DENSE,
        ),
        [
            ("embedding_1", [("embedding_1/embeddings:0", normal(V, 3))]),
            ("gru_1", lstm_weights("gru_1", n=3, inputs=3, bias=(2, 3 * U))),
            ("dropout_1", []),
            dense_weights(),
        ],
    )
    write_h5(
        out / "ok-k2-cudnngru-scalar.h5",
        sequential(
            k2_layer("CuDNNGRU", "cu_dnngru_1", units=U, return_sequences=True, batch_input_shape=[None, None, 1]),
            DENSE,
        ),
        [("cu_dnngru_1", lstm_weights("cu_dnngru_1", n=3, inputs=1, bias=(6 * U,))), dense_weights()],
    )

    def gzip_weights(f):  # chunked, gzip + shuffle + fletcher32, float64, as h5py writes them
        g = f["model_weights/lstm_1/lstm_1"]
        kernel = g["kernel:0"][()]
        del g["kernel:0"]
        g.create_dataset(
            "kernel:0", data=kernel.astype("f8"), chunks=(2, 4), compression="gzip", shuffle=True, fletcher32=True
        )

    k2_lstm(out / "ok-k2-lstm-gzip.h5", gzip_weights)

    # libhdf5's other structures, for the byte mutations to reach: the oldest formats (symbol tables,
    # local heaps, version 1 B-trees); dense link and attribute storage (fractal heaps, version 2 B-trees);
    # each chunk index (single chunk, fixed array, extensible array, version 2 B-tree) and compact data
    k2_lstm(out / "ok-k2-lstm-earliest.h5", libver="earliest")

    def dense_storage(f):
        g = f["model_weights/lstm_1"]
        for i in range(12):
            g.attrs[f"note{i}"] = f"attribute {i}"
            g[f"lstm_1/extra{i}"] = np.zeros(1, "f4")

    k2_lstm(out / "ok-k2-lstm-dense-storage.h5", dense_storage)

    def chunk_indexes(f):
        g = f["model_weights/lstm_1/lstm_1"]
        for name, maxshape in (("kernel:0", (V, 4 * U)), ("recurrent_kernel:0", (None, 4 * U)), ("bias:0", (None,))):
            data = g[name][()]
            del g[name]
            g.create_dataset(name, data=data, chunks=True, maxshape=maxshape)
        data = f["model_weights/dense_1/dense_1/kernel:0"][()]
        del f["model_weights/dense_1/dense_1/kernel:0"]
        f["model_weights/dense_1/dense_1"].create_dataset("kernel:0", data=data, chunks=(1, 2), maxshape=(None, None))

    k2_lstm(out / "ok-k2-lstm-chunk-indexes.h5", chunk_indexes)

    def compact(f):
        g = f["model_weights/lstm_1/lstm_1"]
        data = g["bias:0"][()]
        del g["bias:0"]
        plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        plist.set_layout(h5py.h5d.COMPACT)
        ds = h5py.h5d.create(g.id, b"bias:0", h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple(data.shape), dcpl=plist)
        ds.write(h5py.h5s.ALL, h5py.h5s.ALL, data)

    k2_lstm(out / "ok-k2-lstm-compact.h5", compact)

    def soft_link(f):
        f.move("model_weights/lstm_1/lstm_1/bias:0", "elsewhere/bias")
        f["model_weights/lstm_1/lstm_1/bias:0"] = h5py.SoftLink("/elsewhere/bias")

    k2_lstm(out / "ok-k2-lstm-softlink.h5", soft_link)


def replace_kernel(make):
    """An edit that replaces the LSTM kernel of k2_lstm with what `make(f, name)` puts there."""

    def edit(f):
        name = "model_weights/lstm_1/lstm_1/kernel:0"
        del f[name]
        make(f, name)

    return edit


def hostile_legacy_seeds(out: Path):
    shape = (V, 4 * U)
    k2_lstm(
        out / "hostile-external-storage.h5",
        replace_kernel(
            lambda f, n: f.create_dataset(n, shape=shape, dtype="f4", external=[("canary.bin", 0, V * 4 * U * 4)])
        ),
    )
    k2_lstm(
        out / "hostile-external-link.h5",
        replace_kernel(lambda f, n: f.__setitem__(n, h5py.ExternalLink("canary.h5", "/g/kernel"))),
    )

    def escape(f, n):
        f["escape"] = h5py.ExternalLink("canary.h5", "/g")
        f[n] = h5py.SoftLink("/escape/kernel")

    k2_lstm(out / "hostile-soft-link-out.h5", replace_kernel(escape))

    def virtual(f, n):
        layout = h5py.VirtualLayout(shape=shape, dtype="f4")
        layout[:] = h5py.VirtualSource("canary.h5", "g/kernel", shape=shape)
        f.create_virtual_dataset(n, layout)

    k2_lstm(out / "hostile-virtual.h5", replace_kernel(virtual))

    def loop(f, n):
        f["a"], f["b"] = h5py.SoftLink("/b"), h5py.SoftLink("/a")
        f[n] = h5py.SoftLink("/a")

    k2_lstm(out / "hostile-soft-link-loop.h5", replace_kernel(loop))

    def huge(f, n):
        ds = f.create_dataset(n, shape=(1 << 16, 1 << 14), dtype="f4", chunks=(1024, 4096), compression="gzip")
        ds[:1024, :4096] = 1.0

    k2_lstm(out / "hostile-gzip-huge-shape.h5", replace_kernel(huge))

    def chunk_bomb(f, n):  # one 64-byte chunk whose deflate stream inflates to 4 MB
        ds = f.create_dataset(n, shape=shape, dtype="f4", chunks=shape, compression="gzip")
        ds.id.write_direct_chunk((0, 0), zlib.compress(bytes(4 << 20), 9))

    k2_lstm(out / "hostile-deflate-bomb.h5", replace_kernel(chunk_bomb))

    def plugin(f, n):
        ds = f.create_dataset(n, shape=shape, dtype="f4", chunks=shape, compression=32123, allow_unknown_filter=True)
        ds.id.write_direct_chunk((0, 0), normal(*shape).tobytes())

    k2_lstm(out / "hostile-filter-plugin.h5", replace_kernel(plugin))

    plain = io.BytesIO()
    k2_lstm(plain)
    with h5py.File(plain, "r") as src, h5py.File(out / "hostile-user-block.h5", "w", userblock_size=512) as f:
        for key, value in src.attrs.items():
            f.attrs[key] = value
        src.copy(src["model_weights"], f)


# ------------------------------------------------------------------------------------------------
# Keras 3 .keras


def k3_config(*layers, functional=False):
    entries = [
        {
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, None, V], "dtype": "float32", "name": "input_layer"},
        }
    ] + list(layers)
    if not functional:
        return {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": entries}}
    previous = None
    for e in entries:
        e["name"] = e["config"]["name"]
        e["inbound_nodes"] = (
            []
            if previous is None
            else [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": [previous, 0, 0]}}]}]
        )
        previous = e["name"]
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "f",
            "layers": entries,
            "input_layers": [["input_layer", 0, 0]],
            "output_layers": [[previous, 0, 0]],
        },
    }


def k3_weights(layers, dtype="f4", edit=None) -> bytes:
    """layers: [(key, name, sub, [arrays])]: arrays under layers/<key>/<sub>/<i>, name on layers/<key>/vars."""
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="latest") as f:
        for key, name, sub, arrays in layers:
            g = f.create_group(f"layers/{key}")
            g.require_group("vars").attrs["name"] = name
            for i, a in enumerate(arrays):
                if dtype == "bfloat16":  # Keras 3: the high half of float32, as opaque 2-byte values
                    ds = g.create_dataset(f"{sub}/{i}", data=(a.astype("f4").view("u4") >> 16).astype("u2").view("V2"))
                    ds.attrs["dtype"] = "bfloat16"
                else:
                    g.create_dataset(f"{sub}/{i}", data=a.astype(dtype))
        f.create_group("vars")
        if edit is not None:
            edit(f)
    return buf.getvalue()


def write_keras(path, config, weights: bytes, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights)


def k3_rnn(cls, name, **config):
    return {
        "module": "keras.layers",
        "class_name": cls,
        "config": dict(
            {"name": name, "units": U, "activation": "tanh", "use_bias": True, "return_sequences": True}, **config
        ),
    }


K3_DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"name": "dense", "units": V, "activation": "softmax", "use_bias": True},
}
K3_LSTM = [
    ("lstm", "lstm", "cell/vars", [normal(V, 4 * U), normal(U, 4 * U), normal(4 * U)]),
    ("dense", "dense", "vars", [normal(U, V), normal(V)]),
]


def keras_seeds(out: Path):
    lstm = k3_rnn("LSTM", "lstm", recurrent_activation="sigmoid")
    write_keras(out / "ok-k3-lstm.keras", k3_config(lstm, K3_DENSE), k3_weights(K3_LSTM))
    write_keras(
        out / "ok-k3-lstm-deflated-bfloat16.keras",
        k3_config(lstm, K3_DENSE),
        k3_weights(K3_LSTM, dtype="bfloat16"),
        compression=zipfile.ZIP_DEFLATED,
    )
    gru = k3_rnn("GRU", "gru", recurrent_activation="sigmoid", reset_after=True)
    write_keras(
        out / "ok-k3-functional-gru-f16.keras",
        k3_config(gru, dict(K3_DENSE), functional=True),
        k3_weights(
            [
                ("gru", "gru", "cell/vars", [normal(V, 3 * U), normal(U, 3 * U), normal(2, 3 * U)]),
                ("dense", "dense", "vars", [normal(U, V), normal(V)]),
            ],
            dtype="f2",
        ),
    )
    rnn = k3_rnn("SimpleRNN", "simple_rnn", activation="relu")
    write_keras(
        out / "ok-k3-simplernn.keras",
        k3_config(rnn, K3_DENSE),
        k3_weights(
            [
                ("simple_rnn", "simple_rnn", "cell/vars", [normal(V, U), normal(U, U), normal(U)]),
                ("dense", "dense", "vars", [normal(U, V), normal(V)]),
            ]
        ),
    )

    def external(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.ExternalLink("canary.h5", "/g/kernel")

    write_keras(out / "hostile-k3-external-link.keras", k3_config(lstm, K3_DENSE), k3_weights(K3_LSTM, edit=external))
    huge = k3_config(k3_rnn("LSTM", "lstm", units=10**9), K3_DENSE)
    write_keras(out / "hostile-k3-huge-units.keras", huge, k3_weights(K3_LSTM))
    zip_bomb(out / "hostile-k3-zip-bomb.keras", k3_config(lstm, K3_DENSE))


def zip_bomb(path, config):
    """A weights member declaring 8 MiB (the model needs a few KB) in 8 KB of deflate stream, written by
    hand: zipfile would compress the 8 MiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    members = [
        ("config.json", 0, json.dumps(config).encode(), None),
        ("model.weights.h5", 8, block * 8 + c.flush(zlib.Z_FINISH), (0, 8 << 20)),
    ]
    out, directory = bytearray(), bytearray()
    for name, method, data, declared in members:
        crc, size = declared or (zlib.crc32(data), len(data))
        fields = (method, 0, 0, crc, len(data), size, len(name))
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, *fields, 0, 0, 0, 0, 0, len(out))
        directory += name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, *fields, 0) + name.encode() + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(out), 0)
    path.write_bytes(bytes(out + directory + end))


def main(argv):
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "build" / "keras-seeds"
    out.mkdir(parents=True, exist_ok=True)
    legacy_seeds(out)
    hostile_legacy_seeds(out)
    keras_seeds(out)
    files = sorted(out.iterdir())
    print(f"{len(files)} seeds in {out}, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main(sys.argv)
