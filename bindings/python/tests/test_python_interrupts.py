"""Issue 18: Ctrl-C stops long calls (and train() keeps its work), integer arguments are never wrapped,
invalid UTF-8 is reported at its real byte offset, and overflowing models raise NotFiniteError.

Each Ctrl-C case runs in a child interpreter: it builds a model, times the long call on a small part of
its input to estimate the whole (which must be over 10 s), prints "ready", and starts the call; the
parent sends SIGINT 0.3 s later and measures how long the child takes to report the KeyboardInterrupt."""

import json
import os
import queue
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn_testutil import small_config

ROOT = Path(os.environ.get("CHARRNN_ROOT") or Path(__file__).resolve().parents[3])
CORPUS = next(
    (
        Path(p)
        for p in (os.environ.get("CHARRNN_CORPUS"), ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
        if p and Path(p).is_file()
    ),
    None,
)
needs_corpus = pytest.mark.skipif(CORPUS is None, reason="tinyshakespeare.txt not found")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")

LIMIT = 1.0  # seconds from SIGINT to the child's KeyboardInterrupt
LONG = 10.0  # seconds the interrupted call would have taken at least

PRELUDE = """
import json, os, sys, time
import numpy as np
import charrnn
text = open({corpus!r}, encoding="utf-8").read()
vocab = "".join(sorted(set(text)))
layer = {{"cell": "lstm", "units": 256, "activation": "tanh", "recurrent_activation": "sigmoid",
          "use_bias": True, "reset_after": True}}
model = charrnn.Model.create({{"input": "onehot", "embedding_dim": 0, "dropout": 0.0, "layers": [layer, layer],
                              "head": {{"activation": "softmax", "use_bias": True}}}}, vocab, seed=1)

def estimate(call, part, whole):
    '''Seconds call(whole) would take, from the time of call(part) (both sizes).'''
    t = time.perf_counter()
    call(part)
    return (time.perf_counter() - t) * whole / part

def ready(seconds=0.0):
    print("ready", seconds, flush=True)
"""


class Child:
    """A child interpreter whose stdout lines are collected with the time they arrived."""

    def __init__(self, cwd, body):
        script = PRELUDE.format(corpus=str(CORPUS)) + textwrap.dedent(body)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.rstrip("\n")))
        self.lines.put((time.monotonic(), None))

    def next_line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            pytest.fail(f"the child said nothing for {timeout} s; stderr: {self.proc.stderr.read()[-2000:]}")

    def wait_for(self, prefix, timeout):
        while True:
            when, line = self.next_line(timeout)
            if line is None:
                self.proc.wait()
                pytest.fail(
                    f"the child ended ({self.proc.returncode}) before {prefix!r}: {self.proc.stderr.read()[-2000:]}"
                )
            if line.startswith(prefix):
                return when, line

    def finish(self, timeout=120):
        rest = []
        while True:
            _, line = self.next_line(timeout)
            if line is None:
                break
            rest.append(line)
        self.proc.wait(timeout=timeout)
        return rest, self.proc.stderr.read()


def interrupt(tmp_path, body, after=0.3):
    """Runs `body` in a child, sends SIGINT `after` seconds after it says "ready <estimate>", and returns
    (estimate, seconds from the signal to the child's "interrupted" line, that line, the lines after it,
    return code, stderr)."""
    child = Child(tmp_path, body)
    _, line = child.wait_for("ready", timeout=300)
    estimate = float(line.split()[1])
    time.sleep(after)
    sent = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    when, line = child.wait_for("interrupted", timeout=120)
    rest, stderr = child.finish()
    return estimate, when - sent, line, rest, child.proc.returncode, stderr


def report(name, seconds, estimate):
    print(f"\n{name}: interrupted {seconds * 1000:.0f} ms after SIGINT (the whole call: about {estimate:.0f} s)")


