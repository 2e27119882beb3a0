"""Keras 3 models trained in the test run, saved as .keras and as legacy .h5 (model.save("x.h5")), read
by charrnn.keras and checked against keras predict to 1e-5 over >= 100 characters:

* reader + numpy reference forward == keras predict (no libcharrnn computation involved);
* charrnn.keras.load(...).probabilities(text) == keras predict (the library's forward);
* charrnn.keras.compare(...) reports every layer and the output within 1e-5.
"""

import zlib

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import charrnn  # noqa: E402
import charrnn.keras as ck  # noqa: E402
from charrnn_testutil import indices, onehot  # noqa: E402

TOL = 1e-5
L = keras.layers


def _input(kind, v, window=None):
    if kind == "embedding":
        return keras.Input((window,), dtype="int32")
    return keras.Input((window, 1 if kind == "scalar" else v))


# name -> (builder(v), input kind, window)
def _cases():
    return {
        "lstm2_onehot_sigmoid": (
            lambda v: [
                L.LSTM(24, return_sequences=True),
                L.LSTM(16, return_sequences=True),
                L.Dense(v, activation="softmax"),
            ],
            "onehot",
            None,
        ),
        "gru_reset_after_onehot": (
            lambda v: [L.GRU(20, return_sequences=True, reset_after=True), L.Dense(v, activation="softmax")],
            "onehot",
            None,
        ),
        "gru_reset_before_hard_sigmoid": (
            lambda v: [
                L.GRU(20, return_sequences=True, reset_after=False, recurrent_activation="hard_sigmoid"),
                L.Dense(v, activation="softmax"),
            ],
            "onehot",
            None,
        ),
        "simplernn_relu_embedding": (
            lambda v: [
                L.Embedding(v, 8),
                L.SimpleRNN(16, activation="relu", return_sequences=True),
                L.Dense(v, activation="softmax"),
            ],
            "embedding",
            None,
        ),
        "lstm_hard_sigmoid_scalar_window": (
            lambda v: [L.LSTM(24, recurrent_activation="hard_sigmoid"), L.Dense(v, activation="softmax")],
            "scalar",
            20,
        ),
        "lstm_embedding_dropout_activation": (
            lambda v: [
                L.Embedding(v, 10),
                L.LSTM(16, return_sequences=True),
                L.Dropout(0.2),
                L.Dense(v),
                L.Activation("softmax"),
            ],
            "embedding",
            None,
        ),
        "lstm_nobias_timedistributed": (
            lambda v: [
                L.LSTM(16, return_sequences=True, use_bias=False),
                L.TimeDistributed(L.Dense(v, activation="softmax")),
            ],
            "onehot",
            None,
        ),
        "gru_nobias_linear_head": (
            lambda v: [L.GRU(16, return_sequences=True, use_bias=False, reset_after=True), L.Dense(v)],
            "onehot",
            None,
        ),
        "rnn_lstm_gru_stack_gaussian_noise": (
            lambda v: [
                L.SimpleRNN(16, return_sequences=True),
                L.GaussianNoise(0.1),
                L.LSTM(16, return_sequences=True, recurrent_activation="hard_sigmoid"),
                L.GRU(16, return_sequences=True),
                L.Dense(v, activation="softmax"),
            ],
            "onehot",
            None,
        ),
    }


CASES = _cases()
FUNCTIONAL = {"lstm_nobias_timedistributed", "gru_nobias_linear_head"}


def _data(kind, idx, v, window):
    seq = 40
    if window:
        xs = np.stack([idx[i : i + window] for i in range(0, 16 * 3, 3)])
        ys = np.array([idx[i + window] for i in range(0, 16 * 3, 3)])
    else:
        xs = np.stack([idx[i : i + seq] for i in range(0, 16 * seq, seq)])
        ys = np.stack([idx[i + 1 : i + seq + 1] for i in range(0, 16 * seq, seq)])
    if kind == "onehot":
        x = np.eye(v, dtype=np.float32)[xs]
    elif kind == "scalar":
        x = (xs.astype(np.float32) / np.float32(v))[..., None]
    else:
        x = xs.astype(np.int32)
    return x, ys


def _encode(kind, idx, v):
    if kind == "onehot":
        return onehot(idx, v)[None]
    if kind == "scalar":
        return (idx.astype(np.float32) / np.float32(v)).reshape(1, -1, 1)
    return idx.astype(np.int32)[None]


@pytest.fixture(scope="session")
def trained(workdir, corpus_text, vocab):
    """Trains every case for a couple of steps and saves it in both formats."""
    v = len(vocab)
    idx = indices(corpus_text, vocab)
    out = {}
    keras.utils.set_random_seed(1)
    for name, (build, kind, window) in CASES.items():
        layers = build(v)
        inp = _input(kind, v, window)
        if name in FUNCTIONAL:
            h = inp
            for layer in layers:
                h = layer(h)
            model = keras.Model(inp, h)
        else:
            model = keras.Sequential([inp] + layers)
        linear = name == "gru_nobias_linear_head"
        model.compile(
            optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=linear)
        )
        x, y = _data(kind, idx, v, window)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        paths = {}
        for ext in ("keras", "h5"):
            p = workdir / f"{name}.{ext}"
            model.save(str(p))
            paths[ext] = p
        out[name] = (model, kind, window, linear, paths)
    return out


