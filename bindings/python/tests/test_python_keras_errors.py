"""Every error path of the Keras import: unreadable files, inconsistent files, unsupported models, bad
vocabularies. Each raises a charrnn.Error subclass that names the problem."""

import json
import zipfile

import h5py
import numpy as np
import pytest

import charrnn
import charrnn.keras as ck
from charrnn_testutil import k2_rnn, write_h5

V = 12
VOCAB = "abcdefghijkl"


def lstm_dense_h5(path, lstm_overrides=None, extra_layers=(), weights=None, kernel_shape=(V, 32)):
    rng = np.random.default_rng(0)
    cfg = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                k2_rnn("LSTM", "lstm_1", 8, batch_input_shape=[None, None, V], **(lstm_overrides or {})),
                {
                    "class_name": "Dense",
                    "config": {"name": "dense_1", "units": V, "activation": "softmax", "use_bias": True},
                },
                *extra_layers,
            ],
        },
    }
    if weights is None:
        weights = [
            (
                "lstm_1",
                [
                    ("lstm_1/kernel:0", rng.normal(size=kernel_shape)),
                    ("lstm_1/recurrent_kernel:0", rng.normal(size=(8, 32))),
                    ("lstm_1/bias:0", np.zeros(32)),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", rng.normal(size=(8, V))), ("dense_1/bias:0", np.zeros(V))]),
        ]
    write_h5(path, "2.2.4", cfg, weights)
    return path


def test_error_classes():
    assert issubclass(ck.KerasFormatError, charrnn.FormatError)
    assert issubclass(ck.KerasFormatError, charrnn.Error)
    assert issubclass(ck.KerasFormatError, ValueError)
    assert issubclass(ck.UnsupportedModelError, ck.KerasFormatError)
    assert issubclass(ck.VocabularyError, charrnn.ConfigError)
    assert ck.UnsupportedModelError.status == charrnn.FormatError.status == charrnn._charrnn.ERR_FORMAT
    assert ck.VocabularyError.status_name == "CONFIG"


def test_valid_file_loads(tmp_path):
    m = ck.load(lstm_dense_h5(tmp_path / "ok.h5"), vocab=VOCAB)
    assert m.vocab == VOCAB and m.config["layers"][0]["recurrent_activation"] == "hard_sigmoid_keras2"
    m.close()


def test_missing_file(tmp_path):
    with pytest.raises(OSError):
        ck.load(tmp_path / "nope.keras", vocab=VOCAB)


def test_not_a_keras_file(tmp_path):
    p = tmp_path / "text.h5"
    p.write_text("hello, not a model")
    with pytest.raises(ck.KerasFormatError, match="not a Keras file"):
        ck.load(p, vocab=VOCAB)


def test_corrupt_zip(tmp_path):
    p = tmp_path / "bad.keras"
    p.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
    with pytest.raises(ck.KerasFormatError, match="corrupt .keras archive"):
        ck.load(p, vocab=VOCAB)


def test_zip_without_config_or_weights(tmp_path):
    p = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("model.weights.h5", b"")
    with pytest.raises(ck.KerasFormatError, match="no config.json"):
        ck.read(p)
    p = tmp_path / "noweights.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ck.KerasFormatError, match="no model.weights.h5"):
        ck.read(p)


def test_zip_with_corrupt_weights(tmp_path):
    # a configuration charrnn supports: the archive's configuration is read (and the weights' size
    # bounded by it) before the weights are unpacked
    with h5py.File(lstm_dense_h5(tmp_path / "m.h5"), "r") as f:
        config = f.attrs["model_config"]
    p = tmp_path / "badweights.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x01" * 100)
    with pytest.raises(ck.KerasFormatError, match="corrupt model.weights.h5"):
        ck.read(p)


def test_corrupt_h5(tmp_path):
    p = tmp_path / "bad.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x07" * 300)
    with pytest.raises(ck.KerasFormatError, match="corrupt HDF5"):
        ck.load(p, vocab=VOCAB)


