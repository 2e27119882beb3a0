"""Reading Keras model files into a neutral description: a charrnn configuration dict and numpy weights.

Needs numpy and h5py only (never Keras). Supported files:

* Keras 3 ``.keras`` archives (zip: ``config.json``, ``metadata.json``, ``model.weights.h5``);
* legacy ``.h5`` files written by Keras 3 (``model.save("x.h5")``), tf.keras, standalone Keras 2 and
  Keras 1.x (attribute ``model_config`` plus the ``model_weights`` group).

The weights come out in the Keras 2/3 layouts that charrnn uses (LSTM gates i, f, c, o; GRU z, r, h;
GRU ``reset_after=True`` bias of shape (2, 3u)), whatever the version or the layer (CuDNNLSTM,
CuDNNGRU, Keras 1 per-gate arrays) that wrote them.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import _files
from ._errors import KerasFormatError, UnsupportedModelError

__all__ = ["KerasModel", "read", "KerasFormatError", "UnsupportedModelError"]


RNN_CLASSES = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru", "CuDNNLSTM": "lstm", "CuDNNGRU": "gru"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
NOOP_CLASSES = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
}
INPUT_CLASSES = {"InputLayer"}


@dataclass
class KerasModel:
    """A Keras model as charrnn sees it."""

    config: dict  # charrnn configuration (the charrnn_model_create schema)
    weights: dict  # {(layer, weight): float32 array} in charrnn/Keras layouts
    keras_version: str  # version that wrote the file ("1.2.2", "2.4.0", "3.6.0", ...)
    file_format: str  # "keras" (zip archive) or "h5"
    layer_names: dict = field(default_factory=dict)  # charrnn layer ("rnn0", "dense") -> Keras layer name
    window: bool = False  # the last recurrent layer had return_sequences=False
    stateful: bool = False  # a recurrent layer was stateful (charrnn sessions always are)
    timesteps: int | None = None  # the sequence length the input shape fixes (a tutorial's maxlen), if any
    keras_config: dict | None = None  # the model configuration as stored in the file
    notes: list = field(default_factory=list)

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def encoding(self) -> str:
        return self.config["input"]


# ------------------------------------------------------------------------------------------------
# helpers


def _major(version: str) -> int:
    m = re.match(r"\s*(\d+)", version or "")
    return int(m.group(1)) if m else 1


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _activation_name(value) -> str:
    if value is None:
        return "linear"
    if isinstance(value, dict):
        cfg = value.get("config")
        if isinstance(cfg, str):
            value = cfg
        elif isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            value = cfg["name"]
        else:
            value = value.get("class_name", "")
    name = str(value).strip()
    name = name.rsplit(".", 1)[-1]
    return name.lower()


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked_entry(entry, where: str):
    """(class_name, config, name) of one layer entry of the JSON configuration. The JSON is the user's
    file: a list, string or number where Keras writes an object must be reported, not crash the reader."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise KerasFormatError(f"{where}: a layer entry is not an object with a string 'class_name' ({_short(entry)})")
    cls = entry["class_name"]
    cfg = entry.get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise KerasFormatError(f"{where}: the 'config' of a {cls} layer is not an object ({_short(cfg)})")
    name = entry.get("name") if isinstance(entry.get("name"), str) else cfg.get("name", cls)
    if not isinstance(name, str):
        raise KerasFormatError(f"{where}: a {cls} layer has a name that is not a string ({_short(name)})")
    return cls, cfg, name


