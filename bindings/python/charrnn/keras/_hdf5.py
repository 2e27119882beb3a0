"""Reading HDF5 without following anything out of the file, and weights without allocating more than the
model's configuration needs.

An HDF5 file can point outside itself: external links (an object of another file), external storage (a
dataset whose bytes are another file's), virtual datasets (views of other files' datasets) and filter
plugins (shared libraries loaded by filter id). Reading through any of them would copy another local file
into the model's weights, so groups are walked one link at a time (soft links are followed inside the
file only, a bounded number of hops) and every dataset's storage is checked before it is read. Sizes are
checked first too: a few kilobytes of HDF5 can declare gigabytes (a shape, a chunk, a deflate stream that
inflates past its chunk), and libhdf5 allocates whatever is declared.
"""

from __future__ import annotations

import math
import os
import zlib

import h5py
import numpy as np

from ._errors import KerasFormatError
from ._reader import INPUT_CLASSES, MAX_WEIGHT_ELEMENTS, _describe_shapes, _fits, _snake, _text

MAX_LINK_HOPS = 16  # soft links followed for one name (libhdf5's own default limit)
MAX_ATTRIBUTE_BYTES = 64 << 20  # a model_config attribute is kilobytes
MAX_ATTRIBUTE_VALUES = 1 << 16  # a name list has one entry per layer or weight
MAX_CHUNKS = 1 << 16  # Keras writes weights contiguously; h5py's own chunking stays far below
MIN_CHUNK_ALLOWANCE = 1 << 20  # a chunk may exceed its dataset (a resizable one) by up to this
MAX_HEAP_OBJECTS = (1 << 16) + 1  # a global heap collection indexes objects with 16 bits, plus free space
GLOBAL_HEAP_SIGNATURE = b"GCOL\x01"  # a global heap collection, version 1 (the only one)
_DEFLATE, _SHUFFLE, _FLETCHER32 = h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32
_FILTER_ORDER = (_SHUFFLE, _DEFLATE, _FLETCHER32)  # h5py's order; deflate's output is then checkable


# ------------------------------------------------------------------------------------------------
# files, links and attributes


def open_file(fh, path, what: str) -> h5py.File:
    """The HDF5 file in the open file object `fh` (never reopened by name: what was checked is read)."""
    check_global_heaps(fh, path)
    try:
        return h5py.File(fh, "r")
    except Exception as exc:  # h5py raises OSError for corrupt files, others for stranger damage
        raise KerasFormatError(f"{path}: corrupt {what} ({exc})") from exc


def check_global_heaps(fh, path) -> None:
    """Refuses a global heap collection (where variable-length strings, such as Keras's attributes, live)
    that libhdf5 would decode forever: it steps from object to object by each one's declared size, and a
    free-space object of size 0 makes it step in place (H5HG__cache_heap_deserialize, libhdf5 up to 2.0
    at least). Collections that do not fit in the file are left alone: libhdf5 cannot read them."""
    lengths = _length_size(fh)
    if lengths is None:  # not a superblock libhdf5 knows: it will refuse the file itself
        return
    file_size = os.fstat(fh.fileno()).st_size
    for offset in _signature_offsets(fh, GLOBAL_HEAP_SIGNATURE):
        fh.seek(offset + 8)
        declared = int.from_bytes(fh.read(lengths), "little")
        if offset + declared > file_size:
            continue
        problem = _global_heap_problem(fh, offset, declared, lengths)
        if problem:
            raise KerasFormatError(
                f"{path}: damaged HDF5 global heap at byte {offset} ({problem}); libhdf5 would loop forever reading it"
            )


def _length_size(fh):
    """The superblock's "size of lengths" (bytes in each size field), or None for an unknown superblock."""
    fh.seek(8)
    head = fh.read(8)
    if len(head) < 8 or head[0] > 3:
        return None
    size = head[6] if head[0] <= 1 else head[2]  # byte 14 in superblocks 0 and 1, byte 10 in 2 and 3
    return size if size in (2, 4, 8, 16, 32) else None


def _signature_offsets(fh, signature: bytes, chunk: int = 1 << 20):
    """Every offset of `signature` in the file, read a chunk at a time."""
    fh.seek(0)
    base, tail = 0, b""
    while block := fh.read(chunk):
        data = tail + block
        start = data.find(signature)
        while start >= 0:
            yield base - len(tail) + start
            start = data.find(signature, start + 1)
        tail = data[-(len(signature) - 1) :]
        base += len(block)
        fh.seek(base)  # the caller reads elsewhere between offsets