LONG_CALLS = {
    "evaluate": """
        big = text * 2  # 2.2 MB
        ready(estimate(lambda k: model.evaluate(big[:k]), 5000, len(big)))
        model.evaluate(big)
    """,
    # probabilities steps a session a character at a time, as fast as generation: a 2x512 LSTM over 400k
    # characters keeps it long (2x256 over 200k took 9 s here once the per-call memory question was gone).
    "probabilities": """
        wide = charrnn.Model.create({"layers": [dict(layer, units=512)] * 2}, vocab, seed=1)
        big = text[:400_000]  # (400000, 65) float32 rows: 104 MB
        ready(estimate(lambda k: wide.probabilities(big[:k]), 2000, len(big)))
        wide.probabilities(big)
    """,
    "probabilities of bytes": """
        wide = charrnn.Model.create({"layers": [dict(layer, units=512)] * 2}, vocab, seed=1)
        big = text.encode()[:400_000]
        ready(estimate(lambda k: wide.probabilities(big[:k]), 2000, len(big)))
        wide.probabilities(big)
    """,
    "generate_text": """
        s = model.session()
        s.feed("ROMEO:")
        ready(estimate(lambda k: s.generate_text(k), 2000, 10**6))
        s.generate_text(10**6)
    """,
    "generate_text with a callback": """
        s = model.session()
        s.feed("ROMEO:")
        ready(estimate(lambda k: s.generate_text(k, callback=lambda c, p: False), 2000, 10**6))
        s.generate_text(10**6, callback=lambda c, p: False)
    """,
    "Session.generate": """
        s = model.session()
        s.feed("ROMEO:")
        ready(estimate(lambda k: list(s.generate(k)), 2000, 10**6))
        for c, p in s.generate(10**6):
            pass
    """,
    "Model.generate": """
        ready(estimate(lambda k: model.generate("ROMEO:", k), 2000, 10**6))
        model.generate("ROMEO:", 10**6)
    """,
}


@needs_corpus
@pytest.mark.parametrize("name", list(LONG_CALLS))
def test_ctrl_c_stops_a_long_call(tmp_path, name):
    body = (
        "try:\n"
        + textwrap.indent(textwrap.dedent(LONG_CALLS[name]), "    ")
        + """
except KeyboardInterrupt as e:
    print("interrupted", type(e).__name__, isinstance(e, charrnn.Error), flush=True)
else:
    print("finished", flush=True)
"""
    )
    estimate, seconds, line, _, code, stderr = interrupt(tmp_path, body)
    report(name, seconds, estimate)
    assert code == 0, stderr
    # a plain KeyboardInterrupt, not the CancelledError the C call returned
    assert line == "interrupted KeyboardInterrupt False"
    assert estimate > LONG, f"the call would have ended by itself in {estimate:.1f} s: make it longer"
    assert seconds < LIMIT


@needs_corpus
def test_ctrl_c_leaves_a_fed_session_as_it_was(tmp_path):
    body = """
        s = model.session(seed=5)
        s.feed("ROMEO:")
        before = s.state
        big = text * 2
        ready(estimate(lambda k: model.session().feed(big[:k]), 5000, len(big)))
        try:
            s.feed(big)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        print(json.dumps({"unchanged": s.state == before, "usable": len(s.generate_text(20)) == 20}))
    """
    estimate, seconds, _, rest, code, stderr = interrupt(tmp_path, body)
    report("Session.feed", seconds, estimate)
    assert code == 0, stderr
    assert json.loads(rest[-1]) == {"unchanged": True, "usable": True}
    assert estimate > LONG and seconds < LIMIT


@needs_corpus
def test_ctrl_c_reaches_the_main_thread_while_another_computes(tmp_path):
    """Only the main thread runs signal handlers: a long call in another thread goes on to its end."""
    body = """
        import threading
        out = {}
        part = text[:60_000]
        worker = threading.Thread(target=lambda: out.setdefault("result", model.evaluate(part)))
        ready(estimate(lambda k: model.evaluate(part[:k]), 3000, len(part)))
        worker.start()
        try:
            while worker.is_alive():
                time.sleep(0.01)
        except KeyboardInterrupt:
            print("interrupted", worker.is_alive(), flush=True)
        worker.join()
        print(json.dumps({"chars": out["result"].chars}))
    """
    estimate, seconds, line, rest, code, stderr = interrupt(tmp_path, body)
    assert code == 0, stderr
    assert seconds < LIMIT
    if line == "interrupted True":  # the worker was still running when the main thread stopped
        assert json.loads(rest[-1]) == {"chars": 59_999}


TRAIN = dict(
    layers=1, hidden=128, seq_length=50, batch_size=16, max_chars=100_000, val_fraction=0.01, seed=1, max_steps=10**6
)


