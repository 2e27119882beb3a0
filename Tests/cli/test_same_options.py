"""One training policy for every way in: the same options through `charrnn train`, a C program calling
charrnn_train and Python's charrnn.train give bit-identical weights, fresh and resumed — options not
given on resume are the checkpoint's — and each reports the step it resumed from."""

import os
import shutil
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
LIBDIR = os.path.join(ROOT, ".build", "release")
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(LIBDIR, "libcharrnn.so")), reason="libcharrnn.so not built (make lib)"
)

# SGD with momentum: a non-default optimizer whose learning rate (Keras's 0.01) comes from the rule
# that goes with it, plus a schedule and clipping by value.
FRESH_FLAGS = [
    "--cell",
    "GRU",
    "--layers",
    "1",
    "--hidden",
    "16",
    "--seq-length",
    "20",
    "--batch-size",
    "4",
    "--optimizer",
    "SGD",
    "--momentum",
    "0.5",
    "--clip-value",
    "2",
    "--lr-decay",
    "0.9",
    "--lr-decay-every",
    "3",
    "--max-steps",
    "6",
    "--eval-every",
    "3",
    "--lowercase",
    "--seed",
    "7",
]
FRESH_KWARGS = dict(
    cell="GRU",
    layers=1,
    hidden=16,
    seq_length=20,
    batch_size=4,
    optimizer="SGD",
    momentum=0.5,
    clip_value=2,
    lr_decay=0.9,
    lr_decay_every=3,
    max_steps=6,
    eval_every=3,
    lowercase=True,
    seed=7,
)

C_PROGRAM = r"""
#include "charrnn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    /* argv: corpus out_dir saved_model [resume] */
    charrnn_train_params p = charrnn_default_train_params();
    if (argc == 4) {
        p.cell = CHARRNN_CELL_GRU; p.layers = 1; p.hidden = 16; p.seq_length = 20; p.batch_size = 4;
        p.optimizer = CHARRNN_OPTIMIZER_SGD; p.momentum = 0.5f; p.clip_value = 2; p.lr_decay = 0.9f;
        p.lr_decay_every = 3; p.max_steps = 6; p.eval_every = 3; p.lowercase = 1; p.seed = 7;
    } else {
        p.resume = argv[4];
        p.max_steps = 10;
    }
    p.out_dir = argv[2];
    charrnn_model *m = NULL;
    charrnn_train_result r;
    CHARRNN_INIT_SIZE(r);
    if (charrnn_train(argv[1], &p, NULL, NULL, &m, &r) != CHARRNN_OK) {
        fprintf(stderr, "%s\n", charrnn_last_error());
        return 1;
    }
    printf("%d %llu %llu\n", (int)r.start, (unsigned long long)r.resumed_step, (unsigned long long)r.steps);
    int failed = charrnn_model_save(m, argv[3]) != CHARRNN_OK;
    charrnn_model_free(m);
    return failed;
}
"""