def _keras_probs(model, kind, window, linear, text, vocab):
    """keras predict on the whole text (through a return_sequences clone for window models)."""
    idx = indices(text, vocab)
    if window:
        clone = keras.Sequential(
            [
                _input(kind, len(vocab), None),
                L.LSTM(
                    model.layers[0].units,
                    return_sequences=True,
                    recurrent_activation=model.layers[0].recurrent_activation,
                ),
                L.Dense(len(vocab), activation="softmax"),
            ]
        )
        for a, b in zip(model.layers, clone.layers):
            b.set_weights(a.get_weights())
        model = clone
    y = np.asarray(model.predict(_encode(kind, idx, len(vocab)), verbose=0))[0].astype(np.float64)
    if linear:
        y = np.exp(y - y.max(-1, keepdims=True))
        y /= y.sum(-1, keepdims=True)
    return y


PARAMS = [(n, f) for n in CASES for f in ("keras", "h5")]


@pytest.mark.parametrize("name,fmt", PARAMS)
def test_reader_reference_matches_keras(trained, name, fmt, sample_text, vocab):
    model, kind, window, linear, paths = trained[name]
    km = ck.read(paths[fmt])
    assert km.encoding == kind
    assert km.window == bool(window)
    assert km.keras_version.startswith("3")
    expected = _keras_probs(model, kind, window, linear, sample_text, vocab)
    got = ck.forward(km.config, km.weights, indices(sample_text, vocab))
    assert len(sample_text) >= 100
    assert np.abs(got - expected).max() <= TOL


@pytest.mark.parametrize("name,fmt", PARAMS)
def test_charrnn_probabilities_match_keras(trained, name, fmt, sample_text, vocab):
    model, kind, window, linear, paths = trained[name]
    m = ck.load(paths[fmt], vocab=vocab, window=0)  # the whole text from one state, as the clone runs it
    try:
        expected = _keras_probs(model, kind, window, linear, sample_text, vocab)
        got = m.probabilities(sample_text)
        assert got.dtype == np.float32 and got.shape == (len(sample_text), len(vocab))
        diff = float(np.abs(got.astype(np.float64) - expected).max())
        print(f"{name}.{fmt}: max |charrnn - keras| = {diff:.2e}")
        assert diff <= TOL
    finally:
        m.close()


@pytest.mark.parametrize("name", list(CASES))
def test_compare_reports_every_layer(trained, name, sample_text, vocab):
    model, kind, window, linear, paths = trained[name]
    r = ck.compare(paths["keras"], sample_text, vocab=vocab)
    n_rnn = len(r["config"]["layers"])
    assert set(r["layers"]) == {f"rnn{i}" for i in range(n_rnn)}
    print(f"{name}: {r['layers']} output {r['output']:.2e}")
    assert r["max"] <= TOL, r
    assert r["chars"] == len(sample_text)


def test_compare_cli(trained, workdir, sample_text, vocab, corpus_file):
    import subprocess
    import sys

    model, kind, window, linear, paths = trained["lstm_hard_sigmoid_scalar_window"]
    text_file = workdir / "sample.txt"
    text_file.write_text(sample_text, encoding="utf-8")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "compare",
            str(paths["h5"]),
            str(text_file),
            "--vocab-from",
            str(corpus_file),
            "--tolerance",
            "1e-5",
            "--no-check",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout
    out = workdir / "imported.safetensors"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "import",
            str(paths["keras"]),
            "--no-check",
            "--window",
            "0",
            "--vocab-from",
            str(corpus_file),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    m = charrnn.Model.load(out)
    expected = _keras_probs(model, kind, window, linear, sample_text, vocab)
    assert np.abs(m.probabilities(sample_text) - expected).max() <= TOL


def test_compare_cli_fails_above_tolerance(trained, workdir, sample_text, vocab):
    import subprocess
    import sys

    paths = trained["gru_reset_after_onehot"][4]
    text_file = workdir / "sample2.txt"
    text_file.write_text(sample_text, encoding="utf-8")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "compare",
            str(paths["keras"]),
            str(text_file),
            "--vocab",
            vocab,
            "--tolerance",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # a zero tolerance only passes when both agree bit for bit; either way the exit code says so
    assert r.returncode in (0, 1)
    assert ("FAIL" in r.stdout) == (r.returncode == 1)


