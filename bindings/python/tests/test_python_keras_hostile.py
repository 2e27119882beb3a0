"""Hostile Keras files (issue 18): each is refused with a KerasFormatError (or, for a path that is not a
regular file, a charrnn.IOError) that names the dataset, member or path and the reason, quickly, without
reading anything outside the file and without allocating more than the model's configuration needs.

* HDF5 that points outside itself: external storage, external links, soft links that leave the file,
  dangle or loop, virtual datasets, filters that would load a plugin. Each hostile file is first read
  with plain h5py, which does read the secret through it: the files are real attacks.
* Bombs: HDF5 datasets and chunks that declare or inflate to gigabytes, configurations that claim 10^9
  units, .keras archives whose weights member declares 2 GB or lies about its size. These run in a
  child process under an address-space limit, so a regression fails the test instead of the machine.
* Special files: FIFOs, devices, directories, symbolic-link loops, sockets, for every path the Keras
  import opens (the model, the vocab_from corpus, the compare CLI's text).
* charrnn.keras.save: the temporary file is removed on every failure, Ctrl-C included.
* The fuzzer's seeds and saved crashes (Tests/fuzz/keras) replayed through its one-input function.
"""

import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

import charrnn
import charrnn.keras as ck
from charrnn_testutil import k2_rnn, small_config, write_h5

ROOT = Path(os.environ.get("CHARRNN_ROOT") or Path(__file__).resolve().parents[3])
FUZZ_DIR = ROOT / "Tests" / "fuzz" / "keras"
V, UNITS = 65, 128  # the LSTM kernel is (65, 512)
VOCAB = "".join(chr(0x41 + i) for i in range(V))
SECRET = 1234.5  # every float32 of the secret files
FAST = 10.0  # seconds: every refusal here takes milliseconds
LIMIT = 2 << 30  # address space of the child processes that read bombs


# ------------------------------------------------------------------------------------------------
# model files: a Keras 2 legacy .h5 and a Keras 3 .keras of the same LSTM(128) + Dense(65)


def _weights(rng):
    return {
        "kernel": rng.normal(size=(V, 4 * UNITS)).astype(np.float32),
        "recurrent_kernel": rng.normal(size=(UNITS, 4 * UNITS)).astype(np.float32),
        "bias": np.zeros(4 * UNITS, np.float32),
        "dense_kernel": rng.normal(size=(UNITS, V)).astype(np.float32),
        "dense_bias": np.zeros(V, np.float32),
    }


def legacy_model(path):
    """A Keras 2 .h5; its LSTM kernel is the dataset at LEGACY_KERNEL."""
    w = _weights(np.random.default_rng(0))
    cfg = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                k2_rnn("LSTM", "lstm_1", UNITS, batch_input_shape=[None, None, V]),
                {"class_name": "Dense", "config": {"name": "dense_1", "units": V, "activation": "softmax"}},
            ],
        },
    }
    write_h5(
        path,
        "2.2.4",
        cfg,
        [
            (
                "lstm_1",
                [
                    ("lstm_1/kernel:0", w["kernel"]),
                    ("lstm_1/recurrent_kernel:0", w["recurrent_kernel"]),
                    ("lstm_1/bias:0", w["bias"]),
                ],
            ),
            ("dense_1", [("dense_1/kernel:0", w["dense_kernel"]), ("dense_1/bias:0", w["dense_bias"])]),
        ],
    )
    return path


LEGACY_KERNEL = "model_weights/lstm_1/lstm_1/kernel:0"
KERAS3_KERNEL = "layers/lstm/cell/vars/0"
KERAS3_CONFIG = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {
        "name": "s",
        "layers": [
            {
                "class_name": "InputLayer",
                "config": {"batch_shape": [None, None, V], "dtype": "float32", "name": "input"},
            },
            {
                "class_name": "LSTM",
                "config": {
                    "name": "lstm",
                    "units": UNITS,
                    "activation": "tanh",
                    "recurrent_activation": "sigmoid",
                    "use_bias": True,
                    "return_sequences": True,
                },
            },
            {"class_name": "Dense", "config": {"name": "dense", "units": V, "activation": "softmax", "use_bias": True}},
        ],
    },
}


