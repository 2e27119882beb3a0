"""The core Python API over libcharrnn: models, sessions, weights, errors, threads, training."""

import json
import threading
import time

import numpy as np
import pytest

import charrnn
from charrnn_testutil import small_config


@pytest.fixture(scope="module")
def model(vocab):
    m = charrnn.Model.create(small_config(len(vocab), cell="lstm", units=24, layers=2), vocab, seed=7)
    yield m
    m.close()


@pytest.fixture
def fresh(vocab):
    m = charrnn.Model.create(small_config(len(vocab), cell="gru", units=16), vocab, seed=1)
    yield m
    m.close()


def test_version():
    assert charrnn.version() == charrnn._charrnn.HEADER_VERSION
    assert charrnn._charrnn.version_number() == charrnn._charrnn.HEADER_VERSION_NUMBER


def test_create_and_properties(model, vocab):
    assert model.vocab == vocab
    cfg = model.config
    assert cfg["vocab_size"] == len(vocab)
    assert [layer["cell"] for layer in cfg["layers"]] == ["lstm", "lstm"]
    info = model.info
    assert isinstance(info, charrnn.ModelInfo)
    assert info.vocab_size == len(vocab) and info.num_layers == 2 and info.hidden_size == 24
    v = len(vocab)
    expected = (v * 96 + 24 * 96 + 96) + (24 * 96 + 24 * 96 + 96) + (24 * v + v)
    assert info.parameter_count == expected
    assert info.state_size > 0
    s = model.summary()
    assert isinstance(s, str) and "rnn0" in s or "lstm" in s.lower()
    assert "Model" in repr(model)


def test_tensors_and_weights(model, vocab):
    t = model.tensors()
    v = len(vocab)
    assert t["rnn0.kernel"] == (v, 96)
    assert t["rnn0.recurrent_kernel"] == (24, 96)
    assert t["rnn0.bias"] == (96,)
    assert t["rnn1.kernel"] == (24, 96)
    assert t["dense.kernel"] == (24, v)
    assert t["dense.bias"] == (v,)
    k = model.get_weights("rnn0", "kernel")
    assert k.dtype == np.float32 and k.shape == (v, 96)
    sd = model.state_dict()
    assert set(sd) == set(t)


def test_set_weights_roundtrip(fresh, vocab):
    v = len(vocab)
    w = np.arange(16 * 48, dtype=np.float32).reshape(16, 48) / 1000
    fresh.set_weights("rnn0", "recurrent_kernel", w)
    np.testing.assert_array_equal(fresh.get_weights("rnn0", "recurrent_kernel"), w)
    fresh.set_weights("dense", "bias", [0.5] * v)  # lists are converted
    np.testing.assert_array_equal(fresh.get_weights("dense", "bias"), np.full(v, 0.5, np.float32))
    fresh.set_weights("dense", "bias", np.zeros(v, dtype=np.float64))  # float64 is converted
    # the buffer protocol directly, with format checks
    with pytest.raises(TypeError):
        fresh._set_weights("dense", "bias", np.zeros(v, dtype=np.float64))
    with pytest.raises(TypeError):
        fresh._set_weights("dense", "bias", b"\x00" * (4 * v))
    fresh._set_weights("dense", "bias", memoryview(np.ones(v, dtype=np.float32)))
    assert fresh.get_weights("dense", "bias")[0] == 1.0


def test_set_weights_errors(fresh, vocab):
    with pytest.raises(charrnn.ShapeError) as info:
        fresh.set_weights("rnn0", "recurrent_kernel", np.zeros((3, 3), np.float32))
    assert info.value.status == charrnn._charrnn.ERR_SHAPE and isinstance(info.value, ValueError)
    with pytest.raises(charrnn.NotFoundError):
        fresh.get_weights("rnn9", "kernel")
    with pytest.raises(charrnn.NotFoundError):
        fresh.set_weights("rnn0", "nonsense", np.zeros(3, np.float32))


def test_probabilities(model, vocab):
    text = "First Citizen:\nBefore we proceed"
    p = model.probabilities(text)
    assert p.dtype == np.float32 and p.shape == (len(text), len(vocab))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p >= 0).all()
    # a prefix gives the same rows (fresh state each call)
    np.testing.assert_allclose(model.probabilities(text[:5]), p[:5], atol=1e-6)
    assert model.probabilities("").shape == (0, len(vocab))
    # bytes are UTF-8 text too
    np.testing.assert_allclose(model.probabilities(text.encode()), p, atol=1e-6)


