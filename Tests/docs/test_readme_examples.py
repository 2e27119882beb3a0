"""Every code example in README.md and bindings/python/README.md runs as written.

The examples run in a folder laid out like the repository (its .build, models and scripts linked in,
../shared beside it, docs/images copied so that the examples that write pictures write copies) with the
files they name: corpus.txt, some.txt, held-out.txt, a model.safetensors, and tutorial.h5 / model.h5,
Keras models trained here as the Keras tutorials train theirs. Shell blocks run in bash (`charrnn` on
PATH), Python blocks in this interpreter, the C block as a complete program, the JSON configuration
through Model.create. The Swift example is built and run by Tests/consumer (it needs a package that
depends on charrnn). Blocks that are make targets are run by `make test` itself, and the layout block
is not code; both are named below so that a new block cannot be skipped unnoticed."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")  # as the Makefile sets it, before anything imports keras

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
RELEASE = os.path.join(ROOT, ".build", "release")
CORPUS = os.path.join(SHARED, "data", "tinyshakespeare.txt")

# (file, first line of the block) -> why it is not run here.
NOT_RUN = {
    (
        "README.md",
        "make run    # build, then chat with the bundled Shakespeare model in the REPL",
    ): "the make targets are what runs this test",
    (
        "README.md",
        "sudo make install                       # PREFIX=/usr/local: lib/libcharrnn.so.0.4.0 (SONAME libcharrnn.so.0),",
    ): "make test-install (Tests/install) and make test-wheel (Tests/wheel) run the install and the wheel",
    (
        "README.md",
        "Sources/CharRNN/       the core: Math, Layers (one file per cell), Model, Generation, Training, Format, Text",
    ): "the layout of the repository, not code",
    (
        "README.md",
        "// Package.swift: .package(url: \"<this repository>\", from: \"0.4.0\"), product \"CharRNN\"",
    ): "built and run by Tests/consumer (test_readme_swift_example), as a package depending on charrnn",
}


def blocks(name):
    text = open(os.path.join(ROOT, name), encoding="utf-8").read()
    return [(name, m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


ALL = blocks("README.md") + blocks("bindings/python/README.md")
RUN = [b for b in ALL if (b[0], b[2].splitlines()[0]) not in NOT_RUN]


def test_every_block_is_run_or_named():
    firsts = {(f, code.splitlines()[0]) for f, _, code in ALL}
    assert set(NOT_RUN) <= firsts, "a block named in NOT_RUN is gone or changed: " + repr(set(NOT_RUN) - firsts)
    assert len(RUN) + len(NOT_RUN) == len(ALL)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """One folder per README: each is read on its own (both train into ckpt/)."""
    made = {}

    def get(name):
        if name not in made:
            made[name] = make_workdir(tmp_path_factory)
        return made[name]

    return get


def make_workdir(tmp_path_factory):
    if not os.path.exists(CORPUS):
        pytest.skip("../shared/data/tinyshakespeare.txt is not there")
    top = tmp_path_factory.mktemp("readme")
    os.symlink(SHARED, top / "shared")
    d = top / "repo"
    d.mkdir()
    for name in (".build", ".venv", "models", "scripts", "include"):
        os.symlink(os.path.join(ROOT, name), d / name)
    shutil.copytree(os.path.join(ROOT, "docs", "images"), d / "docs" / "images")
    text = open(CORPUS, encoding="utf-8").read()
    (d / "corpus.txt").write_text(text[:30000], encoding="utf-8")
    (d / "some.txt").write_text(text[30000:32000], encoding="utf-8")
    (d / "held-out.txt").write_text(text[-3000:], encoding="utf-8")
    shutil.copy(os.path.join(ROOT, "models", "default.safetensors"), d / "model.safetensors")
    keras_tutorial_model(text[:30000], d / "tutorial.h5")
    shutil.copy(d / "tutorial.h5", d / "model.h5")
    return d


def keras_tutorial_model(text, path):
    """The Keras tutorial's model, trained for a few seconds: one-hot windows of 20 characters, an LSTM,
    a softmax; saved as the tutorials save it (model.save("x.h5"))."""
    keras = pytest.importorskip("keras")
    import numpy as np

    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    maxlen, v = 20, len(chars)
    starts = range(0, len(text) - maxlen - 1, 3)
    x = np.zeros((len(starts), maxlen, v), dtype=np.float32)
    y = np.array([index[text[i + maxlen]] for i in starts])
    for n, i in enumerate(starts):
        x[n, np.arange(maxlen), [index[c] for c in text[i : i + maxlen]]] = 1
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((maxlen, v)), keras.layers.LSTM(64), keras.layers.Dense(v, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    model.save(str(path))


def env():
    e = dict(os.environ, PATH=RELEASE + os.pathsep + os.environ.get("PATH", ""), MPLBACKEND="Agg")
    e.pop("CHARRNN_MODEL", None)
    return e


def ids(b):
    return f"{b[0]}:{b[1] or 'text'}:{b[2].splitlines()[0][:40]}"


@pytest.mark.parametrize("block", RUN, ids=[ids(b) for b in RUN])
def test_example_runs_as_written(block, workdirs, tmp_path):
    name, lang, code = block
    workdir = workdirs(name)
    if lang == "sh":
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=workdir,
            env=env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    elif lang == "python" and "TrainingInterrupted" in code:
        # Runs until Ctrl-C: interrupt it as a user would, and it must keep the work.
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=workdir,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Ctrl-C once training is under way (its first progress line is in the run's folder), not while
        # Python is still starting up on a loaded machine.
        metrics = workdir / "long-run" / "metrics.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
            time.sleep(0.2)
        time.sleep(1)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-3000:]
        assert out.strip().endswith("long-run/latest.safetensors"), out + err
    elif lang == "python":
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=workdir, env=env(), capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    elif lang == "c":
        source = tmp_path / "prog.c"
        source.write_text(code)
        exe = tmp_path / "prog"
        subprocess.run(
            [
                "cc",
                "-std=c11",
                "-Wall",
                "-Werror",
                "-I",
                os.path.join(ROOT, "include"),
                str(source),
                "-o",
                str(exe),
                "-L",
                RELEASE,
                "-lcharrnn",
                f"-Wl,-rpath,{RELEASE}",
            ],
            check=True,
        )
        proc = subprocess.run([str(exe)], cwd=workdir, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and len(proc.stdout) >= 200, proc.stdout + proc.stderr
    elif lang == "json":
        import charrnn

        config = json.loads(code)
        vocab = "".join(sorted(set(open(CORPUS, encoding="utf-8").read())))
        assert len(vocab) == config["vocab_size"]
        model = charrnn.Model.create(config, vocab)
        assert model.config["normalization"] == config["normalization"]
        assert model.config["window"] == config["window"]
        with model.session() as s:
            assert s.window == config["window"]
        model.close()
    else:
        pytest.fail(f"no way to run a {lang!r} block: add one, or name it in NOT_RUN with the reason")
