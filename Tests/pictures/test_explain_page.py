"""The pictures in a real browser: `charrnn explain`'s page and a training run's loss.svg, opened from disk
by headless Chromium (Debian's package) through Playwright, with every request that is not a file
refused and every console message an error.

`make test-python` installs both (`make browser`). $CHARRNN_CLI overrides the program, $CHROMIUM the browser.
"""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
MODEL = os.path.join(ROOT, "models", "default.safetensors")
SVG = "{http://www.w3.org/2000/svg}"
SPEECH = (
    "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;\n"
)

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: make browser")
pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")


def chromium_path():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("no chromium: `make browser` installs it (apt-get install chromium)")
    return path


def run(*args, timeout=300):
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def page_data(path):
    """The JSON the page carries."""
    with open(path, encoding="utf-8") as f:
        html = f.read()
    match = re.search(r'<script type="application/json" id="charrnn-data">(.*?)</script>', html, re.S)
    assert match, "no data in the page"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


class Watched:
    """A page whose console messages, page errors and non-file requests are collected."""

    def __init__(self, page):
        self.page, self.console, self.errors, self.refused = page, [], [], []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file://", "about:", "data:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def open(self, path):
        self.page.goto("file://" + os.path.abspath(path))
        self.page.wait_for_selector("body[data-ready='1']", timeout=60000)

    def check_clean(self):
        assert self.console == [] and self.errors == [], (self.console, self.errors)
        assert self.refused == [], f"the page asked the network for {self.refused}"


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    w = Watched(context.new_page())
    yield w
    context.close()
    w.check_clean()  # every test: no console message, no error, no network


@pytest.fixture(scope="module")
def speech_page(tmp_path_factory):
    """The page of a short speech on the bundled model, and its data."""
    out = tmp_path_factory.mktemp("explain") / "speech.html"
    proc = run("explain", "--model", MODEL, "--text", SPEECH, "--html", str(out))
    assert f"{len(SPEECH)} characters" in proc.stdout
    return str(out), page_data(out)


def test_page_is_self_contained(speech_page):
    path, data = speech_page
    with open(path, encoding="utf-8") as f:
        html = f.read()
    # Nothing that could load from elsewhere: no src/href attributes, no url(), no @import.
    assert not re.search(r"\b(src|href)\s*=", html) and "url(" not in html and "@import" not in html
    assert data["text"] == SPEECH and data["summary"]["chars"] == len(SPEECH)


def test_characters_and_their_colours(watched, speech_page):
    path, data = speech_page
    watched.open(path)
    page = watched.page
    assert page.inner_text("#title").startswith("What the model sees")
    assert page.eval_on_selector("#text", "e => e.textContent") == SPEECH
    classes = page.eval_on_selector_all("#text span", "spans => spans.map(s => s.className)")
    assert len(classes) == len(SPEECH)
    assert classes[0].startswith("s-none")  # nothing predicted the first character
    steps = {c.split()[0] for c in classes[1:]}
    assert all(re.fullmatch(r"s\d+", s) for s in steps) and len(steps) >= 4, steps
    # Each step is a painted colour, and more surprise is a different one.
    colours = page.eval_on_selector_all("#text span", "spans => spans.map(s => getComputedStyle(s).backgroundColor)")
    assert len(set(colours)) >= 4 and "rgba(0, 0, 0, 0)" not in colours
    bits = [-__import__("math").log2(p) for p in _probabilities(data)[1:]]
    worst = 1 + max(range(len(bits)), key=bits.__getitem__)
    best = 1 + min(range(len(bits)), key=bits.__getitem__)
    assert int(classes[worst].split()[0][1:]) > int(classes[best].split()[0][1:])
    summary = page.inner_text("#summary")
    assert f"{len(SPEECH)}" in summary and "bits/char" in summary and "parameters" in summary
    assert "bits" in page.inner_text("#surprise-legend")