def keras3_weights(edit=None) -> bytes:
    """model.weights.h5 of KERAS3_CONFIG; `edit(f)` may change it before it is closed."""
    w = _weights(np.random.default_rng(0))
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        lstm = f.create_group("layers/lstm")
        lstm.create_group("vars").attrs["name"] = "lstm"
        for i, key in enumerate(("kernel", "recurrent_kernel", "bias")):
            lstm.create_dataset(f"cell/vars/{i}", data=w[key])
        dense = f.create_group("layers/dense/vars")
        dense.attrs["name"] = "dense"
        dense["0"], dense["1"] = w["dense_kernel"], w["dense_bias"]
        if edit is not None:
            edit(f)
    return buf.getvalue()


def keras3_model(path, edit=None, config=KERAS3_CONFIG):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", keras3_weights(edit))
    return path


def hostile_file(tmp_path, fmt, edit):
    """A model of format `fmt` ("h5" or "keras") whose LSTM kernel `edit(f, name)` replaced."""
    if fmt == "h5":
        p = legacy_model(tmp_path / "hostile.h5")
        with h5py.File(p, "a") as f:
            del f[LEGACY_KERNEL]
            edit(f, LEGACY_KERNEL)
        return p

    def replace(f):
        del f[KERAS3_KERNEL]
        edit(f, KERAS3_KERNEL)

    return keras3_model(tmp_path / "hostile.keras", replace)


def kernel_label(fmt):
    return "layer 'lstm_1': weight 'lstm_1/kernel:0'" if fmt == "h5" else "layer 'lstm': weight 'cell/vars/0'"


def read_quickly(path, **kw):
    start = time.monotonic()
    try:
        return ck.read(path, **kw)
    finally:
        assert time.monotonic() - start < FAST


def assert_no_secret(km):
    for key, array in km.weights.items():
        assert not np.any(array == np.float32(SECRET)), f"the secret was read into {key}"


def test_the_models_read(tmp_path):
    for p in (legacy_model(tmp_path / "m.h5"), keras3_model(tmp_path / "m.keras")):
        km = read_quickly(p)
        assert km.weights[("rnn0", "kernel")].shape == (V, 4 * UNITS)


# ------------------------------------------------------------------------------------------------
# HDF5 that points outside the file


@pytest.fixture
def secrets_dir(tmp_path):
    """secret.bin: raw float32 values; secret.h5: a group 'g' with dataset 'secret', both of the LSTM
    kernel's shape and all SECRET."""
    d = tmp_path / "secrets"
    d.mkdir()
    values = np.full((V, 4 * UNITS), SECRET, np.float32)
    (d / "secret.bin").write_bytes(values.tobytes())
    with h5py.File(d / "secret.h5", "w") as f:
        f["g/secret"] = values
    return d


def _external_storage(secrets):
    def edit(f, name):
        f.create_dataset(
            name, shape=(V, 4 * UNITS), dtype="f4", external=[(str(secrets / "secret.bin"), 0, V * 4 * UNITS * 4)]
        )

    return edit


def _external_link(secrets):
    def edit(f, name):
        f[name] = h5py.ExternalLink(str(secrets / "secret.h5"), "/g/secret")

    return edit


def _soft_link_out(secrets):
    """A soft link that stays a path in the file, through a group that is an external link."""

    def edit(f, name):
        f["escape"] = h5py.ExternalLink(str(secrets / "secret.h5"), "/g")
        f[name] = h5py.SoftLink("/escape/secret")

    return edit


