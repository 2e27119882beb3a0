"""Benchmark charrnn against Keras 3 (JAX), PyTorch and ONNX Runtime on the same workloads; print the
results as a markdown section for bench/RESULTS.md.

For each workload, runs `.build/release/charrnn bench --json --only NAME --corpus FILE` (its last stdout
line is one JSON object with `<workload>_chars_per_s`, `<workload>_peak_rss_mb` and
`train_lstm2x512_T50_B50_gflops`) and each peer on the same workload (`--peers`; Keras alone by default,
as before the other peers came; `make bench` gives all three):
`bench/keras_peer.py` (Keras 3, JAX backend), `bench/torch_peer.py` (eager PyTorch, oneDNN on and off,
the faster reported) and `bench/onnx_peer.py` (ONNX Runtime; generation only), one after the other so
they never compete for the cores. An `_int8` workload is charrnn's 8-bit generation: it is measured right
after its float32 one and compared with the same peer runs (the peers run float32, their only way). The
`_b64` workloads advance 64 independent streams one character each per call; their chars/s are the
aggregate (64 x calls / seconds), and the section also gives each side's b64 figure over its b1 figure.

That is one round; `--rounds` rounds (3 by default) run, the sides taking turns to go first from one
workload to the next and from one round to the next. A shared or virtual machine's speed drifts by tens
of percent over minutes, on every side alike: measuring the sides close together, several times, keeps
that drift out of the ratios. The table shows the median of each side's figures; the ratio is charrnn's
over the fastest peer's (the peer with the highest median), the median of the rounds' ratios with their
range. A peer that fails or is missing shows n/a and the others go on ("-": the peer has no such
workload); the exit status is then 1.

Interpreters: run.py needs only the standard library. The Keras peer runs with `--keras-python` (this
Python by default: `make bench` runs run.py in .venv, which has keras and jax); the PyTorch and ONNX
Runtime peers and the GPT of `--quality` with `--peer-python` (default .venv-bench/bin/python, which
`make bench-venv` creates).

With `--quality` it also compares the best model a time budget buys, for each of `--budgets` (30, 120
and 600 s; `--quality-time S` is one budget): `charrnn train CORPUS --max-time B --out DIR --json` as it
is (its own choice of model and batch, read back from the checkpoint it wrote), a small character GPT
(`bench/gpt_quality.py`, nanoGPT's shakespeare_char CPU recipe) and char-rnn's 2x128 LSTM in Keras
(`bench/keras_quality.py`). Each reports its loss in nats/char on the same held-out text, the last 10%
of the corpus (as `charrnn train` splits it); charrnn's is measured by `charrnn eval` on that text.
`--rounds 0` skips the speed rounds.

    .venv/bin/python bench/run.py --corpus ../shared/data/tinyshakespeare.txt [--rounds 3] [--seconds S]
        [--only NAME[,NAME]] [--peers keras,torch,onnx] [--json-out FILE] [--charrnn PATH]
        [--quality [--budgets 30,120,600 | --quality-time S]] [--peer-python PY] [--keras-python PY]

When the environment pins OpenBLAS's kernels (`OPENBLAS_CORETYPE`, e.g. AVX2 ones on an AVX-512 CPU),
charrnn is measured twice: as the environment has it, and with the kernels OpenBLAS itself picks for the
CPU (the variable removed for that run only). The table shows both, each with its ratio.

`--seconds` is passed to every side (PyTorch runs each workload twice, oneDNN on and off, each that long).
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/common.py, also when loaded by path
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHARRNN = os.path.join(ROOT, ".build", "release", "charrnn")
BENCH_PYTHON = os.path.join(ROOT, ".venv-bench", "bin", "python")
WORKLOADS = [
    "train_lstm2x128_T50_B50",
    "train_gru2x128_T50_B50",
    "train_lstm2x512_T50_B50",
    "gen_lstm2x512_b1",
    "gen_lstm2x128_b1",
    "gen_lstm2x512_b1_int8",
    "gen_lstm2x128_b1_int8",
    "gen_lstm2x512_b64",
    "gen_lstm2x128_b64",
    "gen_lstm2x512_b64_int8",
    "gen_lstm2x128_b64_int8",
]
INT8 = "_int8"  # charrnn's 8-bit generation; the peers run the same model in float32
PEERS = {  # name: (label, script, the kinds of workload it runs)
    "keras": ("Keras-JAX", "keras_peer.py", ("train", "gen")),
    "torch": ("PyTorch", "torch_peer.py", ("train", "gen")),
    "onnx": ("ONNX Runtime", "onnx_peer.py", ("gen",)),
}
BUDGETS = "30,120,600"
ROUNDS = 3


class BenchError(Exception):
    pass


def run_json(cmd, what, cwd=None, env=None):
    """Run `cmd`; return the JSON object on the last line of its stdout. stderr passes through."""
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True, cwd=cwd, env=env)
    except OSError as e:
        raise BenchError(f"{what}: cannot run {cmd[0]}: {e}")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        raise BenchError(f"{what}: exited with status {proc.returncode}")
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise BenchError(f"{what}: last stdout line is not a JSON object: {lines[-1:]!r}")


def charrnn(binary, *rest):
    if not os.access(binary, os.X_OK):
        raise BenchError(f"charrnn: {binary} not found or not executable; build it with `make build`")
    return [binary, *rest]


def charrnn_workloads(binary):
    """The workloads this charrnn's `bench` knows (its help lists them), or None when it cannot tell."""
    try:
        text = subprocess.run(
            [binary, "bench", "--help"], check=False, capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = set(re.findall(r"\b(?:train|gen)_[A-Za-z0-9_]+\b", text))
    return names or None


# --- figures ---------------------------------------------------------------------------------------


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def peer_name(name):
    """The peers' workload a charrnn workload is compared with: an _int8 workload is compared with the
    same model in float32."""
    return name.replace(INT8, "")


def runs_on(peer, name):
    """Whether `peer` has the workload `name` is compared with."""
    spec = common.WORKLOADS.get(peer_name(name))
    return spec is not None and spec[0] in PEERS[peer][2]


def measurement_order(names):
    """`names` with each _int8 workload moved right after its float32 one, which runs next to the peers'
    workload both are compared with."""
    position = {n: i for i, n in enumerate(names)}
    return sorted(names, key=lambda n: (position.get(peer_name(n), position[n]), n.endswith(INT8)))


def turns(sides, k):
    """`sides` rotated by k: who goes first changes from one workload and one round to the next."""
    k %= len(sides)
    return sides[k:] + sides[:k]


def median_figures(runs):
    """One dict from several runs' dicts: the median of each number over the runs that have it, and the
    first run's value for anything else (versions, the BLAS core, oneDNN's setting)."""
    merged = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if key in run]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        merged[key] = statistics.median(numbers) if numbers and len(numbers) == len(values) else values[0]
    return merged