def _probabilities(data):
    import base64
    import struct

    raw = base64.b64decode(data["predictions"]["prob"])
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_hovering_shows_the_alternatives(watched, speech_page):
    path, data = speech_page
    watched.open(path)
    page = watched.page
    import charrnn  # the model's own distribution, for what the tip must say

    probs = charrnn.Model.load(MODEL).probabilities(SPEECH)
    vocab = charrnn.Model.load(MODEL).vocab
    for i in (1, 7, 60):  # 'O' of ROMEO, the newline after "ROMEO:", a letter further on
        page.hover(f"#text span:nth-child({i + 1})")
        tip = page.locator("#tip")
        assert tip.is_visible()
        rows = page.eval_on_selector_all("#tip tr", "rows => rows.map(r => [r.className, r.innerText])")
        assert len(rows) >= 5
        expected = vocab[int(probs[i - 1].argmax())]  # what the model rated highest before character i
        shown = {"\u2423": " ", "\u23ce": "\n", "\u21e5": "\t"}.get(
            rows[0][1].split("\t")[0].strip(), rows[0][1].split("\t")[0].strip()
        )
        assert shown == expected, (i, rows)
        shown_percent = float(re.search(r"([0-9.]+)%", rows[0][1]).group(1))
        assert abs(shown_percent - 100 * float(probs[i - 1].max())) < 0.06, rows[0]
        assert any(cls == "actual" for cls, _ in rows)  # what came is marked, listed or not
        assert f"character {i + 1} of {len(SPEECH)}" in tip.inner_text()
    page.hover("#text span:nth-child(1)")
    assert "nothing predicted it" in page.inner_text("#tip")
    page.mouse.move(5, 5)
    page.hover("h1")
    assert not page.locator("#tip").is_visible()


def test_tapping_pins_the_tip(watched, speech_page):
    path, _ = speech_page
    watched.open(path)
    page = watched.page
    page.click("#text span:nth-child(10)")
    page.hover("h1")  # moving away keeps a pinned tip
    assert page.locator("#tip").is_visible() and "character 10 of" in page.inner_text("#tip")
    page.click("h1")
    assert not page.locator("#tip").is_visible()


def cell_classes(page):
    return page.eval_on_selector_all("#cell-text span", "spans => spans.map(s => s.className.split(' ')[0])")


def test_picking_a_unit_recolours_the_text(watched, speech_page):
    path, data = speech_page
    watched.open(path)
    page = watched.page
    blocks = data["states"]["blocks"]
    assert [(b["layer"], b["kind"]) for b in blocks] == [(0, "hidden"), (0, "cell"), (1, "hidden"), (1, "cell")]
    assert page.eval_on_selector("#cell-text", "e => e.textContent") == SPEECH
    first_unit = page.get_attribute("body", "data-unit")
    before = cell_classes(page)
    assert len(set(before)) >= 3  # a ranked unit that varies along the text
    # By number.
    other = 7 if not first_unit.endswith(":7") else 8
    page.fill("#unit", str(other))
    page.press("#unit", "Enter")
    assert page.get_attribute("body", "data-unit") == f"1:hidden:{other}"
    after = cell_classes(page)
    assert after != before and len(after) == len(before)
    # From the ranking, by correlation with the position in the line.
    page.select_option("#rank", "column")
    buttons = page.locator("#ranking button")
    assert buttons.count() == 16 and buttons.first.inner_text().split()[1] == "r"
    unit = buttons.nth(3).get_attribute("data-unit")
    buttons.nth(3).click()
    assert page.get_attribute("body", "data-unit").endswith(f":{unit}")
    assert "on" in buttons.nth(3).get_attribute("class")
    # Another layer and state: layer 0's cell state.
    page.select_option("#block", "1")
    assert page.get_attribute("body", "data-unit").startswith("0:cell:")
    assert "layer 0 cell" in page.inner_text("#cell-legend")
    # Out-of-range numbers are clamped, not an error.
    page.fill("#unit", "100000")
    page.press("#unit", "Enter")
    assert page.get_attribute("body", "data-unit") == "0:cell:511"
    page.hover("#cell-text span:nth-child(5)")
    assert "unit 511 =" in page.inner_text("#tip")


