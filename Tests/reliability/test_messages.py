"""Issue 18, item 6: refusals say what is wrong. A negative number given to a numeric option names the
option and its range (before, the parser took "-1" for the next option and said "Missing value"); a loop
of symbolic links is called a loop (not "no such file"); a model configuration holding a number beyond
float64 says "out of range" (not "not valid JSON"), through charrnn_model_create and Model.create alike."""

import json
import os

import pytest

from reliability_util import (
    CLI,
    REPL,
    TINY,
    assert_clean_failure,
    child_json,
    compile_c,
    probe_lines,
    run,
    run_measured,
    run_python,
    with_training_state,
)

NEGATIVE = [
    ("sample", "--length", "-1"),
    ("sample", "--top-k", "-1"),
    ("sample", "--temperature", "-1"),
    ("sample", "--top-p", "-0.5"),
    ("train", "--max-time", "-5"),
    ("train", "--max-steps", "-1"),
    ("train", "--eval-every", "-1"),
    ("train", "--print-every", "-1"),
    ("train", "--sample-every", "-1"),
    ("train", "--sample-length", "-1"),
    ("train", "--clip-norm", "-1"),
    ("train", "--clip-value", "-1"),
    ("train", "--max-chars", "-1"),
    ("train", "--hidden", "-1"),
    ("train", "--layers", "-1"),
    ("train", "--epochs", "-1"),
    ("train", "--lr", "-1"),
    ("train", "--batch-size", "-1"),
    ("train", "--seq-length", "-1"),
    ("train", "--dropout", "-1"),
    ("repl", "--max-chars", "-1"),
    ("repl", "--lines", "-1"),
    ("repl", "--temperature", "-1"),
    ("repl", "--top-k", "-1"),
]


@pytest.mark.parametrize("program,option,value", NEGATIVE, ids=[f"{p}{o}={v}" for p, o, v in NEGATIVE])
def test_negative_number_names_the_option(corpus, tmp_path, program, option, value):
    """`charrnn sample --length -1`, `charrnn train x --max-time -5`, ...: refused (64 for a bad option, 1
    when the library's validation refuses it) with a message naming the option, never "Missing value",
    and nothing trained or generated."""
    if program == "repl":
        result = run(option, value, binary=REPL, input=b"ROMEO:\n")
    elif program == "sample":
        result = run("sample", option, value)
    else:
        result = run("train", corpus, *TINY, "--max-steps", "2", option, value, "--out", str(tmp_path / "o"))
    assert result.returncode in (1, 64), (result.returncode, result.err)
    assert_clean_failure(result)
    assert "Missing value" not in result.err, result.err
    name = option.lstrip("-")
    assert name in result.err.replace("_", "-").replace("learning rate", "lr"), result.err
    assert result.out == "", result.out[:200]
    assert not os.path.exists(tmp_path / "o" / "latest.safetensors")


@pytest.mark.parametrize("command", ["sample", "eval", "train", "resume", "repl"])
def test_symlink_loop_is_called_a_loop(tmp_path, corpus, trained, command):
    """A loop of symbolic links (a -> b -> a) is reported as a loop, and a dangling link as missing: the
    two are told apart, in every program ($CHARRNN_MODEL naming a loop: test_special_files.py)."""
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    for path, wanted, unwanted in (
        (tmp_path / "a", "loop of symbolic links", "No such file"),
        (tmp_path / "dangling", "No such file", "loop of symbolic links"),
    ):
        argv = {
            "sample": ["sample", "--model", path],
            "eval": ["eval", path, "--model", trained],
            "train": ["train", path, *TINY, "--max-steps", "2", "--out", tmp_path / "o"],
            "resume": ["train", corpus, "--resume", path, "--max-steps", "2", "--out", tmp_path / "o"],
            "repl": ["--model", path],
        }[command]
        result = run_measured([REPL if command == "repl" else CLI, *argv], timeout=10)
        assert_clean_failure(result, wanted, str(path), status=1)
        assert unwanted not in result.err, result.err