def rate(figures, name):
    return figures.get(f"{name}_chars_per_s")


def best_peers(results, names, peers):
    """Per workload, the peer with the highest median chars/s (None when no peer measured it)."""
    best = {}
    for name in names:
        measured = [(rate(results.get(p, {}), peer_name(name)), p) for p in peers if runs_on(p, name)]
        measured = [(r, p) for r, p in measured if r]
        best[name] = max(measured)[1] if measured else None
    return best


def round_ratios(rounds, names, side="charrnn", peer_of=None):
    """Per workload, the ratio side / peer of each round that measured both; the peer is `peer_of[name]`
    (the fastest peer), Keras without `peer_of`."""
    ratios = {}
    for name in names:
        peer = peer_of.get(name) if peer_of is not None else "keras"
        for r in rounds:
            a = rate(r.get(side, {}), name)
            b = rate(r.get(peer, {}), peer_name(name)) if peer else None
            if a and b:
                ratios.setdefault(name, []).append(a / b)
    return ratios


def ratio_cell(a, b, per_round=None):
    """The median of the rounds' ratios, with their range; a / b (the medians' ratio) when no round
    measured both sides."""
    if per_round:
        text = f"{statistics.median(per_round):.2f}x"
        if len(per_round) > 1:
            text += f" ({min(per_round):.2f}–{max(per_round):.2f})"
        return text
    return ratio(a, b)


def onednn_note(rounds, name):
    """Which oneDNN setting won PyTorch's workload in the rounds: " (oneDNN off)", or the count of each."""
    winners = [r["torch"][f"{name}_onednn"] for r in rounds if f"{name}_onednn" in r.get("torch", {})]
    if not winners:
        return ""
    if len(set(winners)) == 1:
        return f" (oneDNN {winners[0]})"
    return " (oneDNN " + ", ".join(f"{w} {winners.count(w)}/{len(winners)}" for w in ("on", "off")) + ")"