def test_truncated_h5(tmp_path):
    good = lstm_dense_h5(tmp_path / "good.h5").read_bytes()
    p = tmp_path / "truncated.h5"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(ck.KerasFormatError):
        ck.load(p, vocab=VOCAB)


def test_weights_only_h5(tmp_path):
    p = tmp_path / "weights.h5"
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = [b"lstm_1"]
    with pytest.raises(ck.KerasFormatError, match="no model_config"):
        ck.read(p)


def test_config_names_missing_weights(tmp_path):
    p = lstm_dense_h5(tmp_path / "missing.h5", weights=[("lstm_1", [])])
    with pytest.raises(ck.KerasFormatError, match="layer 'lstm_1'.*no weights"):
        ck.read(p)


def test_weight_listed_but_not_stored(tmp_path):
    p = lstm_dense_h5(tmp_path / "listed.h5")
    with h5py.File(p, "a") as f:
        del f["model_weights/dense_1/dense_1/bias:0"]
    with pytest.raises(ck.KerasFormatError, match="dense_1"):
        ck.read(p)


def test_shape_mismatch(tmp_path):
    p = lstm_dense_h5(tmp_path / "shape.h5", kernel_shape=(V, 24))
    with pytest.raises(ck.KerasFormatError, match="lstm_1"):
        ck.read(p)


def test_input_dimension_matches_no_encoding(tmp_path):
    p = lstm_dense_h5(tmp_path / "dim.h5", kernel_shape=(5, 32))
    with pytest.raises(ck.UnsupportedModelError, match="input dimension 5"):
        ck.read(p)


def test_encoding_override_must_fit(tmp_path):
    p = lstm_dense_h5(tmp_path / "enc.h5")
    with pytest.raises(ck.UnsupportedModelError, match="encoding='scalar'"):
        ck.read(p, encoding="scalar")
    with pytest.raises(ValueError):
        ck.read(p, encoding="bogus")


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"go_backwards": True}, "go_backwards"),
        ({"activation": "selu"}, "activation 'selu'"),
        ({"recurrent_activation": "softsign"}, "recurrent_activation 'softsign'"),
        ({"return_state": True}, "return_state"),
    ],
)
def test_unsupported_rnn_options(tmp_path, overrides, match):
    p = lstm_dense_h5(tmp_path / "opt.h5", lstm_overrides=overrides)
    with pytest.raises(ck.UnsupportedModelError, match=f"lstm_1.*{match}"):
        ck.read(p)


def test_unsupported_extra_dense(tmp_path):
    extra = [{"class_name": "Dense", "config": {"name": "dense_2", "units": V, "activation": "softmax"}}]
    p = lstm_dense_h5(tmp_path / "extra.h5", extra_layers=extra)
    with pytest.raises(ck.UnsupportedModelError, match="dense_2.*only one Dense"):
        ck.read(p)


def test_unsupported_layer_type(tmp_path):
    extra = [{"class_name": "Flatten", "config": {"name": "flatten_1"}}]
    p = lstm_dense_h5(tmp_path / "flatten.h5", extra_layers=extra)
    with pytest.raises(ck.UnsupportedModelError, match="flatten_1.*Flatten"):
        ck.read(p)


def test_unsupported_double_softmax(tmp_path):
    extra = [{"class_name": "Activation", "config": {"name": "act", "activation": "softmax"}}]
    p = lstm_dense_h5(tmp_path / "softmax2.h5", extra_layers=extra)
    with pytest.raises(ck.UnsupportedModelError, match="act"):
        ck.read(p)


def _keras():
    return pytest.importorskip("keras")