def _virtual(secrets):
    def edit(f, name):
        layout = h5py.VirtualLayout(shape=(V, 4 * UNITS), dtype="f4")
        layout[:] = h5py.VirtualSource(str(secrets / "secret.h5"), "g/secret", shape=(V, 4 * UNITS))
        f.create_virtual_dataset(name, layout)

    return edit


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize(
    "make,match",
    [
        (_external_storage, "keeps its data in another file .*secret.bin.*HDF5 external storage"),
        (_external_link, "'kernel:0' is an external link to '/g/secret' in .*secret.h5|'0' is an external link"),
        (_soft_link_out, "'escape' is an external link to '/g' in .*secret.h5"),
        (_virtual, "is a virtual dataset"),
    ],
)
def test_data_outside_the_file_is_refused(tmp_path, secrets_dir, fmt, make, match):
    p = hostile_file(tmp_path, fmt, make(secrets_dir))
    _assert_h5py_reads_the_secret(p, fmt)
    with pytest.raises(ck.KerasFormatError, match=match) as err:
        read_quickly(p)
    message = str(err.value)
    assert message.startswith(f"{p}: ") and kernel_label(fmt) in message
    with pytest.raises(ck.KerasFormatError):
        ck.load(p, vocab=VOCAB)


def _assert_h5py_reads_the_secret(p, fmt):
    """The hostile file is a real attack: h5py, following everything, reads the secret through it."""
    if fmt == "h5":
        with h5py.File(p, "r") as f:
            assert np.all(f[LEGACY_KERNEL][()] == np.float32(SECRET))
        return
    weights = p.with_suffix(".weights.h5")  # on disk: libhdf5 opens links' files with the first file's driver
    with zipfile.ZipFile(p) as z:
        weights.write_bytes(z.read("model.weights.h5"))
    with h5py.File(weights, "r") as f:
        assert np.all(f[KERAS3_KERNEL][()] == np.float32(SECRET))


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize(
    "targets,match",
    [
        ({"": "/nowhere/kernel"}, "is a dangling soft link \\(to '/nowhere/kernel'"),
        ({"": "/a", "a": "/b", "b": "/a"}, "is a soft link loop"),
        ({"": "/a", "a": "/a"}, "is a soft link loop"),
    ],
)
def test_soft_links_that_dangle_or_loop_are_refused(tmp_path, fmt, targets, match):
    def edit(f, name):
        for link, target in targets.items():
            f[link or name] = h5py.SoftLink(target)

    p = hostile_file(tmp_path, fmt, edit)
    with pytest.raises(ck.KerasFormatError, match=match) as err:
        read_quickly(p)
    assert kernel_label(fmt) in str(err.value)


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_soft_links_inside_the_file_are_followed(tmp_path, fmt):
    kernel = np.random.default_rng(1).normal(size=(V, 4 * UNITS)).astype(np.float32)

    def edit(f, name):
        f["elsewhere/kernel"] = kernel
        f[name] = h5py.SoftLink("/elsewhere/kernel")

    km = read_quickly(hostile_file(tmp_path, fmt, edit))
    np.testing.assert_array_equal(km.weights[("rnn0", "kernel")], kernel)


def test_links_the_model_does_not_use_are_not_followed(tmp_path, secrets_dir):
    """A legacy file's weights are reached by name: an external link beside them is never touched."""
    p = legacy_model(tmp_path / "extra.h5")
    with h5py.File(p, "a") as f:
        f["model_weights/lstm_1/unused"] = h5py.ExternalLink(str(secrets_dir / "secret.h5"), "/g/secret")
    assert_no_secret(read_quickly(p))


