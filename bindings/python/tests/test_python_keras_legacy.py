"""Keras 1 and Keras 2 (standalone and tf.keras) .h5 files and CuDNN layouts, written with h5py from known
weights exactly as those versions laid them out, checked against the independent numpy forward of
numpy_rnn.py — through the reader alone and through charrnn's own forward (Model.probabilities)."""

import numpy as np

import charrnn.keras as ck
import numpy_rnn as nr
from charrnn_testutil import indices, k2_rnn, onehot, write_h5

TOL = 1e-5


def rnd(rng, *shape, scale=0.5):
    return rng.normal(0.0, scale, shape).astype(np.float32)


def check(path, vocab, text, expected, **load_kwargs):
    km = ck.read(path, encoding=load_kwargs.get("encoding"))
    ref = ck.forward(km.config, km.weights, indices(text, vocab))
    d_ref = float(np.abs(ref - expected).max())
    m = ck.load(path, vocab=vocab, **load_kwargs)
    try:
        got = m.probabilities(text).astype(np.float64)
    finally:
        m.close()
    d_lib = float(np.abs(got - expected).max())
    print(f"{path.name}: reader {d_ref:.2e}, charrnn {d_lib:.2e}")
    assert len(text) >= 100
    assert d_ref <= TOL
    assert d_lib <= TOL
    return km


# --------------------------------------------------------------------------------------------------
# Keras 1.x


def k1_lstm_config(name, units, v, inner="hard_sigmoid", return_sequences=True, first=True, consume_less="cpu"):
    c = {
        "name": name,
        "trainable": True,
        "output_dim": units,
        "init": "glorot_uniform",
        "inner_init": "orthogonal",
        "forget_bias_init": "one",
        "activation": "tanh",
        "inner_activation": inner,
        "W_regularizer": None,
        "U_regularizer": None,
        "b_regularizer": None,
        "dropout_W": 0.0,
        "dropout_U": 0.0,
        "return_sequences": return_sequences,
        "go_backwards": False,
        "stateful": False,
        "unroll": False,
        "consume_less": consume_less,
        "input_length": None,
    }
    if first:
        c.update({"input_dim": v, "batch_input_shape": [None, None, v], "input_dtype": "float32"})
    return c


def test_keras1_lstm_12_arrays_gru_9_arrays(tmp_path, vocab, sample_text):
    """Keras 1.2: LSTM stored as W_i,U_i,b_i, W_c,U_c,b_c, W_f,U_f,b_f, W_o,U_o,b_o; GRU as z, r, h;
    TimeDistributed(Dense) + Activation(softmax); hard_sigmoid = 0.2x + 0.5."""
    rng = np.random.default_rng(1)
    v, u1, u2 = len(vocab), 16, 12
    g = {k: (rnd(rng, v, u1), rnd(rng, u1, u1), rnd(rng, u1, scale=0.2)) for k in "icfo"}
    gz = {k: (rnd(rng, u1, u2), rnd(rng, u2, u2), rnd(rng, u2, scale=0.2)) for k in "zrh"}
    dk, db = rnd(rng, u2, v), rnd(rng, v, scale=0.2)
    config = {
        "class_name": "Sequential",
        "config": [
            {"class_name": "LSTM", "config": k1_lstm_config("lstm_1", u1, v)},
            {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "p": 0.2}},
            {
                "class_name": "GRU",
                "config": dict(k1_lstm_config("gru_1", u2, v, first=False), inner_activation="sigmoid"),
            },
            {
                "class_name": "TimeDistributed",
                "config": {
                    "name": "timedistributed_1",
                    "trainable": True,
                    "layer": {
                        "class_name": "Dense",
                        "config": {
                            "name": "dense_1",
                            "output_dim": v,
                            "activation": "linear",
                            "bias": True,
                            "init": "glorot_uniform",
                            "input_dim": None,
                        },
                    },
                },
            },
            {
                "class_name": "Activation",
                "config": {"name": "activation_1", "trainable": True, "activation": "softmax"},
            },
        ],
    }
    lstm_ws = []
    for gate in "icfo":
        for j, part in enumerate("WUb"):
            lstm_ws.append((f"lstm_1_{part}_{gate}", g[gate][j]))
    gru_ws = []
    for gate in "zrh":
        for j, part in enumerate("WUb"):
            gru_ws.append((f"gru_1_{part}_{gate}", gz[gate][j]))
    path = tmp_path / "keras1.h5"
    write_h5(
        path,
        "1.2.2",
        config,
        [
            ("lstm_1", lstm_ws),
            ("dropout_1", []),
            ("gru_1", gru_ws),
            ("timedistributed_1", [("dense_1_W", dk), ("dense_1_b", db)]),
            ("activation_1", []),
        ],
        backend="theano",
    )
    x = onehot(indices(sample_text, vocab), v)
    W = np.concatenate([g[k][0] for k in "ifco"], axis=1)
    U = np.concatenate([g[k][1] for k in "ifco"], axis=1)
    b = np.concatenate([g[k][2] for k in "ifco"])
    h1 = nr.lstm(x, W, U, b, ract="hard_sigmoid2")
    Wg = np.concatenate([gz[k][0] for k in "zrh"], axis=1)
    Ug = np.concatenate([gz[k][1] for k in "zrh"], axis=1)
    bg = np.concatenate([gz[k][2] for k in "zrh"])
    h2 = nr.gru(h1, Wg, Ug, bg, reset_after=False, ract="sigmoid")
    km = check(path, vocab, sample_text, nr.dense_softmax(h2, dk, db))
    assert km.config["layers"][0]["recurrent_activation"] == "hard_sigmoid_keras2"
    assert km.config["layers"][1]["reset_after"] is False