def _flag(cfg: dict, key: str, default: bool, where: str) -> bool:
    """A boolean option of a layer; a string such as "false" would otherwise count as true."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise KerasFormatError(f"{where}: '{key}' is {_short(value)}, not true or false")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _layer_entries(keras_config: dict):
    """The layers of a Sequential or functional-chain model, in execution order, as
    (class_name, config) pairs."""
    if not isinstance(keras_config, dict) or "class_name" not in keras_config:
        raise KerasFormatError("the model configuration is not a Keras model description")
    cls = keras_config["class_name"]
    cfg = keras_config.get("config")
    if cls == "Sequential":
        layers = cfg if isinstance(cfg, list) else cfg.get("layers") if isinstance(cfg, dict) else None
        if not isinstance(layers, list):
            raise KerasFormatError("the Sequential configuration has no layer list")
        out = []
        for entry in layers:
            entry_cls, entry_cfg, name = _checked_entry(entry, "the Sequential configuration")
            if entry_cls in ("Sequential", "Model", "Functional"):
                raise UnsupportedModelError(f"layer '{name}' ({entry_cls}): nested models are not supported")
            out.append((entry_cls, entry_cfg))
        return out
    if cls in ("Model", "Functional"):
        if cfg is not None and not isinstance(cfg, dict):
            raise KerasFormatError(f"the {cls} configuration is not an object ({_short(cfg)})")
        return _functional_chain(cfg or {})
    raise UnsupportedModelError(f"model class {_short(cls)} is not supported (Sequential or a functional chain)")


def _inbound_names(nodes) -> list:
    names = []

    def walk(obj):
        if isinstance(obj, dict):
            hist = obj.get("keras_history")
            if hist is None and isinstance(obj.get("config"), dict):
                hist = obj["config"].get("keras_history")
            if hist is not None:
                if not isinstance(hist, list) or not hist or not isinstance(hist[0], str):
                    raise KerasFormatError(
                        f"the functional configuration has a malformed keras_history ({_short(hist)})"
                    )
                names.append(hist[0])
                return
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
                names.append(obj[0])
                return
            for v in obj:
                walk(v)

    walk(nodes)
    return names


def _functional_chain(cfg: dict):
    layers = cfg.get("layers")
    if not isinstance(layers, list):
        raise KerasFormatError("the functional model configuration has no layer list")
    by_name = {}
    for entry in layers:
        _, _, name = _checked_entry(entry, "the functional configuration")
        by_name[name] = entry

    def io_names(key):
        value = cfg.get(key) or []
        names = _inbound_names(value)
        if not names and isinstance(value, list) and value and isinstance(value[0], str):
            names = [value[0]]
        return names

    inputs, outputs = io_names("input_layers"), io_names("output_layers")
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"functional model with {len(inputs)} inputs and {len(outputs)} outputs: only single-input, "
            "single-output chains are supported"
        )
    chain, name, seen = [], outputs[0], set()
    while True:
        if name in seen or name not in by_name:
            raise KerasFormatError(f"the functional configuration refers to an unknown layer '{name}'")
        seen.add(name)
        entry = by_name[name]
        chain.append(entry)
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise KerasFormatError(f"layer '{name}': 'inbound_nodes' is not a list ({_short(nodes)})")
        inbound = _inbound_names(nodes)
        if name == inputs[0] or not inbound:
            break
        if len(set(inbound)) != 1 or len(nodes) > 1:
            raise UnsupportedModelError(
                f"layer '{name}' ({entry.get('class_name')}): takes {len(inbound)} inputs; only plain "
                "chains of layers are supported"
            )
        name = inbound[0]
    chain.reverse()
    checked = [_checked_entry(e, "the functional configuration") for e in chain]
    used = {name for _, _, name in checked}
    for entry in layers:
        cls, _, n = _checked_entry(entry, "the functional configuration")
        if n not in used:
            raise UnsupportedModelError(
                f"layer '{n}' ({cls}): not on the input-to-output chain; only plain chains of layers are supported"
            )
    return [(cls, dict(cfg, name=name)) for cls, cfg, name in checked]


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


# ------------------------------------------------------------------------------------------------
# sizes: what the configuration declares, and the shape it gives each weight

MAX_VOCAB = 1 << 21  # charrnn's limits (ModelConfig.swift): a larger model cannot be created
MAX_UNITS = 1 << 14
MAX_LAYERS = 64
MAX_WEIGHT_ELEMENTS = (1 << 31) - 1  # charrnn's largest tensor
READ_BYTES_PER_WEIGHT = 16  # peak while reading: float64 data, its float32 copy, the conversions
ARCHIVE_BYTES_PER_WEIGHT = 32  # model.weights.h5 may hold float64 weights and an optimizer's two slots
ARCHIVE_OVERHEAD = 1 << 20  # HDF5's own structures in model.weights.h5


@dataclass
class _Plan:
    """What the configuration says about the weights, known before any of them is read."""

    vocab_size: int  # the Dense output layer's units
    elements: int  # values in all the weights the configuration describes

    @property
    def archive_limit(self) -> int:
        """The most bytes a .keras archive's model.weights.h5 can need for this model."""
        return ARCHIVE_OVERHEAD + ARCHIVE_BYTES_PER_WEIGHT * self.elements


def _size(value, limit: int, where: str, key: str) -> int:
    """A size from the configuration: a positive integer, at most `limit`."""
    if not _positive_int(value):
        raise KerasFormatError(f"{where}: no valid '{key}' in the configuration ({_short(value)})")
    if value > limit:
        raise UnsupportedModelError(f"{where}: {key}={value} is more than the {limit} charrnn supports")
    return value


def _units(cfg: dict):
    return cfg.get("units", cfg.get("output_dim"))  # Keras 1 says output_dim


