"""`charrnn sample --streams N`: N texts stepped together, each what `--seed S+i` alone gives."""

import os
import re
import subprocess

import pytest

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
MODEL = os.path.join(ROOT, "models", "default.safetensors")

pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")

HEADER = re.compile(r"^--- stream (\d+) of (\d+) \(seed (\d+)\) ---$")


def sample(*args):
    proc = subprocess.run([CLI, "sample", "--model", MODEL, *args], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def split_streams(out):
    """The texts after each header line, with the seeds the headers name."""
    streams, seeds = [], []
    for line in out.splitlines(keepends=True):
        m = HEADER.match(line.rstrip("\n"))
        if m:
            seeds.append(int(m.group(3)))
            streams.append("")
        else:
            streams[-1] += line
    return streams, seeds


@pytest.mark.parametrize("extra", [[], ["--int8"], ["--top-k", "5", "--temperature", "0.7"], ["--window", "20"]])
def test_each_stream_is_its_seed_alone(extra):
    out = sample("--streams", "5", "--seed", "40", "--length", "80", "--prime", "ROMEO:", *extra)
    streams, seeds = split_streams(out)
    assert seeds == [40, 41, 42, 43, 44]
    for text, seed in zip(streams, seeds):
        alone = sample("--seed", str(seed), "--length", "80", "--prime", "ROMEO:", *extra)
        assert text == alone if alone.endswith("\n") else text == alone + "\n"


def test_stop_at_newline_ends_each_stream_on_its_own():
    out = sample("--streams", "4", "--seed", "9", "--length", "300", "--stop-at-newline", "--prime", "A")
    streams, seeds = split_streams(out)
    for text, seed in zip(streams, seeds):
        assert text == sample("--seed", str(seed), "--length", "300", "--stop-at-newline", "--prime", "A")
        assert text.count("\n") == 1


def test_bad_stream_counts_are_refused():
    for bad in ["0", "-3", "70000"]:
        proc = subprocess.run([CLI, "sample", "--model", MODEL, "--streams", bad], capture_output=True, timeout=60)
        assert proc.returncode != 0
        assert b"--streams must be in 1...65536" in proc.stderr