@pytest.mark.parametrize(
    "name",
    [
        "lstm2_onehot_sigmoid",
        "gru_reset_before_hard_sigmoid",
        "simplernn_relu_embedding",
        "lstm_hard_sigmoid_scalar_window",
        "gru_nobias_linear_head",
    ],
)
def test_export_roundtrip_through_keras(trained, name, workdir, sample_text, vocab):
    """charrnn.keras.save writes a .keras file that Keras loads and that agrees with charrnn."""
    paths = trained[name][4]
    m = ck.load(paths["h5"], vocab=vocab, window=0)
    out = workdir / f"export_{name}.keras"
    ck.save(m, out)
    k = keras.saving.load_model(str(out), compile=False)
    kind = m.config["input"]
    y = np.asarray(k.predict(_encode(kind, indices(sample_text, vocab), len(vocab)), verbose=0))[0]
    assert np.abs(y - m.probabilities(sample_text)).max() <= TOL
    # and charrnn reads its own export back identically
    again = ck.load(out, vocab=vocab)
    assert np.abs(again.probabilities(sample_text) - m.probabilities(sample_text)).max() <= TOL


def test_export_keras2_hard_sigmoid(workdir, sample_text, vocab):
    """A hard_sigmoid_keras2 model exports as Keras 3 hard_sigmoid with scaled gates."""
    cfg = {
        "vocab_size": len(vocab),
        "input": "onehot",
        "embedding_dim": 0,
        "layers": [
            {
                "cell": "lstm",
                "units": 16,
                "activation": "tanh",
                "recurrent_activation": "hard_sigmoid_keras2",
                "use_bias": True,
                "reset_after": True,
            },
            {
                "cell": "gru",
                "units": 12,
                "activation": "tanh",
                "recurrent_activation": "hard_sigmoid_keras2",
                "use_bias": True,
                "reset_after": False,
            },
        ],
        "dropout": 0.0,
        "head": {"activation": "softmax", "use_bias": True},
    }
    m = charrnn.Model.create(cfg, vocab, seed=3)
    rng = np.random.default_rng(0)
    for name, shape in m.tensors().items():
        layer, _, w = name.partition(".")
        m.set_weights(layer, w, rng.normal(0, 0.6, shape).astype(np.float32))
    out = workdir / "k2.keras"
    ck.save(m, out)
    k = keras.saving.load_model(str(out), compile=False)
    y = np.asarray(k.predict(_encode("onehot", indices(sample_text, vocab), len(vocab)), verbose=0))[0]
    assert np.abs(y - m.probabilities(sample_text)).max() <= TOL


@pytest.mark.parametrize("name", list(CASES))
def test_charrnn_matches_keras_with_large_random_weights(trained, name, workdir, sample_text, vocab):
    """The same architectures with large random weights (peaked distributions, saturated and clipped
    gates), through both file formats."""
    model, kind, window, linear, paths = trained[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    clone = keras.models.clone_model(model)
    # moderate recurrent weights (contractive dynamics: float32 rounding must not be amplified
    # chaotically, or no two float32 implementations agree), a large output kernel (peaked outputs)
    ws = [rng.normal(0.0, 0.35, w.shape).astype(np.float32) for w in model.get_weights()]
    ws[-2] = rng.normal(0.0, 2.0, ws[-2].shape).astype(np.float32)  # the Dense kernel
    clone.set_weights(ws)
    expected = _keras_probs(clone, kind, window, linear, sample_text, vocab)
    assert expected.max() > 0.2  # far from uniform (1/vocab_size ~ 0.02)
    for ext in ("keras", "h5"):
        p = workdir / f"{name}_random.{ext}"
        clone.save(str(p))
        m = ck.load(p, vocab=vocab, window=0)
        diff = float(np.abs(m.probabilities(sample_text).astype(np.float64) - expected).max())
        m.close()
        print(f"{name}_random.{ext}: max |charrnn - keras| = {diff:.2e}")
        assert diff <= TOL


def test_bfloat16_keras3_weights(workdir, sample_text, vocab):
    """Keras 3 stores bfloat16 variables as opaque 2-byte values with attribute dtype="bfloat16"; they
    were a numpy ValueError. (Keras 3.15 on JAX saves only the first of them, so the file is made from a
    float32 one.) They widen to float32 exactly."""
    import io
    import zipfile

    import h5py

    v = len(vocab)
    model = keras.Sequential(
        [keras.Input((None, v)), L.LSTM(8, return_sequences=True), L.Dense(v, activation="softmax")]
    )
    src, p = workdir / "f32.keras", workdir / "bf16.keras"
    model.save(str(src))
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(files["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        datasets = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in datasets:
            high = (f[name][()].view(np.uint32) >> 16).astype(np.uint16)  # bfloat16 by truncation
            del f[name]
            f.create_dataset(name, data=high.view("V2")).attrs["dtype"] = "bfloat16"
    files["model.weights.h5"] = buf.getvalue()
    with zipfile.ZipFile(p, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    km = ck.read(p)
    truncated = [(np.asarray(w).view(np.uint32) & 0xFFFF0000).view(np.float32) for w in model.get_weights()]
    got = [
        km.weights[k]
        for k in (
            ("rnn0", "kernel"),
            ("rnn0", "recurrent_kernel"),
            ("rnn0", "bias"),
            ("dense", "kernel"),
            ("dense", "bias"),
        )
    ]
    for a, b in zip(got, truncated):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    m = ck.load(p, vocab=vocab)
    assert m.probabilities(sample_text).shape == (len(sample_text), v)
    m.close()