def train_body(progress, out_dir):
    args = ", ".join(f"{k}={v!r}" for k, v in dict(TRAIN, out_dir=out_dir).items())
    return f"""
        params = dict({args})
        corpus = {str(CORPUS)!r}
        ready()
        try:
            charrnn.train(corpus, progress={progress}, **params)
        except charrnn.TrainingInterrupted as e:
            print("interrupted", flush=True)
            sample = text[:300]
            found = {{"keyboard_interrupt": isinstance(e, KeyboardInterrupt), "steps": e.steps,
                     "seconds": e.result["seconds"], "checkpoint": e.checkpoint, "message": str(e),
                     "loss": e.model.evaluate(sample).loss}}
            if e.checkpoint:
                found["exists"] = os.path.exists(e.checkpoint)
                saved = charrnn.Model.load(e.checkpoint)
                found["same_as_checkpoint"] = bool(np.array_equal(saved.probabilities(sample),
                                                                  e.model.probabilities(sample)))
                resumed, r = charrnn.train(corpus, **dict(params, resume=e.checkpoint, max_steps=e.steps + 3))
                found["resumed_steps"] = r["steps"]
            print(json.dumps(found), flush=True)
    """


@needs_corpus
@pytest.mark.parametrize("progress", ["None", "lambda p: False"], ids=["no callback", "with a callback"])
def test_ctrl_c_in_train_keeps_the_model_and_a_checkpoint(tmp_path, progress):
    estimate, seconds, _, rest, code, stderr = interrupt(tmp_path, train_body(progress, "ckpt"), after=1.5)
    found = json.loads(rest[-1])
    whole = found["seconds"] * TRAIN["max_steps"] / max(found["steps"], 1)
    report(f"train ({progress})", seconds, whole)
    assert code == 0, stderr
    assert found["keyboard_interrupt"] and found["steps"] > 0
    assert whole > LONG and seconds < LIMIT
    assert found["checkpoint"] == os.path.join("ckpt", "latest.safetensors") and found["exists"]
    assert found["same_as_checkpoint"] and np.isfinite(found["loss"])
    assert found["resumed_steps"] == found["steps"] + 3
    assert f"resume={found['checkpoint']!r}" in found["message"]


@needs_corpus
def test_ctrl_c_in_train_without_out_dir(tmp_path):
    _, seconds, _, rest, code, stderr = interrupt(tmp_path, train_body("None", None), after=1.5)
    found = json.loads(rest[-1])
    assert code == 0, stderr
    assert seconds < LIMIT
    assert found["checkpoint"] is None and found["steps"] > 0 and np.isfinite(found["loss"])
    assert "no checkpoint" in found["message"] and "out_dir" in found["message"]


@needs_corpus
def test_ctrl_c_in_train_still_stops_the_script(tmp_path):
    """Uncaught, TrainingInterrupted ends the script with the way to resume in its message. (With exit
    status 1: CPython ends itself by SIGINT only for a KeyboardInterrupt of that exact class.)"""
    args = ", ".join(f"{k}={v!r}" for k, v in dict(TRAIN, out_dir="ckpt").items())
    child = Child(
        tmp_path,
        f"""
        ready()
        charrnn.train({str(CORPUS)!r}, {args})
        print("finished", flush=True)
    """,
    )
    child.wait_for("ready", timeout=300)
    time.sleep(1.5)
    child.proc.send_signal(signal.SIGINT)
    rest, stderr = child.finish()
    assert child.proc.returncode == 1, stderr
    assert "finished" not in rest
    assert "charrnn.TrainingInterrupted" in stderr and "resume='ckpt/latest.safetensors'" in stderr
    assert (tmp_path / "ckpt" / "latest.safetensors").exists()


# --- integer arguments: refused outside their C type, never wrapped ---------------------------------

VOCAB = "abcdefgh"


@pytest.fixture(scope="module")
def small():
    m = charrnn.Model.create(small_config(len(VOCAB), units=8), VOCAB, seed=1)
    yield m
    m.close()


BAD_SEEDS = [-1, 2**64, -(2**70), 2**100]


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_seeds_outside_64_bits_are_refused_everywhere(small, corpus_file, seed):
    calls = {
        "Model.create": lambda: charrnn.Model.create(small_config(len(VOCAB), units=8), VOCAB, seed=seed),
        "Model.session": lambda: small.session(seed=seed),
        "Session.seed": lambda: small.session().seed(seed),
        "Session.sample": lambda: fed(small).sample(seed=seed),
        "Session.generate_text": lambda: fed(small).generate_text(3, seed=seed),
        "Session.generate": lambda: list(fed(small).generate(3, seed=seed)),
        "Model.generate": lambda: small.generate("a", 3, seed=seed),
        "train": lambda: charrnn.train(corpus_file, seed=seed, max_steps=1),
    }
    for name, call in calls.items():
        # train's largest value, 2**64 - 1, is C's "not given" (CHARRNN_UNSET_U64): refused, not ignored.
        top = "2" if name == "train" else "1"
        with pytest.raises(
            charrnn.InvalidArgumentError, match=rf"seed must be an integer from 0 to 2\*\*64 - {top}"
        ) as e:
            call()
        assert isinstance(e.value, ValueError), name


