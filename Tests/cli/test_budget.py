"""`charrnn train CORPUS --max-time S` alone: a budget the run is tuned for. It says in one line what it
chose, decays the learning rate to 0 at the budget's end, keeps the schedule in its checkpoint for
--resume, and gives way to every option given (correctness only: nothing here depends on the speed)."""

import json
import os
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")


def train(*args, timeout=120):
    p = subprocess.run([CLI, "train", *args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p


def budget_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("charrnn: budget ")]
    assert len(lines) <= 1, stderr
    return lines[0] if lines else None


def training_state(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["training"])


def test_time_alone_chooses_says_why_and_decays_to_zero(tmp_path, corpus):
    out = tmp_path / "run"
    p = train(corpus, "--max-time", "3", "--out", str(out), "--json")
    line = budget_line(p.stderr)
    assert line is not None, p.stderr
    assert line.startswith("charrnn: budget 3.0 s: GRU 2x128, batch "), line
    assert "warmup 2% then cosine to 0 at the budget's end" in line, line
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["steps"] > 0 and summary["seconds"] < 10
    # Time decides: progress says where the run is, not "step 7/1000000" out of a total it will not reach.
    progress = [line for line in p.stdout.splitlines() if line.startswith("epoch ")]
    assert progress and all("/" not in line.split(" loss ")[0] for line in progress), progress
    assert summary["val_loss"] < 4.2  # below chance (ln 65)
    assert summary["best_val_loss"] == summary["val_loss"]
    assert os.path.exists(summary["best_checkpoint"])
    state = training_state(out / "latest.safetensors")
    budget = state["options"]["schedule"]["budget"]["_0"]
    assert budget["endSeconds"] == 3 and budget["decay"] == "cosine" and budget["final"] == 0
    assert state["options"]["cell"] == "gru" and state["options"]["hidden"] == 128
    # The last step ran at close to 0.
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    peak = max(entry["learning_rate"] for entry in lines)
    assert lines[-1]["learning_rate"] < 0.1 * peak

    # Resumed without a time limit, the spent budget is over: no more steps. With one, a new budget.
    again = train(corpus, "--resume", str(out / "latest.safetensors"), "--json")
    assert json.loads(again.stdout.strip().splitlines()[-1])["steps"] == summary["steps"]
    more = train(corpus, "--resume", str(out / "latest.safetensors"), "--max-time", "1", "--json")
    assert "budget 1.0 s from " in budget_line(more.stderr), more.stderr
    assert json.loads(more.stdout.strip().splitlines()[-1])["steps"] > summary["steps"]


def test_given_options_win(tmp_path, corpus):
    # A model given: the budget schedule and rate, not the plan's shape.
    p = train(corpus, "--max-time", "1", "--hidden", "16", "--layers", "1", "--out", str(tmp_path / "a"))
    line = budget_line(p.stderr)
    assert line == "charrnn: budget 1.0 s: adam 0.01, warmup 2% then cosine to 0 at the budget's end", line
    assert "model 1x16 lstm" in p.stderr
    # A rate given is kept.
    p = train(corpus, "--max-time", "1", "--hidden", "16", "--lr", "0.001", "--out", str(tmp_path / "b"))
    assert "adam 0.001, warmup" in budget_line(p.stderr)
    # Epochs or a decay given: no budget at all, as before.
    for extra in (["--epochs", "1"], ["--lr-decay", "0.9", "--lr-decay-every", "5"]):
        p = train(corpus, "--max-time", "1", "--hidden", "16", *extra, "--out", str(tmp_path / extra[0][2:]))
        assert budget_line(p.stderr) is None, p.stderr
        assert "adam lr 0.002" in p.stderr
    # No time limit: the defaults.
    p = train(corpus, "--max-steps", "2", "--out", str(tmp_path / "d"))
    assert budget_line(p.stderr) is None and "model 2x128 lstm" in p.stderr and "adam lr 0.002" in p.stderr


def test_help_describes_the_budget():
    p = subprocess.run([CLI, "train", "--help"], capture_output=True, text=True)
    assert "A time budget" in p.stdout and "cosine" in p.stdout


def test_a_budget_that_sees_its_text_many_times_adds_dropout(tmp_path, corpus):
    # 3,000 characters and 6 s: even a slow machine sees the 2,700 training characters dozens of times.
    small = tmp_path / "small.txt"
    small.write_text(open(corpus, encoding="utf-8").read(3000), encoding="utf-8")
    out = tmp_path / "run"
    p = train(str(small), "--max-time", "6", "--out", str(out), "--json")
    line = budget_line(p.stderr)
    assert line is not None and "; dropout 0.25, as it sees the text " in line, line
    assert training_state(out / "latest.safetensors")["options"]["dropout"] == 0.25
    # A dropout given wins over the plan's, and the line does not claim it.
    given = train(str(small), "--max-time", "6", "--dropout", "0", "--out", str(tmp_path / "given"), "--json")
    assert "dropout" not in budget_line(given.stderr), given.stderr
    assert training_state(tmp_path / "given" / "latest.safetensors")["options"]["dropout"] == 0