@pytest.mark.parametrize(
    "layers,window",
    [
        ([("lstm", 24), ("lstm", 24)], 0),
        ([("gru", 16)], 0),
        ([("rnn", 16)], 0),
        ([("lstm", 12), ("gru", 8), ("rnn", 6)], 0),
        ([("gru", 16), ("gru", 16)], 7),  # a window the model keeps for generation, which is not used here
    ],
)
def test_probabilities_are_a_session_fed_one_character_at_a_time(vocab, corpus_text, layers, window):
    """Bit for bit: each row is what a fresh session with its state carried (window 0) gives after feeding
    the text one character at a time, whatever window the model has."""
    config = {"layers": [{"cell": cell, "units": units} for cell, units in layers], "window": window}
    text = corpus_text[:200]
    with charrnn.Model.create(config, vocab, seed=3) as m:
        assert m.config.get("window", 0) == window
        p = m.probabilities(text)
        rows = []
        with m.session(window=0) as s:
            for c in text:
                s.feed(c)
                rows.append(s.probabilities())
        np.testing.assert_array_equal(p, np.stack(rows))
        if window:  # the model's own window would have given other rows
            with m.session() as s:
                s.feed(text)
                assert s.window == window and not np.array_equal(s.probabilities(), p[-1])


def test_evaluate(model, corpus_text):
    r = model.evaluate(corpus_text[:500])
    assert isinstance(r, charrnn.EvalResult)
    assert r.chars == 499
    assert r.loss > 0 and abs(r.perplexity - np.exp(r.loss)) < 1e-3 * r.perplexity
    assert 0 <= r.accuracy <= 1
    r2 = model.evaluate("ab\u00e9\u00e9cd", skip_unknown=True)
    assert r2.chars >= 1
    with pytest.raises(charrnn.UnknownCharacterError):
        model.evaluate("ab\u00e9cd")


def test_save_load_roundtrip(model, tmp_path, corpus_text):
    p = tmp_path / "m.safetensors"
    model.save(p)
    m2 = charrnn.Model.load(str(p))
    assert m2.vocab == model.vocab
    assert m2.config == model.config
    text = corpus_text[:120]
    np.testing.assert_array_equal(m2.probabilities(text), model.probabilities(text))
    for name in model.tensors():
        layer, _, w = name.partition(".")
        np.testing.assert_array_equal(m2.get_weights(layer, w), model.get_weights(layer, w))
    m2.close()


def test_load_errors(tmp_path):
    with pytest.raises(charrnn.IOError) as info:
        charrnn.Model.load(tmp_path / "missing.safetensors")
    assert isinstance(info.value, OSError) and info.value.status_name == "IO"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(charrnn.FormatError):
        charrnn.Model.load(bad)
    with pytest.raises(TypeError):
        charrnn.Model.load(42)
    with pytest.raises(TypeError):
        charrnn.Model()


def test_create_errors(vocab):
    with pytest.raises(charrnn.ConfigError):
        charrnn.Model.create(small_config(len(vocab), cell="transformer"), vocab)
    with pytest.raises(charrnn.Error):
        charrnn.Model.create("{not json", vocab)
    with pytest.raises(TypeError):
        charrnn.Model.create(small_config(len(vocab)), 123)
    with pytest.raises(charrnn.Error):
        charrnn.Model.create(dict(small_config(3), embedding_dim=4), "abc")  # onehot with embedding_dim


def test_session_determinism(model):
    def run(seed):
        with model.session() as s:
            s.feed("First")
            return "".join(c for c, _ in s.generate(60, temperature=0.9, seed=seed))

    a, b, c = run(5), run(5), run(6)
    assert a == b and len(a) == 60
    assert a != c
    with model.session() as s:
        s.feed("First")
        t = s.generate_text(60, temperature=0.9, seed=5)
    assert t == a


def test_int8_session(model):
    with model.session() as exact, model.session(precision="int8") as quantized:
        for s in (exact, quantized):
            s.feed("First Citizen:")
        p, q = exact.probabilities(), quantized.probabilities()
    assert q.dtype == np.float32 and abs(float(q.sum()) - 1) < 1e-5
    assert 0 < float(np.abs(p - q).max()) < 0.05  # close, and really the 8-bit weights
    runs = []
    for _ in range(2):
        with model.session(seed=3, precision="int8") as s:
            s.feed("First")
            runs.append(s.generate_text(80))
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="int8"):
        model.session(precision="float16")


