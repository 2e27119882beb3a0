"""Model.generate_many: many streams stepped together through charrnn_session_sample_many, each giving
exactly what generating it alone gives."""

import os
import threading

import pytest

import charrnn
from charrnn_testutil import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUNDLED = os.path.join(ROOT, "models", "default.safetensors")


@pytest.fixture(scope="module")
def models(vocab):
    made = [
        charrnn.Model.create(small_config(len(vocab), cell="lstm", units=40, layers=2), vocab, seed=3),
        charrnn.Model.create(small_config(len(vocab), cell="gru", units=30, layers=2), vocab, seed=4),
        charrnn.Model.create(small_config(len(vocab), cell="gru", units=20, reset_after=False), vocab, seed=5),
        charrnn.Model.create(small_config(len(vocab), cell="rnn", units=50), vocab, seed=6),
    ]
    yield made
    for m in made:
        m.close()


PROMPTS = ["romeo", "", "to be or not", "\n", "king", "a", "the", "o"]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_each_stream_is_what_generate_gives(models, precision):
    for m in models:
        many = m.generate_many(PROMPTS, 60, temperature=0.9, seed=11, precision=precision)
        assert len(many) == len(PROMPTS)
        for i, prompt in enumerate(PROMPTS):
            with m.session(precision=precision) as s:
                s.feed(prompt if prompt else m.vocab[0])
                alone = s.generate_text(60, temperature=0.9, seed=11 + i)
            assert many[i] == alone, (m, i)


@pytest.mark.parametrize("precision", ["float32", "int8"])
@pytest.mark.parametrize("window", [0, 4])
def test_a_repeated_prompt_gives_what_feeding_each_gives(models, precision, window):
    prompts = ["to be", "king", "to be", "", "to be", ""]
    for m in models:
        many = m.generate_many(prompts, 30, seed=[5, 6, 7, 8, 9, 5], precision=precision, window=window)
        for i, prompt in enumerate(prompts):
            with m.session(precision=precision, window=window) as s:
                s.feed(prompt if prompt else m.vocab[0])
                alone = s.generate_text(30, seed=[5, 6, 7, 8, 9, 5][i])
            assert many[i] == alone, (m, precision, window, i)
        assert many[0] != many[2] or many[0] != many[4]  # their own generators, not one shared


def test_bundled_model_matches_generate():
    m = charrnn.Model.load(BUNDLED)
    try:
        many = m.generate_many(["ROMEO:", "JULIET:", "First Citizen:"], 80, seed=2, top_k=5)
        for i, prompt in enumerate(["ROMEO:", "JULIET:", "First Citizen:"]):
            assert many[i] == m.generate(prompt, 80, seed=2 + i, top_k=5)
    finally:
        m.close()


def test_per_stream_parameters(models):
    m = models[0]
    temps, seeds = [0.5, 1.0, 1.5], [7, 7, 9]
    many = m.generate_many(["a", "b", "c"], 40, temperature=temps, greedy=[False, True, False], seed=seeds)
    assert many[1] == m.generate("b", 40, greedy=True)
    for i in (0, 2):
        assert many[i] == m.generate("abc"[i], 40, temperature=temps[i], seed=seeds[i])


def test_window_streams(models):
    m = models[1]
    many = m.generate_many(["abc", "the"], 30, window=5, seed=1)
    for i, prompt in enumerate(["abc", "the"]):
        assert many[i] == m.generate(prompt, 30, window=5, seed=1 + i)


def test_zero_characters_and_no_prompts(models):
    assert models[0].generate_many(["a", "b"], 0) == ["", ""]
    assert models[0].generate_many([], 10) == []


def test_bad_arguments_are_named(models):
    m = models[0]
    with pytest.raises(charrnn.InvalidArgumentError, match="temperature has 2 values for 3 prompts"):
        m.generate_many(["a", "b", "c"], 5, temperature=[1.0, 2.0])
    with pytest.raises(TypeError, match="prompts"):
        m.generate_many(["a", 3], 5)
    with pytest.raises(charrnn.InvalidArgumentError, match="temperature"):
        m.generate_many(["a"], 5, temperature=-1)
    with pytest.raises(charrnn.UnknownCharacterError):
        m.generate_many(["a", "\u20ac"], 5)
    with pytest.raises(charrnn.InvalidArgumentError):
        m.generate_many(["a"], -1)
    with pytest.raises(charrnn.InvalidArgumentError, match="at most 4294967296"):
        m.generate_many(["a"], 2**62)  # refused before anything is allocated for it
    with pytest.raises(TypeError, match="list of str"):
        m.generate_many("abc", 3)
    with pytest.raises(charrnn.InvalidArgumentError, match="past 2\\*\\*64 - 1"):
        m.generate_many(["a", "b"], 3, seed=2**64 - 1)


def test_numpy_arrays_give_one_value_per_stream(models):
    import numpy as np

    m = models[0]
    many = m.generate_many(["a", "b"], 20, temperature=np.array([0.5, 1.5]), seed=np.array([3, 4]))
    assert many == [m.generate("a", 20, temperature=0.5, seed=3), m.generate("b", 20, temperature=1.5, seed=4)]


def test_sample_many_refuses_what_cannot_step_together(models):
    a, b = models[0], models[1]
    with a.session() as s, b.session() as t, a.session() as idle:
        s.feed("a")
        t.feed("a")
        state = s.state
        with pytest.raises(charrnn.InvalidArgumentError, match="twice"):
            charrnn.Session._sample_many([s, s], 3, [{}, {}])
        with pytest.raises(charrnn.InvalidArgumentError, match="another model"):
            charrnn.Session._sample_many([s, t], 3, [{}, {}])
        with pytest.raises(charrnn.StateError):
            charrnn.Session._sample_many([s, idle], 3, [{}, {}])
        with pytest.raises(TypeError):
            charrnn.Session._sample_many([s, "x"], 3, [{}, {}])
        with pytest.raises(charrnn.InvalidArgumentError, match="params\\[1\\]|session 1"):
            charrnn.Session._sample_many([s, t], 3, [{}, {"temperature": -1.0}])
        assert s.state == state  # nothing changed
        s.close()
        with pytest.raises(charrnn.StateError, match="closed"):
            charrnn.Session._sample_many([s], 3, [{}])


def test_streams_on_several_threads(models):
    m = models[0]
    expected = m.generate_many(PROMPTS, 50, seed=3)
    results = [None] * 4

    def run(k):
        results[k] = m.generate_many(PROMPTS, 50, seed=3)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
