"""End-to-end tests of the `charrnn` command line (train, sample, eval, summary, bench).

The binary is $CHARRNN_CLI if set, else $CHARRNN_ROOT/.build/release/charrnn, else the repository's
.build/release/charrnn (built by `make build`). Every run uses a tiny model on a small corpus.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import time

import pytest

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
REPL = os.environ.get("CHARRNN_REPL") or os.path.join(ROOT, ".build", "release", "charrnn-repl")

TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "10", "--seq-length", "20"]

pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")


def run(*args, cwd=None, env=None, timeout=60):
    proc = subprocess.run(
        [CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, timeout=timeout
    )
    proc.out = proc.stdout.decode("utf-8", "replace")
    proc.err = proc.stderr.decode("utf-8", "replace")
    return proc


def last_json(proc):
    lines = proc.out.strip().splitlines()
    assert lines, f"no stdout; stderr: {proc.err}"
    return json.loads(lines[-1])


def assert_clean_failure(proc, *fragments):
    """Exited (not killed by a signal) with a non-zero status and a message naming each fragment."""
    assert proc.returncode > 0, f"status {proc.returncode}; stderr: {proc.err}"
    assert "Traceback" not in proc.err and "Fatal error" not in proc.err, proc.err
    for fragment in fragments:
        assert fragment in proc.err, f"{fragment!r} not in {proc.err!r}"


def safetensors_tensors(path):
    """name -> raw bytes of every tensor of a safetensors file (metadata left out)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    return {
        name: body[info["data_offsets"][0] : info["data_offsets"][1]]
        for name, info in header.items()
        if name != "__metadata__"
    }


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """A tiny model trained for 20 steps: (json result, checkpoint folder)."""
    out = str(tmp_path_factory.mktemp("ckpt"))
    proc = run("train", corpus, *TINY, "--max-steps", "20", "--out", out, "--json")
    assert proc.returncode == 0, proc.err
    return last_json(proc), out


# --- train ---------------------------------------------------------------------------------------


def test_train_json(trained):
    result, out = trained
    for key in [
        "steps",
        "epochs",
        "train_loss",
        "val_loss",
        "val_perplexity",
        "val_accuracy",
        "chars_per_s",
        "seconds",
        "checkpoint",
    ]:
        assert key in result, key
    assert result["steps"] == 20
    assert result["val_loss"] > 0 and abs(result["val_perplexity"] - 2.718281828 ** result["val_loss"]) < 1e-6
    assert 0 <= result["val_accuracy"] <= 1
    assert result["checkpoint"] == os.path.join(out, "latest.safetensors")
    assert os.path.exists(result["checkpoint"])
    assert any(name.startswith("epoch") for name in os.listdir(out))


