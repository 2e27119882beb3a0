"""Model.trace(): the distributions and states along a text as numpy arrays, and the page it shows in
Jupyter, which must carry the same data as `charrnn explain`'s."""

import base64
import html
import json
import math
import os
import re
import subprocess

import numpy as np
import pytest

import charrnn

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
VOCAB = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer"
CONFIG = {"layers": [{"cell": "lstm", "units": 12}, {"cell": "gru", "units": 8}, {"cell": "rnn", "units": 6}]}


@pytest.fixture(scope="module")
def model():
    return charrnn.Model.create(CONFIG, VOCAB, seed=5)


def test_shapes_and_layers(model):
    t = model.trace(TEXT)
    n, V = len(TEXT), len(VOCAB)
    assert isinstance(t, charrnn.Trace) and len(t) == n and t.text == TEXT and t.skipped == 0
    assert t.probabilities.shape == (n, V) and t.probabilities.dtype == np.float32
    assert [h.shape for h in t.hidden] == [(n, 12), (n, 8), (n, 6)]
    assert t.cell[0].shape == (n, 12) and t.cell[1] is None and t.cell[2] is None
    assert t.layers == [{"cell": "lstm", "units": 12}, {"cell": "gru", "units": 8}, {"cell": "rnn", "units": 6}]
    assert np.allclose(t.probabilities.sum(axis=1), 1, atol=1e-5)
    assert "charrnn.Trace" in repr(t) and f"{n} characters" in repr(t)


def test_agrees_with_probabilities_evaluate_and_a_session(model):
    t = model.trace(TEXT)
    # Batched products against one character at a time: rounding only.
    assert np.abs(t.probabilities - model.probabilities(TEXT)).max() < 1e-5
    e = model.evaluate(TEXT)
    assert abs(t.loss - e.loss) < 1e-9 and abs(t.accuracy - e.accuracy) < 1e-12
    assert abs(t.bits - e.loss / math.log(2)) < 1e-9
    surprise = t.surprise()
    assert math.isnan(surprise[0]) and abs(np.mean(surprise[1:]) - t.bits) < 1e-4
    # The states after each prefix are those of a session fed that prefix (the state buffer ends with
    # h0, c0, h1, h2 as float32).
    width = 12 * 2 + 8 + 6
    for cut in (1, 17, len(TEXT)):
        with model.session() as s:
            s.feed(TEXT[:cut])
            state = np.frombuffer(s.state, dtype="<f4")[-width:]
        expected = np.concatenate(
            [t.hidden[0][cut - 1], t.cell[0][cut - 1], t.hidden[1][cut - 1], t.hidden[2][cut - 1]]
        )
        assert np.abs(state - expected).max() < 1e-5, cut


def test_bytes_unknown_characters_and_errors(model):
    t = model.trace(TEXT.encode("utf-8"))
    assert t.text == TEXT
    with pytest.raises(charrnn.UnknownCharacterError):
        model.trace("To be \u00e9 or 1")
    t = model.trace("To be \u00e9 or 1 not", skip_unknown=True)
    assert t.text == "To be  or  not" and t.skipped == 2 and t.probabilities.shape[0] == len(t.text)
    with pytest.raises(charrnn.InvalidArgumentError):
        model.trace("")
    with pytest.raises(charrnn.InvalidArgumentError):
        model.trace("\u00e9", skip_unknown=True)
    with pytest.raises(charrnn.UTF8Error):
        model.trace(b"ab\xff")
    with pytest.raises(TypeError):
        model.trace(42)
    one = model.trace("T")
    assert one.probabilities.shape == (1, len(VOCAB)) and math.isnan(one.loss) and math.isnan(one.bits)


def data_of(page):
    match = re.search(r'<script type="application/json" id="charrnn-data">(.*?)</script>', page, re.S)
    assert match
    assert "<" not in match.group(1)  # nothing in the data can close the script
    return json.loads(match.group(1))