def test_a_feature_the_text_lacks_is_said_so(watched, tmp_path):
    out = tmp_path / "plain.html"
    run("explain", "--model", MODEL, "--text", "no quotes here at all", "--html", str(out))
    watched.open(out)
    watched.page.select_option("#rank", "quotes")
    assert "does not vary" in watched.page.inner_text("#ranking")


def small_model(tmp_path):
    """A small LSTM with fresh weights (Python binding), saved: tracing 100k characters takes a moment."""
    import charrnn

    with open(os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt"), encoding="utf-8") as f:
        text = f.read(100_000)
    vocab = "".join(sorted(set(text)))
    model = charrnn.Model.create(
        {"layers": [{"cell": "lstm", "units": 32}, {"cell": "gru", "units": 16}]}, vocab, seed=3
    )
    path = tmp_path / "small.safetensors"
    model.save(str(path))
    return str(path), text


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")),
    reason="needs ../shared/data/tinyshakespeare.txt",
)
def test_a_large_text_stays_responsive(watched, tmp_path):
    model, text = small_model(tmp_path)
    source = tmp_path / "big.txt"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "big.html"
    run("explain", str(source), "--model", model, "--html", str(out))
    data = page_data(out)
    n, m = len(text), data["states"]["chars"]
    width = 2 * 32 + 16
    assert data["summary"]["chars"] == n and m == min(n, (1 << 22) // width)
    assert os.path.getsize(out) < 12 * 2**20  # states quantised to a byte, capped in count
    watched.open(out)
    page = watched.page
    # One span per character per panel, whatever the units: no node per character per unit.
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    assert n + m <= nodes <= n + m + 300, nodes
    page.fill("#unit", "5")
    page.press("#unit", "Enter")
    assert page.get_attribute("body", "data-unit") == "1:hidden:5"
    assert page.evaluate("document.getElementsByTagName('*').length") == nodes
    page.locator("#text span").nth(n - 1).scroll_into_view_if_needed()
    page.locator("#text span").nth(n - 1).hover()
    assert f"character {n:,} of {n:,}" in page.inner_text("#tip")


def test_the_python_view_in_a_notebook_frame(watched):
    import charrnn

    trace = charrnn.Model.load(MODEL).trace(SPEECH, name="default.safetensors")
    watched.page.set_content(trace._repr_html_())
    frame = watched.page.frame_locator("iframe.charrnn-explain")
    frame.locator("body[data-ready='1']").wait_for(timeout=60000)
    assert frame.locator("#text").text_content() == SPEECH
    frame.locator("#text span:nth-child(3)").hover()
    assert frame.locator("#tip tr").count() >= 5


# --- the loss curve of a training run ------------------------------------------------------------


def test_loss_svg_of_a_training_run_renders(watched, corpus, tmp_path):
    out = tmp_path / "run"
    run(
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
        "30",
        "--eval-every",
        "10",
        "--out",
        str(out),
    )
    svg = out / "loss.svg"
    assert svg.exists(), "charrnn train --out keeps DIR/loss.svg (issue 22, point 1)"
    root = ET.parse(svg).getroot()  # well-formed, or this raises
    assert root.tag == SVG + "svg"
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    assert {"train-loss-0", "val-loss-0", "x-label", "y-label"} <= ids
    page = watched.page
    page.goto("file://" + str(svg))
    drawn = page.evaluate("""() => {
        const box = id => { const e = document.getElementById(id); const b = e.getBBox(); return [b.width, b.height]; };
        const svg = document.documentElement, r = svg.getBoundingClientRect();
        return {root: svg.tagName, size: [r.width, r.height], train: box('train-loss-0'), val: box('val-loss-0'),
                x: document.getElementById('x-label').textContent, y: document.getElementById('y-label').textContent,
                strokes: [...document.querySelectorAll('polyline')].map(p => getComputedStyle(p).stroke)};
    }""")
    assert drawn["root"] == "svg" and drawn["size"][0] > 200 and drawn["size"][1] > 100
    assert drawn["train"][0] > 50 and drawn["val"][0] > 50  # both curves drawn across the chart
    assert "step" in drawn["x"] and "loss" in drawn["y"]
    assert len(set(drawn["strokes"])) >= 2  # training and validation told apart
    shot = page.screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 5000