def test_keras1_consume_less_gpu_embedding_simplernn(tmp_path, vocab, sample_text):
    """Keras 1 with concatenated (consume_less='gpu') LSTM weights, an Embedding and a SimpleRNN."""
    rng = np.random.default_rng(2)
    v, e, u = len(vocab), 8, 16
    emb = rnd(rng, v, e)
    rW, rU, rb = rnd(rng, e, u), rnd(rng, u, u), rnd(rng, u, scale=0.1)
    W, U, b = rnd(rng, u, 4 * u), rnd(rng, u, 4 * u), rnd(rng, 4 * u, scale=0.2)
    dk, db = rnd(rng, u, v), rnd(rng, v)
    config = {
        "class_name": "Sequential",
        "config": [
            {
                "class_name": "Embedding",
                "config": {
                    "name": "embedding_1",
                    "input_dim": v,
                    "output_dim": e,
                    "mask_zero": False,
                    "dropout": 0.1,
                    "input_length": None,
                    "batch_input_shape": [None, None],
                    "input_dtype": "int32",
                },
            },
            {
                "class_name": "SimpleRNN",
                "config": {
                    "name": "simplernn_1",
                    "output_dim": u,
                    "activation": "tanh",
                    "return_sequences": True,
                    "go_backwards": False,
                    "stateful": False,
                },
            },
            {
                "class_name": "LSTM",
                "config": k1_lstm_config("lstm_1", u, v, first=False, consume_less="gpu", inner="sigmoid"),
            },
            {
                "class_name": "Dense",
                "config": {"name": "dense_1", "output_dim": v, "activation": "softmax", "bias": True},
            },
        ],
    }
    path = tmp_path / "keras1_gpu.h5"
    write_h5(
        path,
        "1.1.0",
        config,
        [
            ("embedding_1", [("embedding_1_W", emb)]),
            ("simplernn_1", [("simplernn_1_W", rW), ("simplernn_1_U", rU), ("simplernn_1_b", rb)]),
            ("lstm_1", [("lstm_1_W", W), ("lstm_1_U", U), ("lstm_1_b", b)]),
            ("dense_1", [("dense_1_W", dk), ("dense_1_b", db)]),
        ],
    )
    idx = indices(sample_text, vocab)
    h1 = nr.simple_rnn(emb[idx].astype(np.float64), rW, rU, rb)
    h2 = nr.lstm(h1, W, U, b, ract="sigmoid")
    km = check(path, vocab, sample_text, nr.dense_softmax(h2, dk, db))
    assert km.encoding == "embedding"