def _dense_config(cls: str, cfg: dict, where: str):
    """The configuration of a Dense layer: the layer itself, Keras 1's TimeDistributedDense, or the layer
    inside TimeDistributed; None for other layers."""
    if cls in ("Dense", "TimeDistributedDense"):
        return cfg
    if cls == "TimeDistributed":
        inner_cls, inner_cfg, _ = _checked_entry(cfg.get("layer"), where)
        return inner_cfg if inner_cls == "Dense" else None
    return None


def _vocab_size(entries) -> int:
    """The units of the first Dense layer, the model's output vocabulary."""
    for cls, cfg in entries:
        where = f"layer '{cfg.get('name', cls)}' ({cls})"
        dense = _dense_config(cls, cfg, where)
        if dense is not None:
            return _size(_units(dense), MAX_VOCAB, where, "units")
    raise UnsupportedModelError("the model has no Dense output layer after the recurrent layers")


def _plan(entries) -> _Plan:
    """Checks every size the configuration declares against charrnn's limits, and the weights they add up
    to against the memory this process may use, before any weight is read: a configuration can claim
    10^9 units as easily as 10, and each weight's expected shape follows from these sizes."""
    vocab = _vocab_size(entries)
    elements, width, recurrent = 0, None, 0
    for cls, cfg in entries:
        where = f"layer '{cfg.get('name', cls)}' ({cls})"
        tensors = ()
        if cls == "Embedding":
            rows = _size(cfg.get("input_dim"), MAX_VOCAB, where, "input_dim")
            width = _size(cfg.get("output_dim"), MAX_UNITS, where, "output_dim")
            tensors = (rows * width,)
        elif cls in RNN_CLASSES:
            units = _size(_units(cfg), MAX_UNITS, where, "units")
            n = GATES[RNN_CLASSES[cls]]
            tensors = ((width or vocab) * n * units, units * n * units, 2 * n * units)
            width, recurrent = units, recurrent + 1
        elif (dense := _dense_config(cls, cfg, where)) is not None:
            units = _size(_units(dense), MAX_VOCAB, where, "units")
            tensors = ((width or 1) * units, units)
        for values in tensors:
            if values > MAX_WEIGHT_ELEMENTS:
                raise UnsupportedModelError(
                    f"{where}: a weight of {values} values, more than the "
                    f"{MAX_WEIGHT_ELEMENTS} charrnn holds in one tensor"
                )
        elements += sum(tensors)
    if recurrent > MAX_LAYERS:
        raise UnsupportedModelError(
            f"the model has {recurrent} recurrent layers, more than the {MAX_LAYERS} charrnn supports"
        )
    _check_memory(elements)
    return _Plan(vocab, elements)


def _check_memory(elements: int) -> None:
    need, budget = elements * READ_BYTES_PER_WEIGHT, _memory_budget()
    if need > budget:
        raise KerasFormatError(
            f"the configuration's weights ({elements} values) would take about {need >> 20} "
            f"MiB to read, more than the {budget >> 20} MiB this process can allocate"
        )


def _memory_budget() -> int:
    """Bytes this process may still allocate: the machine's memory, or less under an address-space or data
    limit (ulimit -v, -d)."""
    import resource

    try:
        budget = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        budget = 1 << 34
    for limit, used in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY:
            budget = min(budget, soft - _process_kib(used) * 1024)
    return max(budget, 0)