def test_an_external_link_to_a_layer_group_is_refused(tmp_path, secrets_dir):
    p = legacy_model(tmp_path / "group.h5")
    with h5py.File(secrets_dir / "layer.h5", "w") as f, h5py.File(p, "r") as model:
        model.copy(model["model_weights/lstm_1"], f, name="lstm_1")
        f["lstm_1/lstm_1/kernel:0"][...] = np.float32(SECRET)
    with h5py.File(p, "a") as f:
        del f["model_weights/lstm_1"]
        f["model_weights/lstm_1"] = h5py.ExternalLink(str(secrets_dir / "layer.h5"), "/lstm_1")
    with pytest.raises(ck.KerasFormatError, match="layer 'lstm_1': 'lstm_1' is an external link to '/lstm_1'"):
        read_quickly(p)


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize(
    "options,match",
    [
        ({"compression": 32123, "allow_unknown_filter": True}, "HDF5 filter 32123"),  # a plugin libhdf5 would load
        ({"compression": "lzf"}, "HDF5 filter 32000 \\('lzf'\\)"),
        ({"scaleoffset": 2}, "HDF5 filter 6 \\('scaleoffset'\\)"),
        ({"compression": "gzip", "shuffle": True, "fletcher32": True}, None),  # h5py's own: read
    ],
)
def test_filters_other_than_gzip_shuffle_fletcher32_are_refused(tmp_path, fmt, options, match):
    kernel = np.random.default_rng(2).normal(size=(V, 4 * UNITS)).astype(np.float32)

    def edit(f, name):
        if options.get("allow_unknown_filter"):
            ds = f.create_dataset(name, shape=kernel.shape, dtype="f4", chunks=kernel.shape, **options)
            ds.id.write_direct_chunk((0, 0), kernel.tobytes())
        else:
            f.create_dataset(name, data=kernel, chunks=(V, 64), **options)

    p = hostile_file(tmp_path, fmt, edit)
    if match is None:
        np.testing.assert_array_equal(read_quickly(p).weights[("rnn0", "kernel")], kernel)
        return
    with pytest.raises(ck.KerasFormatError, match=f"{kernel_label(fmt)} is stored with the {match}"):
        read_quickly(p)


def test_an_hdf5_user_block_is_refused(tmp_path):
    p = tmp_path / "userblock.h5"
    legacy_model(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "r") as src, h5py.File(p, "w", userblock_size=512) as f:
        for key, value in src.attrs.items():
            f.attrs[key] = value
        src.copy(src["model_weights"], f)
    with h5py.File(p, "r") as f:  # h5py reads it, past the 512 bytes of the user's
        assert "model_weights" in f
    with pytest.raises(ck.KerasFormatError, match="an HDF5 file with a 512-byte user block"):
        read_quickly(p)


def test_oversized_attributes_are_refused_before_they_are_read(tmp_path):
    p = legacy_model(tmp_path / "attr.h5")
    with h5py.File(p, "a", libver="latest") as f:  # a new group, with dense storage for attributes over 64 KB
        del f["model_weights/lstm_1"]
        f.create_group("model_weights/lstm_1").attrs["weight_names"] = np.array([b"x"] * 70_000)
    with pytest.raises(ck.KerasFormatError, match="layer 'lstm_1': attribute 'weight_names' declares 70000 values"):
        read_quickly(p)


# ------------------------------------------------------------------------------------------------
# bombs: read in a child process under an address-space limit


def read_in_child(tmp_path, call, limit=LIMIT, timeout=120):
    """Runs `call` (Python source, e.g. "ck.read('x.h5')") in a child with RLIMIT_AS = `limit` and an
    empty TMPDIR of its own; returns what it raised (type names, message), its duration and the files
    left in TMPDIR."""
    tmpdir = tmp_path / "child-tmp"
    tmpdir.mkdir(exist_ok=True)
    script = textwrap.dedent(f"""
        import json, os, resource, time
        resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
        import charrnn.keras as ck
        start = time.monotonic()
        try:
            {call}
            out = {{"raised": None}}
        except BaseException as exc:
            out = {{"raised": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}}
        out["seconds"] = time.monotonic() - start
        out["left"] = os.listdir({str(tmpdir)!r})
        print(json.dumps(out))
    """)
    env = dict(os.environ, TMPDIR=str(tmpdir))
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, f"the child died ({r.returncode}): {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def assert_refused(out, match):
    assert out["raised"] is not None, "the bomb was read"
    assert "KerasFormatError" in out["raised"], out
    assert "out of memory" not in out["message"], out["message"]
    assert match in out["message"], out["message"]
    assert out["seconds"] < FAST, out
    assert out["left"] == [], f"temporary files left behind: {out['left']}"


