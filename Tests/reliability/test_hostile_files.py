"""Hostile model and checkpoint files end to end: a deterministic mutation loop over a real checkpoint
through `charrnn sample` (bit flips, truncations, header-length lies, JSON, shape and offset changes),
and checkpoints whose training state lies, through `charrnn train --resume`.

Every file must either work or be refused with a message and exit status 1: never a trap or a signal.
(The coverage-guided version of the mutation loop is `make -C Tests/fuzz run`.)"""

import json
import random
import struct

import pytest

from reliability_util import assert_clean_failure, encode_safetensors, read_safetensors, run, with_training_state


def _mutants(original):
    """(name, bytes) pairs: a fixed, seeded set of damaged copies of `original`."""
    header, body = read_safetensors(original)
    (hlen,) = struct.unpack("<Q", original[:8])
    rng = random.Random(8)
    out = []
    for cut in sorted(
        {
            0,
            1,
            7,
            8,
            9,
            16,
            hlen // 2,
            hlen + 7,
            hlen + 8,
            hlen + 9,
            len(original) // 2,
            len(original) - 5,
            len(original) - 1,
        }
    ):
        out.append((f"truncated-{cut}", original[:cut]))
    for lie in (0, 1, 2, hlen - 1, hlen + 1, len(original), len(original) - 8, 2**31, 2**32 + hlen, 2**63, 2**64 - 1):
        out.append((f"header-length-{lie}", struct.pack("<Q", lie) + original[8:]))
    for i in range(40):
        data = bytearray(original)
        for _ in range(rng.choice((1, 2, 8))):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        out.append((f"bitflip-{i}", bytes(data)))
    for i in range(20):  # flips inside the JSON header only: the most interesting bytes
        data = bytearray(original)
        pos = rng.randrange(8, 8 + hlen)
        data[pos] = rng.choice(b'{}[]",:0123456789-e.\x00\xff ')
        out.append((f"header-byte-{i}", bytes(data)))

    def edited(name, change):
        h = json.loads(json.dumps(header))
        b = change(h)
        b = b if isinstance(b, bytes) else body
        out.append((name, encode_safetensors(h, b)))

    tensors = [k for k in header if k != "__metadata__"]
    first, last = tensors[0], tensors[-1]
    edited("dtype-f16", lambda h: h[first].update(dtype="F16"))
    edited("dtype-missing", lambda h: h[first].pop("dtype"))
    edited("shape-negative", lambda h: h[first].update(shape=[-1, 4]))
    edited("shape-huge", lambda h: h[first].update(shape=[2**31, 2**31]))
    edited("shape-overflow", lambda h: h[first].update(shape=[2**62, 4, 4]))
    edited("shape-rank-9", lambda h: h[first].update(shape=[1] * 9))
    edited("shape-transposed", lambda h: h[first].update(shape=list(reversed(h[first]["shape"]))))
    edited("offsets-reversed", lambda h: h[first].update(data_offsets=list(reversed(h[first]["data_offsets"]))))
    edited("offsets-past-end", lambda h: h[last].update(data_offsets=[h[last]["data_offsets"][0], 2**40]))
    edited("offsets-negative", lambda h: h[first].update(data_offsets=[-4, h[first]["data_offsets"][1]]))
    edited("offsets-three", lambda h: h[first].update(data_offsets=[0, 4, 8]))
    edited(
        "offsets-overlap",
        lambda h: (
            h[last].update(data_offsets=h[first]["data_offsets"])
            if h[last]["shape"] == h[first]["shape"]
            else h[first].update(data_offsets=[0, 0])
        ),
    )
    edited("offsets-strings", lambda h: h[first].update(data_offsets=["0", "4"]))
    edited("tensor-missing", lambda h: h.pop(first) and None)
    edited("tensor-extra", lambda h: h.update({"evil": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}))
    edited("metadata-not-strings", lambda h: h.update(__metadata__={"format": 1}))
    edited("metadata-missing", lambda h: h.pop("__metadata__") and None)
    for key in ("format", "format_version", "config", "vocab"):
        edited(f"no-{key}", lambda h, key=key: h["__metadata__"].pop(key) and None)
    edited("version-99", lambda h: h["__metadata__"].update(format_version="99"))
    edited("version-huge", lambda h: h["__metadata__"].update(format_version="9" * 40))
    edited("vocab-empty", lambda h: h["__metadata__"].update(vocab=""))
    edited("vocab-duplicates", lambda h: h["__metadata__"].update(vocab="aa" + h["__metadata__"]["vocab"][2:]))
    edited("vocab-longer", lambda h: h["__metadata__"].update(vocab=h["__metadata__"]["vocab"] + "\u20ac"))
    config = json.loads(header["__metadata__"]["config"])

    def with_config(**changes):
        c = json.loads(json.dumps(config))
        for k, v in changes.items():
            if k == "units":
                c["layers"][0]["units"] = v
            elif k == "layers":
                c["layers"] = v
            else:
                c[k] = v
        return json.dumps(c)

    edited("config-not-json", lambda h: h["__metadata__"].update(config="{"))
    edited("config-units-0", lambda h: h["__metadata__"].update(config=with_config(units=0)))
    edited("config-units-huge", lambda h: h["__metadata__"].update(config=with_config(units=2**40)))
    edited("config-units-negative", lambda h: h["__metadata__"].update(config=with_config(units=-3)))
    edited("config-no-layers", lambda h: h["__metadata__"].update(config=with_config(layers=[])))
    edited("config-1000-layers", lambda h: h["__metadata__"].update(config=with_config(layers=config["layers"] * 1000)))
    edited(
        "config-cell-unknown",
        lambda h: h["__metadata__"].update(
            config=json.dumps(dict(config, layers=[dict(config["layers"][0], cell="transformer")]))
        ),
    )
    edited("config-vocab-size-lie", lambda h: h["__metadata__"].update(config=with_config(vocab_size=3)))
    edited("weights-nan", lambda h: body[:0] + b"\x00\x00\xc0\x7f" * (len(body) // 4))
    edited("weights-inf", lambda h: b"\x00\x00\x80\x7f" * (len(body) // 4))
    edited("weights-huge", lambda h: b"\xff\xff\x7f\x7f" * (len(body) // 4))  # finite, FLT_MAX
    return out


@pytest.fixture(scope="module")
def mutants(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mutants")
    with open(trained, "rb") as f:
        original = f.read()
    paths = []
    for name, data in _mutants(original):
        path = folder / f"{name}.safetensors"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_mutated_models_are_used_or_refused(mutants):
    failures = []
    refused = 0
    for path in mutants:
        result = run("sample", "--model", str(path), "--length", "20", "--seed", "1", "--prime", "ROMEO:")
        if result.returncode == 0:
            continue
        refused += 1
        if result.returncode != 1 or "error:" not in result.err or "Fatal error" in result.err:
            failures.append(f"{path.name}: status {result.returncode}: {result.err[-300:]}")
        elif str(path) not in result.err:
            failures.append(f"{path.name}: the message does not name the file: {result.err.strip()}")
    assert not failures, "\n".join(failures)
    assert refused >= len(mutants) // 2  # the loop really produced broken files


# --- checkpoints whose training state lies ----------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"rng": [1, 2, 3]},
        {"epochRNG": []},
        {"batchInEpoch": 10**12},
        {"step": -5},
        {"epoch": -1},
        {"seconds": -1.0},
        {"corpusFingerprint": 0},
        {"options": {"batchSize": 0}},
        {"bestValLoss": -1e308},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_lying_training_state_is_refused_or_survived(trained, corpus, tmp_path, changes):
    path = with_training_state(trained, tmp_path / "lie.safetensors", **changes)
    result = run("train", corpus, "--resume", path, "--max-steps", "25", "--out", str(tmp_path / "o"))
    if result.returncode != 0:
        assert_clean_failure(result)


@pytest.mark.parametrize(
    "changes",
    [{"batchInEpoch": -1}, {"iterations": 2**63 - 1}, {"seconds": 1e300}],
    ids=["batchInEpoch=-1", "iterations=Int.max", "seconds=1e300"],
)
def test_lying_training_state_does_not_trap(trained, corpus, tmp_path, changes):
    """Bug (fails today): these reach Swift traps in `charrnn train --resume` (and in charrnn_train from C:
    Tests/fuzz/regressions/resume-crash-*): a negative batchInEpoch passes the `< batchesPerEpoch` check
    and indexes out of range in Batches.fill (Batches.swift:69); iterations = Int.max overflows in
    Optimizer.apply (Optimizer.swift:82); seconds = 1e300 trapped converting the elapsed time to Int for the
    progress line. Each must be refused as a corrupt checkpoint."""
    path = with_training_state(trained, tmp_path / "lie.safetensors", **changes)
    result = run("train", corpus, "--resume", path, "--max-steps", "25", "--out", str(tmp_path / "o"))
    assert_clean_failure(result, "lie.safetensors")


def test_resume_never_deletes_a_file_it_did_not_write(trained, corpus, tmp_path):
    """Bug (fails today): the checkpoint's training state records the previous best checkpoint's path
    ("bestCheckpoint"), and a resumed run unlink()s that path when it writes a new best. A hostile (or
    merely copied) checkpoint thus makes `charrnn train --resume` delete any file it names: here a file
    outside the checkpoint folder. Copying a run's folder and resuming the copy deletes the original
    folder's best checkpoint the same way."""
    victim = tmp_path / "precious.txt"
    victim.write_text("do not delete\n")
    path = with_training_state(trained, tmp_path / "ck.safetensors", bestCheckpoint=str(victim), bestValLoss=None)
    out = tmp_path / "o"
    result = run("train", corpus, "--resume", path, "--max-steps", "25", "--out", str(out))
    assert result.returncode == 0, result.err
    assert victim.exists() and victim.read_text() == "do not delete\n", (
        "the resumed run deleted a file it did not write"
    )