def test_sample_params(model, vocab):
    with model.session() as s:
        s.feed("a")
        p = s.probabilities()
        c, prob = s.sample(greedy=True)
        assert c == vocab[int(np.argmax(p))]
        assert 0 < prob <= 1.0 + 1e-6
        c, prob = s.sample(top_k=1)
        assert 0 < prob <= 1.0 + 1e-6
        with pytest.raises(charrnn.InvalidArgumentError):
            s.sample(temperature=0)
        with pytest.raises(charrnn.InvalidArgumentError):
            s.sample(top_p=1.5)
        with pytest.raises(TypeError):
            s.sample(temperature="hot")


def test_generate_callback_stops(model):
    seen = []
    with model.session() as s:
        s.feed("A")
        text = s.generate_text(50, seed=1, callback=lambda c, p: seen.append((c, p)) or len(seen) >= 10)
    assert len(text) == 10 and "".join(c for c, _ in seen) == text

    def boom(c, p):
        raise KeyError("from callback")

    with model.session() as s:
        s.feed("A")
        with pytest.raises(KeyError):
            s.generate_text(5, callback=boom)


def test_state_save_restore(model):
    with model.session() as s:
        s.feed("Before we proceed")
        state = s.state
        assert isinstance(state, bytes) and len(state) == model.info.state_size
        first = s.generate_text(40, seed=3)
        s.state = state
        again = s.generate_text(40, seed=3)
        assert first == again
        s2 = model.session()
        s2.state = state
        assert s2.generate_text(40, seed=3) == first
        s2.close()
        # restoring also restores the generator: continuing without reseeding is identical too
        s.state = state
        a = s.generate_text(20)
        s.state = state
        assert s.generate_text(20) == a


def test_state_errors(model, fresh):
    with model.session() as s, fresh.session() as other:
        s.feed("abc")
        other.feed("abc")
        with pytest.raises(charrnn.FormatError):
            s.state = other.state  # from another model
        with pytest.raises(charrnn.FormatError):
            s.state = b"\x00" * 7
        with pytest.raises(TypeError):
            s.state = 42
        with pytest.raises(AttributeError):
            del s.state


def test_session_errors(model):
    s = model.session()
    with pytest.raises(charrnn.StateError):
        s.probabilities()  # nothing fed yet
    with pytest.raises(charrnn.UnknownCharacterError):
        s.feed("abc\u2603")
    with pytest.raises(charrnn.UTF8Error):
        s.feed(b"ab\xff\xfe")
    with pytest.raises(TypeError):
        s.feed(123)
    fed, skipped = s.feed("ab\u2603c", skip_unknown=True)
    assert (fed, skipped) == (3, 1)
    s.reset()
    with pytest.raises(charrnn.StateError):
        s.probabilities()
    with pytest.raises(charrnn.InvalidArgumentError):
        s.generate_text(-1)
    with pytest.raises(TypeError):
        charrnn.Session()
    s.close()
    s.close()  # idempotent
    for call in (lambda: s.feed("a"), s.probabilities, s.sample, s.reset, lambda: s.state, lambda: s.generate_text(3)):
        with pytest.raises(charrnn.StateError, match="closed"):
            call()
    assert s.closed


def test_closed_model(vocab):
    m = charrnn.Model.create(small_config(len(vocab), units=8), vocab)
    s = m.session()
    s.feed("a")
    m.close()
    assert m.closed
    # the session keeps its model alive
    assert s.probabilities().shape == (len(vocab),)
    s.close()
    for call in (
        lambda: m.vocab,
        lambda: m.config,
        lambda: m.info,
        m.summary,
        lambda: m.probabilities("a"),
        lambda: m.get_weights("dense", "bias"),
        lambda: m.save("x"),
        m.session,
        lambda: m.evaluate("ab"),
    ):
        with pytest.raises(charrnn.StateError, match="closed"):
            call()
    m.close()
    with charrnn.Model.create(small_config(len(vocab), units=8), vocab) as m2:
        assert not m2.closed
    assert m2.closed