def _damage_global_heap(data: bytes, damage) -> bytes:
    """`data` (HDF5 with 8-byte lengths) with the objects of its first global heap collection (where
    variable-length strings live) changed by `damage(index, size) -> new size`."""
    data = bytearray(data)
    start = data.index(b"GCOL\x01")
    end = start + int.from_bytes(data[start + 8 : start + 16], "little")
    p = start + 16
    while p + 16 <= end:
        index, size = int.from_bytes(data[p : p + 2], "little"), int.from_bytes(data[p + 8 : p + 16], "little")
        data[p + 8 : p + 16] = damage(index, size).to_bytes(8, "little")
        p += 16 + -(-size // 8) * 8 if index > 0 else size
    return bytes(data)


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda index, size: 0 if index == 0 else size, "an object of size 0"),  # the free space
        (lambda index, size: 1 << 40 if index == 1 else size, "runs past the collection's end"),
    ],
)
def test_a_global_heap_libhdf5_would_loop_on_is_refused(tmp_path, fmt, damage, match):
    """Found by the fuzzer: libhdf5 walks a global heap collection by its objects' sizes, and a free-space
    object of size 0 made it walk in place forever (inside h5py reading the model_config attribute)."""
    if fmt == "h5":
        p = legacy_model(tmp_path / "heap.h5")  # h5py writes model_config as a variable-length string
        p.write_bytes(_damage_global_heap(p.read_bytes(), damage))
    else:  # the layers' "name" attributes are variable-length strings
        weights = _damage_global_heap(keras3_weights(), damage)
        p = tmp_path / "heap.keras"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("config.json", json.dumps(KERAS3_CONFIG))
            z.writestr("model.weights.h5", weights)
    out = read_in_child(tmp_path, f"ck.read({p.name!r})", timeout=60)
    assert_refused(out, f"{p.name}: damaged HDF5 global heap at byte")
    assert match in out["message"] and "libhdf5 would loop forever reading it" in out["message"]


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize(
    "shape,match",
    [
        ((1 << 16, 1 << 15), "declares shape (65536, 32768), more than the 2147483647 values"),
        ((1 << 16, 1 << 14), "has shape (65536, 16384), but the configuration needs (at most 65, 512)"),
        ((V, 1 << 24), "has shape (65, 16777216), but the configuration needs (at most 65, 512)"),
    ],
)
def test_gzip_datasets_declaring_gigabytes_are_refused_before_reading(tmp_path, fmt, shape, match):
    """A gzip dataset stores what it likes and declares what it likes (12 KB declaring 2^31 values):
    "declares more than it stores" cannot see it, the configuration's shapes do."""

    def edit(f, name):
        ds = f.create_dataset(name, shape=shape, dtype="f4", chunks=(64, 1024), compression="gzip")
        ds[:64, :1024] = 1.0  # a few stored chunks; the rest is "fill value": zeros on reading

    p = hostile_file(tmp_path, fmt, edit)
    assert p.stat().st_size < 1 << 20  # the model's own 400 KB of weights, and a few chunks
    assert_refused(read_in_child(tmp_path, f"ck.read({p.name!r})"), f"{kernel_label(fmt)} {match}")


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_a_chunk_inflating_past_its_size_is_refused(tmp_path, fmt):
    """libhdf5's deflate filter grows its buffer until the stream ends: 1 MB of deflated zeros in a
    133 KB chunk made it allocate 1 GB (and take seconds) before failing."""
    stream = zlib.compress(bytes(1 << 30), 9)

    def edit(f, name):
        ds = f.create_dataset(name, shape=(V, 4 * UNITS), dtype="f4", chunks=(V, 4 * UNITS), compression="gzip")
        ds.id.write_direct_chunk((0, 0), stream)

    p = hostile_file(tmp_path, fmt, edit)
    assert_refused(
        read_in_child(tmp_path, f"ck.read({p.name!r})"),
        f"{kernel_label(fmt)}: chunk 0 inflates to more than its 133120 bytes",
    )


