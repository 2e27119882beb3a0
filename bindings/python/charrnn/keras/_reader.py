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

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KerasModel", "read", "KerasFormatError", "UnsupportedModelError"]


try:  # part of the charrnn package: join its exception hierarchy (charrnn.Error, status FORMAT)
    from .. import FormatError as _FormatBase
except ImportError:  # loaded on its own (no libcharrnn needed to read Keras files)
    _FormatBase = ValueError


class KerasFormatError(_FormatBase):
    """The file is not a readable Keras model (corrupt archive or HDF5, missing configuration or weights,
    weights whose shapes disagree with the configuration). A charrnn.FormatError and a ValueError."""


class UnsupportedModelError(KerasFormatError):
    """The Keras model uses something charrnn cannot reproduce exactly; the message names the layer and
    the reason. A charrnn.FormatError and a ValueError."""


RNN_CLASSES = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru", "CuDNNLSTM": "lstm", "CuDNNGRU": "gru"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
NOOP_CLASSES = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization",
}
INPUT_CLASSES = {"InputLayer"}


@dataclass
class KerasModel:
    """A Keras model as charrnn sees it."""

    config: dict                      # charrnn configuration (the charrnn_model_create schema)
    weights: dict                     # {(layer, weight): float32 array} in charrnn/Keras layouts
    keras_version: str                # version that wrote the file ("1.2.2", "2.4.0", "3.6.0", ...)
    file_format: str                  # "keras" (zip archive) or "h5"
    layer_names: dict = field(default_factory=dict)   # charrnn layer ("rnn0", "dense") -> Keras layer name
    window: bool = False              # the last recurrent layer had return_sequences=False
    stateful: bool = False            # a recurrent layer was stateful (charrnn sessions always are)
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


def _names_attr(group, attr) -> list:
    """Reads a list-of-strings attribute, also in the chunked form (attr0, attr1, ...) Keras uses for
    attributes larger than the HDF5 header limit."""
    if attr in group.attrs:
        raw = list(group.attrs[attr])
    else:
        raw, i = [], 0
        while f"{attr}{i}" in group.attrs:
            raw.extend(group.attrs[f"{attr}{i}"])
            i += 1
    return [_text(n) for n in raw]


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
        raise KerasFormatError(f"{where}: a layer entry is not an object with a string 'class_name' "
                               f"({_short(entry)})")
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
                    raise KerasFormatError(f"the functional configuration has a malformed keras_history "
                                           f"({_short(hist)})")
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
            "single-output chains are supported")
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
                "chains of layers are supported")
        name = inbound[0]
    chain.reverse()
    checked = [_checked_entry(e, "the functional configuration") for e in chain]
    used = {name for _, _, name in checked}
    for entry in layers:
        cls, _, n = _checked_entry(entry, "the functional configuration")
        if n not in used:
            raise UnsupportedModelError(f"layer '{n}' ({cls}): not on the input-to-output "
                                        "chain; only plain chains of layers are supported")
    return [(cls, dict(cfg, name=name)) for cls, cfg, name in checked]


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


# ------------------------------------------------------------------------------------------------
# weight sources

MAX_WEIGHT_ELEMENTS = (1 << 31) - 1   # charrnn's largest tensor