def table(ours, keras, names, auto=None, ratios=None, auto_ratios=None, others=None, rounds=()):
    """The markdown table, then charrnn's achieved GFLOP/s. `ours`: charrnn's figures; `auto`: charrnn's
    with OpenBLAS's own kernels, when they differ; `keras`: Keras's figures (None: not measured);
    `others`: the other peers' figures by name ("torch", "onnx"). With more than one peer, a column names
    the fastest peer (highest median) of each workload, the one charrnn's ratio is to. `ratios` (and
    `auto_ratios`): per workload, the ratios of the rounds, shown as their median and range (without
    them, the medians' ratio). `rounds` tells which oneDNN setting won PyTorch's runs."""
    figures = {**({"keras": keras} if keras is not None else {}), **(others or {})}
    peers = [p for p in PEERS if p in figures]
    best = best_peers(figures, names, peers)
    ratios, auto_ratios = ratios or {}, auto_ratios or {}
    labels = [PEERS[p][0] for p in peers]
    several = len(peers) > 1
    head = f"| workload | charrnn chars/s (BLAS core {ours.get('blas_core', '?')}) |"
    rule = "|---|---:|"
    if auto is not None:
        head += f" charrnn chars/s (BLAS core {auto.get('blas_core', '?')}) |"
        rule += "---:|"
    head += "".join(f" {label} chars/s |" for label in labels)
    rule += "---:|" * len(peers)
    head += " fastest peer | charrnn / fastest |" if several else " ratio |"
    rule += "---|---:|" if several else "---:|"
    if auto is not None:
        head += f" charrnn ({auto.get('blas_core', '?')}) ratio |"
        rule += "---:|"
    head += " charrnn peak RSS MB |" + "".join(f" {label} peak RSS MB |" for label in labels)
    rule += "---:|" * (1 + len(peers))
    rows = [head, rule]
    for name in names:
        pname, peer = peer_name(name), best[name]
        a = rate(ours, name)
        b = rate(figures.get(peer, {}), pname) if peer else None
        row = f"| {name} | {fmt(a)} |"
        if auto is not None:
            row += f" {fmt(rate(auto, name))} |"
        for p in peers:
            if not runs_on(p, name):
                row += " – |"
                continue
            row += f" {fmt(rate(figures[p], pname))}" + (onednn_note(rounds, pname) if p == "torch" else "") + " |"
        if several:
            row += f" {PEERS[peer][0] if peer else 'n/a'} |"
        row += f" {ratio_cell(a, b, ratios.get(name))} |"
        if auto is not None:
            row += f" {ratio_cell(rate(auto, name), b, auto_ratios.get(name))} |"
        row += f" {fmt(ours.get(f'{name}_peak_rss_mb'))} |"
        for p in peers:
            row += f" {fmt(figures[p].get(f'{pname}_peak_rss_mb')) if runs_on(p, name) else '–'} |"
        rows.append(row)
    lines = gflops_lines(ours, figures, peers, auto)
    return "\n".join(rows) + ("\n\n" + "\n".join(lines) if lines else "")


def gflops_lines(ours, figures, peers, auto=None):
    """charrnn's achieved GFLOP/s on train_lstm2x512_T50_B50, and each peer's at the same FLOPs per char."""
    name = "train_lstm2x512_T50_B50"
    lines = []
    for run in [ours] + ([auto] if auto is not None else []):
        gflops, a = run.get(f"{name}_gflops"), rate(run, name)
        if gflops is None or not a:
            continue
        others = [
            f"{PEERS[p][0]} {rate(figures[p], name) / a * gflops:.1f}"
            for p in peers
            if runs_on(p, name) and rate(figures[p], name)
        ]
        tail = f"; at the same FLOPs per character: {', '.join(others)}" if others else ""
        lines.append(
            f"Achieved on {name} with BLAS core {run.get('blas_core', '?')}: charrnn {gflops:.1f} GFLOP/s{tail}."
        )
    return lines


