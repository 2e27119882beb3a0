"""bench/run.py's table: ratios against Keras, and the second charrnn column when OpenBLAS is pinned."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
bench_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_run)

NAME = "train_lstm2x512_T50_B50"


def figures(core, rate):
    return {
        "blas_core": core,
        f"{NAME}_chars_per_s": rate,
        f"{NAME}_peak_rss_mb": 160.0,
        f"{NAME}_gflops": rate * 19.1e6 / 1e9,
    }


def test_table_has_one_charrnn_column_and_ratio():
    text = bench_run.table(figures("Haswell", 9000.0), {f"{NAME}_chars_per_s": 12000.0}, [NAME])
    row = next(line for line in text.splitlines() if line.startswith(f"| {NAME}"))
    assert "BLAS core Haswell" in text and "0.75x" in row
    assert row.count("|") == 7


def test_table_adds_the_unpinned_run():
    keras = {f"{NAME}_chars_per_s": 12000.0, f"{NAME}_peak_rss_mb": 650.0}
    text = bench_run.table(figures("Haswell", 9000.0), keras, [NAME], auto=figures("Cooperlake", 13200.0))
    row = next(line for line in text.splitlines() if line.startswith(f"| {NAME}"))
    assert "BLAS core Cooperlake" in text
    assert "0.75x" in row and "1.10x" in row
    assert "with BLAS core Haswell" in text and "with BLAS core Cooperlake" in text


def test_missing_figures_show_na():
    text = bench_run.table({}, {}, [NAME])
    assert "n/a" in text


def test_int8_rows_compare_with_the_float_keras_workload():
    keras = {"gen_lstm2x128_b1_chars_per_s": 20000.0, "gen_lstm2x128_b1_peak_rss_mb": 330.0}
    ours = {"gen_lstm2x128_b1_int8_chars_per_s": 400000.0, "gen_lstm2x128_b1_int8_peak_rss_mb": 38.0}
    text = bench_run.table(ours, keras, ["gen_lstm2x128_b1_int8"])
    row = next(line for line in text.splitlines() if line.startswith("| gen_lstm2x128_b1_int8"))
    assert "20.00x" in row and "330" in row


def test_rounds_merge_into_medians_and_keep_the_versions():
    runs = [
        {"a_chars_per_s": 10.0, "blas_core": "Zen", "a_peak_rss_mb": 40.0},
        {"a_chars_per_s": 30.0, "blas_core": "Zen", "a_peak_rss_mb": 42.0},
        {"a_chars_per_s": 20.0, "blas_core": "Zen"},
    ]  # a round whose RSS went missing
    merged = bench_run.median_figures(runs)
    assert merged == {"a_chars_per_s": 20.0, "blas_core": "Zen", "a_peak_rss_mb": 41.0}
    assert bench_run.median_figures([]) == {}


def test_ratios_are_paired_by_round_and_shown_as_median_and_range():
    rounds = [
        {"charrnn": {f"{NAME}_chars_per_s": 9000.0}, "keras": {f"{NAME}_chars_per_s": 4500.0}},
        {"charrnn": {f"{NAME}_chars_per_s": 6000.0}, "keras": {f"{NAME}_chars_per_s": 4000.0}},
        {"charrnn": {f"{NAME}_chars_per_s": 7000.0}, "keras": {}},  # Keras failed: no ratio
        {"charrnn": {f"{NAME}_chars_per_s": 5000.0}, "keras": {f"{NAME}_chars_per_s": 2000.0}},
    ]
    ratios = bench_run.round_ratios(rounds, [NAME])
    assert ratios == {NAME: [2.0, 1.5, 2.5]}
    ours = bench_run.median_figures([r["charrnn"] for r in rounds])
    keras = bench_run.median_figures([r["keras"] for r in rounds])
    row = next(
        line
        for line in bench_run.table(ours, keras, [NAME], ratios=ratios).splitlines()
        if line.startswith(f"| {NAME}")
    )
    # The median of the rounds' ratios, not the ratio of the medians (6,500 / 4,000 = 1.63x).
    assert "2.00x (1.50–2.50)" in row and "6,500" in row and "4,000" in row


def test_int8_rounds_pair_with_the_float_keras_workload():
    rounds = [
        {"charrnn": {"gen_lstm2x128_b1_int8_chars_per_s": 100000.0}, "keras": {"gen_lstm2x128_b1_chars_per_s": 5000.0}}
    ]
    assert bench_run.round_ratios(rounds, ["gen_lstm2x128_b1_int8"]) == {"gen_lstm2x128_b1_int8": [20.0]}


def test_int8_workloads_are_measured_right_after_their_float_peer():
    names = [
        "train_lstm2x128_T50_B50",
        "gen_lstm2x512_b1",
        "gen_lstm2x128_b1",
        "gen_lstm2x512_b1_int8",
        "gen_lstm2x128_b1_int8",
    ]
    assert bench_run.measurement_order(names) == [
        "train_lstm2x128_T50_B50",
        "gen_lstm2x512_b1",
        "gen_lstm2x512_b1_int8",
        "gen_lstm2x128_b1",
        "gen_lstm2x128_b1_int8",
    ]
    assert bench_run.measurement_order(["gen_lstm2x128_b1_int8"]) == ["gen_lstm2x128_b1_int8"]


def fake_runner(calls, rates):
    """A run_json that records each command and answers with figures from `rates`."""

    def run_json(cmd, what, cwd=None, env=None):
        name = cmd[cmd.index("--only") + 1]
        side = "keras" if "keras_peer.py" in " ".join(cmd) else ("auto" if env is not None else "charrnn")
        calls.append((side, name))
        rate = rates[(side, name)][sum(1 for c in calls if c == (side, name)) - 1]
        extra = (
            {"blas_core": "Cooperlake" if side == "auto" else "Haswell"} if side != "keras" else {"keras_version": "3"}
        )
        return {f"{name}_chars_per_s": rate, f"{name}_peak_rss_mb": 30.0, **extra}

    return run_json


def test_rounds_pair_the_sides_and_take_turns(tmp_path, monkeypatch, capsys):
    import json
    import sys

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello")
    out = tmp_path / "figures.json"
    calls = []
    f, q = "gen_lstm2x128_b1", "gen_lstm2x128_b1_int8"
    rates = {
        ("charrnn", f): [60000.0, 80000.0],
        ("charrnn", q): [100000.0, 90000.0],
        ("keras", f): [6000.0, 5000.0],
        ("auto", f): [70000.0, 70000.0],
        ("auto", q): [1.0, 1.0],
    }
    monkeypatch.setattr(bench_run, "run_json", fake_runner(calls, rates))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "run.py",
            "--corpus",
            str(corpus),
            "--rounds",
            "2",
            "--only",
            f"{q},{f}",
            "--json-out",
            str(out),
            "--charrnn",
            sys.executable,
        ],
    )
    bench_run.main()
    # Round 1 starts with charrnn, round 2 with Keras; the int8 workload follows its float one, and Keras
    # runs once per round for both.
    assert calls == [
        ("charrnn", f),
        ("auto", f),
        ("keras", f),
        ("charrnn", q),
        ("auto", q),
        ("keras", f),
        ("charrnn", f),
        ("auto", f),
        ("charrnn", q),
        ("auto", q),
    ]
    figures = json.loads(out.read_text())
    assert figures["charrnn"][f"{f}_chars_per_s"] == 70000.0 and figures["keras"][f"{f}_chars_per_s"] == 5500.0
    assert figures["charrnn_auto"]["blas_core"] == "Cooperlake" and len(figures["rounds"]) == 2
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith(f"| {q}"))
    assert "17.33x (16.67–18.00)" in row  # the median of the rounds: 100k / 6k and 90k / 5k