def fed(model):
    s = model.session()
    s.feed("a")
    return s


def test_every_64_bit_seed_works(small, corpus_file):
    top = 2**64 - 1  # also CHARRNN_SEED_CONTINUE in the C struct: the binding reseeds for it
    assert charrnn.Model.create(small_config(len(VOCAB), units=8), VOCAB, seed=top).vocab == VOCAB
    reference = fed(small)
    reference.seed(top)
    expected = reference.generate_text(30)
    assert fed(small).generate_text(30, seed=top) == expected
    assert "".join(c for c, _ in fed(small).generate(30, seed=top)) == expected
    assert small.session(seed=top).seed(np.uint64(top)) is None  # numpy integers too
    assert fed(small).generate_text(30) != expected  # reseeded, not continued from seed 0
    assert fed(small).generate_text(30, seed=top - 1) != expected


@pytest.mark.parametrize("value", [1.5, 2.0, "3", True, [1]])
def test_integer_arguments_refuse_non_integers(small, corpus_file, value):
    calls = [
        lambda: charrnn.Model.create(small_config(len(VOCAB), units=8), VOCAB, seed=value),
        lambda: small.session().seed(value),
        lambda: fed(small).sample(seed=value),
        lambda: fed(small).sample(top_k=value),
        lambda: fed(small).generate_text(value),
        lambda: fed(small).generate(value),
        lambda: charrnn.train(corpus_file, max_steps=value),
        lambda: charrnn.train(corpus_file, epochs=value),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="must be an integer"):
            call()


def test_other_integer_arguments_are_range_checked(small, corpus_file):
    s = fed(small)
    for k in (-1, 2**31, 2**64):
        with pytest.raises(charrnn.InvalidArgumentError, match=r"top_k must be an integer from 0 to 2\*\*31 - 1"):
            s.sample(top_k=k)
        with pytest.raises(charrnn.InvalidArgumentError, match="top_k"):
            s.generate_text(3, top_k=k)
    for n in (-1, -(2**64), 2**64):
        with pytest.raises(charrnn.InvalidArgumentError, match=r"n must be an integer from 0 to 2\*\*63 - 1"):
            s.generate_text(n)
        with pytest.raises(charrnn.InvalidArgumentError, match="n must be an integer"):
            small.generate("a", n)
    with pytest.raises(charrnn.InvalidArgumentError, match="n must be an integer"):
        s.generate(-1)  # at the call, not at the first next()
    for name in (
        "layers",
        "hidden",
        "embedding",
        "seq_length",
        "step",
        "batch_size",
        "lr_decay_every",
        "lr_decay_after",
        "epochs",
    ):
        for v in (-1, 2**32 - 1):  # 2**32 - 1 is C's "not given" (CHARRNN_UNSET_U32)
            with pytest.raises(charrnn.InvalidArgumentError, match=rf"{name} must be an integer from 0 to 2\*\*32 - 2"):
                charrnn.train(corpus_file, **{name: v})
    for name in ("max_steps", "max_chars", "eval_every"):
        for v in (-1, 2**64 - 1):
            with pytest.raises(charrnn.InvalidArgumentError, match=rf"{name} must be an integer from 0 to 2\*\*64 - 2"):
                charrnn.train(corpus_file, **{name: v})
    for v in (True, 2**70, -1):  # enumerations given as numbers
        with pytest.raises(charrnn.InvalidArgumentError, match="is not one of lstm, gru, rnn"):
            charrnn.train(corpus_file, cell=v)
    # in range, the same values work
    assert s.sample(top_k=np.int64(2))[0] in VOCAB
    assert len(s.generate_text(np.int32(4))) == 4 and len(list(s.generate(np.uint8(2)))) == 2


# --- invalid UTF-8: the byte offset in the caller's buffer ------------------------------------------

BAD_UTF8 = [
    (b"ab\xff", 2),  # never valid
    (b"\x80abc", 0),  # a continuation byte first
    (b"abc\xe2\x82", 3),  # truncated at the end
    (b"ab\xe9cd", 2),  # Latin-1, not UTF-8
    ("ab\u00e9".encode() + b"\xc3(", 4),  # after a two-byte character
    ("ab\u20ac".encode() + b"\xed\xa0\x80", 5),  # a surrogate
    (b"a\xf4\x90\x80\x80", 1),  # past U+10FFFF
    (b"a\xc0\xafb", 1),  # overlong
    (b"abcdefgh" * 500 + b"\xe2\x82a", 4000),  # far into the text
]


