"""Cheap checks of the benchmark's helpers (not part of `make test`; no torch, no measurement):

.venv/bin/python -m pytest -q bench/test_bench_helpers.py
"""

import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import run  # noqa: E402


def test_split_is_charrnn_train_s():
    assert common.split_point(1115394) == 1003855  # charrnn train: 1003855 training, 111539 validation
    assert common.split_point(100) == 90


def test_sample_rows_draws_each_row_from_its_own_distribution():
    rng = np.random.default_rng(0)
    probs = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.25, 0.5, 0.25]] * 2000)
    drawn = np.asarray(common.sample_rows(probs, rng)).reshape(-1, 3)
    assert (drawn[:, 0] == 2).all() and (drawn[:, 1] == 0).all()
    counts = np.bincount(drawn[:, 2], minlength=3) / len(drawn)
    assert abs(counts[1] - 0.5) < 0.05 and abs(counts[0] - 0.25) < 0.05
    one = [common.sample_rows(np.array([[0.1, 0.9]]), rng)[0] for _ in range(2000)]
    assert abs(np.mean(one) - 0.9) < 0.05


def test_measurement_order_and_turns():
    names = ["gen_a_b1", "gen_a_b64", "gen_a_b1_int8", "gen_a_b64_int8"]
    assert run.measurement_order(names) == ["gen_a_b1", "gen_a_b1_int8", "gen_a_b64", "gen_a_b64_int8"]
    sides = ["charrnn", "keras", "torch", "onnx"]
    assert [run.turns(sides, k)[0] for k in range(5)] == ["charrnn", "keras", "torch", "onnx", "charrnn"]


def test_runs_on():
    assert run.runs_on("onnx", "gen_lstm2x128_b64_int8")
    assert not run.runs_on("onnx", "train_lstm2x128_T50_B50")
    assert run.runs_on("keras", "train_gru2x128_T50_B50") and run.runs_on("torch", "gen_lstm2x512_b64")


def rounds_fixture():
    k = "gen_lstm2x128_b1"
    return [
        {
            "charrnn": {f"{k}_chars_per_s": 100.0, f"{k}_int8_chars_per_s": 200.0, "blas_core": "Zen"},
            "keras": {f"{k}_chars_per_s": 10.0},
            "torch": {f"{k}_chars_per_s": 20.0, f"{k}_onednn": "off"},
            "onnx": {},  # failed this round
        },
        {
            "charrnn": {f"{k}_chars_per_s": 120.0, f"{k}_int8_chars_per_s": 240.0, "blas_core": "Zen"},
            "keras": {f"{k}_chars_per_s": 12.0},
            "torch": {f"{k}_chars_per_s": 30.0, f"{k}_onednn": "on"},
            "onnx": {f"{k}_chars_per_s": 25.0},
        },
        {
            "charrnn": {f"{k}_chars_per_s": 110.0, f"{k}_int8_chars_per_s": 220.0, "blas_core": "Zen"},
            "keras": {f"{k}_chars_per_s": 11.0},
            "torch": {f"{k}_chars_per_s": 22.0, f"{k}_onednn": "off"},
            "onnx": {f"{k}_chars_per_s": 26.0},
        },
    ]


def test_fastest_peer_ratios_and_table():
    rounds = rounds_fixture()
    peers = ["keras", "torch", "onnx"]
    results = {side: run.median_figures([r[side] for r in rounds]) for side in ["charrnn", *peers]}
    names = ["gen_lstm2x128_b1", "gen_lstm2x128_b1_int8"]
    best = run.best_peers(results, names, peers)
    assert best == {"gen_lstm2x128_b1": "onnx", "gen_lstm2x128_b1_int8": "onnx"}  # medians 11, 22, 25.5
    ratios = run.round_ratios(rounds, names, peer_of=best)
    assert ratios["gen_lstm2x128_b1"] == [120 / 25, 110 / 26]  # the round without ONNX is left out
    assert run.ratio_cell(None, None, ratios["gen_lstm2x128_b1"]) == "4.52x (4.23–4.80)"
    assert run.onednn_note(rounds, "gen_lstm2x128_b1") == " (oneDNN on 1/3, off 2/3)"
    others = {"torch": results["torch"], "onnx": results["onnx"]}
    text = run.table(results["charrnn"], results["keras"], names, ratios=ratios, others=others, rounds=rounds)
    lines = text.splitlines()
    assert len(lines) == 4 and all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| ONNX Runtime | 4.52x (4.23–4.80) |" in lines[2]
    assert "| ONNX Runtime | 9.03x (8.46–9.60) |" in lines[3]  # int8 against the same float32 peers


def test_missing_peer_shows_na_and_train_shows_dash():
    ours = {"train_lstm2x128_T50_B50_chars_per_s": 5.0}
    line = run.table(ours, {}, ["train_lstm2x128_T50_B50"], others={"torch": {}, "onnx": {}}).splitlines()[2]
    assert line.startswith("| train_lstm2x128_T50_B50 | 5 | n/a | n/a | – | n/a | n/a |")


def test_many_streams_table():
    results = {
        "charrnn": {"gen_x_b1_chars_per_s": 10.0, "gen_x_b64_chars_per_s": 160.0},
        "keras": {"gen_x_b1_chars_per_s": 1.0, "gen_x_b64_chars_per_s": 30.0},
    }
    table = run.many_streams_table(results, ["gen_x_b1", "gen_x_b64"], ["keras"])
    assert "| gen_x_b64 / gen_x_b1 | 16.00x | – |" in table  # gen_x is no workload of the peers


def test_describe_choice_from_a_checkpoint(tmp_path):
    options = {
        "batchSize": 32,
        "seqLength": 100,
        "objective": "sequence",
        "optimizer": {"kind": "adam", "learningRate": 0.003},
        "schedule": {"budget": {"_0": {"decay": "cosine", "warmup": 0.02}}},
    }
    config = {"layers": [{"cell": "lstm", "units": 256}] * 2, "embedding_dim": 0, "dropout": 0.1}
    header = {
        "__metadata__": {"config": json.dumps(config), "training": json.dumps({"options": options}), "format": "x"}
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert run.describe_choice(run.checkpoint_metadata(path)) == (
        "2x256 lstm, dropout 0.1, batch 32 x seq 100, adam 0.003, budget schedule (decay cosine, warmup 0.02)"
    )


def test_quality_table():
    quality = [
        {
            "budget": 30.0,
            "charrnn": {"val_loss": 1.9, "chose": "2x128 lstm", "steps": 500, "params": 1000},
            "gpt": {"val_loss": 2.1, "steps": 300, "params": 804096},
            "keras": {},
        }
    ]
    lines = run.quality_table(quality, ["gpt", "keras"]).splitlines()
    assert lines[2] == "| 30 s | 1.9000 | 2x128 lstm | 500 | 1,000 | 2.1000 | 300 | 804,096 | n/a | n/a |"


def test_thread_counts_merged_over_rounds_stay_whole():
    assert run.count(2.0) == 2 and run.count(2) == 2 and run.count(None) == "?"