def test_page_data(model):
    t = model.trace("O Romeo, Romeo!\nwherefore art thou Romeo?")
    page = t.to_html(title="romeo")
    data = data_of(page)
    assert data["format"] == "charrnn-explain" and data["version"] == 1 and data["title"] == "romeo"
    assert data["text"] == t.text and data["vocab"] == list(VOCAB)
    n, k = len(t.text), 5
    prob = np.frombuffer(base64.b64decode(data["predictions"]["prob"]), dtype="<f4")
    assert math.isnan(prob[0]) and np.allclose(prob[1:], 2 ** -t.surprise()[1:], rtol=1e-5)
    top = np.frombuffer(base64.b64decode(data["predictions"]["top_index"]), dtype="<u2").reshape(n, k)
    assert (top[1:, 0] == t.probabilities[:-1].argmax(axis=1)).all()
    blocks = data["states"]["blocks"]
    assert [(b["layer"], b["kind"], b["units"]) for b in blocks] == [
        (0, "hidden", 12),
        (0, "cell", 12),
        (1, "hidden", 8),
        (2, "hidden", 6),
    ]
    b = blocks[1]
    scale = np.frombuffer(base64.b64decode(b["scale"]), dtype="<f4")
    q = np.frombuffer(base64.b64decode(b["values"]), dtype=np.int8).reshape(12, n)
    assert np.abs(q.T * scale - t.cell[0]).max() <= scale.max() / 2 + 1e-7  # within half a step
    assert data["summary"]["chars"] == n and abs(data["summary"]["bits_per_char"] - t.bits) < 1e-12
    capped = data_of(t.to_html(state_chars=10))
    assert capped["states"]["chars"] == 10 and capped["states"]["total_chars"] == n


def test_html_special_characters_stay_data():
    vocab = "<>&\"'\u2028 ab/"
    m = charrnn.Model.create({"layers": [{"cell": "gru", "units": 4}]}, vocab, seed=1)
    text = "a</script><b>&amp;\u2028\"'"
    text = "".join(c for c in text if c in vocab)
    data = data_of(m.trace(text).to_html())
    assert data["text"] == text and data["vocab"] == list(vocab)


def test_repr_html_is_the_page_in_a_sandboxed_frame(model, tmp_path):
    t = model.trace(TEXT)
    frame = t._repr_html_()
    match = re.fullmatch(
        r'<iframe class="charrnn-explain" sandbox="allow-scripts" style="[^"]*" srcdoc="([^"]*)"></iframe>', frame
    )
    assert match
    assert data_of(html.unescape(match.group(1))) == data_of(t.to_html())
    path = tmp_path / "page.html"
    t.save_html(path, title="x")
    assert data_of(path.read_text(encoding="utf-8"))["title"] == "x" and os.listdir(tmp_path) == ["page.html"]


@pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built")
def test_same_data_as_charrnn_explain(model, tmp_path):
    """The two writers of the page (Swift, Python) agree number for number."""
    path = tmp_path / "m.safetensors"
    model.save(str(path))
    out = tmp_path / "cli.html"
    proc = subprocess.run(
        [CLI, "explain", "--model", str(path), "--text", TEXT, "--html", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    cli = data_of(out.read_text(encoding="utf-8"))
    py = data_of(model.trace(TEXT, name="m.safetensors").to_html(title="text"))
    for d in (cli, py):
        d.pop("source")
    for field in ("loss", "bits_per_char", "accuracy"):
        assert abs(cli["summary"].pop(field) - py["summary"].pop(field)) < 1e-12
    assert cli == py


def test_ctrl_c_stops_a_long_trace():
    """SIGINT (here from a timer, as a terminal's Ctrl-C) stops the trace within a fraction of a second with
    KeyboardInterrupt, and the model stays usable."""
    import signal
    import time

    model = charrnn.Model.load()  # the bundled 2x512 LSTM: 20k characters take seconds
    text = ("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 400)[:20000]
    fired, completed = [], []

    def on_alarm(signum, frame):
        fired.append(time.monotonic())
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            model.trace(text)
            completed.append(time.monotonic())  # the interrupt must come inside the call, not after it
        stopped = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired and not completed and stopped - fired[0] < 1.0, (stopped - started, completed)
    assert model.trace("ROMEO:").probabilities.shape == (6, model.vocab_size)