def test_error_hierarchy():
    assert issubclass(charrnn.IOError, OSError) and issubclass(charrnn.IOError, charrnn.Error)
    assert issubclass(charrnn.FormatError, ValueError)
    assert issubclass(charrnn.StateError, RuntimeError)
    assert issubclass(charrnn.NotFoundError, LookupError)
    assert issubclass(charrnn.OutOfMemoryError, MemoryError)
    assert charrnn.CancelledError.status == 10 and charrnn.CancelledError.status_name == "CANCELLED"
    for name in (
        "InvalidArgumentError",
        "FormatError",
        "UTF8Error",
        "UnknownCharacterError",
        "ShapeError",
        "NotFoundError",
        "StateError",
        "DivergedError",
        "ConfigError",
        "InternalError",
    ):
        cls = getattr(charrnn, name)
        assert issubclass(cls, charrnn.Error)
        assert charrnn._charrnn.status_name(cls.status) == cls.status_name
    # Codes past int's range are unknown, not wrapped onto a real one (2**32 read as OK).
    for code in (2**32, 2**32 + 10, -(2**40), 2**70, 999):
        assert charrnn._charrnn.status_name(code) == "UNKNOWN"


def test_threads_release_the_gil(model, corpus_text):
    """While one thread runs a long call, Python code in another keeps running."""
    text = corpus_text
    while True:
        t0 = time.perf_counter()
        model.probabilities(text)
        single = time.perf_counter() - t0
        if single >= 0.1 or len(text) > 2_000_000:
            break
        text = text * 2
    ticks = 0
    done = threading.Event()

    def work():
        model.probabilities(text)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.002)
    t.join()
    # with the GIL held for the whole call this loop could hardly run at all
    assert ticks >= 5, (ticks, single)


def test_threads_concurrent_sessions(model):
    results = {}

    def work(i):
        with model.session() as s:
            s.feed("Citizen:")
            results[i] = s.generate_text(200, seed=i % 2)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[2] and results[1] == results[3]


def test_first_sessions_from_many_threads_share_one_copy(vocab):
    """The first session of a precision copies the weights, with the GIL released; threads that ask at once
    all get sessions that generate the same text as one made alone."""
    config = small_config(len(vocab), cell="lstm", units=96, layers=2)
    with charrnn.Model.create(config, vocab, seed=11) as alone:
        with alone.session(precision="int8") as s:
            s.feed("Citizen:")
            expected = s.generate_text(100, seed=5)
    with charrnn.Model.create(config, vocab, seed=11) as m:
        results = {}

        def work(i):
            with m.session(precision="int8") as s:
                s.feed("Citizen:")
                results[i] = s.generate_text(100, seed=5)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [results[i] for i in range(4)] == [expected] * 4


def test_generation_in_a_forked_child(vocab):
    """A child of fork() has none of the parent's worker threads: it generates alone, the same text."""
    import os

    config = small_config(len(vocab), cell="lstm", units=96, layers=2)  # products large enough for the pool
    with charrnn.Model.create(config, vocab, seed=11) as m:
        with m.session() as s:
            s.feed("Citizen:")
            expected = s.generate_text(100, seed=5)
        pid = os.fork()
        if pid == 0:  # the child: no pytest machinery, just an exit status
            status = 1
            try:
                with m.session() as s:
                    s.feed("Citizen:")
                    status = 0 if s.generate_text(100, seed=5) == expected else 2
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_session_continued_in_a_forked_child(vocab):
    """A small model's session leaves its next recurrent product to a worker between calls. A child of
    fork() has no worker: it redoes that product, whatever the parent's worker had done of it, and goes
    on with the same text as the parent, without hanging."""
    import os

    config = small_config(len(vocab), cell="lstm", units=176, layers=1)  # 495 KB: computed ahead, slowly
    with charrnn.Model.create(config, vocab, seed=11) as m:
        for attempt in range(20):
            with m.session() as s:
                s.feed("Citizen:")
                pid = os.fork()  # the product of the last character may be anywhere in the worker
                if pid == 0:
                    status = 1
                    try:
                        status = 0 if s.generate_text(50, seed=5) == expected_after(m) else 2
                    finally:
                        os._exit(status)
                assert wait_for_child(pid, seconds=30) == 0, f"attempt {attempt}: the child hung or failed"


def wait_for_child(pid, seconds):
    """The child's exit status; None, with the child killed, when it did not exit in time."""
    import os
    import signal

    deadline = time.time() + seconds
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def expected_after(m):
    with m.session() as s:
        s.feed("Citizen:")
        return s.generate_text(50, seed=5)