def _units(lstm, dense, layers=1):
    def edit(entries):
        entries[1:2] = [
            dict(entries[1], config=dict(entries[1]["config"], units=lstm, name=f"lstm{i}")) for i in range(layers)
        ]
        entries[-1]["config"]["units"] = dense

    return edit


@pytest.mark.parametrize(
    "edit,match",
    [
        (_units(10**9, V), "layer 'lstm0' (LSTM): units=1000000000 is more than the 16384 charrnn supports"),
        (_units(UNITS, 1 << 30), "layer 'dense' (Dense): units=1073741824 is more than the 2097152 charrnn supports"),
        (_units(1 << 14, 1 << 21), "layer 'lstm0' (LSTM): a weight of 137438953472 values, more than the 2147483647"),
        (_units(1 << 14, V, layers=60), "the configuration's weights (127788466241 values) would take about"),
        (_units(UNITS, V, layers=65), "the model has 65 recurrent layers, more than the 64 charrnn supports"),
    ],
)
def test_configurations_claiming_huge_sizes_are_refused_before_anything_is_read(tmp_path, edit, match):
    config = json.loads(json.dumps(KERAS3_CONFIG))
    edit(config["config"]["layers"])
    p = keras3_model(tmp_path / "huge.keras", config=config)
    assert_refused(read_in_child(tmp_path, f"ck.read({p.name!r})", limit=1 << 30), match)


def _zip(path, members):
    """Writes a zip archive by hand, so a member can carry any compressed stream and declare any size:
    members are (name, method, data as stored, crc, declared size)."""
    out, directory = bytearray(), bytearray()
    for name, method, data, crc, size in members:
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(name), 0)
        directory += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0,
                crc,
                len(data),
                size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                len(out),
            )
            + name.encode()
        )
        out += header + name.encode() + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(out), 0)
    path.write_bytes(bytes(out + directory + end))
    return path


def _zeros_stream(megabytes: int) -> bytes:
    """A raw deflate stream of `megabytes` MiB of zeros, built from one flushed block repeated (1 KB a
    MiB), without compressing gigabytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + c.flush(zlib.Z_FINISH)


CRC_OF_2_GIB_OF_ZEROS = 0x4DBDF21C  # zlib.crc32 of 2**31 zero bytes (1 s to compute)


def _json_member(name, value):
    data = json.dumps(value).encode()
    return (name, zipfile.ZIP_STORED, data, zlib.crc32(data), len(data))


@pytest.mark.parametrize(
    "declared,crc,match",
    [
        # honest: 2 GiB declared, 2 MB stored; refused from the declared size, the config allows ~4.5 MB
        (1 << 31, CRC_OF_2_GIB_OF_ZEROS, "model.weights.h5 in the archive unpacks to 2147483648 bytes, more than the"),
        # lying: declares 1000 bytes; zipfile stops there, and the CRC (of the whole member) disagrees
        (1000, CRC_OF_2_GIB_OF_ZEROS, "corrupt .keras archive (Bad CRC-32"),
        # lying, with the CRC of what it declares: the 1000 zero bytes are read, and are not HDF5
        (1000, zlib.crc32(bytes(1000)), "corrupt model.weights.h5 in the archive"),
    ],
)
def test_a_weights_member_inflating_to_gigabytes_is_refused(tmp_path, declared, crc, match):
    p = _zip(
        tmp_path / "bomb.keras",
        [
            _json_member("metadata.json", {"keras_version": "3.6.0"}),
            _json_member("config.json", KERAS3_CONFIG),
            ("model.weights.h5", zipfile.ZIP_DEFLATED, _zeros_stream(2048), crc, declared),
        ],
    )
    assert p.stat().st_size < 3 << 20
    assert_refused(read_in_child(tmp_path, f"ck.read({p.name!r})"), f"{p.name}: {match}")


def test_a_weights_member_larger_than_its_model_needs_is_refused(tmp_path):
    """The cap comes from the configuration: 64 MB for this model's 4.5 MB of weights is too much."""

    def pad(f):
        f.create_dataset("padding", data=np.zeros(16 << 20, np.float32))

    p = keras3_model(tmp_path / "padded.keras", pad)
    assert_refused(read_in_child(tmp_path, f"ck.read({p.name!r})"), "model.weights.h5 in the archive unpacks to 67")


