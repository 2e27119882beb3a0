"""Generation as the Keras tutorials did it: each character from the last N characters run from a zero
state (`x = sentence[-maxlen:]; model.predict(x)`). charrnn's window mode gives the characters that loop
gives when choosing greedily, and the same distribution at every step when sampling; models trained
with `objective="window"` keep their window and use it by default."""

import numpy as np
import pytest

import charrnn
from charrnn_testutil import indices, onehot

MAXLEN = 12


def test_window_session_refuses_bad_values_and_set_state(corpus_file):
    model, _ = charrnn.train(str(corpus_file), layers=1, hidden=8, seq_length=10, batch_size=4, max_steps=2)
    with model.session() as s:
        assert s.window == 0
        state = s.state
        s.window = 5
        assert s.window == 5
        with pytest.raises(charrnn.StateError, match="window"):
            s.state = state
        with pytest.raises(charrnn.InvalidArgumentError):
            s.window = 10**9
        s.window = 0
        s.state = state
    model.close()


def test_window_mode_is_the_last_n_characters_from_a_zero_state(corpus_file, sample_text):
    model, _ = charrnn.train(str(corpus_file), layers=2, hidden=16, seq_length=10, batch_size=4, max_steps=3)
    text = sample_text[:40]
    with model.session(window=MAXLEN) as windowed, model.session() as fresh:
        windowed.feed(text[:20])
        windowed.feed(text[20:])  # the window spans two feeds
        fresh.feed(text[-MAXLEN:])
        np.testing.assert_array_equal(windowed.probabilities(), fresh.probabilities())
    model.close()


def test_window_objective_stores_the_window(tmp_path, corpus_file):
    model, result = charrnn.train(
        str(corpus_file),
        layers=1,
        hidden=8,
        objective="window",
        seq_length=MAXLEN,
        step=3,
        batch_size=8,
        max_steps=3,
        out_dir=tmp_path / "w",
    )
    assert model.config["window"] == MAXLEN
    with model.session() as s:
        assert s.window == MAXLEN  # the default for this model
    # Window validation: each window predicts its next character (a finite loss, reported).
    assert np.isfinite(result["val_loss"])
    reloaded = charrnn.Model.load(str(tmp_path / "w" / "latest.safetensors"))
    assert reloaded.config["window"] == MAXLEN
    model.close()
    reloaded.close()


keras = pytest.importorskip("keras")
import charrnn.keras as ck  # noqa: E402


@pytest.fixture(scope="module")
def tutorial_model(tmp_path_factory, corpus_text, vocab):
    """The Keras tutorial's model: LSTM over one-hot windows of MAXLEN characters, one prediction."""
    v = len(vocab)
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((MAXLEN, v)), keras.layers.LSTM(32), keras.layers.Dense(v, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    idx = indices(corpus_text, vocab)
    starts = range(0, min(3000, len(idx) - MAXLEN - 1), 3)
    x = np.eye(v, dtype=np.float32)[np.stack([idx[i : i + MAXLEN] for i in starts])]
    y = np.array([idx[i + MAXLEN] for i in starts])
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("tutorial") / "tutorial.keras"
    model.save(str(path))
    return model, path


def _keras_next(model, sentence, vocab):
    x = onehot(indices(sentence[-MAXLEN:], vocab), len(vocab))[None]
    return np.asarray(model.predict_on_batch(x))[0].astype(np.float64)


def test_greedy_window_generation_matches_the_keras_loop(tutorial_model, corpus_text, vocab):
    model, path = tutorial_model
    seed = corpus_text[100 : 100 + MAXLEN]
    sentence = seed
    for _ in range(60):
        sentence += vocab[int(np.argmax(_keras_next(model, sentence, vocab)))]
    m = ck.load(path, vocab=vocab, check_text=corpus_text)
    try:
        with m.session(window=MAXLEN) as s:
            s.feed(seed)
            got = s.generate_text(60, greedy=True)
        assert seed + got == sentence
    finally:
        m.close()


def test_sampled_window_generation_has_the_keras_distribution_at_every_step(tutorial_model, corpus_text, vocab):
    model, path = tutorial_model
    m = ck.load(path, vocab=vocab, check_text=corpus_text)
    try:
        sentence = corpus_text[500 : 500 + MAXLEN]
        with m.session(window=MAXLEN, seed=11) as s:
            s.feed(sentence)
            for _ in range(40):
                expected = _keras_next(model, sentence, vocab)
                got = s.probabilities().astype(np.float64)
                assert np.abs(got - expected).max() <= 1e-5
                c, _p = s.sample(temperature=1.0)
                sentence += c
    finally:
        m.close()