def test_session_used_from_two_threads_raises(model):
    s = model.session()
    s.feed("a")
    errors = []
    started = threading.Event()

    def long_call():
        started.set()
        s.feed("abcdefghij" * 20000)

    t = threading.Thread(target=long_call)
    t.start()
    started.wait()
    deadline = time.time() + 5
    while t.is_alive() and time.time() < deadline:
        try:
            s.feed("a")
        except charrnn.StateError as e:
            errors.append(e)
            break
        except charrnn.UnknownCharacterError:
            break
    t.join()
    s.close()
    # either the long call was already over, or the second call was refused (never a crash)
    assert all("in use" in str(e) for e in errors)


def test_train_with_progress_and_cancel(tmp_path, corpus_file):
    events = []

    def progress(p):
        assert isinstance(p, charrnn.Progress)
        events.append(p)
        return False

    m, r = charrnn.train(
        corpus_file,
        layers=1,
        hidden=16,
        seq_length=20,
        batch_size=4,
        max_steps=6,
        epochs=1,
        seed=1,
        val_fraction=0.1,
        eval_every=3,
        progress=progress,
    )
    assert isinstance(m, charrnn.Model)
    assert r["steps"] == 6 and not r["cancelled"]
    validations = [e.val_loss for e in events if e.kind == "validation"]
    assert len(validations) >= 2 and r["best_val_loss"] == min(validations) <= r["val_loss"]
    steps = [e for e in events if e.kind == "step"]
    assert steps and steps[-1].step == 6
    assert all(e.train_loss > 0 for e in steps)
    assert m.evaluate(corpus_file.read_text()[:200]).chars == 199
    m.close()

    calls = []
    m, r = charrnn.train(
        corpus_file,
        layers=1,
        hidden=16,
        seq_length=20,
        batch_size=4,
        max_steps=50,
        progress=lambda p: calls.append(p.step) or p.step >= 2,
    )
    assert r["cancelled"] and r["steps"] <= 3
    assert isinstance(m, charrnn.Model)
    m.close()

    with pytest.raises(ZeroDivisionError):
        charrnn.train(
            corpus_file, layers=1, hidden=8, seq_length=10, batch_size=2, max_steps=5, progress=lambda p: 1 / 0
        )


def test_train_options_and_errors(tmp_path, corpus_file):
    d = charrnn.default_train_params()
    # Nothing is given until the caller gives it: the library resolves the rest.
    assert all(v is None for v in d.values()) and {"momentum", "rho", "overwrite"} <= set(d)
    m, r = charrnn.train(
        str(corpus_file),
        cell="gru",
        layers=1,
        hidden=8,
        embedding=4,
        seq_length=10,
        batch_size=2,
        max_steps=2,
        optimizer="rmsprop",
        objective="window",
        out_dir=tmp_path / "ckpt",
    )
    assert m.config["layers"][0]["cell"] == "gru" and m.config["input"] == "embedding"
    m.close()
    with pytest.raises(TypeError, match="unexpected keyword"):
        charrnn.train(corpus_file, bogus=1)
    with pytest.raises(charrnn.InvalidArgumentError):
        charrnn.train(corpus_file, cell="transformer")

    class Unprintable:  # its repr will not encode to UTF-8: the error is still ours, and the only one
        def __repr__(self):
            return "\udcff"

    with pytest.raises(charrnn.InvalidArgumentError, match="cell=\\?"):
        charrnn.train(corpus_file, cell=Unprintable())
    with pytest.raises(charrnn.InvalidArgumentError):
        charrnn.train(corpus_file, hidden=-1)
    with pytest.raises(charrnn.IOError):
        charrnn.train(tmp_path / "no-corpus.txt", max_steps=1)
    with pytest.raises(TypeError):
        charrnn.train(corpus_file, progress=42)


def test_import_from_any_folder(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-c", "import charrnn, sys; print(charrnn.version())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == charrnn._charrnn.HEADER_VERSION


def test_config_json_schema(model):
    cfg = json.loads(model._config_json())
    assert set(cfg) >= {"vocab_size", "input", "embedding_dim", "layers", "dropout", "head"}
    assert set(cfg["layers"][0]) >= {"cell", "units", "activation", "recurrent_activation", "use_bias"}