def _global_heap_problem(fh, offset, declared, lengths) -> str | None:
    """Walks a collection's objects as libhdf5 does: a step of 0 (it never ends), one past the collection
    (it reads on, beyond), or more objects than a collection can index are a problem."""
    header = 2 + 2 + 4 + lengths  # index, references, reserved, size
    p, end = offset + 8 + lengths, offset + declared
    for _ in range(MAX_HEAP_OBJECTS):
        if p + header > end:  # too little left for an object: free space to the end
            return None
        fh.seek(p)
        raw = fh.read(header)
        index, size = int.from_bytes(raw[:2], "little"), int.from_bytes(raw[8:], "little")
        step = header + -(-size // 8) * 8 if index > 0 else size
        if step == 0:
            return f"an object of size 0 at byte {p}"
        if step > end - p:
            return f"an object at byte {p} runs past the collection's end"
        p += step
    return f"more than {MAX_HEAP_OBJECTS} objects"


def child(group, name: str, where: str, hops: int = 0):
    """The object `name` (one path component) of `group`, or None if there is none. Hard links are
    opened, soft links resolved inside the file; anything else is refused before it is followed."""
    if not isinstance(group, h5py.Group):
        return None
    try:
        link = group.get(name, getlink=True)
    except TypeError as exc:  # "Unknown link type": a user-defined link class
        raise KerasFormatError(f"{where}: '{name}' is a user-defined HDF5 link, which charrnn does not follow") from exc
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise KerasFormatError(
            f"{where}: '{name}' is an external link to '{link.path}' in {link.filename!r}; "
            "charrnn reads weights only from the file it is given"
        )
    if isinstance(link, h5py.SoftLink):
        return _soft_target(group, name, link.path, where, hops)
    return group[name]


def lookup(group, path: str, where: str, hops: int = 0):
    """The object at a relative `path` ("cell/vars/0") below `group`, walked one link at a time, or None."""
    obj = group
    for part in path.split("/"):
        if part in ("", "."):
            continue
        obj = child(obj, part, where, hops)
        if obj is None:
            return None
    return obj


def _soft_target(group, name, target, where, hops):
    """What a soft link points to: refused when it loops, dangles, or passes through an external link."""
    if hops >= MAX_LINK_HOPS:
        raise KerasFormatError(f"{where}: '{name}' is a soft link loop (more than {MAX_LINK_HOPS} soft links followed)")
    start = group.file if target.startswith("/") else group
    obj = lookup(start, target, where, hops + 1)
    if obj is None:
        raise KerasFormatError(f"{where}: '{name}' is a dangling soft link (to '{target}', which does not exist)")
    return obj


def attribute(obj, name: str, where: str):
    """Attribute `name` of `obj`, or None. Its declared size is checked before it is read: libhdf5 and
    h5py allocate what an attribute declares."""
    if name not in obj.attrs:
        return None
    aid = obj.attrs.get_id(name)
    values = math.prod(aid.shape) if aid.shape is not None else 0
    size = max(values * aid.dtype.itemsize, _storage_size(aid) if values else 0)
    if values > MAX_ATTRIBUTE_VALUES or size > MAX_ATTRIBUTE_BYTES:
        raise KerasFormatError(
            f"{where}: attribute '{name}' declares {values} values ({size} bytes), more than a Keras file stores there"
        )
    return obj.attrs[name]


def _storage_size(aid) -> int:
    try:
        return aid.get_storage_size()
    except RuntimeError:  # h5py reports a size of 0 as an error
        return 0


def names_attribute(group, attr: str, where: str) -> list:
    """A list-of-strings attribute, also in the chunked form (attr0, attr1, ...) Keras uses for
    attributes larger than the HDF5 header limit."""
    raw = attribute(group, attr, where)
    if raw is None:
        raw, i = [], 0
        while (part := attribute(group, f"{attr}{i}", where)) is not None:
            raw.extend(np.atleast_1d(part))
            i += 1
    return [_text(n) for n in np.atleast_1d(raw)]


# ------------------------------------------------------------------------------------------------
# weights


def check_weight(obj, where: str, patterns) -> h5py.Dataset:
    """`obj` as a dataset whose weight can be read safely: stored in this file, with filters this reader
    can bound, declaring one of the shapes the configuration allows, holding floating-point values and
    as many bytes as it declares. Nothing of its data is read except, for a deflated dataset, each chunk
    once to see what it inflates to."""
    if not isinstance(obj, h5py.Dataset) or obj.shape is None:  # a group, a datatype, a null dataspace
        raise KerasFormatError(f"{where} is not an array in the file")
    plist = obj.id.get_create_plist()
    _check_in_file(obj, plist, where)
    filters = _checked_filters(plist, where)
    _check_declared_size(obj, filters, where)
    if not any(_fits(obj.shape, p) for p in patterns):
        raise KerasFormatError(
            f"{where} has shape {obj.shape}, but the configuration needs "
            f"{_describe_shapes(patterns)}: the stored weights do not fit the layer"
        )
    _check_dtype(obj, where)
    if obj.chunks is not None:
        _check_chunks(obj, filters, where)
    return obj


def read_weight(ds: h5py.Dataset, where: str) -> np.ndarray:
    """A dataset that passed check_weight, as float32; NaN and infinite values are refused."""
    if ds.dtype.kind == "f":
        with np.errstate(over="ignore"):  # overflow to infinity is reported below
            array = np.asarray(ds[()], dtype=np.float32)
    else:
        # Keras 3 stores bfloat16 as opaque 2-byte values: the high half of a float32, exactly.
        array = (np.asarray(ds[()]).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    # float64 values beyond float32's range become infinite here, so this checks what charrnn would get
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise KerasFormatError(
            f"{where} holds {bad} NaN or infinite values (did training diverge?); "
            "charrnn does not import non-finite weights"
        )
    return array


def _check_in_file(ds, plist, where):
    """External storage and virtual datasets read other files (by names the file chooses)."""
    if plist.get_external_count() > 0:
        name = plist.get_external(0)[0].decode("utf-8", "replace")
        raise KerasFormatError(
            f"{where} keeps its data in another file ({name!r}, HDF5 external storage); "
            "charrnn reads weights only from the file it is given"
        )
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise KerasFormatError(
            f"{where} is a virtual dataset (a view of other datasets, possibly in other "
            "files); charrnn reads weights only from the file it is given"
        )


def _checked_filters(plist, where) -> list:
    """The dataset's filter ids, refused unless they are deflate (gzip), shuffle and fletcher32 in h5py's
    order: others are rarely available (szip), lossy (scale-offset, n-bit) or plugins, which libhdf5
    would look for as shared libraries."""
    filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    ids = [f[0] for f in filters]
    for fid, _flags, _values, name in filters:
        if fid not in _FILTER_ORDER:
            label = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            label = f" ({label!r})" if label else ""
            raise KerasFormatError(
                f"{where} is stored with the HDF5 filter {fid}{label}; charrnn reads "
                "weights stored plainly or with gzip, shuffle and fletcher32 only"
            )
    if ids != [f for f in _FILTER_ORDER if f in ids]:
        raise KerasFormatError(
            f"{where} is stored with the HDF5 filters {ids} in an unusual order; charrnn "
            f"reads them in h5py's order ({list(_FILTER_ORDER)})"
        )
    return ids


def _check_declared_size(ds, filters, where):
    """Checks the declared shape against charrnn's largest tensor and, for data stored plainly, against
    the bytes the file holds: a few bytes of HDF5 can declare a terabyte-sized array."""
    if ds.size > MAX_WEIGHT_ELEMENTS:
        raise KerasFormatError(
            f"{where} declares shape {ds.shape}, more than the {MAX_WEIGHT_ELEMENTS} values "
            "charrnn can hold in one tensor"
        )
    if not filters and ds.id.get_storage_size() < ds.nbytes:
        raise KerasFormatError(
            f"{where} declares shape {ds.shape} ({ds.nbytes} bytes) but the file stores only "
            f"{ds.id.get_storage_size()} bytes of it (a truncated or damaged file)"
        )


def _check_dtype(ds, where):
    """Floating-point values only: strings or quantized integers must not be converted as if they were
    weights."""
    kind, size = ds.dtype.kind, ds.dtype.itemsize
    if kind == "f":
        return
    if kind == "V" and size == 2:
        declared = attribute(ds, "dtype", where)
        if declared is not None and _text(declared) == "bfloat16":
            return
    hint = " (a quantized model? import the float model it was made from)" if kind in "iu" else ""
    raise KerasFormatError(
        f"{where} has data type {ds.dtype}; charrnn imports floating-point weights only "
        f"(float16, bfloat16, float32, float64){hint}"
    )


def _check_chunks(ds, filters, where):
    """libhdf5 allocates a whole chunk to read any of it, and its deflate filter grows its buffer until
    the stream ends, past the chunk's size: a chunk may not be much larger than its dataset, the chunks
    may not be too many to visit, and each deflated chunk must inflate to no more than its size."""
    chunk_bytes = math.prod(ds.chunks) * ds.dtype.itemsize
    if chunk_bytes > max(ds.nbytes, MIN_CHUNK_ALLOWANCE):
        raise KerasFormatError(
            f"{where} declares chunks of shape {ds.chunks} ({chunk_bytes} bytes) for {ds.nbytes} bytes of data"
        )
    slots = math.prod(-(-s // c) for s, c in zip(ds.shape, ds.chunks))
    if slots > MAX_CHUNKS:
        raise KerasFormatError(
            f"{where} is split into {slots} chunks of shape {ds.chunks}, more than the {MAX_CHUNKS} this reader visits"
        )
    if _DEFLATE in filters:
        _check_deflated_chunks(ds, chunk_bytes, filters, where)


def _check_deflated_chunks(ds, chunk_bytes, filters, where):
    file_size = ds.file.id.get_filesize()
    deflate_bit = 1 << filters.index(_DEFLATE)  # a chunk's filter mask has this bit set if deflate skipped it
    checksum = 4 if _FLETCHER32 in filters else 0
    count = ds.id.get_num_chunks()
    if count > math.prod(-(-s // c) for s, c in zip(ds.shape, ds.chunks)):
        raise KerasFormatError(f"{where}: the chunk index lists {count} chunks, more than the dataset has")
    for i in range(count):
        info = ds.id.get_chunk_info(i)
        if info.size > file_size:
            raise KerasFormatError(f"{where}: chunk {i} claims {info.size} bytes, more than the whole file")
        mask, raw = ds.id.read_direct_chunk(info.chunk_offset)
        if mask & deflate_bit:  # this chunk was stored without deflate
            inflated = len(raw) - checksum
        else:
            try:
                inflated = len(zlib.decompressobj().decompress(raw, chunk_bytes + 1))
            except zlib.error as exc:
                raise KerasFormatError(f"{where}: chunk {i} is not valid deflate data ({exc})") from exc
        if inflated > chunk_bytes:
            raise KerasFormatError(
                f"{where}: chunk {i} inflates to more than its {chunk_bytes} bytes (a compression bomb)"
            )


# ------------------------------------------------------------------------------------------------
# where Keras keeps each layer's weights


class LegacyWeights:
    """Legacy HDF5: group ``model_weights`` (or the root), one group per layer with attribute
    ``weight_names`` (order matters; a name is a path below the layer's group)."""

    def __init__(self, f):
        weights = child(f, "model_weights", "the file")
        self.root = weights if isinstance(weights, h5py.Group) else f

    def get(self, name: str):
        """[(label, object)] of layer `name`, in the file's order, or None if the file has no such layer."""
        where = f"layer '{name}'"
        group = child(self.root, name, where)
        if not isinstance(group, h5py.Group):
            return None
        out = []
        for label in names_attribute(group, "weight_names", where):
            obj = lookup(group, label, f"{where}: weight '{label}'")
            if obj is None:
                raise KerasFormatError(f"{where}: weight '{label}' is listed but not stored in the file")
            out.append((label, obj))
        return out


class KerasV3Weights:
    """Keras 3 ``model.weights.h5``: ``layers/<key>/vars/<i>``, recurrent layers under ``cell/vars``,
    wrappers under ``layer/vars``; the key is the snake-cased class name made unique, and ``vars`` has
    the layer's name as attribute ``name``."""

    MAX_LAYERS = 1 << 12  # groups under layers/ visited to find the model's (a model has a few)

    def __init__(self, f, entries):
        layers = child(f, "layers", "the weights file")
        self.by_name = {}
        if not isinstance(layers, h5py.Group):
            return
        if len(layers) > self.MAX_LAYERS:
            raise KerasFormatError(
                f"the weights file lists {len(layers)} layers, more than the {self.MAX_LAYERS} this reader visits"
            )
        for key in layers:
            where = f"layers/{key}"
            g = child(layers, key, where)
            named = attribute(child(g, "vars", where), "name", where) if isinstance(g, h5py.Group) else None
            if named is not None:
                self.by_name[_text(named)] = g
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
            if name not in self.by_name:
                g = child(layers, key, f"layers/{key}")
                if isinstance(g, h5py.Group):
                    self.by_name[name] = g

    def get(self, name: str):
        """[(label, object)] of layer `name`, in index order, or None if the file has no such layer."""
        g = self.by_name.get(name)
        if g is None:
            return None
        for sub in ("cell/vars", "layer/vars", "layer/cell/vars", "vars"):
            v = lookup(g, sub, f"layer '{name}': {sub}")
            if isinstance(v, h5py.Group) and len(v) > 0:
                keys = sorted(v.keys(), key=_index_order)
                return [(f"{sub}/{k}", child(v, k, f"layer '{name}': weight '{sub}/{k}'")) for k in keys]
        return []


def _index_order(key: str) -> int:
    """Keras 3 names a layer's weights 0, 1, 2, ...; other names (none expected) go last, in file order."""
    return int(key) if key.isascii() and key.isdigit() and len(key) < 10 else 1 << 30
