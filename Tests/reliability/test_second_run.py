"""Issue 18, item 5: a run's checkpoint folder belongs to that run. A new run pointed at a folder that holds
another run's latest.safetensors (that run's only exact resume point) is refused before it trains, with a
message naming the file and the three ways on (resume it, another folder, --overwrite), and the folder is
left byte-identical; `--overwrite` allows it; continuing the run (`--resume DIR/latest.safetensors`) is
allowed. The rule lives in the core's Trainer, so charrnn_train and charrnn.train(out_dir=...) refuse the
same way."""

import os
import subprocess

import pytest

from reliability_util import (
    CLI,
    TINY,
    assert_clean_failure,
    child_json,
    compile_c,
    last_json,
    probe_lines,
    run,
    run_measured,
    run_python,
    snapshot,
    training_state,
)


def _first_run(corpus, folder, *extra):
    result = run("train", corpus, *TINY, "--max-steps", "5", "--out", str(folder), "--json", *extra)
    assert result.returncode == 0, result.err
    assert (folder / "latest.safetensors").exists()
    return snapshot(folder)


def _refused_before_training(result, folder_text):
    assert_clean_failure(
        result,
        f"{folder_text} already holds another run's checkpoints",
        "latest.safetensors",
        "Resume that run from",
        "another folder",
        "--overwrite",
        status=1,
    )
    assert "step" not in result.out, f"trained before refusing: {result.out[:300]}"


@pytest.mark.parametrize("spelling", ["plain", "trailing-slash", "dot-dot", "symlink"])
def test_second_cli_run_is_refused_before_training(corpus, tmp_path, spelling):
    """`charrnn train corpus --out DIR` a second time, DIR spelt as given, with a trailing slash, through
    `sub/..`, or through a symbolic link: exit 1 before any step, naming DIR/latest.safetensors and how to
    go on; every file of DIR byte-identical afterwards."""
    folder = tmp_path / "run"
    before = _first_run(corpus, folder)
    (tmp_path / "sub").mkdir()
    os.symlink(folder, tmp_path / "link")
    out = {
        "plain": str(folder),
        "trailing-slash": f"{folder}/",
        "dot-dot": str(tmp_path / "sub" / ".." / "run"),
        "symlink": str(tmp_path / "link"),
    }[spelling]
    result = run("train", corpus, *TINY, "--max-steps", "5", "--seed", "4", "--out", out)
    _refused_before_training(result, out)
    assert snapshot(folder) == before


def test_overwrite_allows_a_new_run(corpus, tmp_path):
    """With --overwrite the second run trains and replaces latest.safetensors with its own (a new run:
    its training state counts from step 0 to its own --max-steps)."""
    folder = tmp_path / "run"
    before = _first_run(corpus, folder)
    result = run(
        "train", corpus, *TINY, "--seed", "4", "--max-steps", "3", "--out", str(folder), "--overwrite", "--json"
    )
    assert result.returncode == 0, result.err
    assert last_json(result)["steps"] == 3
    assert training_state(folder / "latest.safetensors")["step"] == 3
    assert snapshot(folder)["latest.safetensors"] != before["latest.safetensors"]


@pytest.mark.parametrize("out", [True, False], ids=["out-given", "out-default"])
def test_resuming_the_run_writes_into_its_folder(corpus, tmp_path, out):
    """`--resume DIR/latest.safetensors` (with `--out DIR`, or writing beside the checkpoint by default)
    continues the first run in its own folder: allowed, from step 5 to 8."""
    folder = tmp_path / "run"
    _first_run(corpus, folder)
    result = run(
        "train",
        corpus,
        "--resume",
        str(folder / "latest.safetensors"),
        "--max-steps",
        "8",
        "--json",
        *(["--out", str(folder)] if out else []),
    )
    assert result.returncode == 0, result.err
    assert "(step 5)" in result.err
    assert training_state(folder / "latest.safetensors")["step"] == 8


