"""Issue 18, item 1: a model file's safetensors header is read by a strict JSON reader and checked whole
before anything the file describes is allocated or copied.

Each hostile file is built from a real model (models/default.safetensors, 13 MB) or a real checkpoint (the
`trained` fixture) and goes through the three ways in: `charrnn sample --model`, the C ABI's
charrnn_model_load (probe.c) and Python's charrnn.Model.load, each under an address-space limit. Each
must refuse it with a message naming what is wrong (CLI: exit 1 naming the file; C: CHARRNN_ERR_FORMAT;
Python: charrnn.FormatError), quickly and with little memory: a lying header must not cost what it
claims. The classes: tensors aliasing each other's bytes (so a small file would become a large model),
headers of a million entries, duplicate keys (which parsers resolve differently), gaps and trailing
bytes, numbers beyond float64, unknown fields, deep nesting, and tensor names other than exactly those
the config (and, in a checkpoint, its optimizer and carried state) require."""

import json
import os
import struct

import pytest

from reliability_util import (
    CLI,
    REPL,
    GiB,
    MiB,
    ROOT,
    assert_clean_failure,
    child_json,
    compile_c,
    packed_safetensors,
    probe_lines,
    read_safetensors,
    run_measured,
    run_python,
    tensors_of,
    write_raw_safetensors,
)

DEFAULT = os.path.join(ROOT, "models", "default.safetensors")
CLI_LIMIT = 2 * GiB  # RLIMIT_AS of `charrnn sample` (its baseline is about 100 MB)
HEADROOM = 1 * GiB  # what the C and Python children may map beyond what they map once started
MAX_SECONDS = 3.0  # a refusal reads the header and stops: milliseconds, bar the 55 MB one
MAX_PEAK_MB = 300  # the largest hostile file is 55 MB; the files claim up to 0.5 GB of tensors


def _obj(pairs):
    """JSON object text from (key, value text) pairs, in order, duplicates kept."""
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