# --------------------------------------------------------------------------------------------------
# Keras 2 (standalone) and tf.keras


def test_keras2_window_lstm_text_generation_example(tmp_path, vocab, sample_text):
    """Keras 2.1 (the lstm_text_generation example): Sequential config as a list, fixed window
    batch_input_shape, return_sequences=False, hard_sigmoid = 0.2x + 0.5, weight names 'lstm_1/kernel:0'."""
    rng = np.random.default_rng(3)
    v, u = len(vocab), 24
    W, U, b = rnd(rng, v, 4 * u), rnd(rng, u, 4 * u), rnd(rng, 4 * u, scale=0.3)
    dk, db = rnd(rng, u, v), rnd(rng, v)
    config = {
        "class_name": "Sequential",
        "config": [
            k2_rnn("LSTM", "lstm_1", u, batch_input_shape=[None, 40, v], return_sequences=False),
            {
                "class_name": "Dense",
                "config": {"name": "dense_1", "trainable": True, "units": v, "activation": "softmax", "use_bias": True},
            },
        ],
    }
    path = tmp_path / "keras2_window.h5"
    write_h5(
        path,
        "2.1.6",
        config,
        [
            ("lstm_1", [("lstm_1/kernel:0", W), ("lstm_1/recurrent_kernel:0", U), ("lstm_1/bias:0", b)]),
            ("dense_1", [("dense_1/kernel:0", dk), ("dense_1/bias:0", db)]),
        ],
    )
    x = onehot(indices(sample_text, vocab), v)
    # window=0: compared over the whole text from one state (imported, the model would generate from the
    # last 40 characters, as the example's loop did: test_python_keras_files.py checks that)
    km = check(path, vocab, sample_text, nr.dense_softmax(nr.lstm(x, W, U, b, ract="hard_sigmoid2"), dk, db), window=0)
    assert km.window and km.timesteps == 40


def test_keras2_gru_defaults_and_scalar_input(tmp_path, vocab, sample_text):
    """Keras 2.2.4 (config dict with 'layers'): GRU without a reset_after key (Keras 2 default False),
    scalar input x = index / vocab_size (last dimension 1)."""
    rng = np.random.default_rng(4)
    v, u = len(vocab), 20
    W, U, b = rnd(rng, 1, 3 * u, scale=2.0), rnd(rng, u, 3 * u), rnd(rng, 3 * u, scale=0.3)
    dk, db = rnd(rng, u, v), rnd(rng, v)
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                k2_rnn("GRU", "gru_1", u, batch_input_shape=[None, None, 1], recurrent_activation="sigmoid"),
                {
                    "class_name": "Dense",
                    "config": {"name": "dense_1", "units": v, "activation": "softmax", "use_bias": True},
                },
            ],
        },
    }
    path = tmp_path / "keras2_gru_scalar.h5"
    write_h5(
        path,
        "2.2.4",
        config,
        [
            ("gru_1", [("gru_1/kernel:0", W), ("gru_1/recurrent_kernel:0", U), ("gru_1/bias:0", b)]),
            ("dense_1", [("dense_1/kernel:0", dk), ("dense_1/bias:0", db)]),
        ],
    )
    x = (indices(sample_text, vocab).astype(np.float32) / np.float32(v)).reshape(-1, 1)
    km = check(path, vocab, sample_text, nr.dense_softmax(nr.gru(x, W, U, b, reset_after=False), dk, db))
    assert km.encoding == "scalar"
    assert km.config["layers"][0]["reset_after"] is False