def many_streams_table(results, names, peers):
    """Each side's aggregate chars/s with 64 streams over its chars/s with one (medians)."""
    rows = []
    for b64 in [n for n in names if "_b64" in n]:
        b1 = b64.replace("_b64", "_b1")
        cells = [ratio(rate(results["charrnn"], b64), rate(results["charrnn"], b1))]
        for p in peers:
            if INT8 in b64 or not runs_on(p, b64):
                cells.append("–")
            else:
                cells.append(ratio(rate(results.get(p, {}), b64), rate(results.get(p, {}), b1)))
        rows.append(f"| {b64} / {b1} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    head = "| many streams: b64 aggregate / b1 | charrnn |" + "".join(f" {PEERS[p][0]} |" for p in peers)
    return "\n".join([head, "|---|---:|" + "---:|" * len(peers)] + rows)


# --- the machine and the versions ------------------------------------------------------------------


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine_line():
    """The CPU (model, family, the vector extensions that matter here), caches, memory and system."""
    cpuinfo = read("/proc/cpuinfo")

    def field(key):
        m = re.search(rf"^{key}\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
        return m.group(1).strip() if m else "?"

    cpus = len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE))
    flags = set(field("flags").split())
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile"]
    shown = [f for f in wanted if f in flags] + ([] if "avx512f" in flags else ["no AVX-512"])
    text = f"{cpus} x {field('model name')} (CPU family {field('cpu family')}, model {field('model')}; "
    text += ", ".join(shown) + ")"
    try:
        lscpu = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=30).stdout
        caches = re.findall(r"^(L2|L3) cache:\s*(.*)$", lscpu, re.MULTILINE)
        hypervisor = re.search(r"^Hypervisor vendor:\s*(.*)$", lscpu, re.MULTILINE)
        text += "".join(f", {level} {size.strip()}" for level, size in caches)
        text += f", {hypervisor.group(1).strip()} guest" if hypervisor else ""
    except (OSError, subprocess.SubprocessError):
        pass
    mem = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.MULTILINE)
    if mem:
        text += f", {int(mem.group(1)) / 2**20:.0f} GiB"
    system = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', read("/etc/os-release"), re.MULTILINE)
    text += f", {system.group(1) if system else platform.system()}"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return text + (f"; OPENBLAS_CORETYPE={coretype}" if coretype else "; OPENBLAS_CORETYPE unset")


def count(value):
    """A thread count as merged over rounds (a median, so 2.0 for 2), written as a whole number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "?" if value is None else value


def versions_line(binary, results):
    parts = []
    try:
        version = subprocess.run(
            [binary, "--version"], check=False, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        core = results.get("charrnn", {}).get("blas_core")
        parts.append(f"charrnn {version or '?'}" + (f" (BLAS core {core})" if core else ""))
    except (OSError, subprocess.SubprocessError):
        parts.append("charrnn ?")
    k, t, o = results.get("keras", {}), results.get("torch", {}), results.get("onnx", {})
    if k:
        parts.append(f"Keras {k.get('keras_version', '?')} with JAX {k.get('jax_version', '?')}")
    if t:
        parts.append(f"PyTorch {t.get('torch_version', '?')} ({count(t.get('torch_threads'))} threads)")
    if o:
        parts.append(
            f"ONNX Runtime {o.get('onnxruntime_version', '?')} ({count(o.get('ort_threads'))} intra-op threads; "
            f"onnx {o.get('onnx_version', '?')}, exported by PyTorch)"
        )
    gpt = next((q["gpt"] for q in results.get("quality", []) if q.get("gpt")), {})
    if gpt and not t:
        parts.append(f"PyTorch {gpt.get('torch_version', '?')} ({gpt.get('threads', '?')} threads)")
    return ", ".join(parts) + f", Python {platform.python_version()}"


def code_line():
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], check=False, capture_output=True, text=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or "?"
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except OSError:
        return "code at ?"
    return f"code at {commit}" + (" with uncommitted changes" if dirty else "")


# --- quality -----------------------------------------------------------------------------------------


def checkpoint_metadata(path):
    """The `__metadata__` of a safetensors file (charrnn keeps the model's config and the training run's
    settings there), each value parsed as JSON where it is JSON."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > 1 << 26:
            raise ValueError("header too large")
        header = json.loads(f.read(length))
    metadata = {}
    for key, value in header.get("__metadata__", {}).items():
        try:
            metadata[key] = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            metadata[key] = value
    return metadata


def describe_schedule(schedule):
    """A learning-rate schedule from a checkpoint's settings, briefly: its kind, and its decay and
    warm-up where it names them, e.g. "budget schedule (decay cosine, warmup 0.02)"."""
    found = {}

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("decay", "warmup") and not isinstance(item, (dict, list)):
                    found.setdefault(key, item)
                walk(item)

    walk(schedule)
    detail = ", ".join(f"{key} {value}" for key, value in found.items())
    return f"{'/'.join(schedule)} schedule" + (f" ({detail})" if detail else "")