def _process_kib(field: str) -> int:
    """A size from /proc/self/status ("VmSize", ...) in KiB; 0 where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True)
class AtMost:
    """A dimension the configuration bounds but does not fix (the first recurrent layer's input width,
    which the encoding decides later)."""

    limit: int

    def __repr__(self) -> str:
        return f"at most {self.limit}"


def _fits(shape: tuple, pattern: tuple) -> bool:
    return len(shape) == len(pattern) and all(
        1 <= s <= p.limit if isinstance(p, AtMost) else s == p for s, p in zip(shape, pattern)
    )


def _describe_shapes(patterns) -> str:
    return " or ".join(repr(tuple(p)) for p in patterns)


def _embedding_shapes(name: str, rows: int, width: int):
    def shapes(count):
        if count != 1:
            raise KerasFormatError(f"layer '{name}' (Embedding): expected one 2-D weight array, found {count}")
        return [[(rows, width)]]

    return shapes


def _rnn_shapes(name: str, cls: str, cell: str, units: int, inputs, use_bias: bool, major: int):
    """The shapes a recurrent layer's weights may have, for each way Keras stores them (`inputs`: the
    width of its input, exact or bounded)."""
    n = GATES[cell]

    def shapes(count):
        if cls in ("CuDNNLSTM", "CuDNNGRU"):  # the Keras shapes, and a bias for each of two products
            want = [[(inputs, n * units)], [(units, n * units)], [(2 * n * units,)]]
        elif major == 1 and count == 3 * n and n > 1:  # Keras 1 per-gate W_g, U_g, b_g
            want = [[(inputs, units)], [(units, units)], [(units,)]] * n
        else:
            bias = [(n * units,)] + ([(2, 3 * units), (6 * units,)] if cell == "gru" else [])
            want = [[(inputs, n * units)], [(units, n * units)]] + ([bias] if use_bias else [])
        if count != len(want):
            raise KerasFormatError(f"layer '{name}' ({cls}): expected {len(want)} weight arrays, found {count}")
        return want

    return shapes


def _dense_shapes(name: str, inputs: int, units: int, use_bias: bool):
    def shapes(count):
        want = [[(inputs, units)], [(units,)]][: 2 if use_bias else 1]
        if count != len(want):
            raise KerasFormatError(f"layer '{name}' (Dense): expected {len(want)} weight arrays, found {count}")
        return want

    return shapes


def _layer_weights(source, name: str, cls: str, shapes, path) -> list:
    """The weights of layer `name` as float32 arrays. Every one is checked against the shapes the
    configuration allows (`shapes(count)`, a list of allowed shapes for each weight) and against what
    the file stores before any of them is read."""
    from . import _hdf5

    stored = source.get(name)
    if not stored:
        raise KerasFormatError(
            f"{path}: the configuration names layer '{name}' ({cls}) but the file has no weights for it"
        )
    checked = [
        (f"layer '{name}': weight '{label}'", _hdf5.check_weight(obj, f"layer '{name}': weight '{label}'", allowed))
        for (label, obj), allowed in zip(stored, shapes(len(stored)))
    ]
    return [_hdf5.read_weight(ds, where) for where, ds in checked]


# ------------------------------------------------------------------------------------------------
# conversions


def _per_gate(kernel, func, n):
    return np.hstack([func(k) for k in np.hsplit(kernel, n)])


def _from_cudnn_input(k):
    return k.T.reshape(k.shape, order="F")


def _check_kernels(name, cls, units, n, k, rk):
    if rk.shape != (units, n * units) or k.ndim != 2 or k.shape[1] != n * units:
        raise KerasFormatError(
            f"layer '{name}' ({cls}, units={units}): kernel {k.shape} / recurrent kernel {rk.shape} do not "
            f"fit (input_dim, {n * units}) / ({units}, {n * units})"
        )


def _convert_rnn(name, cls, cell, units, weights, version, reset_after, use_bias):
    """Returns [kernel, recurrent_kernel, (bias)] in the Keras 2/3 layout, and reset_after."""
    n = GATES[cell]
    ws = [np.asarray(w, dtype=np.float32) for w in weights]
    major = _major(version)
    if cls in ("CuDNNLSTM", "CuDNNGRU"):
        if len(ws) != 3:
            raise KerasFormatError(f"layer '{name}' ({cls}): expected 3 weight arrays, found {len(ws)}")
        k, rk, b = ws
        _check_kernels(name, cls, units, n, k, rk)  # the CuDNN layout has the Keras shapes
        k = _per_gate(k, _from_cudnn_input, n)
        rk = _per_gate(rk, lambda m: m.T, n)
        if cls == "CuDNNLSTM":
            if b.shape != (8 * units,):
                raise KerasFormatError(f"layer '{name}' (CuDNNLSTM): bias has shape {b.shape}, expected ({8 * units},)")
            b = b[: 4 * units] + b[4 * units :]
        else:
            if b.shape != (6 * units,):
                raise KerasFormatError(f"layer '{name}' (CuDNNGRU): bias has shape {b.shape}, expected ({6 * units},)")
            b = b.reshape(2, 3 * units)
        return [k, rk, b], True
    if major == 1 and len(ws) == 3 * n and n > 1:
        # Keras 1 per-gate arrays W_g (input_dim, u), U_g (u, u), b_g (u,), for each gate g
        for j, w in enumerate(ws):
            fits = (
                w.shape == (units,)
                if j % 3 == 2
                else (w.ndim == 2 and w.shape[1] == units and (j % 3 == 0 or w.shape[0] == units))
            )
            if not fits or (j % 3 == 0 and w.shape != ws[0].shape):
                raise KerasFormatError(
                    f"layer '{name}' ({cls}, units={units}): Keras 1 per-gate weight {j} has "
                    f"shape {w.shape}, which does not fit the others"
                )
        if cell == "lstm":
            # Keras 1 stores W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o.
            ws = [np.concatenate([ws[j], ws[j + 6], ws[j + 3], ws[j + 9]], axis=-1) for j in range(3)]
        else:
            ws = [np.concatenate([ws[j], ws[j + 3], ws[j + 6]], axis=-1) for j in range(3)]
    expected = 3 if use_bias else 2
    if len(ws) != expected:
        raise KerasFormatError(f"layer '{name}' ({cls}): expected {expected} weight arrays, found {len(ws)}")
    k, rk = ws[0], ws[1]
    _check_kernels(name, cls, units, n, k, rk)
    if use_bias:
        b = ws[2]
        if cell == "gru" and reset_after:
            if b.shape == (6 * units,):
                b = b.reshape(2, 3 * units)
            if b.shape != (2, 3 * units):
                raise KerasFormatError(
                    f"layer '{name}' (GRU reset_after=True): bias has shape {b.shape}, expected (2, {3 * units})"
                )
        elif b.shape != (n * units,):
            raise KerasFormatError(f"layer '{name}' ({cls}): bias has shape {b.shape}, expected ({n * units},)")
        return [k, rk, b], reset_after
    return [k, rk], reset_after


def _recurrent_activation(name, cls, value, version):
    act = _activation_name(value)
    if act == "sigmoid":
        return "sigmoid"
    if act == "hard_sigmoid":
        return "hard_sigmoid_keras3" if _major(version) >= 3 else "hard_sigmoid_keras2"
    raise UnsupportedModelError(
        f"layer '{name}' ({cls}): recurrent_activation '{act}' is not supported (sigmoid or hard_sigmoid)"
    )


def _quantization(cfg):
    """The quantization mode of a Keras 3 layer ("int8", "float8", ...), or None for float weights."""
    dt = cfg.get("dtype")
    if isinstance(dt, dict) and "Quantized" in str(dt.get("class_name", "")):
        inner = dt.get("config") if isinstance(dt.get("config"), dict) else {}
        return str(inner.get("mode") or inner.get("name") or "quantized")
    if isinstance(dt, str) and "_from_" in dt:  # Keras 3 before 3.6: "int8_from_float32"
        return dt.split("_from_")[0]
    if cfg.get("quantization_config"):
        return "quantized"
    return None


def _activation(name, cls, value):
    act = _activation_name(value)
    if act in ("tanh", "relu", "linear"):
        return act
    raise UnsupportedModelError(f"layer '{name}' ({cls}): activation '{act}' is not supported (tanh, relu, linear)")


def _batch_shape(cfg):
    for key, prefix in (("batch_shape", []), ("batch_input_shape", []), ("input_shape", [None])):
        value = cfg.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(d is None or isinstance(d, int) for d in value):
            raise KerasFormatError(f"layer '{cfg.get('name', '?')}': '{key}' is not a list of sizes ({_short(value)})")
        return prefix + list(value)
    return None


# ------------------------------------------------------------------------------------------------
# the reader

# What h5py, numpy, zipfile and json raise on damage no check foresaw. Each is the file's fault and is
# reported as a KerasFormatError naming the file (MemoryError included: a size no check bounded).
_DAMAGE = (
    OSError,
    RuntimeError,
    ValueError,
    OverflowError,
    MemoryError,
    EOFError,
    NotImplementedError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
)


def read(path, encoding: str | None = None) -> KerasModel:
    """Reads a Keras model file into a :class:`KerasModel` (charrnn configuration + numpy weights).

    ``encoding`` ("onehot", "scalar" or "embedding") overrides the auto-detected input encoding.
    Raises KerasFormatError for unreadable files and UnsupportedModelError for models charrnn cannot
    reproduce exactly, both naming the file; charrnn.IOError (an OSError) for a path that cannot be
    opened or is not a regular file (a FIFO, a device, a directory). Nothing outside the file is read:
    HDF5 external links, external storage and virtual datasets are refused."""
    if encoding is not None and encoding not in ("onehot", "scalar", "embedding"):
        raise ValueError(f"encoding must be 'onehot', 'scalar' or 'embedding', not {encoding!r}")
    with _files.open_regular(path) as fh:
        try:
            return _read_open_file(fh, os.fspath(path), encoding)
        except KerasFormatError as exc:
            raise _naming(exc, os.fspath(path))
        except _DAMAGE as exc:
            raise KerasFormatError(f"{os.fspath(path)}: {_damage(exc)} ({type(exc).__name__}: {exc})") from exc


def _naming(exc: KerasFormatError, path: str) -> KerasFormatError:
    """`exc` with its message prefixed by the file's path, if it does not name the file yet."""
    message = str(exc)
    if not message.startswith(f"{path}: "):
        exc.args = (f"{path}: {message}",)
    return exc