def test_tf_keras_functional_gru_reset_after(tmp_path, vocab, sample_text):
    """tf.keras 2.x functional model: InputLayer, GRU(reset_after=True) with bias (2, 3u), names like
    'gru/gru_cell/kernel:0', inbound_nodes in the Keras 2 nested-list form."""
    rng = np.random.default_rng(5)
    v, u = len(vocab), 16
    W, U, b = rnd(rng, v, 3 * u), rnd(rng, u, 3 * u), rnd(rng, 2, 3 * u, scale=0.3)
    dk, db = rnd(rng, u, v), rnd(rng, v)
    gru = k2_rnn("GRU", "gru", u, recurrent_activation="sigmoid", reset_after=True, time_major=False)
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "input_1",
                    "inbound_nodes": [],
                    "config": {
                        "batch_input_shape": [None, None, v],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_1",
                    },
                },
                dict(gru, name="gru", inbound_nodes=[[["input_1", 0, 0, {}]]]),
                {
                    "class_name": "Dense",
                    "name": "dense",
                    "inbound_nodes": [[["gru", 0, 0, {}]]],
                    "config": {"name": "dense", "units": v, "activation": "softmax", "use_bias": True},
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
    }
    path = tmp_path / "tf_keras.h5"
    write_h5(
        path,
        "2.9.0",
        config,
        [
            ("input_1", []),
            ("gru", [("gru/gru_cell/kernel:0", W), ("gru/gru_cell/recurrent_kernel:0", U), ("gru/gru_cell/bias:0", b)]),
            ("dense", [("dense/kernel:0", dk), ("dense/bias:0", db)]),
        ],
    )
    x = onehot(indices(sample_text, vocab), v)
    check(path, vocab, sample_text, nr.dense_softmax(nr.gru(x, W, U, b, reset_after=True), dk, db))


# --------------------------------------------------------------------------------------------------
# CuDNN layers (Keras 2 / tf.keras 1.x)


def to_cudnn_input(kernel, n_gates):
    """Keras 2's _convert_rnn_weights(from_cudnn=False) for input kernels."""
    return np.hstack([k.T.reshape(k.shape, order="C") for k in np.hsplit(kernel, n_gates)])


def to_cudnn_recurrent(kernel, n_gates):
    return np.hstack([k.T for k in np.hsplit(kernel, n_gates)])


def test_cudnn_transform_is_invertible():
    rng = np.random.default_rng(0)
    k = rnd(rng, 7, 12)
    back = np.hstack([c.T.reshape(c.shape, order="F") for c in np.hsplit(to_cudnn_input(k, 4), 4)])
    np.testing.assert_array_equal(back, k)


