"""Keras files on the command line (issue 19, point 1): `charrnn import`, and a Keras --model given to
sample, eval, summary, train --resume and the REPL (--model and :model), imported on the fly with
--vocab-from / --vocab, or refused with the command that converts the file.

The programs run the Python importer with the repository's .venv (they run from its .build). Models are
trained by charrnn in a second and written as .keras files by charrnn.keras.
"""

import os
import random
import re
import signal
import subprocess

import pytest

charrnn = pytest.importorskip("charrnn")
import charrnn.keras as ck  # noqa: E402

from test_cli import CLI, REPL, assert_clean_failure, run  # noqa: E402

pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")


@pytest.fixture(scope="module")
def keras_files(corpus, tmp_path_factory):
    """(folder, vocabulary, .keras of a lowercase model, .keras of the same model in a shuffled order)."""
    folder = tmp_path_factory.mktemp("keras_cli")
    model, _ = charrnn.train(
        corpus,
        layers=1,
        hidden=48,
        seq_length=50,
        batch_size=32,
        learning_rate=0.01,
        max_steps=400,
        seed=1,
        lowercase=True,
    )
    ck.save(model, folder / "model.keras")
    chars = list(model.vocab)
    random.Random(3).shuffle(chars)
    shuffled = charrnn.Model.create(model.config, "".join(chars))
    perm = [model.vocab.index(c) for c in chars]
    for full in model.tensors():
        layer, _, name = full.partition(".")
        w = model.get_weights(layer, name)
        shuffled.set_weights(
            layer, name, w[perm] if (layer, name) == ("rnn0", "kernel") else w[..., perm] if layer == "dense" else w
        )
    ck.save(shuffled, folder / "shuffled.keras")
    yield folder, model.vocab, folder / "model.keras", folder / "shuffled.keras", "".join(chars)
    model.close()
    shuffled.close()


