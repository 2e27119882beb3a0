"""Issue 18, item 4: a model whose numbers overflow float32 has no distribution to report or sample from.
Probabilities, sampling, generation and evaluation fail with CHARRNN_ERR_NOT_FINITE (Python
charrnn.NotFiniteError; the CLI exits 1 with the message; the REPL says so and goes on) instead of NaN
probabilities, the first character of the vocabulary drawn again and again, or "loss n/a" with exit 0.

Two models: finite but huge weights (every kernel 3e38: the first distribution overflows), and a linear
RNN whose state doubles at each character (the 128th overflows: generation stops there, mid-stream).
A third way in: a state buffer of huge but finite values, restored into a sound model."""

import json

import pytest

from reliability_util import (
    CLI,
    REPL,
    assert_clean_failure,
    child_json,
    compile_c,
    probe_lines,
    run_measured,
    run_python,
)


@pytest.fixture(scope="module")
def overflowing(trained, tmp_path_factory):
    """{"huge": every kernel of the trained checkpoint's model set to 3e38, "growing": a 1x4 linear RNN over
    "ab" whose state doubles each step}, saved with Model.save."""
    folder = tmp_path_factory.mktemp("not-finite")
    paths = {"huge": str(folder / "huge.safetensors"), "growing": str(folder / "growing.safetensors")}
    child_json(
        run_python(f"""
import numpy as np
m = charrnn.Model.load({trained!r})
for name, shape in m.tensors().items():
    layer, _, weight = name.partition(".")
    if "kernel" in weight:
        m.set_weights(layer, weight, np.full(shape, 3e38, np.float32))
m.save({paths["huge"]!r})
g = charrnn.Model.create({{"layers": [{{"cell": "rnn", "units": 4, "activation": "linear"}}]}}, "ab")
g.set_weights("rnn0", "kernel", np.ones((2, 4)))
g.set_weights("rnn0", "recurrent_kernel", 2 * np.eye(4))
g.set_weights("dense", "kernel", np.array([[1, -1]] * 4) / 4)
g.save({paths["growing"]!r})
print(json.dumps(True))
""")
    )
    return paths


def _no_output_beyond(result, prime):
    assert result.out in ("", prime), f"printed {result.out[:200]!r} from an overflowing model"


@pytest.mark.parametrize("extra", [[], ["--int8"]], ids=["float32", "int8"])
def test_cli_sample_refuses_overflowing_model(overflowing, extra):
    """`charrnn sample` of the huge model: exit 1 with a message about the overflow, nothing generated
    (stdout holds the prime at most)."""
    result = run_measured(
        [CLI, "sample", "--model", overflowing["huge"], "--prime", "ROMEO:", "--length", "50", "--seed", "1", *extra]
    )
    assert_clean_failure(result, "overflow", overflowing["huge"], status=1)
    _no_output_beyond(result, "ROMEO:")


def test_cli_sample_stops_where_the_state_overflows(overflowing):
    """The growing model samples 300 characters: the first 126 are drawn, then the state overflows and
    `charrnn sample` stops there with exit 1 and the message, not 300 characters and exit 0."""
    result = run_measured(
        [CLI, "sample", "--model", overflowing["growing"], "--prime", "a", "--length", "300", "--seed", "1"]
    )
    assert_clean_failure(result, "overflow", status=1)
    assert 100 < len(result.out) < 200, len(result.out)


@pytest.mark.parametrize("model", ["huge", "growing"])
@pytest.mark.parametrize("extra", [[], ["--int8"]], ids=["float32", "int8"])
def test_cli_eval_refuses_overflowing_model(overflowing, tmp_path, model, extra):
    """`charrnn eval` (and --int8, which also runs the generation path) on 300 characters: exit 1 with the
    message, never a loss of n/a or NaN reported with exit 0."""
    text = tmp_path / "text.txt"
    text.write_text("ROMEO: What light through yonder window breaks? " * 6 if model == "huge" else "ab" * 150)
    result = run_measured([CLI, "eval", str(text), "--model", overflowing[model], "--json", *extra])
    assert_clean_failure(result, "overflow", status=1)
    assert "nan" not in result.out.lower() and "n/a" not in result.out


@pytest.mark.parametrize("extra", [[], ["--int8"]], ids=["float32", "int8"])
def test_repl_says_the_model_overflows_and_goes_on(overflowing, extra):
    """charrnn-repl with the huge model: each line gets the overflow message and no answer; the session
    takes the next line (a command answers) and ends with exit status 0."""
    result = run_measured(
        [REPL, "--model", overflowing["huge"], "--seed", "1", "--max-chars", "30", *extra],
        input=b"ROMEO:\nhello there\n:temp 0.5\n",
    )
    assert result.returncode == 0, result.err
    assert "Fatal error" not in result.err
    assert (result.out + result.err).count("overflow") == 2, result.err
    assert result.out.strip() == "", f"printed an answer from an overflowing model: {result.out[:200]!r}"