def test_cudnn_lstm_and_gru(tmp_path, vocab, sample_text):
    """CuDNNLSTM (bias 8u = input + recurrent biases, summed) feeding CuDNNGRU (bias 6u, a reset_after GRU
    with sigmoid), weights in the CuDNN layouts Keras 2 stored."""
    rng = np.random.default_rng(6)
    v, u1, u2 = len(vocab), 16, 12
    W1, U1 = rnd(rng, v, 4 * u1), rnd(rng, u1, 4 * u1)
    bi1, br1 = rnd(rng, 4 * u1, scale=0.2), rnd(rng, 4 * u1, scale=0.2)
    W2, U2 = rnd(rng, u1, 3 * u2), rnd(rng, u2, 3 * u2)
    bi2, br2 = rnd(rng, 3 * u2, scale=0.2), rnd(rng, 3 * u2, scale=0.2)
    dk, db = rnd(rng, u2, v), rnd(rng, v)

    def cudnn(cls, name, units, **kw):
        c = {
            "name": name,
            "trainable": True,
            "units": units,
            "return_sequences": True,
            "return_state": False,
            "go_backwards": False,
            "stateful": False,
        }
        c.update(kw)
        return {"class_name": cls, "config": c}

    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                cudnn("CuDNNLSTM", "cu_dnnlstm_1", u1, batch_input_shape=[None, None, v]),
                cudnn("CuDNNGRU", "cu_dnngru_1", u2),
                {
                    "class_name": "Dense",
                    "config": {"name": "dense_1", "units": v, "activation": "softmax", "use_bias": True},
                },
            ],
        },
    }
    path = tmp_path / "cudnn.h5"
    write_h5(
        path,
        "2.2.4",
        config,
        [
            (
                "cu_dnnlstm_1",
                [
                    ("cu_dnnlstm_1/kernel:0", to_cudnn_input(W1, 4)),
                    ("cu_dnnlstm_1/recurrent_kernel:0", to_cudnn_recurrent(U1, 4)),
                    ("cu_dnnlstm_1/bias:0", np.concatenate([bi1, br1])),
                ],
            ),
            (
                "cu_dnngru_1",
                [
                    ("cu_dnngru_1/kernel:0", to_cudnn_input(W2, 3)),
                    ("cu_dnngru_1/recurrent_kernel:0", to_cudnn_recurrent(U2, 3)),
                    ("cu_dnngru_1/bias:0", np.concatenate([bi2, br2])),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", dk), ("dense_1/bias:0", db)]),
        ],
    )
    x = onehot(indices(sample_text, vocab), v)
    h1 = nr.lstm(x, W1, U1, bi1 + br1, ract="sigmoid")
    h2 = nr.gru(h1, W2, U2, np.stack([bi2, br2]), reset_after=True, ract="sigmoid")
    km = check(path, vocab, sample_text, nr.dense_softmax(h2, dk, db))
    assert km.config["layers"][1] == {
        "cell": "gru",
        "units": u2,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "reset_after": True,
    }


def test_vocab_from_corpus_and_lowercase(tmp_path, corpus_file, corpus_text):
    v_lower = "".join(sorted(set(corpus_text.lower())))
    assert ck.vocab_from_corpus(corpus_file, lowercase=True) == v_lower
    assert ck.vocab_from_corpus(corpus_file) == "".join(sorted(set(corpus_text)))


def test_keras1_time_distributed_dense(tmp_path, vocab, sample_text):
    """Keras 1.0/1.1 char-RNN scripts ended in TimeDistributedDense(len(chars)) + Activation('softmax'):
    the deprecated layer (weights W, b) was refused as an unsupported layer type."""
    rng = np.random.default_rng(7)
    v, u = len(vocab), 16
    W, U, b = rnd(rng, v, 4 * u), rnd(rng, u, 4 * u), rnd(rng, 4 * u, scale=0.2)
    dk, db = rnd(rng, u, v), rnd(rng, v, scale=0.2)
    config = {
        "class_name": "Sequential",
        "config": [
            {"class_name": "LSTM", "config": k1_lstm_config("lstm_1", u, v, return_sequences=True, consume_less="gpu")},
            {
                "class_name": "TimeDistributedDense",
                "config": {
                    "name": "timedistributeddense_1",
                    "trainable": True,
                    "output_dim": v,
                    "init": "glorot_uniform",
                    "activation": "linear",
                    "W_regularizer": None,
                    "b_regularizer": None,
                    "activity_regularizer": None,
                    "W_constraint": None,
                    "b_constraint": None,
                    "input_dim": None,
                    "input_length": None,
                },
            },
            {
                "class_name": "Activation",
                "config": {"name": "activation_1", "trainable": True, "activation": "softmax"},
            },
        ],
    }
    path = tmp_path / "keras1_tdd.h5"
    write_h5(
        path,
        "1.0.8",
        config,
        [
            ("lstm_1", [("lstm_1_W", W), ("lstm_1_U", U), ("lstm_1_b", b)]),
            ("timedistributeddense_1", [("timedistributeddense_1_W", dk), ("timedistributeddense_1_b", db)]),
            ("activation_1", []),
        ],
        backend="theano",
    )
    x = onehot(indices(sample_text, vocab), v)
    km = check(path, vocab, sample_text, nr.dense_softmax(nr.lstm(x, W, U, b, ract="hard_sigmoid2"), dk, db))
    assert km.layer_names["dense"] == "timedistributeddense_1"
    assert km.config["head"] == {"activation": "softmax", "use_bias": True}