@pytest.mark.parametrize("member", ["config.json", "metadata.json"])
def test_deeply_nested_json_is_refused(tmp_path, member):
    nested = "[" * 100_000 + "]" * 100_000
    config = nested if member == "config.json" else json.dumps(KERAS3_CONFIG)
    metadata = nested if member == "metadata.json" else "{}"
    p = tmp_path / "nested.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", metadata)
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", keras3_weights())
    with pytest.raises(ck.KerasFormatError, match=f"{member} in the archive is not valid JSON"):
        read_quickly(p)


def test_other_compression_methods_are_refused_before_inflating(tmp_path):
    """zipfile inflates bzip2 and lzma members without bounding the output."""
    p = tmp_path / "bzip2.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", json.dumps(KERAS3_CONFIG))
        z.writestr("model.weights.h5", keras3_weights(), compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(ck.KerasFormatError, match="model.weights.h5 uses compression method 12"):
        read_quickly(p)


# ------------------------------------------------------------------------------------------------
# special files: every path the Keras import opens


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    return tmp_path / "fifo", "not a regular file (a FIFO (named pipe))"


def _device(tmp_path):
    return Path("/dev/zero"), "not a regular file (a character device)"


def _directory(tmp_path):
    (tmp_path / "folder.h5").mkdir()
    return tmp_path / "folder.h5", "not a regular file (a directory)"


def _link_loop(tmp_path):
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    return tmp_path / "loop-a", "cannot open: symbolic link loop (too many levels of symbolic links)"


def _socket(tmp_path):
    path = Path(tempfile.mkdtemp(prefix="ck")) / "sock"  # a short path: AF_UNIX allows 107 bytes
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path, "cannot open: no such device or address (a socket, or a device without a driver)"


def _missing(tmp_path):
    return tmp_path / "missing.h5", "cannot open: no such file or directory"


SPECIAL = [_fifo, _device, _directory, _link_loop, _socket, _missing]


@pytest.mark.parametrize("make", SPECIAL, ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("call", ["ck.read(P)", "ck.vocab_from_corpus(P)", "ck.load(MODEL, vocab_from=P)"])
def test_special_files_are_refused_without_blocking(tmp_path, make, call):
    path, reason = make(tmp_path)
    model = legacy_model(tmp_path / "model.h5")
    out = read_in_child(tmp_path, call.replace("P", repr(str(path))).replace("MODEL", repr(str(model))), timeout=30)
    assert out["raised"] is not None and {"OSError", "Error", "IOError"} <= set(out["raised"]), out
    assert out["message"] == f"{path}: {reason}"
    assert out["seconds"] < FAST


def test_the_compare_cli_refuses_a_fifo_text(tmp_path):
    os.mkfifo(tmp_path / "text")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn.keras",
            "compare",
            str(legacy_model(tmp_path / "m.h5")),
            str(tmp_path / "text"),
            "--vocab",
            VOCAB,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "not a regular file (a FIFO" in r.stderr, r.stderr


def test_errno_is_kept(tmp_path):
    with pytest.raises(charrnn.IOError) as err:
        ck.read(tmp_path / "missing.keras")
    assert err.value.errno == 2 and isinstance(err.value, OSError)
    _link_loop(tmp_path)
    with pytest.raises(OSError) as err:
        ck.read(tmp_path / "loop-a")
    assert err.value.errno == 40


# ------------------------------------------------------------------------------------------------
# save: atomic, and nothing left behind


@pytest.fixture
def small_model():
    m = charrnn.Model.create(small_config(V, units=8), VOCAB)
    yield m
    m.close()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_save_writes_a_model_that_reads_back(tmp_path, small_model):
    ck.save(small_model, tmp_path / "m.keras")
    assert ck.read(tmp_path / "m.keras").config["layers"][0]["units"] == 8
    assert leftovers(tmp_path) == []


def test_save_over_a_directory_leaves_nothing_behind(tmp_path, small_model):
    (tmp_path / "m.keras").mkdir()
    with pytest.raises(OSError):
        ck.save(small_model, tmp_path / "m.keras")
    assert leftovers(tmp_path) == [] and (tmp_path / "m.keras").is_dir()


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_save_interrupted_leaves_the_old_file(tmp_path, small_model, monkeypatch, where):
    """Ctrl-C (KeyboardInterrupt) while writing, flushing or renaming: the old file stays, whole, and the
    temporary file is removed."""
    target = tmp_path / "m.keras"
    target.write_bytes(b"the old model")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "write":
        monkeypatch.setattr(ck._zipfile.ZipFile, "writestr", interrupt)
    else:
        monkeypatch.setattr(ck._os, where, interrupt)
    with pytest.raises(KeyboardInterrupt):
        ck.save(small_model, target)
    assert target.read_bytes() == b"the old model"
    assert leftovers(tmp_path) == []


def test_save_on_a_full_disk_leaves_the_old_file(tmp_path):
    """A write that fails half-way (RLIMIT_FSIZE, i.e. a full disk) is an OSError; the old file stays."""
    (tmp_path / "m.keras").write_bytes(b"the old model")
    script = textwrap.dedent(f"""
        import resource, signal, charrnn, charrnn.keras as ck
        from charrnn_testutil import small_config
        m = charrnn.Model.create(small_config({V}, units=64), {VOCAB!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        try:
            ck.save(m, "m.keras")
        except OSError as exc:
            print("refused:", exc.errno)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent)] + sys.path))
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert "refused: 27" in r.stdout, r.stderr  # EFBIG
    assert (tmp_path / "m.keras").read_bytes() == b"the old model"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------
# the fuzzer's seeds and saved crashes


def test_fuzz_seeds_and_regressions_replay(tmp_path):
    """Every seed (made by Tests/fuzz/keras/make_seeds.py) and saved failure of the Keras fuzzer goes
    through the fuzzer's own check (fuzz_keras_reader.py --replay: under its address-space limit, a
    KerasModel or a KerasFormatError and nothing else); the ok- seeds read, the hostile- ones are refused."""
    seeds = tmp_path / "seeds"
    subprocess.run(
        [sys.executable, str(FUZZ_DIR / "make_seeds.py"), str(seeds)], check=True, capture_output=True, timeout=120
    )
    files = sorted(seeds.iterdir()) + sorted((FUZZ_DIR / "regressions").iterdir())
    r = subprocess.run(
        [sys.executable, str(FUZZ_DIR / "fuzz_keras_reader.py"), "--replay", *map(str, files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes = dict(line.rsplit(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert len(outcomes) == len(files) > 20
    for name, outcome in outcomes.items():
        kind = Path(name).name.split("-")[0]
        assert outcome == {"ok": "read", "hostile": "refused"}.get(kind, outcome), (name, outcome)