def describe_choice(metadata):
    """What `charrnn train` chose, from its checkpoint: e.g. "2x128 lstm, batch 50 x seq 50, adam 0.002"."""
    config, options = metadata.get("config", {}), metadata.get("training", {}).get("options", {})
    layers = config.get("layers", [])
    parts = []
    if layers:
        cells = {layer.get("cell", "?") for layer in layers}
        units = {layer.get("units", "?") for layer in layers}
        if len(cells) == 1 and len(units) == 1:
            parts.append(f"{len(layers)}x{units.pop()} {cells.pop()}")
        else:
            parts.append("+".join(f"{layer.get('units')} {layer.get('cell')}" for layer in layers))
    if config.get("embedding_dim"):
        parts.append(f"embedding {config['embedding_dim']}")
    if config.get("dropout"):
        parts.append(f"dropout {config['dropout']}")
    if "batchSize" in options:
        parts.append(f"batch {options['batchSize']} x seq {options.get('seqLength', '?')}")
    if options.get("objective", "sequence") != "sequence":
        parts.append(f"{options['objective']} objective")
    optimizer = options.get("optimizer", {})
    if optimizer:
        parts.append(f"{optimizer.get('kind', '?')} {optimizer.get('learningRate', '?')}")
    schedule = options.get("schedule", {})
    if isinstance(schedule, dict) and schedule and "constant" not in schedule:
        parts.append(describe_schedule(schedule))
    return ", ".join(parts) or "?"


def quality_charrnn(binary, corpus, budget, heldout, tmp):
    """`charrnn train` alone for `budget` seconds, then `charrnn eval` of its last checkpoint on the held-out
    text; returns the figures, with what it chose."""
    out = os.path.join(tmp, f"charrnn-{budget:g}s")
    cmd = charrnn(binary, "train", corpus, "--max-time", f"{budget:g}", "--out", out, "--json")
    trained = run_json(cmd, f"charrnn train --max-time {budget:g}", cwd=tmp)
    checkpoint = trained.get("checkpoint") or os.path.join(out, "latest.safetensors")
    checkpoint = os.path.join(tmp, checkpoint)  # relative to the run's working directory
    evaluated = run_json(charrnn(binary, "eval", heldout, "--model", checkpoint, "--json"), "charrnn eval", cwd=tmp)
    try:
        chose = describe_choice(checkpoint_metadata(checkpoint))
    except (OSError, ValueError, struct.error) as e:
        chose = f"? ({e})"
    return {
        "val_loss": evaluated.get("loss"),
        "own_val_loss": trained.get("val_loss"),  # its validation pass (streams of its batch), same split
        "steps": trained.get("steps"),
        "seconds": trained.get("seconds"),
        "params": trained.get("parameters"),
        "chose": chose,
        "train_json": trained,
    }


def quality_table(quality, peers_run):
    head = "| budget | charrnn | charrnn chose | steps | params |"
    rule = "|---:|---:|---|---:|---:|"
    if "gpt" in peers_run:
        head += " GPT (nanoGPT recipe) | steps | params |"
        rule += "---:|---:|---:|"
    if "keras" in peers_run:
        head += " Keras-JAX (2x128 LSTM) | steps |"
        rule += "---:|---:|"
    rows = [head, rule]
    for q in quality:
        c, g, k = q.get("charrnn", {}), q.get("gpt", {}), q.get("keras", {})
        row = f"| {q['budget']:g} s | {fmt(c.get('val_loss'), 4)} | {c.get('chose', 'n/a')} | {fmt(c.get('steps'))} |"
        row += f" {fmt(c.get('params'))} |"
        if "gpt" in peers_run:
            row += f" {fmt(g.get('val_loss'), 4)} | {fmt(g.get('steps'))} | {fmt(g.get('params'))} |"
        if "keras" in peers_run:
            row += f" {fmt(k.get('val_loss'), 4)} | {fmt(k.get('steps'))} |"
        rows.append(row)
    return "\n".join(rows)


# --- main --------------------------------------------------------------------------------------------