def test_unsupported_bidirectional(tmp_path):
    keras = _keras()
    m = keras.Sequential(
        [
            keras.Input((None, V)),
            keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    p = tmp_path / "bidi.keras"
    m.save(str(p))
    with pytest.raises(ck.UnsupportedModelError, match="Bidirectional"):
        ck.load(p, vocab=VOCAB)


def test_unsupported_masking_and_mask_zero(tmp_path):
    keras = _keras()
    m = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(V, 4, mask_zero=True),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    p = tmp_path / "maskzero.keras"
    m.save(str(p))
    with pytest.raises(ck.UnsupportedModelError, match="mask_zero"):
        ck.read(p)
    m = keras.Sequential(
        [
            keras.Input((None, V)),
            keras.layers.Masking(),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    p = tmp_path / "masking.keras"
    m.save(str(p))
    with pytest.raises(ck.UnsupportedModelError, match="Masking"):
        ck.read(p)


def test_unsupported_return_sequences_false_mid(tmp_path):
    keras = _keras()
    m = keras.Sequential(
        [
            keras.Input((10, V)),
            keras.layers.LSTM(4),
            keras.layers.RepeatVector(3),
            keras.layers.LSTM(4),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    p = tmp_path / "mid.keras"
    m.save(str(p))
    with pytest.raises(ck.UnsupportedModelError):
        ck.read(p)
    cfg = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                k2_rnn("LSTM", "lstm_1", 8, batch_input_shape=[None, None, V], return_sequences=False),
                k2_rnn("LSTM", "lstm_2", 8),
                {"class_name": "Dense", "config": {"name": "dense_1", "units": V, "activation": "softmax"}},
            ],
        },
    }
    rng = np.random.default_rng(0)
    p = tmp_path / "mid.h5"
    write_h5(
        p,
        "2.2.4",
        cfg,
        [
            ("lstm_1", [("k", rng.normal(size=(V, 32))), ("r", rng.normal(size=(8, 32))), ("b", np.zeros(32))]),
            ("lstm_2", [("k", rng.normal(size=(8, 32))), ("r", rng.normal(size=(8, 32))), ("b", np.zeros(32))]),
            ("dense_1", [("k", rng.normal(size=(8, V))), ("b", np.zeros(V))]),
        ],
    )
    with pytest.raises(ck.UnsupportedModelError, match="lstm_1.*return_sequences=False"):
        ck.read(p)


def test_unsupported_branching_functional(tmp_path):
    keras = _keras()
    i = keras.Input((None, V))
    a = keras.layers.LSTM(4, return_sequences=True)(i)
    b = keras.layers.LSTM(4, return_sequences=True)(i)
    o = keras.layers.Dense(V, activation="softmax")(keras.layers.Concatenate()([a, b]))
    p = tmp_path / "branch.keras"
    keras.Model(i, o).save(str(p))
    with pytest.raises(ck.UnsupportedModelError):
        ck.read(p)


def test_vocab_errors(tmp_path, corpus_file):
    p = lstm_dense_h5(tmp_path / "v.h5")
    with pytest.raises(ck.VocabularyError, match="12 characters"):
        ck.load(p, vocab="abc")
    with pytest.raises(ck.VocabularyError, match="repeats"):
        ck.load(p, vocab="aacdefghijkl")
    with pytest.raises(ck.VocabularyError, match="vocab="):
        ck.load(p)
    with pytest.raises(ck.VocabularyError, match="either"):
        ck.load(p, vocab=VOCAB, vocab_from=corpus_file)
    with pytest.raises(ck.VocabularyError, match="corpus"):
        ck.load(p, vocab_from=corpus_file)
    with pytest.raises(ValueError):  # VocabularyError is a ValueError too
        ck.load(p, vocab="xyz")


def test_unknown_character_in_probabilities(tmp_path):
    m = ck.load(lstm_dense_h5(tmp_path / "u.h5"), vocab=VOCAB)
    with pytest.raises(charrnn.UnknownCharacterError) as info:
        m.probabilities("abcz")
    assert info.value.status == charrnn._charrnn.ERR_UNKNOWN_CHARACTER
    assert info.value.status_name == "UNKNOWN_CHARACTER"
    m.close()


def test_cli_errors(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "junk.keras"
    p.write_bytes(b"junk")
    text = tmp_path / "t.txt"
    text.write_text("abc")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "import",
            str(p),
            "--vocab",
            VOCAB,
            "-o",
            str(tmp_path / "o.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "error:" in r.stderr


def _lstm_entry(**overrides):
    entry = k2_rnn("LSTM", "lstm_1", 8, batch_input_shape=[None, None, V])
    entry["config"].update(overrides)
    return entry


_DENSE = {"class_name": "Dense", "config": {"name": "dense_1", "units": V, "activation": "softmax", "use_bias": True}}


@pytest.mark.parametrize(
    "model_config,match",
    [
        ({"class_name": "Sequential", "config": "layers"}, "no layer list"),
        ({"class_name": "Sequential", "config": {"layers": [["LSTM", {"units": 8}], _DENSE]}}, "not an object"),
        (
            {"class_name": "Sequential", "config": {"layers": [{"class_name": "LSTM", "config": [8]}, _DENSE]}},
            "'config' of a LSTM layer is not an object",
        ),
        (
            {"class_name": "Sequential", "config": {"layers": [_lstm_entry(name=7), _DENSE]}},
            "name that is not a string",
        ),
        (
            {"class_name": "Sequential", "config": {"layers": [_lstm_entry(batch_input_shape=12), _DENSE]}},
            "lstm_1.*batch_input_shape",
        ),
        ({"class_name": "Sequential", "config": {"layers": [_lstm_entry(units=True), _DENSE]}}, "lstm_1.*units"),
        (
            {
                "class_name": "Sequential",
                "config": {"layers": [_lstm_entry(), dict(_DENSE, config=dict(_DENSE["config"], units="12"))]},
            },
            "dense_1.*units",
        ),
        (
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        _lstm_entry(),
                        {"class_name": "TimeDistributed", "config": {"name": "td", "layer": ["Dense"]}},
                    ]
                },
            },
            "'td' \\(TimeDistributed\\)",
        ),
        (
            {"class_name": "Functional", "config": {"layers": [1, 2], "input_layers": [], "output_layers": []}},
            "functional configuration",
        ),
        (
            {
                "class_name": "Functional",
                "config": {
                    "name": "m",
                    "layers": [
                        {
                            "class_name": "InputLayer",
                            "name": "in",
                            "inbound_nodes": [],
                            "config": {"batch_shape": [None, None, V]},
                        },
                        dict(
                            _lstm_entry(), name="lstm_1", inbound_nodes=[{"args": [{"config": {"keras_history": 5}}]}]
                        ),
                    ],
                    "input_layers": [["in", 0, 0]],
                    "output_layers": [["lstm_1", 0, 0]],
                },
            },
            "keras_history",
        ),
    ],
)
def test_malformed_configuration_json(tmp_path, model_config, match):
    """JSON of the wrong shape (lists, strings or numbers where Keras writes objects, sizes, names) is a
    KerasFormatError naming the problem, not an AttributeError or TypeError from inside the reader."""
    rng = np.random.default_rng(0)
    p = tmp_path / "malformed.h5"
    write_h5(
        p,
        "2.2.4",
        model_config,
        [
            (
                "lstm_1",
                [
                    ("lstm_1/kernel:0", rng.normal(size=(V, 32))),
                    ("lstm_1/recurrent_kernel:0", rng.normal(size=(8, 32))),
                    ("lstm_1/bias:0", np.zeros(32)),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", rng.normal(size=(8, V))), ("dense_1/bias:0", np.zeros(V))]),
        ],
    )
    with pytest.raises(ck.KerasFormatError, match=match):
        ck.read(p)


@pytest.mark.parametrize("key", ["use_bias", "return_sequences", "go_backwards", "stateful"])
def test_boolean_options_must_be_booleans(tmp_path, key):
    """A string "false" is truthy in Python: read as true it would import use_bias or return_sequences
    wrong, so a non-boolean option is refused."""
    p = lstm_dense_h5(tmp_path / "flag.h5", lstm_overrides={key: "false"})
    with pytest.raises(ck.KerasFormatError, match=f"lstm_1.*'{key}' is 'false', not true or false"):
        ck.read(p)


def _replace_weight(path, dataset, **create):
    with h5py.File(path, "a") as f:
        group, _, name = f"model_weights/{dataset}".rpartition("/")
        del f[f"{group}/{name}"]
        f[group].create_dataset(name, **create)


@pytest.mark.parametrize(
    "create,match",
    [
        ({"data": np.array([b"0.5"] * 32)}, "data type \\|S3"),
        ({"data": np.ones(32, dtype=np.int8)}, "data type int8.*quantized"),
        ({"data": np.ones(32, dtype=np.complex64)}, "data type complex64"),
        ({"data": h5py.Empty("f4")}, "is not an array in the file"),
    ],
)
def test_weights_that_are_not_floats(tmp_path, create, match):
    """Strings were a numpy ValueError; integers and complex numbers were converted to float32 as if
    they were weights (complex ones losing their imaginary part)."""
    p = lstm_dense_h5(tmp_path / "dtype.h5")
    _replace_weight(p, "lstm_1/lstm_1/bias:0", **create)
    with pytest.raises(ck.KerasFormatError, match=f"lstm_1.*bias:0.*{match}"):
        ck.read(p)


def test_float16_and_float64_weights_are_read(tmp_path):
    p = lstm_dense_h5(tmp_path / "widths.h5")
    with h5py.File(p, "r") as f:
        bias = f["model_weights/lstm_1/lstm_1/bias:0"][()] + 0.25
        kernel = f["model_weights/dense_1/dense_1/kernel:0"][()]
    _replace_weight(p, "lstm_1/lstm_1/bias:0", data=bias.astype(np.float16))
    _replace_weight(p, "dense_1/dense_1/kernel:0", data=kernel.astype(np.float64))
    km = ck.read(p)
    assert km.weights[("rnn0", "bias")].dtype == np.float32
    np.testing.assert_array_equal(km.weights[("rnn0", "bias")], bias.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(km.weights[("dense", "kernel")], kernel.astype(np.float32))


def test_huge_declared_weight_is_refused_before_reading(tmp_path):
    """A few kilobytes of HDF5 can declare a 4 GB array that stores nothing: reading it allocated and
    filled all of it (a MemoryError, or the kernel's OOM killer, for larger ones)."""
    p = lstm_dense_h5(tmp_path / "huge.h5")
    _replace_weight(p, "lstm_1/lstm_1/kernel:0", shape=(100_000, 10_000), dtype="f4", chunks=(1000, 1000))
    assert p.stat().st_size < 100_000
    with pytest.raises(
        ck.KerasFormatError, match="lstm_1.*kernel:0.*declares shape \\(100000, 10000\\).*stores only 0"
    ):
        ck.read(p)
    _replace_weight(p, "lstm_1/lstm_1/kernel:0", shape=(1 << 20, 1 << 12), dtype="f4", chunks=(1024, 1024))
    with pytest.raises(ck.KerasFormatError, match="more than the 2147483647 values"):
        ck.read(p)


def test_quantized_keras3_model(tmp_path):
    keras = _keras()
    m = keras.Sequential(
        [
            keras.Input((None, V)),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    m.quantize("int8")
    p = tmp_path / "int8.keras"
    m.save(str(p))
    with pytest.raises(
        ck.UnsupportedModelError, match=f"'{m.layers[-1].name}' \\(Dense\\): quantized weights \\(int8\\)"
    ):
        ck.read(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e39])
def test_non_finite_weights(tmp_path, bad):
    """A diverged model's NaN/inf weights: read() imported them (the reference forward gave NaN) and
    load() failed inside the library naming its own tensor ('rnn0.bias[3]'), not the Keras weight.
    Both refuse them, naming the Keras layer and weight; 1e39 overflows float32 the same way."""
    p = lstm_dense_h5(tmp_path / "nan.h5")
    bias = np.zeros(32)
    bias[3] = bad
    _replace_weight(p, "lstm_1/lstm_1/bias:0", data=bias)  # float64, as a float64 Keras model stores it
    with pytest.raises(ck.KerasFormatError, match="layer 'lstm_1': weight 'lstm_1/bias:0' holds 1 NaN or infinite"):
        ck.read(p)
    with pytest.raises(ck.KerasFormatError, match="lstm_1.*NaN or infinite"):
        ck.load(p, vocab=VOCAB)


def test_softmax_over_another_axis(tmp_path):
    """Softmax(axis=1) normalises over time: it was imported as the usual softmax over the characters,
    and charrnn's probabilities differed from Keras's by 0.09 with no error."""
    keras = _keras()
    m = keras.Sequential(
        [
            keras.Input((None, V)),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(V),
            keras.layers.Softmax(axis=1, name="time_softmax"),
        ]
    )
    p = tmp_path / "softmax_axis1.keras"
    m.save(str(p))
    with pytest.raises(ck.UnsupportedModelError, match="'time_softmax' \\(Softmax\\): softmax over axis 1"):
        ck.read(p)
    for axis, name in ((-1, "last"), (2, "two")):  # the last axis of (batch, time, V), either way
        m = keras.Sequential(
            [
                keras.Input((None, V)),
                keras.layers.LSTM(4, return_sequences=True),
                keras.layers.Dense(V),
                keras.layers.Softmax(axis=axis),
            ]
        )
        m.save(str(tmp_path / f"{name}.keras"))
        assert ck.read(tmp_path / f"{name}.keras").config["head"]["activation"] == "softmax"


def test_damaged_hdf5_inside(tmp_path):
    """Damage past the HDF5 header (here a layer group's symbol table) surfaces only when the reader
    looks inside: it was a RuntimeError or OSError from h5py ('Unable to synchronously check link
    existence')."""
    data = bytearray(lstm_dense_h5(tmp_path / "good.h5").read_bytes())
    last = data.rfind(b"SNOD")  # the signature of the last group's symbol table node
    data[last : last + 4] = b"XXXX"
    p = tmp_path / "damaged.h5"
    p.write_bytes(bytes(data))
    with pytest.raises(ck.KerasFormatError, match="damaged HDF5 data"):
        ck.read(p)


def _keras_zip(path, config=None, metadata="{}", compression=zipfile.ZIP_STORED):
    weights = lstm_dense_h5(path.with_suffix(".weights.h5")).read_bytes()  # any HDF5 will do
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("metadata.json", metadata)
        z.writestr("config.json", config if config is not None else json.dumps({"class_name": "Sequential"}))
        z.writestr("model.weights.h5", weights)
    return path


def _patch_zip_headers(path, member, offsets, value):
    """Sets a 2-byte field of `member`'s local header and central directory entry (offsets in each)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, offset in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets):
        name_at = 30 if signature == b"PK\x03\x04" else 46
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at : start + name_at + len(name)] == name:
                data[start + offset : start + offset + 2] = value.to_bytes(2, "little")
            start += 4
    path.write_bytes(bytes(data))


def test_keras_archive_metadata_and_members(tmp_path):
    """A metadata.json that was a list was an AttributeError; an encrypted member a RuntimeError; a
    member packed with a method zipfile lacks a NotImplementedError; a config.json declaring more than
    64 MiB was inflated into memory whole (a zip bomb's way in)."""
    with pytest.raises(ck.KerasFormatError, match="metadata.json in the archive is not a JSON object"):
        ck.read(_keras_zip(tmp_path / "meta.keras", metadata="[1, 2]"))
    p = _keras_zip(tmp_path / "encrypted.keras")
    _patch_zip_headers(p, "config.json", (6, 8), 1)  # general purpose flag bit 0: encrypted
    with pytest.raises(ck.KerasFormatError, match="corrupt .keras archive.*encrypted"):
        ck.read(p)
    p = _keras_zip(tmp_path / "aes.keras")
    _patch_zip_headers(p, "model.weights.h5", (8, 10), 99)  # compression method 99: WinZip AES
    with pytest.raises(ck.KerasFormatError, match="corrupt .keras archive.*compression method"):
        ck.read(p)
    p = _keras_zip(tmp_path / "bomb.keras", config=" " * (65 << 20), compression=zipfile.ZIP_DEFLATED)
    assert p.stat().st_size < 1 << 20
    with pytest.raises(ck.KerasFormatError, match=f"config.json in the archive unpacks to {65 << 20} bytes"):
        ck.read(p)


def test_cli_vocab_escapes_keep_non_ascii(tmp_path):
    """--vocab 'abcdéfghijk\\n': the escapes were decoded from the UTF-8 bytes, turning 'é' into 'Ã©', so
    a correct 12-character vocabulary was refused as 13 characters (or, with no escape, read as typed)."""
    import subprocess
    import sys

    out = tmp_path / "o.safetensors"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "import",
            str(lstm_dense_h5(tmp_path / "m.h5")),
            "--vocab",
            "abcdéfghijk\\n",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    m = charrnn.Model.load(out)
    assert m.vocab == "abcdéfghijk\n"
    m.close()


def test_cli_compare_without_keras(tmp_path):
    """Without Keras, `compare` ended in a ModuleNotFoundError traceback; now an error line, exit 2."""
    import subprocess
    import sys

    text = tmp_path / "t.txt"
    text.write_text("abcabc")
    hide_keras = (
        "import sys\n"
        "class NoKeras:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'keras' or name.startswith('keras.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'keras'\")\n"
        "sys.meta_path.insert(0, NoKeras())\n"
        "from charrnn.keras.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            hide_keras,
            "compare",
            str(lstm_dense_h5(tmp_path / "m.h5")),
            str(text),
            "--vocab",
            VOCAB,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "error: charrnn.keras.compare runs Keras" in r.stderr and "pip install keras" in r.stderr


@pytest.mark.parametrize("kernel,recurrent", [((V, 30), (8, 32)), ((V, 32), (9, 36)), ((32,), (8, 32))])
def test_cudnn_weights_of_the_wrong_shape(tmp_path, kernel, recurrent):
    """CuDNN weights were transformed before any shape check: a kernel whose width is not 4 x units was
    a numpy ValueError ('array split does not result in an equal division'), and a (9, 36) recurrent
    kernel for units=8 was read without complaint, to fail later inside the library."""
    rng = np.random.default_rng(0)
    cfg = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "class_name": "CuDNNLSTM",
                    "config": {
                        "name": "cu_dnnlstm_1",
                        "units": 8,
                        "return_sequences": True,
                        "batch_input_shape": [None, None, V],
                    },
                },
                _DENSE,
            ],
        },
    }
    p = tmp_path / "cudnn.h5"
    write_h5(
        p,
        "2.2.4",
        cfg,
        [
            ("cu_dnnlstm_1", [("k", rng.normal(size=kernel)), ("r", rng.normal(size=recurrent)), ("b", np.zeros(64))]),
            ("dense_1", [("k", rng.normal(size=(8, V))), ("b", np.zeros(V))]),
        ],
    )
    with pytest.raises(ck.KerasFormatError, match="cu_dnnlstm_1.*do not fit"):
        ck.read(p)


def test_keras1_per_gate_weights_of_the_wrong_shape(tmp_path):
    """Keras 1 per-gate arrays were concatenated before any check: a W_f with a different number of rows
    was a numpy ValueError from np.concatenate."""
    from test_python_keras_legacy import k1_lstm_config

    rng = np.random.default_rng(0)
    cfg = {
        "class_name": "Sequential",
        "config": [
            {"class_name": "LSTM", "config": k1_lstm_config("lstm_1", 8, V)},
            {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": V, "activation": "softmax"}},
        ],
    }
    ws = []
    for gate in "icfo":
        rows = V - 1 if gate == "f" else V
        ws += [
            (f"lstm_1_W_{gate}", rng.normal(size=(rows, 8))),
            (f"lstm_1_U_{gate}", rng.normal(size=(8, 8))),
            (f"lstm_1_b_{gate}", np.zeros(8)),
        ]
    p = tmp_path / "k1.h5"
    write_h5(
        p,
        "1.2.2",
        cfg,
        [("lstm_1", ws), ("dense_1", [("dense_1_W", rng.normal(size=(8, V))), ("dense_1_b", np.zeros(V))])],
    )
    with pytest.raises(ck.KerasFormatError, match="lstm_1.*per-gate weight 6 has shape \\(11, 8\\)"):
        ck.read(p)
