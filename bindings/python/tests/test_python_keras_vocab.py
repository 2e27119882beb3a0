"""A Keras model's vocabulary is never accepted silently (issue 19, point 2).

Keras files hold no characters. These tests give the vocabulary in each form the tutorials saved it in,
refuse one in the wrong order (the loss on the corpus is then far above ln V), recover a lost order from
the text, and keep the "try lowercase" hint for when it would help. The models are trained by charrnn in
about a second and written as .keras files; `reorder` makes one whose indices follow a shuffled
vocabulary, as a tutorial's list(set(text)) made them.
"""

import json
import math
import os
import pickle
import random
import warnings

import numpy as np
import pytest

import charrnn
import charrnn.keras as ck
from charrnn_keras_models import corpus_text, reorder, train
from charrnn_testutil import k2_rnn, write_h5


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "corpus.txt"
    path.write_text(corpus_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lower(corpus):
    """(a model trained on the lowercased corpus, its .keras file)."""
    model = train(corpus, lowercase=True)
    path = corpus.parent / "lower.keras"
    ck.save(model, path)
    yield model, path
    model.close()


@pytest.fixture(scope="module")
def shuffled(lower):
    """(the same model with its indices in a shuffled order, its .keras file): a tutorial's model."""
    model, path = lower
    chars = list(model.vocab)
    random.Random(3).shuffle(chars)
    other = reorder(model, "".join(chars))
    out = path.parent / "shuffled.keras"
    ck.save(other, out)
    yield other, out
    other.close()


# --- forms of the vocabulary -------------------------------------------------------------------------


def test_every_saved_form_gives_the_same_order(tmp_path):
    chars = "\n !abc"
    ix2char = {i: c for i, c in enumerate(chars)}
    char2ix = {c: i for i, c in enumerate(chars)}
    (tmp_path / "ix2char.json").write_text(json.dumps(ix2char))  # JSON turns the keys into strings
    (tmp_path / "char2ix.json").write_text(json.dumps(char2ix))
    (tmp_path / "list.json").write_text(json.dumps(list(chars)))
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        (tmp_path / f"ix2char{protocol}.pkl").write_bytes(pickle.dumps(ix2char, protocol=protocol))
    (tmp_path / "both.pickle").write_bytes(pickle.dumps((char2ix, ix2char)))
    forms = [
        chars,
        list(chars),
        tuple(chars),
        ix2char,
        char2ix,
        {str(i): c for i, c in ix2char.items()},
        [char2ix, ix2char],
        tmp_path / "ix2char.json",
        str(tmp_path / "char2ix.json"),
        str(tmp_path / "list.json"),
        tmp_path / "both.pickle",
    ]
    forms += [str(tmp_path / f"ix2char{p}.pkl") for p in (0, 2, pickle.HIGHEST_PROTOCOL)]
    for form in forms:
        assert ck.parse_vocabulary(form)[0] == chars, form


@pytest.mark.parametrize(
    "value,match",
    [
        ("abca", "repeats"),
        ({0: "a", 2: "b"}, "not 0 to 1"),
        ({0: "ab"}, "single character"),
        ({"a": 0, "b": "x"}, "mixes"),
        ([{"a": 0}, {0: "b"}], "different orders"),
        (["a", 1], "one-character"),
        ({"x": "a"}, "integer keys"),
        ("", "empty"),
        (3, "not int"),
    ],
)
def test_malformed_vocabularies_are_named(value, match):
    with pytest.raises(ValueError, match=match):
        ck.parse_vocabulary(value)


def test_a_pickle_cannot_run_code_or_build_objects(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({0: "a", 1: Exploit()}))
    with pytest.raises(ValueError, match="posix.system|os.system|builds? .*system"):
        ck.parse_vocabulary(tmp_path / "evil.pkl")
    assert not marker.exists()
    (tmp_path / "numpy.pkl").write_bytes(pickle.dumps({np.int64(0): "a"}))
    with pytest.raises(ValueError, match="numpy integers"):
        ck.parse_vocabulary(tmp_path / "numpy.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(ValueError, match="not a readable pickle"):
        ck.parse_vocabulary(tmp_path / "junk.pkl")


def test_import_takes_each_form_and_checks_it(tmp_path, lower, corpus):
    model, path = lower
    (tmp_path / "v.pkl").write_bytes(pickle.dumps({i: c for i, c in enumerate(model.vocab)}))
    text = corpus.read_text(encoding="utf-8")
    for form in (model.vocab, list(model.vocab), {c: i for i, c in enumerate(model.vocab)}, tmp_path / "v.pkl"):
        imported, report = ck.import_model(path, vocab=form, check_text=text, lowercase=True)
        assert imported.vocab == model.vocab
        assert report.check.ok and report.check.loss < 0.7 * math.log(model.vocab_size)
        assert imported.config["normalization"] == "lowercase"
        imported.close()


# --- the check ---------------------------------------------------------------------------------------


def test_the_wrong_order_is_refused_with_both_figures_and_the_cause(shuffled, corpus):
    _, path = shuffled
    with pytest.raises(ck.VocabularyError) as info:
        ck.load(path, vocab_from=corpus, lowercase=True)  # sorted(set(text)): not this model's order
    message = str(info.value)
    uniform = f"{math.log(36):.3f}"
    assert "refused" in message and uniform in message and "nats/char" in message
    assert "list(set(text))" in message and "recover_order=True" in message and "ix2char" in message
    loss = float(message.split("loss ")[1].split(" ")[0])
    assert loss > math.log(36)  # confidently wrong, far above chance


def test_compare_says_what_agreeing_on_indices_cannot(shuffled, corpus):
    pytest.importorskip("keras")
    _, path = shuffled
    text = corpus.read_text(encoding="utf-8")[:300].lower()
    sorted_vocab = "".join(sorted(set(corpus.read_text(encoding="utf-8").lower())))
    report = ck.compare(path, text, vocab=sorted_vocab)
    assert report["max"] <= 1e-5  # the numbers agree...
    assert not report["vocab_check"].ok  # ...and the vocabulary is still wrong


def test_an_untrained_model_is_refused_unless_the_check_is_off(tmp_path, corpus):
    vocab = ck.vocab_from_corpus(corpus, lowercase=True)
    fresh = charrnn.Model.create({"layers": [{"cell": "lstm", "units": 8}]}, vocab, seed=1)
    ck.save(fresh, tmp_path / "fresh.keras")
    with pytest.raises(ck.VocabularyError, match="check=False"):
        ck.load(tmp_path / "fresh.keras", vocab_from=corpus, lowercase=True)
    m = ck.load(tmp_path / "fresh.keras", vocab_from=corpus, lowercase=True, check=False)
    assert m.vocab == vocab
    m.close()
    fresh.close()


def test_a_vocabulary_without_text_is_reported_unchecked(lower, corpus):
    model, path = lower
    with pytest.warns(ck.VocabularyWarning, match="not checked"):
        ck.load(path, vocab=model.vocab, lowercase=True).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ck.load(path, vocab=model.vocab, lowercase=True, check_text=corpus).close()  # an os.PathLike


def test_the_lowercase_hint_appears_only_when_lowercasing_fits(tmp_path, lower, corpus):
    _, path = lower
    with pytest.raises(ck.VocabularyError, match=r"lowercase=True \(--lowercase\): try that"):
        ck.load(path, vocab_from=corpus)
    other = tmp_path / "other.txt"
    other.write_text("Some Other Text, With Its Own Characters: 0123456789 and more ÀÉÎ XYZ!?", encoding="utf-8")
    with pytest.raises(ck.VocabularyError) as info:
        ck.load(path, vocab_from=other)
    assert "lowercase=True" not in str(info.value) and "36 characters" in str(info.value)


def test_auto_normalization_picks_the_one_that_fits(lower, corpus):
    model, path = lower
    imported, report = ck.import_model(path, vocab_from=corpus, normalization="auto")
    assert report.normalization == "lowercase" and imported.vocab == model.vocab
    assert imported.evaluate("ROMEO: Nay").chars > 0  # uppercase is lowercased, not skipped
    imported.close()


# --- recovering a lost order ------------------------------------------------------------------------


def test_a_lost_order_is_recovered_and_how_sure_is_reported(shuffled, corpus):
    other, path = shuffled
    imported, report = ck.import_model(path, vocab_from=corpus, lowercase=True, recover_order=True)
    r = report.recovery
    assert imported.vocab == other.vocab  # the shuffled order, found from the text
    assert r.sure and r.margin > 3 and r.next_best_swap is not None
    assert r.loss < 0.7 * r.uniform < r.uniform < r.given_loss
    assert "recovered the order" in report.describe() and "sure" in r.describe()
    assert report.check.ok
    imported.close()


def test_windows_come_from_a_fixed_input_length_unless_stateful(tmp_path, lower):
    model, _ = lower
    ck.save(model, tmp_path / "w.keras", window=25)
    km = ck.read(tmp_path / "w.keras")
    assert km.timesteps == 25 and km.window
    imported, report = ck.import_model(tmp_path / "w.keras", vocab=model.vocab, lowercase=True, check=False)
    assert report.window == 25 and imported.config["window"] == 25
    imported.close()
    imported = ck.load(tmp_path / "w.keras", vocab=model.vocab, lowercase=True, check=False, window=0)
    assert imported.config.get("window", 0) == 0
    imported.close()
    # a stateful tutorial model fixes its shape at (1, 1, V): generation carries its state
    v, u = 5, 4
    rng = np.random.default_rng(0)
    layers = [
        k2_rnn("LSTM", "lstm_1", u, batch_input_shape=[1, 1, v], stateful=True),
        {"class_name": "Dense", "config": {"name": "dense_1", "units": v, "activation": "softmax"}},
    ]
    write_h5(
        tmp_path / "stateful.h5",
        "2.4.0",
        {"class_name": "Sequential", "config": {"layers": layers}},
        [
            (
                "lstm_1",
                [
                    ("kernel:0", rng.normal(size=(v, 4 * u))),
                    ("recurrent_kernel:0", rng.normal(size=(u, 4 * u))),
                    ("bias:0", np.zeros(4 * u)),
                ],
            ),
            ("dense_1", [("kernel:0", rng.normal(size=(u, v))), ("bias:0", np.zeros(v))]),
        ],
    )
    imported, report = ck.import_model(tmp_path / "stateful.h5", vocab="abcde", check=False)
    assert report.window == 0 and "window" not in imported.config or imported.config["window"] == 0
    imported.close()


def test_a_window_model_is_also_scored_on_windows(monkeypatch, lower, corpus):
    """A model trained on windows may drift when run over a long text from one state: before refusing
    it, the check scores it as it was trained, window by window (what charrnn's window generation and
    the Keras loop compute)."""
    from charrnn.keras import _order

    model, path = lower
    text = corpus.read_text(encoding="utf-8").lower()
    imported = ck.load(path, vocab=model.vocab, lowercase=True, window=10, check=False)
    monkeypatch.setattr(_order, "SUSPICIOUS_FRACTION", 0.0)  # every whole-text score "fails"
    monkeypatch.setattr(_order, "WINDOW_CHECKS", 100)
    check = _order.score(imported, text, "the corpus")
    assert check.source == "the corpus (windows of 10)" and check.chars == 100
    losses = []
    with imported.session() as s:  # the model's window: 10
        s.feed(text[:10])
        for c in text[10:110]:
            losses.append(-math.log(s.probabilities()[imported.vocab.index(c)]))
            s.feed(c)
    assert abs(check.loss - float(np.mean(losses))) < 1e-5
    imported.close()