def test_c_abi_reports_not_finite(overflowing):
    """Through the C ABI, float32 and int8 sessions on the huge model: probabilities, sample and generate
    (5 characters after 2 fed) give CHARRNN_ERR_NOT_FINITE with a message, generate delivers no character
    to its callback, and charrnn_model_evaluate fails the same way."""
    result = run_measured([compile_c("probe"), "not-finite", overflowing["huge"]])
    assert result.returncode == 0, f"status {result.returncode}: {result.err[-2000:]}"
    lines = probe_lines(result)
    for precision in ("float32", "int8"):
        assert lines[f"{precision}:session"]["status"] == "OK"
        for call in ("probabilities", "sample", "generate"):
            line = lines[f"{precision}:{call}"]
            assert line["status"] == "NOT_FINITE" and "overflow" in line["message"], (precision, call, line)
        assert lines[f"generated:{precision}"]["message"] == "0"
    assert lines["evaluate"]["status"] == "NOT_FINITE" and "overflow" in lines["evaluate"]["message"]


def test_python_raises_not_finite(overflowing):
    """Python: Model.probabilities, evaluate, generate and a session's probabilities, sample and
    generate_text raise charrnn.NotFiniteError (an ArithmeticError) on the huge model; on the growing one,
    sampling gives 126 characters and then raises, and 300 characters of evaluate/probabilities raise."""
    out = child_json(
        run_python(f"""
import math
paths = {overflowing!r}
r = {{}}
huge = charrnn.Model.load(paths["huge"])
r["probabilities"] = attempt(lambda: huge.probabilities("ROMEO:"))
r["evaluate"] = attempt(lambda: huge.evaluate("ROMEO: What light"))
r["generate"] = attempt(lambda: huge.generate("ROMEO:", 20))
for precision in ("float32", "int8"):
    s = huge.session(seed=1, precision=precision)
    s.feed("RO")
    r[precision + ":probabilities"] = attempt(s.probabilities)
    r[precision + ":sample"] = attempt(s.sample)
    r[precision + ":generate_text"] = attempt(lambda: s.generate_text(20))
growing = charrnn.Model.load(paths["growing"])
s = growing.session(seed=1)
s.feed("a")
drawn = []
try:
    for _ in range(300):
        drawn.append(s.sample())
    r["growing:sample"] = {{"raised": None}}
except charrnn.NotFiniteError as e:
    r["growing:sample"] = {{"raised": "NotFiniteError", "message": str(e)}}
r["growing:drawn"] = {{"raised": None, "count": len(drawn),
                       "finite": all(math.isfinite(p) and 0 < p <= 1 for _, p in drawn)}}
r["growing:evaluate"] = attempt(lambda: growing.evaluate("ab" * 150))
r["growing:probabilities"] = attempt(lambda: growing.probabilities("ab" * 150))
print(json.dumps(r))
""")
    )
    for key in (
        "probabilities",
        "evaluate",
        "generate",
        "float32:probabilities",
        "float32:sample",
        "float32:generate_text",
        "int8:probabilities",
        "int8:sample",
        "int8:generate_text",
        "growing:sample",
        "growing:evaluate",
        "growing:probabilities",
    ):
        assert out[key]["raised"] == "NotFiniteError", (key, out[key])
        assert "overflow" in out[key]["message"], (key, out[key])
    assert 100 < out["growing:drawn"]["count"] < 200 and out["growing:drawn"]["finite"], out["growing:drawn"]


def test_restored_huge_state_has_no_distribution(trained):
    """A state buffer from a sound model with every recurrent value replaced by 3e38 (finite, so
    set_state accepts it): the next distribution is NotFiniteError, not NaN; a state holding inf or NaN
    is refused by set_state as corrupt (FormatError), the session unchanged."""
    out = child_json(
        run_python(f"""
import numpy as np
m = charrnn.Model.load({trained!r})
s = m.session(seed=1)
s.feed("RO")
good = s.state
header = 56  # "CRNS", version, fingerprint, flags, reserved, generator: then the float32 values
values = np.frombuffer(good[header:], dtype=np.float32)
r = {{}}
def restored(fill):
    t = m.session()
    t.state = good[:header] + np.full_like(values, fill).tobytes()
    return t
r["huge"] = attempt(lambda: restored(3e38).probabilities())
r["inf"] = attempt(lambda: restored(np.inf))
r["nan"] = attempt(lambda: restored(np.nan))
s.state = good
r["after"] = attempt(lambda: bool(np.isfinite(s.probabilities()).all()))
print(json.dumps(r))
""")
    )
    assert out["huge"]["raised"] == "NotFiniteError", out["huge"]
    assert out["inf"]["raised"] == "FormatError" and out["nan"]["raised"] == "FormatError", out
    assert out["after"]["raised"] is None and out["after"]["value"] == "True", out["after"]
