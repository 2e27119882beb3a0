"""Faults during `charrnn train`: checkpoint folders that cannot be written, writes that fail half-way,
SIGINT / SIGTERM (once and twice), and a diverging loss. In every case: a message and a non-zero exit
(no trap, no traceback), and no checkpoint that was already on disk is damaged."""

import json
import math
import os
import resource
import signal
import subprocess
import time

import pytest

from reliability_util import (
    CLI,
    TINY,
    assert_clean_failure,
    last_json,
    loads,
    run,
    snapshot,
    temporaries,
    training_state,
)


# --- checkpoint folders that cannot be written ------------------------------------------------------


def test_checkpoint_folder_under_a_regular_file(corpus, tmp_path):
    """Root ignores permission bits, so the unwritable folder is one whose parent is a regular file."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    result = run("train", corpus, *TINY, "--max-steps", "3", "--out", str(blocker / "sub"))
    assert_clean_failure(result, "cannot create folder", str(blocker))
    assert blocker.read_text() == "not a folder\n"


def test_checkpoint_name_taken_by_a_folder(corpus, tmp_path):
    """latest.safetensors is a folder: the rename fails, the folder and its content stay, no temporary is left."""
    out = tmp_path / "ck"
    (out / "latest.safetensors").mkdir(parents=True)
    (out / "latest.safetensors" / "keep.txt").write_text("keep")
    result = run("train", corpus, *TINY, "--max-steps", "3", "--out", str(out))
    assert_clean_failure(result, "latest.safetensors")
    assert (out / "latest.safetensors" / "keep.txt").read_text() == "keep"
    assert temporaries(out) == []


def _file_size_limit(limit):
    def apply():
        # A write past the limit then fails with EFBIG instead of killing the process with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_failed_write_keeps_previous_checkpoints_byte_identical(corpus, tmp_path):
    """A later checkpoint write that fails (file size limit: the disk is 'full') leaves the checkpoints
    already in the folder byte-identical, removes its temporary file, and says why."""
    out = tmp_path / "ck"
    first = run("train", corpus, *TINY, "--max-steps", "10", "--out", str(out), "--json")
    assert first.returncode == 0, first.err

    # The run's log (metrics.jsonl, loss.svg) may grow meanwhile; its checkpoints may not change.
    def checkpoints():
        return {name: data for name, data in snapshot(out).items() if name.endswith(".safetensors")}

    before = checkpoints()
    assert "latest.safetensors" in before and len(before) == 2, sorted(before)
    size = len(before["latest.safetensors"])
    result = run(
        "train",
        corpus,
        "--resume",
        str(out / "latest.safetensors"),
        "--max-steps",
        "20",
        "--out",
        str(out),
        preexec_fn=_file_size_limit(size // 2),
    )
    assert_clean_failure(result, "latest.safetensors", "File too large")
    assert checkpoints() == before
    assert temporaries(out) == []
    # The surviving checkpoint still resumes.
    again = run(
        "train",
        corpus,
        "--resume",
        str(out / "latest.safetensors"),
        "--max-steps",
        "12",
        "--out",
        str(tmp_path / "again"),
        "--json",
    )
    assert again.returncode == 0 and last_json(again)["steps"] == 12, again.err


# --- signals -------------------------------------------------------------------------------------


def _start_training(corpus, out, *extra):
    proc = subprocess.Popen(
        [
            CLI,
            "train",
            corpus,
            *TINY,
            "--max-steps",
            "100000000",
            "--print-every",
            "1",
            "--out",
            str(out),
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Wait for a few progress lines: training (and, with --eval-every 1, checkpointing) is under way.
    for _ in range(5):
        line = proc.stdout.readline()
        assert line, proc.stderr.read().decode()
    return proc


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_checkpointing_every_step(corpus, tmp_path, sig, status):
    """With a checkpoint after every step the signal usually lands during a write: the run still stops
    with a complete checkpoint of the step it reports, and --resume continues from that step."""
    out = tmp_path / "ck"
    proc = _start_training(corpus, out, "--eval-every", "1")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    err = stderr.decode()
    assert proc.returncode == status, err
    assert "Fatal error" not in err and "Traceback" not in err
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["cancelled"] is True
    latest = out / "latest.safetensors"
    assert result["checkpoint"] == str(latest)
    assert loads(latest)
    assert training_state(latest)["step"] == result["steps"]
    assert temporaries(out) == []
    steps = result["steps"]
    resumed = run("train", corpus, "--resume", str(latest), "--max-steps", str(steps + 2), "--json")
    assert resumed.returncode == 0, resumed.err
    assert f"(step {steps})" in resumed.err
    assert last_json(resumed)["steps"] == steps + 2


def test_second_signal_exits_at_once_without_damaging_checkpoints(corpus, tmp_path):
    """Two SIGINTs: the second one exits at once (130). Whatever is in the folder under a checkpoint's
    name is complete and loads (an interrupted write can only leave a temporary file behind)."""
    out = tmp_path / "ck"
    proc = _start_training(corpus, out, "--eval-every", "1")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    names = [n for n in os.listdir(out) if n.endswith(".safetensors")]
    assert "latest.safetensors" in names
    for name in names:
        assert loads(out / name), name


def test_signal_while_printing_samples(corpus, tmp_path):
    """--sample-every generated its samples without looking at the signal, so Ctrl-C waited for the whole
    sample (here minutes). It now stops the sample at once and checkpoints like any interruption."""
    out = tmp_path / "ck"
    proc = subprocess.Popen(
        [
            CLI,
            "train",
            corpus,
            *TINY,
            "--max-steps",
            "1000",
            "--print-every",
            "1",
            "--sample-every",
            "1",
            "--sample-length",
            "100000000",
            "--out",
            str(out),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().startswith(b"epoch")  # step 1 is done; its samples are being generated
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["cancelled"] is True and result["steps"] == 1
    assert training_state(out / "latest.safetensors")["step"] == 1


# --- divergence ----------------------------------------------------------------------------------

DIVERGE = ["--optimizer", "sgd", "--lr", "1e6", "--clip-norm", "0"]


def test_divergence_stops_naming_the_step(corpus, tmp_path):
    result = run("train", corpus, *TINY, *DIVERGE, "--max-steps", "50", "--out", str(tmp_path / "ck"))
    assert_clean_failure(result, "diverged at step ", "lower learning rate")
    assert "checkpoint" in result.err


def test_divergence_names_a_checkpoint_that_is_good(corpus, tmp_path):
    """The checkpoint the divergence message calls 'the last good checkpoint' must hold weights that had
    not diverged, so that resuming from it with a lower rate (the message's advice) works.

    A checkpoint is only written after its validation loss passed the divergence check, so the one named
    (if any) holds weights that had not exploded.
    """
    out = tmp_path / "ck"
    result = run("train", corpus, *TINY, *DIVERGE, "--max-steps", "50", "--eval-every", "1", "--out", str(out))
    assert_clean_failure(result, "diverged at step ")
    if "no checkpoint was written" in result.err:
        return  # it diverged before any sane checkpoint existed, and says so: nothing bad is named
    assert "the last good checkpoint is " in result.err, result.err
    named = result.err.split("the last good checkpoint is ")[1].split()[0].rstrip(";.,)")
    assert os.path.exists(named) and loads(named)
    state = training_state(named)
    with open(corpus, encoding="utf-8") as f:
        vocab = len(set(f.read()))
    limit = 3 * max(state["firstLoss"], math.log(vocab))  # the trainer's own divergence bound
    assert state.get("valLoss") is not None and state["valLoss"] < limit, (
        f"{named} is not good: its validation loss is {state.get('valLoss')} (divergence bound {limit:.2f})"
    )
    resumed = run(
        "train",
        corpus,
        "--resume",
        named,
        "--lr",
        "0.01",
        "--max-steps",
        str(state["step"] + 3),
        "--out",
        str(tmp_path / "retry"),
    )
    assert resumed.returncode == 0, resumed.err


# --- runs too large for memory -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [["--layers", "64", "--hidden", "16384"], ["--batch-size", "100000", "--seq-length", "500"]],
    ids=["model", "activations"],
)
def test_run_too_large_for_memory_is_refused(corpus, tmp_path, shape):
    """A model of 545 GB used to abort in malloc ("failed to allocate"); the memory estimate the C API
    uses now refuses it first, before anything is allocated or written."""
    out = tmp_path / "o"
    result = run("train", corpus, *shape, "--max-steps", "1", "--out", str(out))
    assert_clean_failure(result, "training would need about", "MiB")
    assert not out.exists()