@pytest.fixture(scope="module")
def utf8_model():
    vocab = "abcdefgh\u00e9\u20ac"
    m = charrnn.Model.create(small_config(len(vocab), units=8), vocab, seed=1)
    yield m
    m.close()


@pytest.mark.parametrize("data,offset", BAD_UTF8)
def test_invalid_utf8_is_reported_at_its_byte_offset(utf8_model, data, offset):
    calls = {
        "Model.probabilities": lambda: utf8_model.probabilities(data),
        "Model.evaluate": lambda: utf8_model.evaluate(data),
        "Model.evaluate(skip_unknown)": lambda: utf8_model.evaluate(data, skip_unknown=True),
        "Session.feed": lambda: utf8_model.session().feed(data),
        "Session.feed(skip_unknown)": lambda: utf8_model.session().feed(data, skip_unknown=True),
    }
    for name, call in calls.items():
        with pytest.raises(charrnn.UTF8Error) as e:
            call()
        assert f"byte offset {offset}" in str(e.value), (name, str(e.value))


def test_invalid_utf8_in_a_vocabulary_is_reported_at_its_byte_offset():
    with pytest.raises(charrnn.UTF8Error, match="byte offset 2"):
        charrnn.Model._create(json.dumps(small_config(3, units=4)), b"ab\xff")


def test_invalid_utf8_in_a_corpus_is_reported_at_its_byte_offset(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"First Citizen: speak, speak.\n" * 10 + b"\xffAll:")
    with pytest.raises(charrnn.UTF8Error, match="byte offset 290"):
        charrnn.train(path, layers=1, hidden=4, seq_length=4, batch_size=1, max_steps=1)


# --- overflowing models: NotFiniteError, never NaNs -------------------------------------------------


def overflowing(cell, sign=1.0):
    """A model whose kernels are all ±3e38: finite weights whose products overflow float32."""
    m = charrnn.Model.create(small_config(len(VOCAB), cell=cell, units=16), VOCAB, seed=1)
    for name, shape in m.tensors().items():
        layer, _, weight = name.partition(".")
        if weight == "kernel":
            m.set_weights(layer, weight, np.full(shape, 3e38 * (sign if layer != "dense" else 1.0), np.float32))
    return m


# A GRU's update gate saturated open keeps h at zero; closed (negative kernels), h is -1 everywhere.
@pytest.mark.parametrize("cell,sign", [("lstm", 1.0), ("rnn", 1.0), ("gru", -1.0)])
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_overflowing_weights_raise_not_finite(cell, sign, precision):
    m = overflowing(cell, sign)
    assert issubclass(charrnn.NotFiniteError, ArithmeticError)
    with pytest.raises(charrnn.NotFiniteError) as e:
        m.probabilities("abc")
    assert e.value.status == charrnn._charrnn.ERR_NOT_FINITE and e.value.status_name == "NOT_FINITE"
    with pytest.raises(charrnn.NotFiniteError):
        m.evaluate("abcabc")
    with pytest.raises(charrnn.NotFiniteError):
        m.generate("ab", 5)
    with m.session(precision=precision) as s:
        s.feed("a")
        for call in (
            s.probabilities,
            s.sample,
            lambda: s.generate_text(3),
            lambda: s.generate_text(3, callback=lambda c, p: False),
            lambda: list(s.generate(3)),
        ):
            with pytest.raises(charrnn.NotFiniteError):
                call()


def test_an_overflowing_state_raises_not_finite():
    m = charrnn.Model.create(small_config(len(VOCAB), cell="lstm", units=16), VOCAB, seed=1)
    m.set_weights("dense", "kernel", np.ones((16, len(VOCAB)), np.float32))  # logits = sum(h) + bias
    with m.session() as s:
        s.feed("a")
        state = bytearray(s.state)
        # magic, version, fingerprint, flags, reserved, 4 generator words; then h and c of the layer
        header = 4 + 4 + 8 + 4 + 4 + 4 * 8
        assert len(state) == header + 2 * 16 * 4
        state[header:] = struct.pack("<32f", *[3e38] * 32)
        s.state = bytes(state)
        for call in (s.probabilities, s.sample, lambda: s.generate_text(3)):
            with pytest.raises(charrnn.NotFiniteError):
                call()
        s.feed("b")  # the next step squashes h back through tanh
        assert np.isfinite(s.probabilities()).all()
