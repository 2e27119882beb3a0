"""Benchmark charrnn against Keras 3 (JAX backend) on the same workloads and print a markdown table.

For each workload, runs `.build/release/charrnn bench --json --only NAME --corpus FILE` (its last stdout
line is one JSON object with `<workload>_chars_per_s`, `<workload>_peak_rss_mb` and
`train_lstm2x512_T50_B50_gflops`) and `bench/keras_peer.py --only NAME` next to it, one after the other
so they never compete for the cores; an `_int8` workload is measured right after its float32 one, next to
the same Keras run. That is one round; `--rounds` rounds (3 by default) run, the sides taking turns to go
first from one workload to the next and from one round to the next. A shared or virtual machine's speed drifts by tens of percent over minutes,
on both sides alike: measuring the two close together, several times, keeps that drift out of the ratios.
The table shows the median of each side's figures and the median of the rounds' ratios, with their
range.
With `--quality` it also trains char-rnn's default model (2x128 LSTM, seq 50, batch 50, Adam 2e-3)
for 120 s (`--quality-time`) with both (`charrnn train ... --json`, `bench/keras_quality.py`) and reports validation loss.

    .venv/bin/python bench/run.py --corpus ../shared/data/tinyshakespeare.txt [--rounds 3]
        [--seconds S] [--only NAME[,NAME]] [--json-out FILE] [--quality [--quality-time 120]] [--charrnn PATH]

When the environment pins OpenBLAS's kernels (`OPENBLAS_CORETYPE`, e.g. AVX2 ones on an AVX-512 CPU),
charrnn is measured twice: as the environment has it, and with the kernels OpenBLAS itself picks for the
CPU (the variable removed for that run only). The table shows both, each with its ratio to Keras.

`--seconds` is passed to both sides. If charrnn is missing or fails, the Keras side still runs, the
charrnn columns show "n/a", and the exit status is 1.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARRNN = os.path.join(ROOT, ".build", "release", "charrnn")
HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = [
    "train_lstm2x128_T50_B50",
    "train_gru2x128_T50_B50",
    "train_lstm2x512_T50_B50",
    "gen_lstm2x512_b1",
    "gen_lstm2x128_b1",
    "gen_lstm2x512_b1_int8",
    "gen_lstm2x128_b1_int8",
]
INT8 = "_int8"  # charrnn's 8-bit generation; Keras runs the same model in float32 (its only way)
QUALITY_TIME = 120
ROUNDS = 3


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


def keras_name(name):
    """The Keras workload a charrnn workload is compared with: Keras has no 8-bit path, so an _int8
    workload is compared with Keras running the same model in float32."""
    return name.replace(INT8, "")


def measurement_order(names):
    """`names` with each _int8 workload moved right after its float32 one, which runs next to the Keras
    workload both are compared with."""
    position = {n: i for i, n in enumerate(names)}
    return sorted(names, key=lambda n: (position.get(keras_name(n), position[n]), n.endswith(INT8)))


def median_figures(runs):
    """One dict from several runs' dicts: the median of each number over the runs that have it, and the
    first run's value for anything else (versions, the BLAS core)."""
    merged = {}
    for key in dict.fromkeys(k for run in runs for k in run):
        values = [run[key] for run in runs if key in run]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        merged[key] = statistics.median(numbers) if numbers and len(numbers) == len(values) else values[0]
    return merged


def round_ratios(rounds, names, side="charrnn"):
    """Per workload, the ratio charrnn / Keras of each round that measured both."""
    ratios = {}
    for name in names:
        for r in rounds:
            a = r.get(side, {}).get(f"{name}_chars_per_s")
            b = r.get("keras", {}).get(f"{keras_name(name)}_chars_per_s")
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