def env_with(tmp_path, **extra):
    """The environment with TMPDIR in the test's folder (to see that imports leave nothing behind)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, TMPDIR=str(tmp), **extra), tmp


def test_import_writes_the_model_beside_the_file(keras_files, corpus, tmp_path):
    folder, vocab, path, _, _ = keras_files
    proc = run("import", str(path), "--vocab-from", corpus, "--lowercase")
    assert proc.returncode == 0, proc.err
    out = folder / "model.safetensors"
    assert proc.out.startswith(f"wrote {out}")
    assert "vocabulary check: loss" in proc.err and "below the 3.584" in proc.err
    model = charrnn.Model.load(str(out))
    assert model.vocab == vocab and model.config["normalization"] == "lowercase"
    model.close()


def test_import_explains_what_is_wrong(keras_files, corpus, tmp_path):
    _, _, path, shuffled, order = keras_files
    # the corpus has 58 characters, the model 36: lowercasing gives exactly that
    proc = run("import", str(path), "--vocab-from", corpus, "-o", str(tmp_path / "x.safetensors"))
    assert_clean_failure(proc, "36 characters", "--lowercase")
    # sorted(set(text)) is not the shuffled model's order: refused with both figures and the way out
    proc = run("import", str(shuffled), "--vocab-from", corpus, "--lowercase", "-o", str(tmp_path / "x.safetensors"))
    assert_clean_failure(proc, "refused", "3.584", "--recover-order")
    assert not (tmp_path / "x.safetensors").exists()
    proc = run(
        "import",
        str(shuffled),
        "--vocab-from",
        corpus,
        "--lowercase",
        "--recover-order",
        "-o",
        str(tmp_path / "x.safetensors"),
        timeout=180,
    )
    assert proc.returncode == 0, proc.err
    assert "recovered the order" in proc.err and "; sure" in proc.err
    model = charrnn.Model.load(str(tmp_path / "x.safetensors"))
    assert model.vocab == order
    model.close()
    assert_clean_failure(run("import", str(path)), "--vocab-from")
    assert_clean_failure(run("import", corpus, "--vocab", "abc"), "not a Keras model file")


def test_a_keras_model_without_its_characters_is_refused_with_the_command(keras_files):
    _, _, path, _, _ = keras_files
    for command in (["sample"], ["eval", str(path)], ["summary"]):
        proc = run(*command, "--model", str(path))
        assert_clean_failure(proc, "is a Keras model", "--vocab-from", f"charrnn import {path} --vocab-from TEXT")
        assert "header length" not in proc.err


def test_sample_eval_summary_import_on_the_fly(keras_files, corpus, tmp_path):
    _, vocab, path, _, _ = keras_files
    env, tmp = env_with(tmp_path)
    proc = run(
        "sample",
        "--model",
        str(path),
        "--vocab-from",
        corpus,
        "--prime",
        "ROMEO:",
        "--length",
        "40",
        "--seed",
        "1",
        env=env,
    )
    assert proc.returncode == 0, proc.err
    assert proc.out.startswith("ROMEO:") and len(proc.out) >= 46 and "wrote" not in proc.out
    assert "vocabulary check" in proc.err
    proc = run("eval", corpus, "--model", str(path), "--vocab", vocab, "--json", env=env)
    assert proc.returncode == 0, proc.err
    assert '"loss": ' in proc.out and "vocabulary NOT checked" in proc.err  # --vocab: no text to score on
    proc = run("summary", "--model", str(path), "--vocab-from", corpus, env=env)
    assert proc.returncode == 0 and "Vocabulary: 36 characters" in proc.out, proc.err
    assert list(tmp.iterdir()) == []  # the temporary imports are gone


def test_a_refused_import_fails_the_command(keras_files, corpus):
    _, _, _, shuffled, _ = keras_files
    proc = run("sample", "--model", str(shuffled), "--vocab-from", corpus, "--length", "5")
    assert_clean_failure(proc, "cannot import", "refused", "--recover-order")
    assert proc.out == ""


def test_without_a_python_that_has_the_importer_it_says_what_to_install(keras_files, corpus, tmp_path):
    _, _, path, _, _ = keras_files
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'charrnn'\" >&2\nexit 1\n")
    fake.chmod(0o755)
    for python in (str(fake), str(tmp_path / "missing-python")):
        proc = run("sample", "--model", str(path), "--vocab-from", corpus, env=dict(os.environ, CHARRNN_PYTHON=python))
        assert_clean_failure(
            proc, "needs Python with the charrnn.keras importer", python, "make python", "CHARRNN_PYTHON"
        )


def test_the_importer_keeps_the_callers_ignored_signals_and_is_waited_for(keras_files, corpus, tmp_path):
    """Run under nohup (SIGHUP ignored) by a caller that also left SIGCHLD ignored: the importer still
    ignores SIGHUP (only SIGPIPE, which charrnn ignores for itself, goes back to its default), and its exit
    is still seen (charrnn resets SIGCHLD, which ignored would have the kernel reap children: ECHILD)."""
    _, _, path, _, _ = keras_files
    fake = tmp_path / "python"  # the probe (-c …) succeeds; the import reports the signals it ignores
    fake.write_text(
        '#!/bin/sh\n[ "$1" = -c ] && exit 0\nsed -n "s/^SigIgn:[[:space:]]*/error: ignores /p" /proc/self/status\nexit 1\n'
    )
    fake.chmod(0o755)

    def as_nohup_with_sigchld_ignored():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)

    proc = subprocess.run(
        [CLI, "import", str(path), "--vocab-from", corpus, "-o", str(tmp_path / "x.safetensors")],
        env=dict(os.environ, CHARRNN_PYTHON=str(fake)),
        preexec_fn=as_nohup_with_sigchld_ignored,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"ignores ([0-9a-f]+)", proc.stderr)
    assert proc.returncode == 1 and found, proc.stderr
    ignored = int(found.group(1), 16)
    assert ignored & (1 << (signal.SIGHUP - 1)), proc.stderr
    assert not ignored & (1 << (signal.SIGPIPE - 1)), proc.stderr


def test_train_resumes_from_a_keras_model(keras_files, corpus, tmp_path):
    _, _, path, _, _ = keras_files
    env, tmp = env_with(tmp_path)
    out = tmp_path / "run"
    proc = run(
        "train",
        corpus,
        "--resume",
        str(path),
        "--vocab-from",
        corpus,
        "--lowercase",
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--seq-length",
        "20",
        "--out",
        str(out),
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.err
    assert "importing the Keras model" in proc.err and "fine-tuning" in proc.err
    assert (out / "latest.safetensors").exists() and list(tmp.iterdir()) == []


def test_the_repl_imports_at_start_and_on_model(keras_files, corpus, tmp_path):
    _, _, path, _, _ = keras_files
    env, tmp = env_with(tmp_path)
    proc = subprocess.run(
        [REPL, "--model", str(path), "--vocab-from", corpus, "--seed", "1", "--max-chars", "20"],
        input=f"hello\n:model {path}\nagain\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("vocabulary check") == 2 and "conversation reset" in proc.stderr
    assert list(tmp.iterdir()) == []
    proc = subprocess.run([REPL, "--model", str(path)], input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--vocab-from" in proc.stderr and "charrnn import" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_vocabulary_options_on_a_charrnn_model_are_reported_ignored(corpus):
    proc = run("summary", "--vocab-from", corpus)  # the bundled model holds its vocabulary
    assert proc.returncode == 0, proc.err
    assert "--vocab-from and --vocab are for Keras models" in proc.err and "ignored" in proc.err
