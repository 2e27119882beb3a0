#!/usr/bin/env python3
"""Coverage-guided fuzzing of the Keras reader (charrnn.keras.read) over .h5 and .keras files (issue 18).

    python fuzz_keras_reader.py [libFuzzer options] CORPUS...     atheris (libFuzzer's options and output)
    python fuzz_keras_reader.py --plain SECONDS OUT CORPUS...     without atheris: a plain random mutator
    python fuzz_keras_reader.py --replay FILE...                  run each file once and say what it did

The property, for every input: it reads into a KerasModel or is refused with KerasFormatError
(UnsupportedModelError included) and nothing else; within the time libFuzzer allows (-timeout); under an
address space of 2 GiB (RLIMIT_AS), where a refusal caused by a failed allocation counts as a failure (a
size went unchecked, and a larger machine would have allocated it); no weight holds the canary value that
canary.bin and canary.h5 hold (the seeds' external storage, links and virtual datasets name those files,
which the harness writes beside each input: reading one of them is reading outside the file); and no
temporary file is left behind.

The reader is loaded from this tree (bindings/python/charrnn/keras) as a package of its own, without
libcharrnn, so the fuzzer tests the sources as they are. Mutations: libFuzzer's own on the file's bytes,
and, for .keras archives, on one member's bytes or JSON values with the archive rebuilt around it (its
CRCs right, so the reader gets past the zip); for .h5, digits of the configuration changed in place.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import io
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import types
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERAS_SOURCES = HERE.parents[2] / "bindings" / "python" / "charrnn" / "keras"
ADDRESS_SPACE = 2 << 30
CANARY = 31337.25  # every float32 in canary.bin and canary.h5
_ALLOCATION_FAILURE = re.compile(
    r"out of memory|memory allocation failed|can't allocate|cannot allocate", re.IGNORECASE
)

reader = None  # the tree's charrnn.keras._reader, loaded by prepare()
_scratch = None  # folder of the input file, the canaries and TMPDIR


class PropertyViolation(AssertionError):
    """The reader did something no input may make it do."""


# ------------------------------------------------------------------------------------------------
# setup


def limit_memory(limit: int = ADDRESS_SPACE) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def load_reader():
    """charrnn/keras/_reader.py of this tree, imported as package "charrnn_keras_tree" (its relative
    import of charrnn's exceptions fails there, so it uses its own, as when libcharrnn is absent)."""
    if "charrnn_keras_tree" not in sys.modules:
        package = types.ModuleType("charrnn_keras_tree")
        package.__path__ = [str(KERAS_SOURCES)]
        sys.modules["charrnn_keras_tree"] = package
    return importlib.import_module("charrnn_keras_tree._reader")


def prepare() -> None:
    """Loads the reader and makes the scratch folder: the canaries, and an empty TMPDIR."""
    global reader, _scratch
    if reader is not None:
        return
    import h5py
    import numpy as np

    reader = load_reader()
    importlib.import_module("charrnn_keras_tree._hdf5")  # imports h5py now, not inside the first input
    _scratch = Path(tempfile.mkdtemp(prefix="fuzz-keras-"))
    values = np.full(4096, CANARY, np.float32)
    (_scratch / "canary.bin").write_bytes(values.tobytes())
    with h5py.File(_scratch / "canary.h5", "w") as f:  # the seeds' LSTM kernel is (4, 8)
        for name in ("g/kernel", "kernel", "x"):
            f[name] = values[:32].reshape(4, 8)
    (_scratch / "tmp").mkdir()
    atexit.register(shutil.rmtree, _scratch, True)
    tempfile.tempdir = str(_scratch / "tmp")
    os.chdir(_scratch)  # relative external names resolve against the working folder too


# ------------------------------------------------------------------------------------------------
# the property


def one_input(data: bytes) -> str:
    """Reads `data` as a model file: "read" or "refused"; raises PropertyViolation (or whatever the
    reader let escape) otherwise."""
    prepare()
    path = _scratch / "input"
    path.write_bytes(data)
    try:
        model = reader.read(path)
    except reader.KerasFormatError as exc:
        _check_refusal(exc)
        outcome = "refused"
    else:
        _check_model(model)
        outcome = "read"
    left = os.listdir(_scratch / "tmp")
    if left:
        raise PropertyViolation(f"temporary files left behind: {left}")
    return outcome


def _check_refusal(exc: BaseException) -> None:
    """A refusal must not come from a failed allocation: the reader would have allocated that much had
    the address space allowed it."""
    seen = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or _ALLOCATION_FAILURE.search(str(seen)):
            raise PropertyViolation(
                f"refused only because an allocation failed (a size went unchecked): {exc}"
            ) from exc
        seen = seen.__cause__ or seen.__context__


def _check_model(model) -> None:
    import numpy as np

    for key, array in model.weights.items():
        if array.dtype != np.float32 or not np.all(np.isfinite(array)):
            raise PropertyViolation(f"weight {key} is {array.dtype} or not finite")
        if np.any(array == np.float32(CANARY)):
            raise PropertyViolation(f"weight {key} holds the canary: data from outside the file")


# ------------------------------------------------------------------------------------------------
# mutations


INTERESTING = [
    0,
    1,
    -1,
    2,
    3,
    7,
    255,
    256,
    16384,
    16385,
    65535,
    65536,
    2**21,
    2**21 + 1,
    2**31 - 1,
    2**31,
    2**32,
    2**63,
    10**9,
    10**30,
    1e308,
    1e309,
    -1e309,
    0.5,
    True,
    False,
    None,
    "",
    "12",
    "x" * 64,
    [],
    {},
    [1, 2],
    {"a": 1},
]


def mutate(data: bytes, max_size: int, seed: int, bytes_mutator) -> bytes:
    """One mutation of `data`: structure-aware for .keras archives and for the configuration text of
    .h5 files, else `bytes_mutator(data, max_size)` (libFuzzer's, or plain_bytes_mutation)."""
    rng = random.Random(seed)
    roll = rng.random()
    if data[:4] == b"PK\x03\x04" and roll < 0.5:
        out = _mutate_archive(data, rng, bytes_mutator, max_size)
        if out is not None:
            return out
    elif data[:4] == b"\x89HDF" and roll < 0.25:
        out = _mutate_digits(data, rng)
        if out is not None:
            return out
    return bytes_mutator(data, max_size)


def _mutate_archive(data, rng, bytes_mutator, max_size):
    """Changes one member (JSON values, or bytes) and rebuilds the archive, each member stored or
    deflated at random."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [(info.filename, z.read(info)) for info in z.infolist()]
    except Exception:  # not a readable archive: leave it to the byte mutator
        return None
    if not members:
        return None
    i = rng.randrange(len(members))
    name, content = members[i]
    if name.endswith(".json") and rng.random() < 0.7:
        content = _mutate_json(content, rng)
    else:
        content = bytes_mutator(content, max(len(content) * 2, 64))
    members[i] = (name, content)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for member, content in members:
            z.writestr(member, content, compress_type=rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    out = buf.getvalue()
    return out if len(out) <= max_size else None


def _mutate_json(content: bytes, rng) -> bytes:
    try:
        value = json.loads(content)
    except ValueError:
        return content
    nodes = []

    def walk(node):
        if isinstance(node, dict):
            for key in node:
                nodes.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                nodes.append((node, index))
                walk(node[index])

    walk(value)
    if not nodes:
        return content
    parent, key = rng.choice(nodes)
    action = rng.random()
    if action < 0.1 and isinstance(parent, dict):
        del parent[key]
    elif action < 0.2 and isinstance(parent, list):
        parent.insert(key, parent[key])
    else:
        parent[key] = rng.choice(INTERESTING)
    return json.dumps(value).encode()


def _mutate_digits(data: bytes, rng):
    """Rewrites a number of the configuration in place (same length): the HDF5 around it stays valid."""
    numbers = [m for m in re.finditer(rb'": (\d+)', data)]
    if not numbers:
        return None
    m = rng.choice(numbers)
    width = m.end(1) - m.start(1)
    new = str(rng.choice([0, 1, rng.randrange(10**width)])).rjust(width, "0" if rng.random() < 0.5 else " ")
    return data[: m.start(1)] + new[-width:].encode() + data[m.end(1) :]


def plain_bytes_mutation(data: bytes, max_size: int, rng=random) -> bytes:
    """A byte-level mutation for running without atheris: flips, interesting bytes and words, copies,
    insertions and deletions."""
    buf = bytearray(data or b"\0")
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        pos = rng.randrange(len(buf))
        kind = rng.randrange(6)
        if kind == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[pos] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
        elif kind == 2:
            word = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 16]).to_bytes(4, "little")
            buf[pos : pos + 4] = word
        elif kind == 3:
            start, length = rng.randrange(len(buf)), rng.randrange(1, 64)
            buf[pos:pos] = buf[start : start + length]
        elif kind == 4:
            del buf[pos : pos + rng.randrange(1, 64)]
        else:
            buf[pos:pos] = bytes(rng.randrange(1, 16))
        if not buf:
            buf = bytearray(b"\0")
    return bytes(buf[:max_size])


# ------------------------------------------------------------------------------------------------
# drivers


def run_atheris(argv) -> None:
    import atheris

    limit_memory()
    with atheris.instrument_imports(include=["charrnn_keras_tree", "zipfile", "json"]):
        prepare()

    def test_one(data):
        one_input(data)

    def custom_mutator(data, max_size, seed):
        return mutate(data, max_size, seed, atheris.Mutate)

    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()


def run_plain(seconds: float, out: Path, corpus: list, timeout: float = 20.0) -> int:
    """Mutates the corpus at random for `seconds`; each failing input is saved in `out` (keras-crash-<sha1>,
    or keras-timeout-<sha1> for one that ran past `timeout`, after which the process exits). Returns the
    number of failures."""
    limit_memory()
    prepare()
    inputs = [p.read_bytes() for folder in corpus for p in sorted(Path(folder).iterdir()) if p.is_file()]
    rng, failures, runs, deadline = random.Random(), 0, 0, time.monotonic() + seconds
    out.mkdir(parents=True, exist_ok=True)
    while time.monotonic() < deadline:
        data = rng.choice(inputs)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, 1 << 16, rng.randrange(1 << 30), lambda d, n: plain_bytes_mutation(d, n, rng))
        watchdog = threading.Timer(timeout, _save_and_exit, (data, out, "timeout"))
        watchdog.start()
        try:
            one_input(data)
        except Exception as exc:  # KeyboardInterrupt stops the run
            failures += 1
            print(f"FAILURE ({type(exc).__name__}: {exc}): saved {_save(data, out, 'crash')}", flush=True)
        finally:
            watchdog.cancel()
        runs += 1
        if rng.random() < 0.05:
            inputs.append(data)  # keep some mutants: a crude corpus growth without coverage
    print(f"plain mutator: {runs} inputs in {seconds:.0f} s, {failures} failure(s)")
    return failures


def _save(data: bytes, out: Path, kind: str) -> Path:
    path = out / f"keras-{kind}-{hashlib.sha1(data).hexdigest()}"  # as libFuzzer's, with the Makefile's prefix
    path.write_bytes(data)
    return path


def _save_and_exit(data, out, kind):
    print(f"TIMEOUT: saved {_save(data, out, kind)}", flush=True)
    os._exit(70)


def replay(files) -> int:
    limit_memory()
    failed = 0
    for name in files:
        try:
            outcome = one_input(Path(name).read_bytes())
        except Exception as exc:
            outcome, failed = f"FAILED: {type(exc).__name__}: {exc}", failed + 1
        print(f"{name}: {outcome}")
    return 1 if failed else 0


def main(argv) -> int:
    if len(argv) > 1 and argv[1] == "--replay":
        return replay(argv[2:])
    if len(argv) > 3 and argv[1] == "--plain":
        return 1 if run_plain(float(argv[2]), Path(argv[3]), argv[4:]) else 0
    run_atheris(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