def _damage(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "missing entry in the model configuration or weights"
    if isinstance(exc, (TypeError, AttributeError, IndexError)):
        # JSON of a shape no check foresaw: still the file's fault, and still a FormatError
        return "malformed model configuration"
    if isinstance(exc, MemoryError):
        return "reading it ran out of memory"
    # h5py reports damage past the file's header only when a group, attribute or array is read
    return "damaged HDF5 data"


def _read_open_file(fh, path: str, encoding):
    if _files.file_kind(fh, path) == "keras":
        return _read_archive(fh, path, encoding)
    return _read_h5(fh, path, encoding)


def _read_archive(fh, path: str, encoding):
    """A Keras 3 ``.keras`` archive: config.json, metadata.json and model.weights.h5. The configuration
    is read first, so the weights member is capped at what that model can need."""
    from . import _hdf5  # imports h5py: `import charrnn.keras` stays quick

    with _files.open_archive(fh, path) as z:
        names = set(z.namelist())
        for required in ("config.json", "model.weights.h5"):
            if required not in names:
                raise KerasFormatError(f"{path}: the .keras archive has no {required}")
        config = _files.json_member(z, "config.json", path)
        meta = _files.json_member(z, "metadata.json", path) if "metadata.json" in names else {}
        if not isinstance(meta, dict):
            raise KerasFormatError(f"{path}: metadata.json in the archive is not a JSON object ({_short(meta)})")
        entries = _layer_entries(config)
        plan = _plan(entries)
        with _files.member_file(z, "model.weights.h5", plan.archive_limit, path) as weights:
            with _hdf5.open_file(weights, path, "model.weights.h5 in the archive") as f:
                version = str(meta.get("keras_version", "3"))
                return _build(entries, plan, _hdf5.KerasV3Weights(f, entries), version, "keras", config, encoding, path)


def _read_h5(fh, path: str, encoding):
    """A legacy HDF5 model: attribute ``model_config`` and the ``model_weights`` group."""
    from . import _hdf5

    with _hdf5.open_file(fh, path, "HDF5 file") as f:
        config, version = _h5_config(f, path)
        entries = _layer_entries(config)
        plan = _plan(entries)
        return _build(entries, plan, _hdf5.LegacyWeights(f), version, "h5", config, encoding, path)


def _h5_config(f, path: str):
    """(model configuration, Keras version) from a legacy HDF5 file's attributes."""
    from . import _hdf5

    raw = _hdf5.attribute(f, "model_config", "the file")
    if raw is None:
        raise KerasFormatError(
            f"{path}: the HDF5 file has no model_config attribute (a weights-only file?); save the whole model"
        )
    try:
        config = json.loads(_text(raw))
    except (ValueError, RecursionError) as exc:
        raise KerasFormatError(f"{path}: unreadable model configuration ({exc})") from exc
    version = _hdf5.attribute(f, "keras_version", "the file")
    if version is None:
        weights = _hdf5.child(f, "model_weights", "the file")
        version = _hdf5.attribute(weights, "keras_version", "model_weights") if weights is not None else None
    return config, _text(version) if version is not None else "1"


def _build(entries, plan, source, version, fmt, keras_config, encoding, path):
    major = _major(version)
    weights = {}
    layer_names = {}
    rnn_layers = []
    input_shape = None
    input_dtype = None
    embedding = None  # (V, E)
    head = None  # dict(activation, use_bias, units)
    head_has_softmax_activation = False
    pending_no_sequences = None  # name of an RNN layer with return_sequences=False
    stateful = False
    notes = []

    def fetch(name, cls, shapes):
        return _layer_weights(source, name, cls, shapes, path)

    for cls, cfg in entries:
        name = cfg.get("name", cls)
        where = f"layer '{name}' ({cls})"
        # Keras 1's deprecated TimeDistributedDense is a Dense over time with the same weights (W, b)
        inner_cls = "Dense" if cls == "TimeDistributedDense" else cls
        if cls == "TimeDistributed":
            inner_cls, inner_cfg, _ = _checked_entry(cfg.get("layer"), where)
            if inner_cls in NOOP_CLASSES:
                continue
            if inner_cls != "Dense":
                raise UnsupportedModelError(
                    f"layer '{name}' (TimeDistributed({inner_cls})): only TimeDistributed(Dense) is supported"
                )
            if input_shape is None:
                input_shape = _batch_shape(cfg)
            cfg = dict(inner_cfg, name=name)
        mode = _quantization(cfg)
        if mode is not None:
            raise UnsupportedModelError(
                f"{where}: quantized weights ({mode}) are not supported; import the model as it was before quantize()"
            )
        if input_shape is None and cls not in INPUT_CLASSES:
            input_shape = _batch_shape(cfg)
            if cfg.get("dtype") and not isinstance(cfg.get("dtype"), dict):
                input_dtype = input_dtype or str(cfg.get("dtype"))
        if cls in INPUT_CLASSES:
            input_shape = _batch_shape(cfg)
            dt = cfg.get("dtype")
            input_dtype = dt if isinstance(dt, str) else None
            if _flag(cfg, "sparse", False, where) or _flag(cfg, "ragged", False, where):
                raise UnsupportedModelError(f"layer '{name}' (InputLayer): sparse or ragged inputs are not supported")
            continue
        if cls in NOOP_CLASSES:
            continue
        if cls == "Masking":
            raise UnsupportedModelError(f"layer '{name}' (Masking): masking is not supported")
        if cls == "Embedding":
            if rnn_layers or embedding is not None:
                raise UnsupportedModelError(
                    f"layer '{name}' (Embedding): only one Embedding, before the recurrent layers, is supported"
                )
            if _flag(cfg, "mask_zero", False, where):
                raise UnsupportedModelError(f"layer '{name}' (Embedding): mask_zero=True is not supported")
            rows = _size(cfg.get("input_dim"), MAX_VOCAB, where, "input_dim")
            width = _size(cfg.get("output_dim"), MAX_UNITS, where, "output_dim")
            emb = fetch(name, cls, _embedding_shapes(name, rows, width))[0]
            embedding = emb.shape
            weights[("embedding", "embeddings")] = emb
            layer_names["embedding"] = name
            continue
        if cls in RNN_CLASSES:
            if head is not None:
                raise UnsupportedModelError(
                    f"layer '{name}' ({cls}): recurrent layer after the Dense output layer is not supported"
                )
            if pending_no_sequences is not None:
                raise UnsupportedModelError(
                    f"layer '{pending_no_sequences}': return_sequences=False on a recurrent layer that is "
                    f"followed by another recurrent layer ('{name}') is not supported"
                )
            cell = RNN_CLASSES[cls]
            for flag in ("go_backwards", "return_state", "time_major"):
                if _flag(cfg, flag, False, where):
                    raise UnsupportedModelError(f"layer '{name}' ({cls}): {flag}=True is not supported")
            if _flag(cfg, "stateful", False, where):
                stateful = True
            units = _size(_units(cfg), MAX_UNITS, where, "units")
            if cls.startswith("CuDNN"):
                act, ract, use_bias = "tanh", "sigmoid", True
                reset_after = True
            else:
                act = _activation(name, cls, cfg.get("activation", "tanh"))
                if cell == "rnn":
                    ract = "sigmoid"
                else:
                    ract = _recurrent_activation(
                        name,
                        cls,
                        cfg.get(
                            "recurrent_activation",
                            cfg.get("inner_activation", "sigmoid" if major >= 3 else "hard_sigmoid"),
                        ),
                        version,
                    )
                use_bias = _flag(cfg, "use_bias" if "use_bias" in cfg else "bias", True, where)
                reset_after = _flag(cfg, "reset_after", major >= 3, where) if cell == "gru" else True
                if major == 1:
                    reset_after = False if cell == "gru" else True
            # the input width: the previous layer's units, the Embedding's width, or (one-hot or scalar
            # input, decided below) at most the vocabulary size
            inputs = (
                rnn_layers[-1]["units"]
                if rnn_layers
                else embedding[1]
                if embedding is not None
                else AtMost(plan.vocab_size)
            )
            ws = fetch(name, cls, _rnn_shapes(name, cls, cell, units, inputs, use_bias, major))
            converted, reset_after = _convert_rnn(
                name, cls, cell, units, ws, version, reset_after if cell == "gru" else False, use_bias
            )
            idx = len(rnn_layers)
            lname = f"rnn{idx}"
            weights[(lname, "kernel")] = converted[0]
            weights[(lname, "recurrent_kernel")] = converted[1]
            if use_bias:
                weights[(lname, "bias")] = converted[2]
            layer = {
                "cell": cell,
                "units": units,
                "activation": act,
                "recurrent_activation": ract,
                "use_bias": use_bias,
                "reset_after": bool(reset_after) if cell == "gru" else True,
            }
            rnn_layers.append(layer)
            layer_names[lname] = name
            if not _flag(cfg, "return_sequences", False, where):
                pending_no_sequences = name
            continue
        if cls == "Dense" or inner_cls == "Dense":
            if not rnn_layers:
                raise UnsupportedModelError(
                    f"layer '{name}' (Dense): a Dense layer before the recurrent layers is not supported"
                )
            if head is not None:
                raise UnsupportedModelError(
                    f"layer '{name}' (Dense): only one Dense output layer is supported "
                    f"(already have '{layer_names['dense']}')"
                )
            act = _activation_name(cfg.get("activation", "linear"))
            if act not in ("softmax", "linear"):
                raise UnsupportedModelError(
                    f"layer '{name}' (Dense): activation '{act}' is not supported (softmax or linear)"
                )
            use_bias = _flag(cfg, "use_bias" if "use_bias" in cfg else "bias", True, where)
            units = _size(_units(cfg), MAX_VOCAB, where, "units")
            ws = fetch(name, cls, _dense_shapes(name, rnn_layers[-1]["units"], units, use_bias))
            weights[("dense", "kernel")] = ws[0]
            if use_bias:
                weights[("dense", "bias")] = ws[1]
            head = {"activation": act, "use_bias": use_bias, "units": units}
            layer_names["dense"] = name
            continue
        if cls == "Activation":
            act = _activation_name(cfg.get("activation"))
            if act == "linear":
                continue
            if (
                act == "softmax"
                and head is not None
                and head["activation"] == "linear"
                and not head_has_softmax_activation
            ):
                head["activation"] = "softmax"
                head_has_softmax_activation = True
                continue
            raise UnsupportedModelError(
                f"layer '{name}' (Activation): activation '{act}' here is not supported "
                "(only softmax right after a linear Dense)"
            )
        if cls == "Softmax":
            # charrnn normalises over the characters, the last axis: (batch, time, V), or (batch, V)
            # after return_sequences=False. Softmax(axis=1) over time must not pass as the same thing.
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
            last = 1 if pending_no_sequences is not None else 2
            if isinstance(axis, bool) or axis not in (-1, last):
                raise UnsupportedModelError(
                    f"{where}: softmax over axis {_short(cfg.get('axis'))} is not "
                    "supported (only the last axis, the characters)"
                )
            if head is not None and head["activation"] == "linear" and not head_has_softmax_activation:
                head["activation"] = "softmax"
                head_has_softmax_activation = True
                continue
            raise UnsupportedModelError(f"layer '{name}' (Softmax): only right after a linear Dense")
        raise UnsupportedModelError(f"layer '{name}' ({cls}): layer type '{cls}' is not supported")

    if not rnn_layers:
        raise UnsupportedModelError("the model has no recurrent layer (SimpleRNN, LSTM, GRU)")
    if head is None:
        raise UnsupportedModelError("the model has no Dense output layer after the recurrent layers")
    vocab_size = int(head["units"])

    # input encoding
    first_in = weights[("rnn0", "kernel")].shape[0]
    if embedding is not None:
        detected = "embedding"
        if embedding[0] != vocab_size:
            raise KerasFormatError(
                f"Embedding input_dim {embedding[0]} differs from the output vocabulary size {vocab_size}"
            )
        if first_in != embedding[1]:
            raise KerasFormatError(
                f"the first recurrent layer's input dimension {first_in} differs from the "
                f"Embedding output_dim {embedding[1]}"
            )
    elif first_in == vocab_size and vocab_size != 1:
        detected = "onehot"
    elif first_in == 1:
        detected = "scalar"
    else:
        raise UnsupportedModelError(
            f"layer '{layer_names['rnn0']}': input dimension {first_in} matches neither the vocabulary size "
            f"{vocab_size} (one-hot) nor 1 (scalar index / vocab_size), and there is no Embedding layer"
        )
    if encoding is not None and encoding != detected:
        ok = (encoding == "onehot" and first_in == vocab_size and embedding is None) or (
            encoding == "scalar" and first_in == 1 and embedding is None
        )
        if not ok:
            raise UnsupportedModelError(
                f"encoding='{encoding}' does not fit the model (input dimension "
                f"{first_in}, vocabulary {vocab_size}, detected '{detected}')"
            )
        detected = encoding
    if (
        input_shape is not None
        and detected != "embedding"
        and len(input_shape) == 3
        and input_shape[-1] not in (None, first_in)
    ):
        raise KerasFormatError(
            f"the input shape {input_shape} disagrees with the first recurrent layer's input dimension {first_in}"
        )
    if stateful:
        notes.append("stateful recurrent layers: charrnn sessions carry state like a batch-1 stateful model")
    if pending_no_sequences is not None:
        notes.append(f"'{pending_no_sequences}' has return_sequences=False: charrnn predicts after every prefix")

    config = {
        "vocab_size": vocab_size,
        "input": detected,
        "embedding_dim": int(embedding[1]) if embedding is not None else 0,
        "layers": rnn_layers,
        "dropout": 0.0,
        "head": {"activation": head["activation"], "use_bias": head["use_bias"]},
    }
    timesteps = (
        input_shape[1] if input_shape is not None and len(input_shape) >= 2 and _positive_int(input_shape[1]) else None
    )
    return KerasModel(
        config=config,
        weights=weights,
        keras_version=version,
        file_format=fmt,
        layer_names=layer_names,
        window=pending_no_sequences is not None,
        stateful=stateful,
        keras_config=keras_config,
        notes=notes,
        timesteps=timesteps,
    )