def table(ours, keras, names, auto=None, ratios=None, auto_ratios=None):
    """Markdown table; `auto` is charrnn's run with OpenBLAS's own kernels, when it differs from `ours`.
    `ratios` (and `auto_ratios`): per workload, the ratios of the rounds, shown as their median and range."""
    ratios, auto_ratios = ratios or {}, auto_ratios or {}
    core = ours.get("blas_core", "?")
    head = f"| workload | charrnn chars/s (BLAS core {core}) | Keras-JAX chars/s | ratio |"
    rule = "|---|---:|---:|---:|"
    if auto is not None:
        head += f" charrnn chars/s (BLAS core {auto.get('blas_core', '?')}) | ratio |"
        rule += "---:|---:|"
    rows = [head + " charrnn peak RSS MB | Keras peak RSS MB |", rule + "---:|---:|"]
    for name in names:
        a, b = ours.get(f"{name}_chars_per_s"), keras.get(f"{keras_name(name)}_chars_per_s")
        row = f"| {name} | {fmt(a)} | {fmt(b)} | {ratio_cell(a, b, ratios.get(name))} |"
        if auto is not None:
            c = auto.get(f"{name}_chars_per_s")
            row += f" {fmt(c)} | {ratio_cell(c, b, auto_ratios.get(name))} |"
        keras_rss = keras.get(f"{keras_name(name)}_peak_rss_mb")
        rows.append(row + f" {fmt(ours.get(f'{name}_peak_rss_mb'))} | {fmt(keras_rss)} |")
    for label, run in [(core, ours)] + ([(auto.get("blas_core", "?"), auto)] if auto is not None else []):
        gflops = run.get("train_lstm2x512_T50_B50_gflops")
        if gflops is None:
            continue
        a, b = run.get("train_lstm2x512_T50_B50_chars_per_s"), keras.get("train_lstm2x512_T50_B50_chars_per_s")
        peer = f"; Keras-JAX {b / a * gflops:.1f} at the same FLOPs per character" if a and b else ""
        rows.append(
            f"\nAchieved on train_lstm2x512_T50_B50 with BLAS core {label}: charrnn {gflops:.1f} GFLOP/s{peer}."
        )
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
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of both sides, taking turns (default 3)")
    args = parser.parse_args()
    corpus = os.path.abspath(args.corpus)
    if not os.path.isfile(corpus):
        sys.exit(f"run.py: corpus {args.corpus} not found")
    if args.rounds < 1:
        sys.exit("run.py: --rounds must be at least 1")
    names = args.only.split(",") if args.only else WORKLOADS
    seconds = ["--seconds", str(args.seconds)] if args.seconds else []
    pinned = bool(os.environ.get("OPENBLAS_CORETYPE"))
    unpinned_env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}

    errors, results = [], {}

    def attempt(make_cmd, what, **kw):
        try:
            return run_json(make_cmd(), what, **kw)
        except BenchError as e:
            errors.append(str(e))
            print(f"run.py: {e}", file=sys.stderr)
            return {}

    def measure_charrnn(name, env=None):
        label = "charrnn bench" + (" (OPENBLAS_CORETYPE unset)" if env is not None else "")
        return attempt(
            lambda: charrnn(args.charrnn, "bench", "--json", "--corpus", corpus, "--only", name, *seconds),
            f"{label} {name}",
            env=env,
        )

    def measure_keras(name):
        return attempt(
            lambda: [sys.executable, os.path.join(HERE, "keras_peer.py"), "--corpus", corpus, "--only", name, *seconds],
            f"keras_peer.py {name}",
        )

    rounds = []
    for r in range(args.rounds):
        print(f"run.py: round {r + 1} of {args.rounds}", file=sys.stderr, flush=True)
        figures = {"charrnn": {}, "keras": {}, "charrnn_auto": {}}
        keras_done = set()
        for i, name in enumerate(measurement_order(names)):
            peer = keras_name(name)
            sides = ["charrnn", "keras"] if (r + i) % 2 == 0 else ["keras", "charrnn"]  # taking turns to go first
            for side in sides:
                if side == "charrnn":
                    figures["charrnn"].update(measure_charrnn(name))
                    if pinned:  # measure OpenBLAS's own choice for this CPU as well
                        figures["charrnn_auto"].update(measure_charrnn(name, env=unpinned_env))
                elif peer not in keras_done:
                    figures["keras"].update(measure_keras(peer))
                    keras_done.add(peer)
        rounds.append(figures)

    results["charrnn"] = median_figures([r["charrnn"] for r in rounds])
    results["keras"] = median_figures([r["keras"] for r in rounds])
    results["charrnn_auto"] = median_figures([r["charrnn_auto"] for r in rounds])
    core, auto_core = results["charrnn"].get("blas_core"), results["charrnn_auto"].get("blas_core")
    if auto_core is None or auto_core == core:
        results.pop("charrnn_auto")  # not pinned, failed, or the pin changes nothing here
    results["rounds"] = rounds
    if args.quality:
        with tempfile.TemporaryDirectory() as tmp:  # charrnn train may write a model file into its cwd
            results["charrnn_quality"] = attempt(
                lambda: charrnn(
                    args.charrnn,
                    "train",
                    corpus,
                    "--cell",
                    "lstm",
                    "--layers",
                    "2",
                    "--hidden",
                    "128",
                    "--seq-length",
                    "50",
                    "--batch-size",
                    "50",
                    "--optimizer",
                    "adam",
                    "--lr",
                    "2e-3",
                    "--epochs",
                    "1000",
                    "--max-time",
                    str(args.quality_time),
                    "--json",
                ),
                "charrnn train",
                cwd=tmp,
            )
        results["keras_quality"] = attempt(
            lambda: [
                sys.executable,
                os.path.join(HERE, "keras_quality.py"),
                "--corpus",
                corpus,
                "--max-time",
                str(args.quality_time),
            ],
            "keras_quality.py",
        )

    keras = results["keras"]
    print(
        f"\nKeras {keras.get('keras_version', '?')}, backend {keras.get('backend', '?')}, "
        f"JAX {keras.get('jax_version', '?')}; corpus {args.corpus}\n"
    )
    print(f"Median of {args.rounds} round(s); ratio: the median of the rounds' ratios (their range)\n")
    print(
        table(
            results["charrnn"],
            keras,
            names,
            results.get("charrnn_auto"),
            round_ratios(rounds, names),
            round_ratios(rounds, names, side="charrnn_auto"),
        )
    )
    if args.quality:
        print(
            f"\nValidation loss (nats/char, last 10% of the corpus) after {args.quality_time} s of training, "
            "2x128 LSTM, seq 50, batch 50, Adam 2e-3:\n"
        )
        print("| | val loss | steps | seconds |\n|---|---:|---:|---:|")
        for label, key in [("charrnn", "charrnn_quality"), ("Keras-JAX", "keras_quality")]:
            q = results.get(key, {})
            print(f"| {label} | {fmt(q.get('val_loss'), 4)} | {fmt(q.get('steps'))} | {fmt(q.get('seconds'), 1)} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({**results, "errors": errors}, f, indent=2)
    if errors:
        print("\nErrors:\n" + "\n".join(f"- {e}" for e in dict.fromkeys(errors)))
        sys.exit(1)


if __name__ == "__main__":
    main()