def _entry(shape, begin, end, **extra):
    return json.dumps(
        dict({"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}, **extra), separators=(",", ":")
    )


def _pairs(header):
    """The header's (key, value text) pairs, metadata first, entries in data order."""
    meta = header["__metadata__"]
    entries = sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"])
    return [("__metadata__", json.dumps(meta))] + [(k, json.dumps(v, separators=(",", ":"))) for k, v in entries]


def _lstm_tensors(vocab, units, layers):
    """(name, shape) of a one-hot LSTM's tensors, as charrnn lays them out."""
    out = []
    for i in range(layers):
        out += [
            (f"rnn{i}.kernel", [vocab if i == 0 else units, 4 * units]),
            (f"rnn{i}.recurrent_kernel", [units, 4 * units]),
            (f"rnn{i}.bias", [4 * units]),
        ]
    return out + [("dense.kernel", [units, vocab]), ("dense.bias", [vocab])]


def _build(folder, trained):
    """name -> (path, fragment of the refusal's message)."""
    folder.mkdir(exist_ok=True)
    cases = {}

    def add(name, fragment, write):
        cases[name] = (write(str(folder / f"{name}.safetensors")), fragment)

    header, body = read_safetensors(DEFAULT)
    meta = header["__metadata__"]
    config = json.loads(meta["config"])
    pairs = _pairs(header)
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    assert sorted(n for n, _ in _lstm_tensors(65, 512, 2)) == sorted(entries), "layout helper is out of date"
    for name, shape in _lstm_tensors(65, 512, 2):
        assert entries[name]["shape"] == shape

    # Aliasing: every tensor reads the first bytes of the data, so 4 MB of file stand for 13 MB of model
    # (and for 0.5 GB with a config of 64 layers).
    def aliased(path, tensors=None, cfg=None):
        tensors = tensors or [(k, v["shape"]) for k, v in entries.items()]
        sizes = [4 * _count(shape) for _, shape in tensors]
        m = dict(meta, config=json.dumps(cfg)) if cfg else meta
        return write_raw_safetensors(
            path,
            _obj([("__metadata__", json.dumps(m))] + [(n, _entry(s, 0, size)) for (n, s), size in zip(tensors, sizes)]),
            body[: max(sizes)],
        )

    add("aliased", "overlaps", aliased)
    deep = dict(config, layers=config["layers"] * 64)
    add("aliased-64-layers", "overlaps", lambda p: aliased(p, _lstm_tensors(65, 512, 64), deep))

    # A million empty tensors: 55 MB of header, each entry well formed.
    def million(path):
        text = (
            "{"
            + f'"__metadata__":{json.dumps(meta)}'
            + "".join(f',"t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}' for i in range(1_000_000))
            + "}"
        )
        return write_raw_safetensors(path, text)

    add("million-empty-entries", "more values than", million)

    # Duplicate keys: Python's json keeps the last, other readers the first.
    def duplicated(path, index, key, value):
        p = list(pairs)
        p.insert(index, (key, value))
        return write_raw_safetensors(path, _obj(p), body)

    first_name, first_value = pairs[1]
    add("duplicate-tensor", "duplicate key", lambda p: duplicated(p, 2, first_name, first_value))
    add(
        "duplicate-metadata-object",
        "duplicate key",
        lambda p: duplicated(p, 1, "__metadata__", json.dumps(dict(meta, vocab=meta["vocab"][::-1]))),
    )
    add(
        "duplicate-metadata-key",
        "duplicate key",
        lambda p: write_raw_safetensors(
            p,
            _obj(
                [("__metadata__", json.dumps(meta)[:-1] + f',"vocab":{json.dumps(meta["vocab"][::-1])}}}')] + pairs[1:]
            ),
            body,
        ),
    )
    add(
        "duplicate-entry-field",
        "duplicate key",
        lambda p: write_raw_safetensors(
            p, _obj([pairs[0], (first_name, first_value[:-1] + ',"shape":[1]}')] + pairs[2:]), body
        ),
    )
    # The same key spelt with an escape: a reader comparing raw text would see two names.
    escaped = first_name.replace(".", "\\u002e")
    add(
        "duplicate-tensor-escaped",
        "duplicate key",
        lambda p: write_raw_safetensors(p, _obj(pairs)[:-1] + f',"{escaped}":{first_value}}}', body),
    )
    add(
        "duplicate-metadata-key-escaped",
        "duplicate key",
        lambda p: write_raw_safetensors(
            p, _obj([("__metadata__", '{"\\u0066ormat":"charrnn",' + json.dumps(meta)[1:])] + pairs[1:]), body
        ),
    )
    add(
        "config-duplicate-key",
        "duplicate key",
        lambda p: write_raw_safetensors(
            p,
            _obj(
                [("__metadata__", json.dumps(dict(meta, config=meta["config"][:-1] + ',"vocab_size":66}')))] + pairs[1:]
            ),
            body,
        ),
    )

    # Bytes that belong to no tensor: before the first, between two, after the last.
    def shifted(path, gap_after, trailing=b""):
        out, offset, chunks = [pairs[0]], 0, []
        for i, (name, _) in enumerate(pairs[1:]):
            b, e = entries[name]["data_offsets"]
            if i == gap_after:
                chunks.append(b"\0" * 4)
                offset += 4
            out.append((name, _entry(entries[name]["shape"], offset, offset + e - b)))
            chunks.append(body[b:e])
            offset += e - b
        return write_raw_safetensors(path, _obj(out), b"".join(chunks) + trailing)

    add("gap-before-first", "belong to no tensor", lambda p: shifted(p, 0))
    add("gap-between", "belong to no tensor", lambda p: shifted(p, 3))
    add("trailing-bytes", "after the last tensor", lambda p: shifted(p, -1, b"\0" * 4))

    # Numbers beyond float64, in the header and in the config inside the metadata.
    b0, e0 = entries[first_name]["data_offsets"]
    add(
        "offsets-1e400",
        "out of range",
        lambda p: write_raw_safetensors(
            p, _obj([pairs[0], (first_name, first_value.replace(f"[{b0},{e0}]", f"[{b0},1e400]"))] + pairs[2:]), body
        ),
    )
    add(
        "shape-minus-1e400",
        "out of range",
        lambda p: write_raw_safetensors(
            p, _obj([pairs[0], (first_name, first_value.replace('"shape":[', '"shape":[-1e400,'))] + pairs[2:]), body
        ),
    )
    add(
        "config-1e400",
        "out of range",
        lambda p: write_raw_safetensors(
            p,
            _obj(
                [
                    (
                        "__metadata__",
                        json.dumps(dict(meta, config=meta["config"].replace('"vocab_size":65', '"vocab_size":1e400'))),
                    )
                ]
                + pairs[1:]
            ),
            body,
        ),
    )

    # An entry with a field safetensors does not define.
    add(
        "unknown-field",
        "unknown field",
        lambda p: write_raw_safetensors(
            p, _obj([pairs[0], (first_name, first_value[:-1] + ',"evil":0}')] + pairs[2:]), body
        ),
    )

    # Nesting deep enough to exhaust a recursive reader's stack.
    add(
        "nested-header",
        "nested deeper",
        lambda p: write_raw_safetensors(p, _obj(pairs + [("x", "[" * 100_000 + "]" * 100_000)]), body),
    )
    add(
        "nested-config",
        "nested deeper",
        lambda p: write_raw_safetensors(
            p,
            _obj([("__metadata__", json.dumps(dict(meta, config="[" * 1_000_000 + "]" * 1_000_000)))] + pairs[1:]),
            body,
        ),
    )

    # Checkpoints: the optimizer's slots and the carried state are the only extra tensors.
    cmeta, ctensors = tensors_of(trained)
    params = ctensors["optimizer.slot0"][0][0]

    def checkpoint(path, change, metadata=None):
        t = dict(ctensors)
        change(t)
        return packed_safetensors(path, cmeta if metadata is None else metadata, t)

    add(
        "checkpoint-slot4",
        "unexpected tensor optimizer.slot4",
        lambda p: checkpoint(p, lambda t: t.update({"optimizer.slot4": t.pop("optimizer.slot1")})),
    )
    add(
        "checkpoint-slot0-missing",
        "optimizer.slot0 is missing",
        lambda p: checkpoint(p, lambda t: t.pop("optimizer.slot0")),
    )
    add(
        "checkpoint-slot-shape",
        f"the model needs [{params}]",
        lambda p: checkpoint(p, lambda t: t.update({"optimizer.slot0": ([params - 1], t["optimizer.slot0"][1][4:])})),
    )
    add(
        "checkpoint-carried-state",
        "whole number of states",
        lambda p: checkpoint(
            p,
            lambda t: t.update(
                {
                    "training.carried_state": (
                        [t["training.carried_state"][0][0] + 1],
                        t["training.carried_state"][1] + b"\0" * 4,
                    )
                }
            ),
        ),
    )
    add(
        "checkpoint-named-tensor",
        "unexpected tensor",
        lambda p: checkpoint(p, lambda t: t.update({"evil": ([1], b"\0" * 4)})),
    )
    add(
        "model-with-optimizer-slot",
        "a model file holds only the model's tensors",
        lambda p: checkpoint(p, lambda t: None, {k: v for k, v in cmeta.items() if k != "training"}),
    )

    def aliased_slots(path):
        h, b = read_safetensors(trained)
        first = h["optimizer.slot0"]["data_offsets"]
        for k in ("optimizer.slot1",):
            h[k]["data_offsets"] = first
        return write_raw_safetensors(path, json.dumps(h), b)

    add("checkpoint-slots-aliased", "overlaps", aliased_slots)
    return cases


def _count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, trained):
    return _build(tmp_path_factory.mktemp("strict-header"), trained)


def test_the_originals_load(trained):
    """The files the hostile ones are made from load through all three ways in (so each refusal below is
    the change's doing)."""
    for path in (DEFAULT, trained):
        result = run_measured([CLI, "summary", "--model", path], limit_as=CLI_LIMIT)
        assert result.returncode == 0, result.err
    lines = probe_lines(
        run_measured([compile_c("probe"), "--headroom", str(HEADROOM // MiB), "load", DEFAULT, trained])
    )
    assert {v["status"] for v in lines.values()} == {"OK"}, lines
    out = child_json(
        run_python(
            f"print(json.dumps([attempt(lambda: charrnn.Model.load(p)) for p in {[DEFAULT, trained]!r}]))",
            headroom=HEADROOM,
        )
    )
    assert [o["raised"] for o in out] == [None, None], out


@pytest.mark.parametrize(
    "name",
    [
        "aliased",
        "aliased-64-layers",
        "million-empty-entries",
        "duplicate-tensor",
        "duplicate-metadata-object",
        "duplicate-metadata-key",
        "duplicate-entry-field",
        "duplicate-tensor-escaped",
        "duplicate-metadata-key-escaped",
        "config-duplicate-key",
        "gap-before-first",
        "gap-between",
        "trailing-bytes",
        "offsets-1e400",
        "shape-minus-1e400",
        "config-1e400",
        "unknown-field",
        "nested-header",
        "nested-config",
        "checkpoint-slot4",
        "checkpoint-slot0-missing",
        "checkpoint-slot-shape",
        "checkpoint-carried-state",
        "checkpoint-named-tensor",
        "model-with-optimizer-slot",
        "checkpoint-slots-aliased",
    ],
)
def test_cli_refuses_hostile_header(hostile, name):
    """`charrnn sample --model FILE` under a 2 GiB address-space limit: exit 1 with a message naming the
    file and the inconsistency, nothing sampled, within MAX_SECONDS and MAX_PEAK_MB of resident memory."""
    path, fragment = hostile[name]
    result = run_measured([CLI, "sample", "--model", path, "--length", "20", "--seed", "1"], limit_as=CLI_LIMIT)
    assert_clean_failure(result, fragment, path, status=1)
    assert result.out == "", "sampled from a hostile file"
    assert result.seconds < MAX_SECONDS, f"{result.seconds:.1f} s"
    assert result.peak_mb < MAX_PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB"


def test_repl_model_command_refuses_hostile_headers(hostile, trained):
    """charrnn-repl's `:model FILE` with every hostile file in one session (under a 2 GiB address-space
    limit): a message naming the file and the inconsistency for each, the conversation kept on its model
    (the last line is answered), exit 0, peak RSS under MAX_PEAK_MB."""
    commands = "".join(f":model {path}\n" for path, _ in hostile.values()) + "ROMEO:\n"
    result = run_measured(
        [REPL, "--model", trained, "--seed", "1", "--max-chars", "20"],
        input=commands.encode(),
        limit_as=CLI_LIMIT,
        timeout=120,
    )
    assert result.returncode == 0, result.err[-3000:]
    messages = result.err.splitlines()
    problems = []
    for name, (path, fragment) in hostile.items():
        line = next((m for m in messages if m.startswith(f"cannot load the model {path}:")), "")
        if fragment not in line:
            problems.append(f"{name}: {line or 'no message'}")
    assert not problems, "\n".join(problems)
    assert result.out.strip(), "no answer after the refused models"
    assert result.peak_mb < MAX_PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB"


def test_c_abi_refuses_hostile_headers(hostile):
    """charrnn_model_load of every hostile file in one process, with 1 GiB of address space beyond its
    baseline: CHARRNN_ERR_FORMAT naming the inconsistency for each, each within MAX_SECONDS, and the
    process's peak resident set (over all of them) under MAX_PEAK_MB."""
    paths = [p for p, _ in hostile.values()]
    result = run_measured([compile_c("probe"), "--headroom", str(HEADROOM // MiB), "load", *paths], timeout=120)
    assert result.returncode == 0, f"status {result.returncode}: {result.err[-3000:]}"
    lines = probe_lines(result)
    problems = []
    for name, (path, fragment) in hostile.items():
        line = lines.get(f"load:{path}")
        if (
            line is None
            or line["status"] != "FORMAT"
            or fragment not in line["message"]
            or line["ms"] > MAX_SECONDS * 1000
        ):
            problems.append(f"{name}: {line}")
    assert not problems, "\n".join(problems)
    assert result.peak_mb < MAX_PEAK_MB, f"peak RSS {result.peak_mb:.0f} MB"


def test_python_refuses_hostile_headers(hostile):
    """charrnn.Model.load of every hostile file in one interpreter limited to 1 GiB beyond its baseline:
    charrnn.FormatError naming the inconsistency, each within MAX_SECONDS, peak RSS under MAX_PEAK_MB."""
    cases = {name: path for name, (path, _) in hostile.items()}
    out = child_json(
        run_python(
            f"print(json.dumps({{n: attempt(lambda p=p: charrnn.Model.load(p)) for n, p in {cases!r}.items()}}))",
            headroom=HEADROOM,
            timeout=120,
        )
    )
    problems = [
        f"{name}: {out[name]}"
        for name, (_, fragment) in hostile.items()
        if out[name]["raised"] != "FormatError"
        or fragment not in out[name]["message"]
        or out[name]["seconds"] > MAX_SECONDS
    ]
    assert not problems, "\n".join(problems)
    assert max(o["peak_mb"] for o in out.values()) < MAX_PEAK_MB


# --- found while writing these: the strict reader's own costs ----------------------------------------


def test_header_string_with_many_escapes_is_read_quickly(tmp_path):
    """A metadata string alternating a plain character and an escape (`a\\"a\\"...`, 400k times: a 1.2 MB
    header) is refused (no "format" entry) as quickly as any other 1 MB header. Bug: each run of plain
    characters is appended with `scalars.append(contentsOf:)`, which copies the string built so far, so
    the time grows with the square of the escapes: 100k take 3 s, 200k 19 s (this file: minutes), in all
    three ways in, for any string of the header, the config inside the metadata included."""
    path = write_raw_safetensors(
        tmp_path / "escapes.safetensors", '{"__metadata__":{"junk":"' + 'a\\"' * 400_000 + '"}}'
    )
    result = run_measured([CLI, "sample", "--model", path, "--length", "5"], timeout=3, limit_as=CLI_LIMIT)
    assert not result.timed_out, "still reading a 1.2 MB header after 3 s"
    assert_clean_failure(result, "format", status=1)
    assert result.seconds < MAX_SECONDS


def test_long_header_string_under_a_tight_limit_is_refused_not_aborted(tmp_path):
    """A 24 MB header holding one metadata string, loaded by charrnn_model_load with 150 MiB of address
    space left: the read's budget (3 bytes per byte of the file, 72 MB) fits, so the load goes on; it
    must then end in a refusal (no "format" entry) or an OUT_OF_MEMORY, never in an abort. Bug: reading
    the string allocates a 96 MB array of scalars, then more (851 MB of peak RSS for a 95 MB string),
    none of it asked of the budget: "Fatal error: failed to allocate 96000032 bytes", SIGABRT, the host
    process gone. The same file aborts `charrnn sample` under `ulimit -v 300000`."""
    path = write_raw_safetensors(
        tmp_path / "long-string.safetensors", '{"__metadata__":{"junk":"' + "a" * 24_000_000 + '"}}'
    )
    result = run_measured([compile_c("probe"), "--headroom", "150", "load", path], timeout=30)
    assert result.returncode == 0, f"status {result.returncode}: {result.err[:300]}"
    line = probe_lines(result)[f"load:{path}"]
    assert line["status"] in ("FORMAT", "OUT_OF_MEMORY"), line