def small_run(corpus, out, *extra, timeout=None):
    """`charrnn train` of a tiny model (1 layer of 8 units, 10-character sequences) on `corpus` into `out`,
    with `extra`: the options a test is about. Returns the finished process, its output as text."""
    argv = [CLI, "train", corpus, "--layers", "1", "--hidden", "8", "--seq-length", "10", *extra, "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def weights(path):
    """The model's tensors as raw bytes (safetensors: header length, JSON header, data)."""
    import json

    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    return {
        name: body[e["data_offsets"][0] : e["data_offsets"][1]]
        for name, e in header.items()
        if name != "__metadata__" and not name.startswith(("optimizer.", "training."))
    }


@pytest.fixture(scope="module")
def c_trainer(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("c")
    src = d / "train_same.c"
    src.write_text(C_PROGRAM)
    exe = d / "train_same"
    subprocess.run(
        [
            cc,
            "-std=c11",
            "-Wall",
            "-Werror",
            "-I",
            os.path.join(ROOT, "include"),
            str(src),
            "-o",
            str(exe),
            "-L",
            LIBDIR,
            "-lcharrnn",
            f"-Wl,-rpath,{LIBDIR}",
        ],
        check=True,
    )
    return str(exe)


def test_cli_c_and_python_train_the_same_weights_fresh_and_resumed(tmp_path, corpus, c_trainer):
    charrnn = pytest.importorskip("charrnn")

    # The command line: a fresh run, then a resume that gives only the new step limit.
    cli = tmp_path / "cli"
    subprocess.run([CLI, "train", corpus, *FRESH_FLAGS, "--out", str(cli)], check=True, capture_output=True)
    fresh_cli = weights(cli / "latest.safetensors")
    shutil.copy(cli / "latest.safetensors", tmp_path / "cli-fresh.safetensors")
    out = subprocess.run(
        [CLI, "train", corpus, "--resume", str(cli / "latest.safetensors"), "--max-steps", "10"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "resuming from" in out.stderr and "(step 6)" in out.stderr
    resumed_cli = weights(cli / "latest.safetensors")

    # C.
    cdir = tmp_path / "c"
    out = subprocess.run(
        [c_trainer, corpus, str(cdir), str(tmp_path / "c-fresh.safetensors")],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["0", "0", "6"]  # fresh, no resumed step, 6 steps
    assert weights(tmp_path / "c-fresh.safetensors") == fresh_cli
    out = subprocess.run(
        [c_trainer, corpus, str(cdir), str(tmp_path / "c-resumed.safetensors"), str(cdir / "latest.safetensors")],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["1", "6", "10"]  # CHARRNN_START_RESUMED from step 6
    assert weights(tmp_path / "c-resumed.safetensors") == resumed_cli

    # Python.
    pdir = tmp_path / "py"
    model, result = charrnn.train(corpus, out_dir=pdir, **FRESH_KWARGS)
    assert result["start"] == "fresh"
    model.save(str(tmp_path / "py-fresh.safetensors"))
    assert weights(tmp_path / "py-fresh.safetensors") == fresh_cli
    assert model.config["normalization"] == "lowercase"  # the text option is the model's
    model, result = charrnn.train(corpus, resume=pdir / "latest.safetensors", out_dir=pdir, max_steps=10)
    assert result["start"] == "resumed" and result["resumed_step"] == 6 and result["steps"] == 10
    model.save(str(tmp_path / "py-resumed.safetensors"))
    assert weights(tmp_path / "py-resumed.safetensors") == resumed_cli


def test_resume_with_other_batching_says_it_fine_tunes(tmp_path, corpus):
    out = tmp_path / "run"
    p = small_run(corpus, out, "--batch-size", "4", "--max-steps", "2")
    assert p.returncode == 0, p.stderr
    p = subprocess.run(
        [
            CLI,
            "train",
            corpus,
            "--resume",
            str(out / "latest.safetensors"),
            "--batch-size",
            "8",
            "--max-steps",
            "4",
            "--out",
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert "fine-tuning" in p.stderr and "batch size 8, not 4" in p.stderr


def test_max_time_without_epochs_lets_time_decide(tmp_path, corpus):
    # One epoch of this corpus takes a fraction of a second: with 10 default epochs the run would end
    # early; with time deciding it runs (close to) the whole second.
    p = small_run(corpus, tmp_path / "t", "--batch-size", "64", "--max-time", "2", "--json", timeout=60)
    assert p.returncode == 0, p.stderr
    import json

    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["epochs"] > 10 and summary["seconds"] >= 1.5


@pytest.mark.parametrize("flag,value", [("--cell", "GRU"), ("--optimizer", "RMSprop"), ("--objective", "Window")])
def test_enum_values_in_any_case(tmp_path, corpus, flag, value):
    p = small_run(corpus, tmp_path / "e", "--batch-size", "4", "--max-steps", "1", flag, value)
    assert p.returncode == 0, p.stderr


def test_negative_max_time_is_named(tmp_path, corpus):
    p = subprocess.run([CLI, "train", corpus, "--max-time", "-5"], capture_output=True, text=True)
    assert p.returncode != 0 and "--max-time must be" in p.stderr and "Missing value" not in p.stderr


@pytest.mark.parametrize("limit", [["--objective", "window", "--step", "1", "--epochs", "1"], ["--max-time", "3"]])
def test_about_twenty_progress_lines(tmp_path, corpus, limit):
    p = small_run(corpus, tmp_path / "p", "--batch-size", "8", *limit, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if line.startswith("epoch ")]
    assert 10 <= len(lines) <= 30, len(lines)


def test_lowercase_is_the_models_everywhere_text_goes_in(tmp_path, corpus):
    out = tmp_path / "lc"
    p = small_run(corpus, out, "--max-steps", "2", "--lowercase")
    assert p.returncode == 0, p.stderr
    text = tmp_path / "upper.txt"
    text.write_text("ROMEO: WHAT LIGHT THROUGH YONDER WINDOW BREAKS?\n")
    p = subprocess.run(
        [CLI, "eval", "--model", str(out / "latest.safetensors"), str(text)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert "skipped" not in p.stderr  # uppercase is lowercased as in training, not skipped
    p = subprocess.run(
        [
            CLI,
            "sample",
            "--model",
            str(out / "latest.safetensors"),
            "--prime",
            "KING",
            "--length",
            "5",
            "--unknown",
            "error",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
