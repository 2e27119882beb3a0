"""Benchmark charrnn against Keras 3 (JAX backend) on the same workloads and print a markdown table.

Runs `.build/release/charrnn bench --json --corpus FILE` (its last stdout line is one JSON object with
`<workload>_chars_per_s`, `<workload>_peak_rss_mb` and `train_lstm2x512_T50_B50_gflops`), then
`bench/keras_peer.py` in a subprocess, one after the other so they never compete for the cores.
With `--quality` it also trains char-rnn's default model (2x128 LSTM, seq 50, batch 50, Adam 2e-3)
for 120 s (`--quality-time`) with both (`charrnn train ... --json`, `bench/keras_quality.py`) and reports validation loss.

    .venv/bin/python bench/run.py --corpus ../shared/data/tinyshakespeare.txt
        [--seconds S] [--only NAME[,NAME]] [--json-out FILE] [--quality [--quality-time 120]] [--charrnn PATH]

When the environment pins OpenBLAS's kernels (`OPENBLAS_CORETYPE`, e.g. AVX2 ones on an AVX-512 CPU),
charrnn is measured twice: as the environment has it, and with the kernels OpenBLAS itself picks for the
CPU (the variable removed for that run only). The table shows both, each with its ratio to Keras.

`--seconds` and `--only` are passed to both sides. If charrnn is missing or fails, the Keras side still
runs, the charrnn columns show "n/a", and the exit status is 1.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARRNN = os.path.join(ROOT, ".build", "release", "charrnn")
HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["train_lstm2x128_T50_B50", "train_gru2x128_T50_B50", "train_lstm2x512_T50_B50",
             "gen_lstm2x512_b1", "gen_lstm2x128_b1", "gen_lstm2x512_b1_int8", "gen_lstm2x128_b1_int8"]
INT8 = "_int8"  # charrnn's 8-bit generation; Keras runs the same model in float32 (its only way)
QUALITY_TIME = 120


class BenchError(Exception):
    pass


def run_json(cmd, what, cwd=None, env=None):
    """Run `cmd`; return the JSON object on the last line of its stdout. stderr passes through."""
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=cwd, env=env)
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


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def table(ours, keras, names, auto=None):
    """Markdown table; `auto` is charrnn's run with OpenBLAS's own kernels, when it differs from `ours`."""
    core = ours.get("blas_core", "?")
    head = f"| workload | charrnn chars/s (BLAS core {core}) | Keras-JAX chars/s | ratio |"
    rule = "|---|---:|---:|---:|"
    if auto is not None:
        head += f" charrnn chars/s (BLAS core {auto.get('blas_core', '?')}) | ratio |"
        rule += "---:|---:|"
    rows = [head + " charrnn peak RSS MB | Keras peak RSS MB |", rule + "---:|---:|"]
    for name in names:
        a, b = ours.get(f"{name}_chars_per_s"), keras.get(f"{name}_chars_per_s".replace(INT8, ""))
        row = f"| {name} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} |"
        if auto is not None:
            c = auto.get(f"{name}_chars_per_s")
            row += f" {fmt(c)} | {ratio(c, b)} |"
        keras_rss = keras.get(f"{name}_peak_rss_mb".replace(INT8, ""))
        rows.append(row + f" {fmt(ours.get(f'{name}_peak_rss_mb'))} | {fmt(keras_rss)} |")
    for label, run in [(core, ours)] + ([(auto.get("blas_core", "?"), auto)] if auto is not None else []):
        gflops = run.get("train_lstm2x512_T50_B50_gflops")
        if gflops is None:
            continue
        a, b = run.get("train_lstm2x512_T50_B50_chars_per_s"), keras.get("train_lstm2x512_T50_B50_chars_per_s")
        peer = f"; Keras-JAX {b / a * gflops:.1f} at the same FLOPs per character" if a and b else ""
        rows.append(f"\nAchieved on train_lstm2x512_T50_B50 with BLAS core {label}: charrnn {gflops:.1f} GFLOP/s{peer}.")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--seconds", type=float, help="timed seconds per workload (both sides)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--json-out", help="save the combined figures to this file")
    parser.add_argument("--charrnn", default=CHARRNN, help="the charrnn binary")
    parser.add_argument("--quality", action="store_true", help="also compare val loss after training")
    parser.add_argument("--quality-time", type=int, default=QUALITY_TIME, help="training seconds for --quality")
    args = parser.parse_args()
    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(corpus):
        sys.exit(f"run.py: corpus {args.corpus} not found")
    names = args.only.split(",") if args.only else WORKLOADS
    seconds = ["--seconds", str(args.seconds)] if args.seconds else []
    common = seconds + (["--only", args.only] if args.only else [])
    # Keras has no 8-bit path: an _int8 workload is compared with Keras running the same model.
    keras_names = list(dict.fromkeys(n.replace(INT8, "") for n in names))
    keras_common = seconds + (["--only", ",".join(keras_names)] if args.only else [])

    errors, results = [], {"charrnn": {}, "keras": {}}

    def attempt(key, make_cmd, what, **kw):
        try:
            results[key] = run_json(make_cmd(), what, **kw)
        except BenchError as e:
            errors.append(str(e))
            print(f"run.py: {e}", file=sys.stderr)

    attempt("charrnn", lambda: charrnn(args.charrnn, "bench", "--json", "--corpus", corpus, *common), "charrnn bench")
    if os.environ.get("OPENBLAS_CORETYPE"):  # pinned: measure OpenBLAS's own choice for this CPU as well
        unpinned = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        attempt("charrnn_auto", lambda: charrnn(args.charrnn, "bench", "--json", "--corpus", corpus, *common),
                "charrnn bench (OPENBLAS_CORETYPE unset)", env=unpinned)
        pinned, auto = results["charrnn"].get("blas_core"), results.get("charrnn_auto", {}).get("blas_core")
        if auto is None or auto == pinned:
            results.pop("charrnn_auto", None)  # failed, or the pin changes nothing here
    attempt("keras", lambda: [sys.executable, os.path.join(HERE, "keras_peer.py"), "--corpus", corpus, *keras_common],
            "keras_peer.py")
    if args.quality:
        with tempfile.TemporaryDirectory() as tmp:  # charrnn train may write a model file into its cwd
            attempt("charrnn_quality", lambda: charrnn(
                args.charrnn, "train", corpus, "--cell", "lstm", "--layers", "2", "--hidden", "128", "--seq-length", "50",
                "--batch-size", "50", "--optimizer", "adam", "--lr", "2e-3", "--epochs", "1000", "--max-time", str(args.quality_time),
                "--json"), "charrnn train", cwd=tmp)
        attempt("keras_quality", lambda: [sys.executable, os.path.join(HERE, "keras_quality.py"),
                                          "--corpus", corpus, "--max-time", str(args.quality_time)], "keras_quality.py")

    keras = results["keras"]
    print(f"\nKeras {keras.get('keras_version', '?')}, backend {keras.get('backend', '?')}, "
          f"JAX {keras.get('jax_version', '?')}; corpus {args.corpus}\n")
    print(table(results["charrnn"], keras, names, results.get("charrnn_auto")))
    if args.quality:
        print(f"\nValidation loss (nats/char, last 10% of the corpus) after {args.quality_time} s of training, "
              "2x128 LSTM, seq 50, batch 50, Adam 2e-3:\n")
        print("| | val loss | steps | seconds |\n|---|---:|---:|---:|")
        for label, key in [("charrnn", "charrnn_quality"), ("Keras-JAX", "keras_quality")]:
            q = results.get(key, {})
            print(f"| {label} | {fmt(q.get('val_loss'), 4)} | {fmt(q.get('steps'))} | {fmt(q.get('seconds'), 1)} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({**results, "errors": errors}, f, indent=2)
    if errors:
        print("\nErrors:\n" + "\n".join(f"- {e}" for e in errors))
        sys.exit(1)


if __name__ == "__main__":
    main()