def test_train_options_and_samples(corpus, tmp_path):
    proc = run(
        "train",
        corpus,
        "--cell",
        "gru",
        "--hidden",
        "12",
        "--layers",
        "2",
        "--embedding",
        "8",
        "--dropout",
        "0.1",
        "--objective",
        "window",
        "--seq-length",
        "10",
        "--step",
        "5",
        "--batch-size",
        "16",
        "--optimizer",
        "rmsprop",
        "--lr",
        "1e-3",
        "--rho",
        "0.95",
        "--clip-value",
        "1",
        "--clip-norm",
        "0",
        "--lr-decay",
        "0.5",
        "--lr-decay-every",
        "5",
        "--staircase",
        "--max-steps",
        "12",
        "--eval-every",
        "6",
        "--sample-every",
        "6",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert proc.returncode == 0, proc.err
    assert last_json(proc)["steps"] == 12
    assert "temperature 0.5" in proc.out and "temperature 1.2" in proc.out
    assert proc.out.count("validation at step") >= 2


def test_resume_equals_uninterrupted(corpus, tmp_path):
    common = [
        corpus,
        "--hidden",
        "16",
        "--layers",
        "2",
        "--dropout",
        "0.2",
        "--batch-size",
        "10",
        "--seq-length",
        "20",
        "--seed",
        "7",
        "--eval-every",
        "10",
    ]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    whole = run("train", *common, "--max-steps", "20", "--out", a, "--json")
    assert whole.returncode == 0, whole.err
    first = run("train", *common, "--max-steps", "10", "--out", b, "--json")
    assert first.returncode == 0, first.err
    assert last_json(first)["steps"] == 10
    second = run(
        "train", corpus, "--resume", os.path.join(b, "latest.safetensors"), "--max-steps", "20", "--out", b, "--json"
    )
    assert second.returncode == 0, second.err
    ra, rb = last_json(whole), last_json(second)
    assert rb["steps"] == 20
    assert ra["val_loss"] == rb["val_loss"]
    ta = safetensors_tensors(os.path.join(a, "latest.safetensors"))
    tb = safetensors_tensors(os.path.join(b, "latest.safetensors"))
    assert ta.keys() == tb.keys() and ta == tb
    sa = run("sample", "--model", os.path.join(a, "latest.safetensors"), "--seed", "3", "--length", "100")
    sb = run("sample", "--model", os.path.join(b, "latest.safetensors"), "--seed", "3", "--length", "100")
    assert sa.returncode == 0 and sa.out == sb.out


def test_resume_refuses_other_vocabulary(trained, tmp_path):
    _, out = trained
    other = tmp_path / "other.txt"
    other.write_text("Caf\u00e9 au lait \u20ac " * 2000, encoding="utf-8")
    proc = run(
        "train",
        str(other),
        "--resume",
        os.path.join(out, "latest.safetensors"),
        "--max-steps",
        "1",
        "--out",
        str(tmp_path / "o"),
    )
    assert_clean_failure(proc, "U+00E9", "U+20AC")


def test_fine_tune_on_other_text_of_same_vocabulary(trained, corpus, tmp_path):
    _, out = trained
    with open(corpus, encoding="utf-8") as f:
        text = f.read()
    other = tmp_path / "other.txt"
    other.write_text(text[10000:] + text[:10000], encoding="utf-8")
    proc = run(
        "train",
        str(other),
        "--resume",
        os.path.join(out, "latest.safetensors"),
        "--max-steps",
        "3",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert proc.returncode == 0, proc.err
    assert last_json(proc)["steps"] == 3  # progress restarts on another text


def test_resume_with_another_validation_split_fine_tunes(trained, corpus, tmp_path):
    """The corpus fingerprint covers the text before the split, so a changed --val-fraction passed for the
    same run: 0.5 failed with "the training state is out of range", and 0 reported the checkpoint's old
    validation loss as the run's. A changed split now fine-tunes, and reports only losses it measured."""
    _, out = trained
    checkpoint = os.path.join(out, "latest.safetensors")
    half = run(
        "train",
        corpus,
        "--resume",
        checkpoint,
        "--val-fraction",
        "0.5",
        "--max-steps",
        "3",
        "--out",
        str(tmp_path / "half"),
        "--json",
    )
    assert half.returncode == 0, half.err
    assert "fine-tuning" in half.err
    assert last_json(half)["steps"] == 3
    none = run(
        "train",
        corpus,
        "--resume",
        checkpoint,
        "--val-fraction",
        "0",
        "--max-steps",
        "3",
        "--out",
        str(tmp_path / "none"),
        "--json",
    )
    assert none.returncode == 0, none.err
    result = last_json(none)
    assert result["steps"] == 3 and result["val_loss"] is None and result["val_accuracy"] is None
    same = run("train", corpus, "--resume", checkpoint, "--max-steps", "25", "--out", str(tmp_path / "same"), "--json")
    assert same.returncode == 0, same.err
    assert "resuming from" in same.err and last_json(same)["steps"] == 25


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_and_resume_continues(corpus, tmp_path, sig, status):
    out = str(tmp_path / "ck")
    proc = subprocess.Popen(
        [
            CLI,
            "train",
            corpus,
            "--hidden",
            "48",
            "--layers",
            "2",
            "--max-steps",
            "1000000",
            "--print-every",
            "1",
            "--out",
            out,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"epoch")  # training has started
    time.sleep(0.3)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["cancelled"] is True
    checkpoint = os.path.join(out, "latest.safetensors")
    assert result["checkpoint"] == checkpoint and os.path.exists(checkpoint)
    assert "--resume" in stderr.decode()
    steps = result["steps"]
    # Without --out, the resumed run keeps writing into the checkpoint's folder.
    resumed = run("train", corpus, "--resume", checkpoint, "--max-steps", str(steps + 3), "--json", cwd=str(tmp_path))
    assert resumed.returncode == 0, resumed.err
    assert last_json(resumed)["steps"] == steps + 3
    assert last_json(resumed)["checkpoint"] == checkpoint
    assert not os.path.exists(tmp_path / "checkpoints")


def test_resume_writes_beside_the_resumed_file(corpus, tmp_path):
    """Without --out, a resumed run writes into the folder of the --resume file, not the folder recorded in
    the checkpoint (here the original of a copied run, which must stay untouched), and not a folder named
    after the recorded relative path in another working directory."""
    (tmp_path / "work").mkdir()
    first = run(
        "train",
        corpus,
        *TINY,
        "--max-steps",
        "10",
        "--eval-every",
        "5",
        "--out",
        "runA",
        "--json",
        cwd=str(tmp_path / "work"),
    )
    assert first.returncode == 0, first.err
    run_a, run_b = tmp_path / "work" / "runA", tmp_path / "runB"
    shutil.copytree(run_a, run_b)
    before = {name: (run_a / name).read_bytes() for name in os.listdir(run_a)}
    assert any(name.startswith("epoch") for name in before)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd in (str(tmp_path / "work"), str(elsewhere)):
        resumed = run(
            "train", corpus, "--resume", str(run_b / "latest.safetensors"), "--max-steps", "200", "--json", cwd=cwd
        )
        assert resumed.returncode == 0, resumed.err
        assert last_json(resumed)["checkpoint"] == str(run_b / "latest.safetensors")
        assert {name: (run_a / name).read_bytes() for name in os.listdir(run_a)} == before
    assert os.listdir(elsewhere) == []


def test_resume_into_another_folder_keeps_its_files(corpus, tmp_path):
    """A run resumed with --out into another folder never deletes the "previous best" named in the
    checkpoint from that folder: it did not write that file."""
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    first = run("train", corpus, *TINY, "--max-steps", "10", "--eval-every", "5", "--out", str(run_a))
    assert first.returncode == 0, first.err
    shutil.copytree(run_a, run_b)
    best = [name for name in os.listdir(run_a) if name.startswith("epoch")]
    # Folder a holds a's checkpoints: writing there from b's needs --overwrite.
    refused = run(
        "train", corpus, "--resume", str(run_b / "latest.safetensors"), "--max-steps", "200", "--out", str(run_a)
    )
    assert_clean_failure(refused, "another run's checkpoints", "--overwrite")
    resumed = run(
        "train",
        corpus,
        "--resume",
        str(run_b / "latest.safetensors"),
        "--max-steps",
        "200",
        "--out",
        str(run_a),
        "--overwrite",
    )
    assert resumed.returncode == 0, resumed.err
    assert all((run_a / name).exists() for name in best)


def test_empty_out_folder_is_refused(corpus, tmp_path):
    proc = run("train", corpus, *TINY, "--max-steps", "1", "--out", "", cwd=str(tmp_path))
    assert_clean_failure(proc, "--out")
    assert os.listdir(tmp_path) == []


def test_divergence_is_reported(corpus, tmp_path):
    proc = run(
        "train",
        corpus,
        *TINY,
        "--optimizer",
        "sgd",
        "--lr",
        "1e9",
        "--clip-norm",
        "0",
        "--max-steps",
        "50",
        "--out",
        str(tmp_path),
    )
    assert_clean_failure(proc, "diverged")


def test_invalid_utf8_corpus(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello world\n" * 10 + b"caf\xff\n" + b"more text\n" * 100)
    proc = run("train", str(bad), *TINY, "--out", str(tmp_path / "o"))
    assert_clean_failure(proc, "byte offset 123")


def test_empty_and_short_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert_clean_failure(run("train", str(empty), "--out", str(tmp_path / "o")), "empty")
    short = tmp_path / "short.txt"
    short.write_text("To be, or not to be: that is the question.\n" * 3)
    assert_clean_failure(run("train", str(short), "--out", str(tmp_path / "o")), "shorter than one batch")
    missing = run("train", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o"))
    assert_clean_failure(missing, "nope.txt")


def test_window_step_too_long_for_one_batch(corpus, tmp_path):
    """A huge --step leaves fewer windows than one batch needs; the error said the text was shorter than
    one batch (it is not)."""
    proc = run("train", corpus, *TINY, "--objective", "window", "--step", "1000000000", "--out", str(tmp_path / "o"))
    assert_clean_failure(proc, "window step 1000000000 leaves 1 window", "fewer than the 10 one batch needs")
    assert "shorter than one batch" not in proc.err


def test_window_text_too_short_for_any_step(tmp_path):
    """When even step 1 leaves too few windows the text is what is short: no advice to reduce the step."""
    short = tmp_path / "short.txt"
    short.write_text("To be, or not to be: that is the question.\n" * 3, encoding="utf-8")
    proc = run(
        "train",
        str(short),
        "--objective",
        "window",
        "--seq-length",
        "50",
        "--batch-size",
        "100",
        "--val-fraction",
        "0",
        "--out",
        str(tmp_path / "o"),
    )
    assert_clean_failure(proc, "shorter than one batch", "100 windows of 50 characters need at least 150")
    assert "reduce the step" not in proc.err


def test_bad_options_are_refused(corpus, tmp_path):
    proc = run("train", corpus, "--lr-decay", "0.5", "--out", str(tmp_path))
    assert_clean_failure(proc, "--lr-decay-every")
    proc = run("train", corpus, "--layers", "0", "--out", str(tmp_path))
    assert_clean_failure(proc, "layers")


# --- output that cannot be written ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["sample", "eval", "summary", "train"])
def test_failed_stdout_is_an_error(trained, corpus, tmp_path, command):
    """Output lost to a full disk (/dev/full) used to end with status 0 and no word; now it is an error."""
    model = trained[0]["checkpoint"]
    args = {
        "sample": ["sample", "--model", model, "--length", "100"],
        "eval": ["eval", corpus, "--model", model, "--json"],
        "summary": ["summary", "--model", model],
        "train": ["train", corpus, *TINY, "--max-steps", "2", "--out", str(tmp_path / "o"), "--json"],
    }[command]
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([CLI, *args], stdout=full, stderr=subprocess.PIPE, timeout=60)
    proc.err = proc.stderr.decode("utf-8", "replace")
    assert_clean_failure(proc, "cannot write to standard output: No space left on device")
    assert proc.returncode == 1


def test_closed_pipe_is_an_error(trained):
    """`charrnn sample | head -c 10`: the reader leaves; the writer reports it (status 1), not a SIGPIPE death."""
    model = trained[0]["checkpoint"]
    proc = subprocess.Popen(
        [CLI, "sample", "--model", model, "--length", "2000000", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    proc.err = err.decode("utf-8", "replace")
    proc.returncode = proc.returncode
    assert_clean_failure(proc, "cannot write to standard output: Broken pipe")
    assert proc.returncode == 1


# --- sample --------------------------------------------------------------------------------------


def test_sample_seeded_and_streamed(trained):
    model = trained[0]["checkpoint"]
    a = run("sample", "--model", model, "--prime", "ROMEO:", "--length", "80", "--seed", "5", "--temperature", "0.8")
    b = run("sample", "--model", model, "--prime", "ROMEO:", "--length", "80", "--seed", "5", "--temperature", "0.8")
    assert a.returncode == 0, a.err
    assert a.out == b.out and a.out.startswith("ROMEO:") and len(a.out) == len("ROMEO:") + 80
    for flags in (["--greedy"], ["--top-k", "3"], ["--top-p", "0.5"]):
        proc = run("sample", "--model", model, "--length", "30", "--seed", "1", *flags)
        assert proc.returncode == 0 and len(proc.out) == 30, (flags, proc.err)
    proc = run("sample", "--model", model, "--length", "2000", "--seed", "2", "--stop-at-newline")
    assert proc.returncode == 0 and proc.out.count("\n") <= 1


def test_sample_int8(trained):
    model = trained[0]["checkpoint"]
    args = ("sample", "--model", model, "--prime", "ROMEO:", "--length", "80", "--seed", "5", "--int8")
    a, b = run(*args), run(*args)
    assert a.returncode == 0, a.err
    assert a.out == b.out and a.out.startswith("ROMEO:") and len(a.out) == len("ROMEO:") + 80


def test_sample_unknown_prime_characters(trained):
    model = trained[0]["checkpoint"]
    proc = run("sample", "--model", model, "--prime", "Caf\u00e9 \u20ac", "--length", "10", "--seed", "1")
    assert proc.returncode == 0, proc.err
    assert "warning" in proc.err and "U+00E9" in proc.err and "U+20AC" in proc.err
    proc = run("sample", "--model", model, "--prime", "Caf\u00e9", "--length", "10", "--unknown", "error")
    assert_clean_failure(proc, "U+00E9")
    assert proc.out == ""


def test_invalid_utf8_argument(trained):
    proc = subprocess.run(
        [CLI.encode(), b"sample", b"--model", trained[0]["checkpoint"].encode(), b"--prime", b"ab\xffcd"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    assert proc.returncode > 0
    assert b"not valid UTF-8" in proc.stderr and b"byte offset 2" in proc.stderr


def test_invalid_utf8_argument_to_the_repl():
    """charrnn-repl checks its arguments as charrnn does (it used to take the repaired U+FFFD path)."""
    proc = subprocess.run(
        [REPL.encode(), b"--model", b"/tmp/m\xff.safetensors"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr.decode("utf-8", "replace")
    assert b"charrnn-repl: error: argument 2 is not valid UTF-8 (byte offset 6)" in proc.stderr


def test_model_folder_as_charrnn_repl_takes_it(trained, corpus, tmp_path):
    """--model takes the folder `train --out` wrote, as charrnn-repl does: its latest.safetensors (or a
    model.safetensors, which comes first). It used to be refused as "not a regular file"."""
    result, out = trained
    proc = run("summary", "--model", out)
    assert proc.returncode == 0, proc.err
    assert proc.out.splitlines()[0] == os.path.join(out, "latest.safetensors")
    assert run("sample", "--model", out, "--length", "5").returncode == 0
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(result["checkpoint"], only / "mine.safetensors")
    proc = run("summary", "--model", str(only))
    assert proc.returncode == 0, proc.err
    assert proc.out.splitlines()[0] == str(only / "mine.safetensors")
    shutil.copy(result["checkpoint"], only / "other.safetensors")
    assert_clean_failure(
        run("eval", corpus, "--model", str(only)),
        "holds several models (mine.safetensors, other.safetensors); name one",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_failure(run("sample", "--model", str(empty)), "is a folder without a .safetensors model")


def test_missing_model_file(tmp_path):
    proc = run("sample", "--model", str(tmp_path / "none.safetensors"))
    assert_clean_failure(proc, "none.safetensors")
    notmodel = tmp_path / "x.safetensors"
    notmodel.write_bytes(b"\x00" * 64)
    assert_clean_failure(run("summary", "--model", str(notmodel)), "x.safetensors")


def test_default_model_from_environment(trained, tmp_path):
    env = dict(os.environ, CHARRNN_MODEL=trained[0]["checkpoint"])
    proc = run("summary", cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.err
    assert "Total params" in proc.out


def test_environment_model_wins_over_the_bundled_one(trained, tmp_path):
    """Like charrnn-repl: $CHARRNN_MODEL, when set, comes before the bundled model (it used to be only a
    fallback), and --model comes before both."""
    root = tmp_path / "root"
    (root / ".build" / "release").mkdir(parents=True)
    os.symlink(os.path.abspath(CLI), root / ".build" / "release" / "charrnn")
    (root / "models").mkdir()
    shutil.copy(trained[0]["checkpoint"], root / "models" / "default.safetensors")
    chosen = tmp_path / "chosen.safetensors"
    shutil.copy(trained[0]["checkpoint"], chosen)
    explicit = tmp_path / "explicit.safetensors"
    shutil.copy(trained[0]["checkpoint"], explicit)
    env = dict(os.environ, CHARRNN_MODEL=str(chosen))
    exe = str(root / ".build" / "release" / "charrnn")
    for args, expected in [([], chosen), (["--model", str(explicit)], explicit)]:
        proc = subprocess.run(
            [exe, "summary", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(tmp_path),
            env=env,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert os.path.samefile(proc.stdout.decode().splitlines()[0], expected)


def test_environment_model_that_does_not_exist_is_an_error(tmp_path):
    """A CHARRNN_MODEL naming a missing file is reported by both programs, which used to fall back to the
    bundled model without a word."""
    missing = str(tmp_path / "no-such-model.safetensors")
    env = dict(os.environ, CHARRNN_MODEL=missing)
    for exe, args in [(CLI, ["summary"]), (REPL, [])]:
        proc = subprocess.run(
            [exe, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(tmp_path),
            env=env,
            timeout=30,
        )
        assert proc.returncode == 1, (exe, proc.returncode, proc.stderr.decode())
        assert f"CHARRNN_MODEL names {missing}: No such file or directory" in proc.stderr.decode()


# --- eval and summary ----------------------------------------------------------------------------


def test_eval_json(trained, corpus, tmp_path):
    model = trained[0]["checkpoint"]
    with open(corpus, encoding="utf-8") as f:
        text = f.read()[-2000:]
    held = tmp_path / "held.txt"
    held.write_text(text, encoding="utf-8")
    proc = run("eval", str(held), "--model", model, "--json")
    assert proc.returncode == 0, proc.err
    r = last_json(proc)
    assert r["chars"] == len(text) and 0 < r["loss"] < 5 and 0 <= r["accuracy"] <= 1
    assert abs(r["perplexity"] - 2.718281828459045 ** r["loss"]) < 1e-6
    # The trainer validates on the same characters (the last 10%) with another batching: same ballpark.
    assert abs(r["loss"] - trained[0]["val_loss"]) < 0.5
    assert "int8_loss" not in r
    proc = run("eval", str(held), "--model", model, "--json", "--int8")
    assert proc.returncode == 0, proc.err
    q = last_json(proc)
    # The generation path in float32 is the batched evaluation to rounding; int8 moves it a little.
    assert abs(q["float32_stepwise_loss"] - r["loss"]) < 1e-5
    assert abs(q["int8_loss_change"] - (q["int8_loss"] - q["float32_stepwise_loss"])) < 1e-12
    assert abs(q["int8_loss_change"]) < 0.01 and 0 <= q["int8_accuracy"] <= 1

    odd = tmp_path / "odd.txt"
    odd.write_text(text[:500] + "\u20ac" + text[500:1000], encoding="utf-8")
    proc = run("eval", str(odd), "--model", model, "--json")
    assert proc.returncode == 0 and "U+20AC" in proc.err and last_json(proc)["chars"] == 1000
    assert_clean_failure(run("eval", str(odd), "--model", model, "--unknown", "error"), "U+20AC")


def test_summary(trained):
    proc = run("summary", "--model", trained[0]["checkpoint"])
    assert proc.returncode == 0, proc.err
    assert "LSTM" in proc.out and "Total params" in proc.out


def test_export_strips_training_state(trained, tmp_path):
    out = str(tmp_path / "m.safetensors")
    proc = run("export", trained[0]["checkpoint"], out)
    assert proc.returncode == 0, proc.err
    names = safetensors_tensors(out).keys()
    assert names and not any(n.startswith(("optimizer.", "training.")) for n in names)
    a = run("sample", "--model", out, "--seed", "4", "--length", "50")
    b = run("sample", "--model", trained[0]["checkpoint"], "--seed", "4", "--length", "50")
    assert a.out == b.out


# --- bench ---------------------------------------------------------------------------------------


def test_bench_json(corpus):
    names = ["train_lstm2x128_T50_B50", "train_lstm2x512_T50_B50", "gen_lstm2x128_b1"]
    proc = run("bench", "--json", "--corpus", corpus, "--seconds", "0.2", "--only", ",".join(names))
    assert proc.returncode == 0, proc.err
    r = last_json(proc)
    for name in names:
        assert r[f"{name}_chars_per_s"] > 0
        assert r[f"{name}_peak_rss_mb"] > 1
    assert r["train_lstm2x512_T50_B50_gflops"] > 0
    assert r["blas_core"] and r["blas_core"] != "unknown"  # the OpenBLAS kernels the figures were taken with
    assert_clean_failure(run("bench", "--json", "--only", "nope"), "nope")


def test_bench_refuses_empty_and_repeated_workload_lists(corpus):
    """--only '' and --only ,,, measured nothing and exited 0; --only X,X printed duplicate JSON keys."""
    for only in ["", ",,,"]:
        assert_clean_failure(run("bench", "--json", "--corpus", corpus, "--only", only), "--only")
    assert_clean_failure(
        run("bench", "--json", "--corpus", corpus, "--only", "gen_lstm2x128_b1,gen_lstm2x128_b1"),
        "gen_lstm2x128_b1",
        "twice",
    )


def test_bench_corpus_path_starting_with_a_dash(corpus, tmp_path):
    """The worker got "--corpus" and the path as two arguments, so a path starting with '-' was read as an
    option and the worker failed."""
    shutil.copy(corpus, tmp_path / "-dash.txt")
    proc = run(
        "bench", "--json", "--corpus=-dash.txt", "--seconds", "0.1", "--only", "gen_lstm2x128_b1", cwd=str(tmp_path)
    )
    assert proc.returncode == 0, proc.err
    assert last_json(proc)["gen_lstm2x128_b1_chars_per_s"] > 0


def test_bench_with_stdin_and_stdout_closed(corpus):
    # The pipe from a worker then gets descriptors 0 and 1: it must still become the worker's stdout
    # and not be closed under it.
    proc = subprocess.run(
        [CLI, "bench", "--corpus", corpus, "--seconds", "0.2", "--only", "gen_lstm2x128_b1"],
        stderr=subprocess.PIPE,
        timeout=60,
        close_fds=True,
        preexec_fn=lambda: (os.close(0), os.close(1)),
    )
    err = proc.stderr.decode("utf-8", "replace")
    # The workers ran; only the results, with nowhere to go, make the run fail.
    assert proc.returncode == 1, err
    assert err.count("error") == 1 and "cannot write to standard output: Bad file descriptor" in err, err


def test_bench_worker_failure_is_reported(tmp_path):
    # The worker is a child process: its own error and the parent's account of how it ended both reach
    # the user, and the parent fails cleanly.
    short = tmp_path / "short.txt"
    short.write_text("abcabc\n")
    proc = run("bench", "--corpus", str(short), "--seconds", "0.2", "--only", "train_lstm2x128_T50_B50")
    assert_clean_failure(proc, "shorter than one batch", "bench worker train_lstm2x128_T50_B50 failed (exit status 1)")


def test_bundled_model_found_next_to_the_executable(trained, tmp_path):
    # <root>/.build/release is a link to <root>/.build/<triple>/release, as SwiftPM lays it out.
    root = tmp_path / "root"
    (root / ".build" / "triple" / "release").mkdir(parents=True)
    os.symlink("triple/release", root / ".build" / "release")
    os.symlink(os.path.abspath(CLI), root / ".build" / "triple" / "release" / "charrnn")
    (root / "models").mkdir()
    with open(trained[0]["checkpoint"], "rb") as f, open(root / "models" / "default.safetensors", "wb") as g:
        g.write(f.read())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CHARRNN_MODEL"}
    proc = subprocess.run(
        [str(root / ".build" / "release" / "charrnn"), "summary"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(elsewhere),
        env=env,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    first = proc.stdout.decode().splitlines()[0]
    assert os.path.samefile(first, root / "models" / "default.safetensors")