CONFIGS = {  # config JSON -> what the message must say
    '{"vocab_size": 1e400, "layers": [{"cell": "lstm", "units": 8}]}': "out of range",
    '{"layers": [{"cell": "lstm", "units": -1e400}]}': "out of range",
    '{"dropout": 1e999, "layers": [{"cell": "lstm", "units": 8}]}': "out of range",
    '{"layers": [{"cell": "lstm", "units": 8}], "layers": [{"cell": "gru", "units": 9}]}': "duplicate key",
    '{"layers": [{"cell": "lstm", "units": 8, "units": 9}]}': "duplicate key",
}


def test_config_out_of_range_through_c_and_python():
    """charrnn_model_create and charrnn.Model.create with configs holding numbers beyond ±1.8e308 or
    duplicate keys: CHARRNN_ERR_CONFIG / charrnn.ConfigError saying "out of range" (naming the number) or
    "duplicate key", never "not valid JSON"."""
    probe = compile_c("probe")
    problems = []
    for config, wanted in CONFIGS.items():
        line = probe_lines(run_measured([probe, "create", config]))["create"]
        if line["status"] != "CONFIG" or wanted not in line["message"] or "not valid JSON" in line["message"]:
            problems.append(f"C {config}: {line}")
    out = child_json(
        run_python(f"""
print(json.dumps({{c: attempt(lambda c=c: charrnn.Model.create(c, "abc")) for c in {list(CONFIGS)!r}}}))
""")
    )
    for config, wanted in CONFIGS.items():
        r = out[config]
        if r["raised"] != "ConfigError" or wanted not in r["message"] or "not valid JSON" in r["message"]:
            problems.append(f"Python {config}: {r}")
    assert not problems, "\n".join(problems)
    assert "1e400" in probe_lines(run_measured([probe, "create", list(CONFIGS)[0]]))["create"]["message"]


@pytest.mark.parametrize(
    "config,field",
    [
        ('{"layers": [{"cell": "lstm", "units": 8.5}]}', "units"),
        ('{"layers": [{"cell": "lstm", "units": 1e20}]}', "units"),
        ('{"layers": [{"cell": "lstm", "units": 9223372036854775808}]}', "units"),
        ('{"vocab_size": 60.5, "layers": [{"cell": "lstm", "units": 8}]}', "vocab_size"),
        ('{"dropout": 1e-400, "layers": [{"cell": "lstm", "units": 8}]}', "dropout"),
    ],
    ids=["units-8.5", "units-1e20", "units-2^63", "vocab_size-60.5", "dropout-1e-400"],
)
def test_config_number_of_the_wrong_kind_names_the_field(config, field):
    """Valid JSON numbers within float64 that the field cannot hold (a fraction, 1e20 or 2^63 for units, a
    fraction for vocab_size) or that the strict reader accepts and Foundation does not (a dropout of
    1e-400, 0 in float64): the message names the field and what is wrong with its value. (It said "model config JSON: top level: The given data was not valid JSON." before the config
    was decoded from the strict reader's tree.)"""
    line = probe_lines(run_measured([compile_c("probe"), "create", config]))["create"]
    assert line["status"] == "CONFIG", line
    assert "not valid JSON" not in line["message"] and field in line["message"], line["message"]


def test_training_state_of_the_wrong_kind_names_the_field(trained, corpus, tmp_path):
    """A checkpoint whose training state says "step": 3.5: `charrnn train --resume` refuses it naming the
    file and the field (it said only "FILE: the training state is corrupt" before the state was decoded
    from the strict reader's tree)."""
    path = with_training_state(trained, tmp_path / "frac.safetensors", step=3.5)
    result = run("train", corpus, "--resume", path, "--max-steps", "25", "--out", str(tmp_path / "o"))
    assert_clean_failure(result, "frac.safetensors", "step", status=1)