def _weight_array(ds, layer: str, label: str) -> np.ndarray:
    """One stored weight as float32. The declared shape and type are checked before any data is read:
    a few bytes of HDF5 can declare a terabyte-sized array, and strings or quantized integers must not
    be converted as if they were weights."""
    import h5py

    where = f"layer '{layer}': weight '{label}'"
    if not isinstance(ds, h5py.Dataset) or ds.shape is None:   # a group, or HDF5's null dataspace
        raise KerasFormatError(f"{where} is not an array in the file")
    if ds.size > MAX_WEIGHT_ELEMENTS:
        raise KerasFormatError(f"{where} declares shape {ds.shape}, more than the {MAX_WEIGHT_ELEMENTS} values "
                               "charrnn can hold in one tensor")
    unfiltered = ds.id.get_create_plist().get_nfilters() == 0
    if unfiltered and ds.id.get_storage_size() < ds.nbytes:
        raise KerasFormatError(f"{where} declares shape {ds.shape} ({ds.nbytes} bytes) but the file stores only "
                               f"{ds.id.get_storage_size()} bytes of it (a truncated or damaged file)")
    kind, size = ds.dtype.kind, ds.dtype.itemsize
    if kind == "f":
        with np.errstate(over="ignore"):   # overflow to infinity is reported below
            array = np.asarray(ds[()], dtype=np.float32)
    elif kind == "V" and size == 2 and _text(ds.attrs.get("dtype", "")) == "bfloat16":
        # Keras 3 stores bfloat16 as opaque 2-byte values: the high half of a float32, exactly.
        array = (np.asarray(ds[()]).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        hint = " (a quantized model? import the float model it was made from)" if kind in "iu" else ""
        raise KerasFormatError(f"{where} has data type {ds.dtype}; charrnn imports floating-point weights only "
                               f"(float16, bfloat16, float32, float64){hint}")
    # float64 values beyond float32's range become infinite here, so this checks what charrnn would get
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise KerasFormatError(f"{where} holds {bad} NaN or infinite values (did training diverge?); "
                               "charrnn does not import non-finite weights")
    return array


class _H5Weights:
    """Legacy HDF5: group ``model_weights`` (or the root), attribute ``layer_names``, each layer group
    with ``weight_names`` (order matters)."""

    def __init__(self, f):
        self.root = f["model_weights"] if "model_weights" in f else f
        self.layer_names = set(_names_attr(self.root, "layer_names")) if (
            "layer_names" in self.root.attrs or "layer_names0" in self.root.attrs) else None

    def get(self, name: str, cls: str):
        if name not in self.root:
            return None
        g = self.root[name]
        out = []
        for wn in _names_attr(g, "weight_names"):
            if wn not in g:
                raise KerasFormatError(f"layer '{name}': weight '{wn}' is listed but not stored in the file")
            out.append(_weight_array(g[wn], name, wn))
        return out


class _KerasV3Weights:
    """Keras 3 ``model.weights.h5``: ``layers/<key>/vars/<i>``, recurrent layers under ``cell/vars``,
    wrappers under ``layer/vars``; the key is the snake-cased class name made unique, and ``vars`` has
    the layer's name as attribute ``name``."""

    def __init__(self, f, entries):
        self.f = f
        layers = f["layers"] if "layers" in f else None
        self.by_name = {}
        if layers is not None:
            for key in layers:
                g = layers[key]
                if "vars" in g and "name" in g["vars"].attrs:
                    self.by_name[_text(g["vars"].attrs["name"])] = g
            # Older Keras 3 files have no name attribute: rebuild the keys as Keras assigns them.
            counts = {}
            for cls, cfg in entries:
                if cls in INPUT_CLASSES:
                    continue
                base = _snake(cls)
                n = counts.get(base, 0)
                counts[base] = n + 1
                key = base if n == 0 else f"{base}_{n}"
                name = cfg.get("name")
                if name not in self.by_name and key in layers:
                    self.by_name[name] = layers[key]

    def get(self, name: str, cls: str):
        g = self.by_name.get(name)
        if g is None:
            return None
        for sub in ("cell/vars", "layer/vars", "layer/cell/vars", "vars"):
            if sub in g and len(g[sub]) > 0:
                v = g[sub]
                keys = sorted(v.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
                return [_weight_array(v[k], name, f"{sub}/{k}") for k in keys]
        return []


# ------------------------------------------------------------------------------------------------
# opening files


MAX_JSON_BYTES = 64 << 20   # a model's config.json is kilobytes; more is damage or a zip bomb


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 34


def _member(z, name: str, limit: int, path) -> bytes:
    """An archive member, refused when it declares more bytes than `limit`: zipfile would inflate all
    of it into memory, and a few kilobytes of deflated zeros can declare gigabytes."""
    size = z.getinfo(name).file_size
    if size > limit:
        raise KerasFormatError(f"{path}: {name} in the archive unpacks to {size} bytes, more than the "
                               f"{limit} this reader accepts")
    return z.read(name)


def _open(path):
    """Returns (keras_config, keras_version, file_format, weights_source, closer)."""
    import h5py

    path = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise exc
    if head[:4] == b"PK\x03\x04" or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise KerasFormatError(f"{path}: the .keras archive has no config.json")
                if "model.weights.h5" not in names:
                    raise KerasFormatError(f"{path}: the .keras archive has no model.weights.h5")
                config = json.loads(_member(z, "config.json", MAX_JSON_BYTES, path).decode("utf-8"))
                meta = json.loads(_member(z, "metadata.json", MAX_JSON_BYTES, path).decode("utf-8")) \
                    if "metadata.json" in names else {}
                blob = _member(z, "model.weights.h5", _memory_bytes(), path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as exc:
            # RuntimeError: an encrypted member; NotImplementedError: a compression method zipfile lacks
            if isinstance(exc, KerasFormatError):
                raise
            raise KerasFormatError(f"{path}: corrupt .keras archive ({exc})") from exc
        if not isinstance(meta, dict):
            raise KerasFormatError(f"{path}: metadata.json in the archive is not a JSON object ({_short(meta)})")
        try:
            f = h5py.File(io.BytesIO(blob), "r")
        except Exception as exc:  # h5py raises OSError for corrupt files
            raise KerasFormatError(f"{path}: corrupt model.weights.h5 in the archive ({exc})") from exc
        version = str(meta.get("keras_version", "3"))
        return config, version, "keras", f
    if head != b"\x89HDF\r\n\x1a\n" and not h5py.is_hdf5(path):
        raise KerasFormatError(f"{path}: not a Keras file (neither a .keras zip archive nor HDF5)")
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise KerasFormatError(f"{path}: corrupt HDF5 file ({exc})") from exc
    try:
        if "model_config" not in f.attrs:
            raise KerasFormatError(f"{path}: the HDF5 file has no model_config attribute (a weights-only "
                                   "file?); save the whole model")
        config = json.loads(_text(f.attrs["model_config"]))
        version = _text(f.attrs["keras_version"]) if "keras_version" in f.attrs else (
            _text(f["model_weights"].attrs["keras_version"])
            if "model_weights" in f and "keras_version" in f["model_weights"].attrs else "1")
    except KerasFormatError:
        f.close()
        raise
    except Exception as exc:
        f.close()
        raise KerasFormatError(f"{path}: unreadable model configuration ({exc})") from exc
    return config, version, "h5", f


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
            f"fit (input_dim, {n * units}) / ({units}, {n * units})")


def _convert_rnn(name, cls, cell, units, weights, version, reset_after, use_bias):
    """Returns [kernel, recurrent_kernel, (bias)] in the Keras 2/3 layout, and reset_after."""
    n = GATES[cell]
    ws = [np.asarray(w, dtype=np.float32) for w in weights]
    major = _major(version)
    if cls in ("CuDNNLSTM", "CuDNNGRU"):
        if len(ws) != 3:
            raise KerasFormatError(f"layer '{name}' ({cls}): expected 3 weight arrays, found {len(ws)}")
        k, rk, b = ws
        _check_kernels(name, cls, units, n, k, rk)   # the CuDNN layout has the Keras shapes
        k = _per_gate(k, _from_cudnn_input, n)
        rk = _per_gate(rk, lambda m: m.T, n)
        if cls == "CuDNNLSTM":
            if b.shape != (8 * units,):
                raise KerasFormatError(f"layer '{name}' (CuDNNLSTM): bias has shape {b.shape}, expected "
                                       f"({8 * units},)")
            b = b[: 4 * units] + b[4 * units:]
        else:
            if b.shape != (6 * units,):
                raise KerasFormatError(f"layer '{name}' (CuDNNGRU): bias has shape {b.shape}, expected "
                                       f"({6 * units},)")
            b = b.reshape(2, 3 * units)
        return [k, rk, b], True
    if major == 1 and len(ws) == 3 * n and n > 1:
        # Keras 1 per-gate arrays W_g (input_dim, u), U_g (u, u), b_g (u,), for each gate g
        for j, w in enumerate(ws):
            fits = w.shape == (units,) if j % 3 == 2 else (w.ndim == 2 and w.shape[1] == units and
                                                            (j % 3 == 0 or w.shape[0] == units))
            if not fits or (j % 3 == 0 and w.shape != ws[0].shape):
                raise KerasFormatError(f"layer '{name}' ({cls}, units={units}): Keras 1 per-gate weight {j} has "
                                       f"shape {w.shape}, which does not fit the others")
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
                raise KerasFormatError(f"layer '{name}' (GRU reset_after=True): bias has shape {b.shape}, "
                                       f"expected (2, {3 * units})")
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
    raise UnsupportedModelError(f"layer '{name}' ({cls}): recurrent_activation '{act}' is not supported "
                                "(sigmoid or hard_sigmoid)")


def _quantization(cfg):
    """The quantization mode of a Keras 3 layer ("int8", "float8", ...), or None for float weights."""
    dt = cfg.get("dtype")
    if isinstance(dt, dict) and "Quantized" in str(dt.get("class_name", "")):
        inner = dt.get("config") if isinstance(dt.get("config"), dict) else {}
        return str(inner.get("mode") or inner.get("name") or "quantized")
    if isinstance(dt, str) and "_from_" in dt:   # Keras 3 before 3.6: "int8_from_float32"
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
            raise KerasFormatError(f"layer '{cfg.get('name', '?')}': '{key}' is not a list of sizes "
                                   f"({_short(value)})")
        return prefix + list(value)
    return None


# ------------------------------------------------------------------------------------------------
# the reader


def read(path, encoding: str | None = None) -> KerasModel:
    """Reads a Keras model file into a :class:`KerasModel` (charrnn configuration + numpy weights).

    ``encoding`` ("onehot", "scalar" or "embedding") overrides the auto-detected input encoding.
    Raises KerasFormatError for unreadable files and UnsupportedModelError for models charrnn cannot
    reproduce exactly."""
    if encoding is not None and encoding not in ("onehot", "scalar", "embedding"):
        raise ValueError(f"encoding must be 'onehot', 'scalar' or 'embedding', not {encoding!r}")
    keras_config, version, fmt, f = _open(path)
    try:
        entries = _layer_entries(keras_config)
        source = _KerasV3Weights(f, entries) if fmt == "keras" else _H5Weights(f)
        return _build(entries, source, version, fmt, keras_config, encoding, str(path))
    except KeyError as exc:
        raise KerasFormatError(f"{path}: missing entry {exc} in the model configuration or weights") from exc
    except (TypeError, AttributeError, IndexError) as exc:
        # JSON of a shape no check above foresaw: still the file's fault, and still a FormatError
        raise KerasFormatError(f"{path}: malformed model configuration ({type(exc).__name__}: {exc})") from exc
    except (OSError, RuntimeError, UnicodeError) as exc:
        # h5py reports damage past the file's header only when a group, attribute or array is read
        raise KerasFormatError(f"{path}: damaged HDF5 data ({type(exc).__name__}: {exc})") from exc
    finally:
        f.close()


def _build(entries, source, version, fmt, keras_config, encoding, path):
    major = _major(version)
    weights = {}
    layer_names = {}
    rnn_layers = []
    input_shape = None
    input_dtype = None
    embedding = None          # (V, E)
    head = None               # dict(activation, use_bias, units)
    head_has_softmax_activation = False
    pending_no_sequences = None   # name of an RNN layer with return_sequences=False
    stateful = False
    notes = []

    def fetch(name, cls, required=True):
        ws = source.get(name, cls)
        if ws is None or (required and len(ws) == 0):
            raise KerasFormatError(f"{path}: the configuration names layer '{name}' ({cls}) but the file has "
                                   "no weights for it")
        return ws

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
                raise UnsupportedModelError(f"layer '{name}' (TimeDistributed({inner_cls})): only "
                                            "TimeDistributed(Dense) is supported")
            if input_shape is None:
                input_shape = _batch_shape(cfg)
            cfg = dict(inner_cfg, name=name)
        mode = _quantization(cfg)
        if mode is not None:
            raise UnsupportedModelError(f"{where}: quantized weights ({mode}) are not supported; import the "
                                        "model as it was before quantize()")
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
                raise UnsupportedModelError(f"layer '{name}' (Embedding): only one Embedding, before the "
                                            "recurrent layers, is supported")
            if _flag(cfg, "mask_zero", False, where):
                raise UnsupportedModelError(f"layer '{name}' (Embedding): mask_zero=True is not supported")
            ws = fetch(name, cls)
            if len(ws) != 1 or np.asarray(ws[0]).ndim != 2:
                raise KerasFormatError(f"layer '{name}' (Embedding): expected one 2-D weight array, found "
                                       f"{[np.shape(w) for w in ws]}")
            emb = np.asarray(ws[0], dtype=np.float32)
            in_dim, out_dim = cfg.get("input_dim"), cfg.get("output_dim")
            if not all(d is None or _positive_int(d) for d in (in_dim, out_dim)):
                raise KerasFormatError(f"{where}: input_dim {_short(in_dim)} / output_dim {_short(out_dim)} "
                                       "are not positive integers")
            if (in_dim is not None and emb.shape[0] != in_dim) or (out_dim is not None and emb.shape[1] != out_dim):
                raise KerasFormatError(f"layer '{name}' (Embedding): weights {emb.shape} disagree with "
                                       f"input_dim={in_dim}, output_dim={out_dim}")
            embedding = emb.shape
            weights[("embedding", "embeddings")] = emb
            layer_names["embedding"] = name
            continue
        if cls in RNN_CLASSES:
            if head is not None:
                raise UnsupportedModelError(f"layer '{name}' ({cls}): recurrent layer after the Dense output "
                                            "layer is not supported")
            if pending_no_sequences is not None:
                raise UnsupportedModelError(
                    f"layer '{pending_no_sequences}': return_sequences=False on a recurrent layer that is "
                    f"followed by another recurrent layer ('{name}') is not supported")
            cell = RNN_CLASSES[cls]
            for flag in ("go_backwards", "return_state", "time_major"):
                if _flag(cfg, flag, False, where):
                    raise UnsupportedModelError(f"layer '{name}' ({cls}): {flag}=True is not supported")
            if _flag(cfg, "stateful", False, where):
                stateful = True
            units = cfg.get("units", cfg.get("output_dim"))
            if not _positive_int(units):
                raise KerasFormatError(f"layer '{name}' ({cls}): no valid 'units' in the configuration")
            if cls.startswith("CuDNN"):
                act, ract, use_bias = "tanh", "sigmoid", True
                reset_after = True
            else:
                act = _activation(name, cls, cfg.get("activation", "tanh"))
                if cell == "rnn":
                    ract = "sigmoid"
                else:
                    ract = _recurrent_activation(
                        name, cls, cfg.get("recurrent_activation", cfg.get("inner_activation",
                                                                           "sigmoid" if major >= 3 else "hard_sigmoid")),
                        version)
                use_bias = _flag(cfg, "use_bias" if "use_bias" in cfg else "bias", True, where)
                reset_after = _flag(cfg, "reset_after", major >= 3, where) if cell == "gru" else True
                if major == 1:
                    reset_after = False if cell == "gru" else True
            ws = fetch(name, cls)
            converted, reset_after = _convert_rnn(name, cls, cell, units, ws, version,
                                                  reset_after if cell == "gru" else False, use_bias)
            idx = len(rnn_layers)
            lname = f"rnn{idx}"
            weights[(lname, "kernel")] = converted[0]
            weights[(lname, "recurrent_kernel")] = converted[1]
            if use_bias:
                weights[(lname, "bias")] = converted[2]
            layer = {"cell": cell, "units": units, "activation": act, "recurrent_activation": ract,
                     "use_bias": use_bias, "reset_after": bool(reset_after) if cell == "gru" else True}
            if idx > 0 and converted[0].shape[0] != rnn_layers[-1]["units"]:
                raise KerasFormatError(f"layer '{name}' ({cls}): kernel input dimension {converted[0].shape[0]} "
                                       f"differs from the previous layer's {rnn_layers[-1]['units']} units")
            rnn_layers.append(layer)
            layer_names[lname] = name
            if not _flag(cfg, "return_sequences", False, where):
                pending_no_sequences = name
            continue
        if cls == "Dense" or inner_cls == "Dense":
            if not rnn_layers:
                raise UnsupportedModelError(f"layer '{name}' (Dense): a Dense layer before the recurrent layers "
                                            "is not supported")
            if head is not None:
                raise UnsupportedModelError(f"layer '{name}' (Dense): only one Dense output layer is supported "
                                            f"(already have '{layer_names['dense']}')")
            act = _activation_name(cfg.get("activation", "linear"))
            if act not in ("softmax", "linear"):
                raise UnsupportedModelError(f"layer '{name}' (Dense): activation '{act}' is not supported "
                                            "(softmax or linear)")
            use_bias = _flag(cfg, "use_bias" if "use_bias" in cfg else "bias", True, where)
            ws = [np.asarray(w, dtype=np.float32) for w in fetch(name, cls)]
            if len(ws) != (2 if use_bias else 1):
                raise KerasFormatError(f"layer '{name}' (Dense): expected {2 if use_bias else 1} weight arrays, "
                                       f"found {len(ws)}")
            k = ws[0]
            units = cfg.get("units", cfg.get("output_dim", k.shape[-1] if k.ndim == 2 else None))
            if not _positive_int(units):
                raise KerasFormatError(f"layer '{name}' (Dense): no valid 'units' in the configuration "
                                       f"({_short(units)})")
            if k.ndim != 2 or k.shape != (rnn_layers[-1]["units"], units):
                raise KerasFormatError(f"layer '{name}' (Dense): kernel has shape {k.shape}, expected "
                                       f"({rnn_layers[-1]['units']}, {units})")
            weights[("dense", "kernel")] = k
            if use_bias:
                if ws[1].shape != (units,):
                    raise KerasFormatError(f"layer '{name}' (Dense): bias has shape {ws[1].shape}, expected ({units},)")
                weights[("dense", "bias")] = ws[1]
            head = {"activation": act, "use_bias": use_bias, "units": units}
            layer_names["dense"] = name
            continue
        if cls == "Activation":
            act = _activation_name(cfg.get("activation"))
            if act == "linear":
                continue
            if act == "softmax" and head is not None and head["activation"] == "linear" and not head_has_softmax_activation:
                head["activation"] = "softmax"
                head_has_softmax_activation = True
                continue
            raise UnsupportedModelError(f"layer '{name}' (Activation): activation '{act}' here is not supported "
                                        "(only softmax right after a linear Dense)")
        if cls == "Softmax":
            # charrnn normalises over the characters, the last axis: (batch, time, V), or (batch, V)
            # after return_sequences=False. Softmax(axis=1) over time must not pass as the same thing.
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
            last = 1 if pending_no_sequences is not None else 2
            if isinstance(axis, bool) or axis not in (-1, last):
                raise UnsupportedModelError(f"{where}: softmax over axis {_short(cfg.get('axis'))} is not "
                                            "supported (only the last axis, the characters)")
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
            raise KerasFormatError(f"Embedding input_dim {embedding[0]} differs from the output vocabulary "
                                   f"size {vocab_size}")
        if first_in != embedding[1]:
            raise KerasFormatError(f"the first recurrent layer's input dimension {first_in} differs from the "
                                   f"Embedding output_dim {embedding[1]}")
    elif first_in == vocab_size and vocab_size != 1:
        detected = "onehot"
    elif first_in == 1:
        detected = "scalar"
    else:
        raise UnsupportedModelError(
            f"layer '{layer_names['rnn0']}': input dimension {first_in} matches neither the vocabulary size "
            f"{vocab_size} (one-hot) nor 1 (scalar index / vocab_size), and there is no Embedding layer")
    if encoding is not None and encoding != detected:
        ok = (encoding == "onehot" and first_in == vocab_size and embedding is None) or \
             (encoding == "scalar" and first_in == 1 and embedding is None)
        if not ok:
            raise UnsupportedModelError(f"encoding='{encoding}' does not fit the model (input dimension "
                                        f"{first_in}, vocabulary {vocab_size}, detected '{detected}')")
        detected = encoding
    if input_shape is not None and detected != "embedding" and len(input_shape) == 3 and \
            input_shape[-1] not in (None, first_in):
        raise KerasFormatError(f"the input shape {input_shape} disagrees with the first recurrent layer's "
                               f"input dimension {first_in}")
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
    return KerasModel(config=config, weights=weights, keras_version=version, file_format=fmt,
                      layer_names=layer_names, window=pending_no_sequences is not None, stateful=stateful,
                      keras_config=keras_config, notes=notes)