def test_c_abi_refuses_a_second_run(corpus, tmp_path):
    """charrnn_train with out_dir = DIR twice: the second returns CHARRNN_ERR_IO naming DIR's
    latest.safetensors before training, DIR byte-identical; resuming DIR/latest.safetensors into DIR is
    allowed."""
    probe = compile_c("probe")
    folder = tmp_path / "run"
    first = probe_lines(run_measured([probe, "train", corpus, "-", folder]))["train"]
    assert first["status"] == "OK", first
    before = snapshot(folder)
    second = probe_lines(run_measured([probe, "train", corpus, "-", folder]))["train"]
    assert second["status"] == "IO" and "another run's checkpoints" in second["message"], second
    assert f"{folder}/latest.safetensors" in second["message"], second
    assert snapshot(folder) == before
    resumed = probe_lines(run_measured([probe, "train", corpus, folder / "latest.safetensors", folder]))["train"]
    assert resumed["status"] == "OK", resumed


def test_python_refuses_a_second_run(corpus, tmp_path):
    """charrnn.train(corpus, out_dir=DIR) twice: the second raises charrnn.IOError naming DIR's
    latest.safetensors, DIR byte-identical; charrnn.train(resume=DIR/latest.safetensors, out_dir=DIR)
    continues the run."""
    folder = str(tmp_path / "run")
    out = child_json(
        run_python(f"""
import hashlib
def digest():
    return {{n: hashlib.sha256(open(os.path.join({folder!r}, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir({folder!r}))}}
params = dict(layers=1, hidden=16, batch_size=10, seq_length=20, seed=3, max_steps=5, out_dir={folder!r})
r = {{"first": attempt(lambda: charrnn.train({corpus!r}, **params))}}
before = digest()
r["second"] = attempt(lambda: charrnn.train({corpus!r}, **dict(params, seed=4)))
r["unchanged"] = {{"raised": None, "value": before == digest()}}
# An exact resume needs the run's batching (the C ABI and Python do not take it from the checkpoint yet).
r["resumed"] = attempt(lambda: charrnn.train({corpus!r}, **dict(params, resume={folder!r} + "/latest.safetensors",
                                                             max_steps=8))[1]["steps"])
print(json.dumps(r))
""")
    )
    assert out["first"]["raised"] is None, out["first"]
    assert out["second"]["raised"] == "IOError" and "another run's checkpoints" in out["second"]["message"], out
    assert f"{folder}/latest.safetensors" in out["second"]["message"]
    assert out["unchanged"]["value"] is True
    assert out["resumed"] == {**out["resumed"], "raised": None, "value": "8"}, out["resumed"]


def test_fine_tuning_a_checkpoint_does_not_replace_its_run(corpus, tmp_path):
    """Fine-tuning the first run's best checkpoint on another text (`charrnn train other.txt --resume
    DIR/epoch01-*.safetensors`: "fine-tuning ...: progress restarts", a new run) writes beside the
    checkpoint by default, i.e. into DIR. Like any other new run it must be refused there without
    --overwrite, leaving DIR byte-identical (it replaced DIR/latest.safetensors, the first run's exact
    resume point, while the rule asked only whether the resumed file's folder was DIR)."""
    folder = tmp_path / "run"
    before = _first_run(corpus, folder)
    best = next(n for n in before if n.startswith("epoch"))
    other = tmp_path / "other.txt"
    with open(corpus, encoding="utf-8") as f:
        other.write_text(f.read()[7000:15000], encoding="utf-8")
    result = run("train", str(other), "--resume", str(folder / best), "--max-steps", "8")
    assert "fine-tuning" in result.err, result.err
    assert result.returncode == 1, "the fine-tuning run wrote into the first run's folder"
    assert snapshot(folder) == before


def test_two_runs_started_together_do_not_share_a_folder(corpus, tmp_path):
    """Two `charrnn train --out DIR` started at the same moment into a new folder (a shell loop with `&`, two
    terminals): at most one may train there; the other must be refused like any second run. Bug: each
    checks for DIR/latest.safetensors before its first step, when neither has written one, so both train
    for the whole run and each replaces the other's latest.safetensors at every checkpoint: both exit 0
    and both print "checkpoint: DIR/latest.safetensors", but the file holds only one of them (the folder
    also ends with both runs' best checkpoints side by side)."""
    folder = tmp_path / "run"
    argv = [
        CLI,
        "train",
        corpus,
        "--hidden",
        "16",
        "--layers",
        "1",
        "--batch-size",
        "10",
        "--seq-length",
        "20",
        "--max-steps",
        "150",
        "--out",
        str(folder),
        "--json",
    ]
    procs = [
        subprocess.Popen(argv + ["--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for seed in (1, 2)
    ]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 1], f"exit statuses {statuses}: both runs wrote into {folder}"