def parse_budgets(text):
    try:
        budgets = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        sys.exit(f"run.py: --budgets takes seconds separated by commas, got {text!r}")
    if not budgets or any(b <= 0 for b in budgets):
        sys.exit("run.py: --budgets must be positive")
    return budgets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seconds", type=float, help="timed seconds per workload (every side)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--peers", default="keras", help="comma-separated: keras, torch, onnx (default keras)")
    parser.add_argument("--json-out", help="save the combined figures to this file")
    parser.add_argument("--charrnn", default=CHARRNN, help="the charrnn binary")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of every side, taking turns (default 3)")
    parser.add_argument("--quality", action="store_true", help="also compare held-out loss after timed training")
    parser.add_argument("--quality-peers", default="gpt,keras", help="--quality's peers: gpt, keras (default both)")
    parser.add_argument("--budgets", default=BUDGETS, help="--quality's training budgets in seconds (30,120,600)")
    parser.add_argument("--quality-time", type=float, help="one --quality budget (an alias of --budgets S)")
    parser.add_argument("--peer-python", help="Python for PyTorch, ONNX Runtime and the GPT (.venv-bench's)")
    parser.add_argument("--keras-python", default=sys.executable, help="Python for Keras (default: this one)")
    args = parser.parse_args()
    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(corpus):
        sys.exit(f"run.py: corpus {args.corpus} not found")
    if args.rounds < 0 or (args.rounds == 0 and not args.quality):
        sys.exit("run.py: --rounds must be at least 1 (0 only with --quality: no speed rounds)")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"run.py: unknown peer(s) {', '.join(unknown)}; the peers are {', '.join(PEERS)}")
    budgets = [args.quality_time] if args.quality_time else parse_budgets(args.budgets)
    peer_python = args.peer_python or (BENCH_PYTHON if os.path.exists(BENCH_PYTHON) else sys.executable)
    peer_python, keras_python = (os.path.abspath(p) if os.sep in p else p for p in (peer_python, args.keras_python))
    python_of = {"keras": keras_python, "torch": peer_python, "onnx": peer_python}
    seconds = ["--seconds", str(args.seconds)] if args.seconds else []
    pinned = bool(os.environ.get("OPENBLAS_CORETYPE"))
    unpinned_env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}

    names = args.only.split(",") if args.only else list(WORKLOADS)
    known = charrnn_workloads(args.charrnn) if os.access(args.charrnn, os.X_OK) else None
    errors, notes, results = [], [], {}
    if known is not None:
        missing = [n for n in names if n not in known]
        # An 8-bit workload charrnn lacks measures nothing new; a float32 one still measures the peers.
        names = [n for n in names if n in known or not n.endswith(INT8)]
        for n in missing:
            notes.append(f"{n}: not a workload of this charrnn ({args.charrnn})")
    unsupported = [n for n in names if peer_name(n) not in common.WORKLOADS and (known is None or n not in known)]
    if unsupported:
        sys.exit(f"run.py: unknown workload(s) {', '.join(unsupported)}")
    for note in notes:
        print(f"run.py: {note}", file=sys.stderr)

    def attempt(make_cmd, what, **kw):
        try:
            return run_json(make_cmd(), what, **kw)
        except BenchError as e:
            errors.append(str(e))
            print(f"run.py: {e}", file=sys.stderr)
            return {}

    def measure_charrnn(name, env=None):
        if known is not None and name not in known:
            return {}
        label = "charrnn bench" + (" (OPENBLAS_CORETYPE unset)" if env is not None else "")
        return attempt(
            lambda: charrnn(args.charrnn, "bench", "--json", "--corpus", corpus, "--only", name, *seconds),
            f"{label} {name}",
            env=env,
        )

    def measure_peer(peer, name):
        script = os.path.join(HERE, PEERS[peer][1])
        return attempt(
            lambda: [python_of[peer], script, "--corpus", corpus, "--only", name, *seconds], f"{peer} {name}"
        )

    for peer in list(peers):
        if not os.access(python_of[peer], os.X_OK):
            errors.append(f"{peer}: {python_of[peer]} not found (`make bench-venv` creates .venv-bench)")
    rounds = []
    for r in range(args.rounds):
        print(f"run.py: round {r + 1} of {args.rounds}", file=sys.stderr, flush=True)
        figures = {"charrnn": {}, "charrnn_auto": {}, **{p: {} for p in peers}}
        done = {p: set() for p in peers}
        for i, name in enumerate(measurement_order(names)):
            for side in turns(["charrnn", *peers], r + i):  # taking turns to go first
                if side == "charrnn":
                    figures["charrnn"].update(measure_charrnn(name))
                    if pinned:  # measure OpenBLAS's own choice for this CPU as well
                        figures["charrnn_auto"].update(measure_charrnn(name, env=unpinned_env))
                elif runs_on(side, name) and peer_name(name) not in done[side]:
                    if os.access(python_of[side], os.X_OK):
                        figures[side].update(measure_peer(side, peer_name(name)))
                    done[side].add(peer_name(name))
        rounds.append(figures)

    for side in ["charrnn", "charrnn_auto", *peers]:
        results[side] = median_figures([r[side] for r in rounds])
    core, auto_core = results["charrnn"].get("blas_core"), results["charrnn_auto"].get("blas_core")
    if auto_core is None or auto_core == core:
        results.pop("charrnn_auto")  # not pinned, failed, or the pin changes nothing here
    results["rounds"] = rounds

    quality = []
    quality_peers = [p for p in args.quality_peers.split(",") if p]
    if args.quality:
        text = common.read_text(corpus)
        split = common.split_point(len(text))
        with tempfile.TemporaryDirectory() as tmp:
            heldout = os.path.join(tmp, "heldout.txt")
            with open(heldout, "w", encoding="utf-8", newline="") as f:
                f.write(text[split:])
            for budget in budgets:
                print(f"run.py: quality, {budget:g} s budget", file=sys.stderr, flush=True)
                q = {"budget": budget}
                try:
                    q["charrnn"] = quality_charrnn(args.charrnn, corpus, budget, heldout, tmp)
                except BenchError as e:
                    errors.append(str(e))
                    print(f"run.py: {e}", file=sys.stderr)
                quality_args = ["--corpus", corpus, "--max-time", f"{budget:g}"]
                for key, python, script in [
                    ("gpt", peer_python, "gpt_quality.py"),
                    ("keras", keras_python, "keras_quality.py"),
                ]:
                    if key not in quality_peers:
                        continue
                    cmd = [python, os.path.join(HERE, script), *quality_args]
                    q[key] = attempt(lambda cmd=cmd: cmd, script)
                quality.append(q)
        results["quality"] = quality
        results["heldout_chars"] = len(text) - split

    # The markdown section, for bench/RESULTS.md.
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    command = " ".join(["bench/run.py", *sys.argv[1:]])
    labels = ", ".join(PEERS[p][0] for p in peers)
    print(f"\nRun N ({stamp}, {code_line()}): charrnn against {labels or 'no peer'}.\n")
    print(f"- Machine: {machine_line()}.")
    print(f"- Versions: {versions_line(args.charrnn, results)}.")
    print(f"- Command: `{command}`; corpus {os.path.basename(corpus)}.")
    if args.rounds:
        print(
            f"- Median of {args.rounds} round(s). The ratio is charrnn's chars/s over the fastest peer's (the "
            "highest median), the median of the rounds' ratios (their range). b64: 64 streams, aggregate "
            "chars/s. PyTorch: the faster of oneDNN on and off (which won, in how many rounds). –: the peer "
            "has no such workload; n/a: not measured or failed."
        )
        for note in notes:
            print(f"- {note}.")
        print()
        best = best_peers(results, names, peers)
        print(
            table(
                results["charrnn"],
                results.get("keras"),
                names,
                auto=results.get("charrnn_auto"),
                ratios=round_ratios(rounds, names, peer_of=best),
                auto_ratios=round_ratios(rounds, names, side="charrnn_auto", peer_of=best),
                others={p: results[p] for p in peers if p != "keras"},
                rounds=rounds,
            )
        )
        streams = many_streams_table(results, names, peers)
        if streams:
            print("\n" + streams)
    if args.quality:
        print(
            f"\nHeld-out loss (nats/char) on the last 10% of the corpus ({results['heldout_chars']:,} characters) "
            "after training for each budget of wall-clock time: charrnn `train --max-time B` with its own "
            "choices, evaluated by `charrnn eval` (stateful over the whole held-out text); the GPT of "
            "`bench/gpt_quality.py` (non-overlapping 64-character blocks); Keras's 2x128 LSTM of "
            "`bench/keras_quality.py` (50-character chunks, stateless).\n"
        )
        print(quality_table(quality, ["gpt", "keras"]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({**results, "errors": errors, "notes": notes}, f, indent=2)
    if errors:
        print("\nErrors:\n" + "\n".join(f"- {e}" for e in dict.fromkeys(errors)))
        sys.exit(1)


if __name__ == "__main__":
    main()
