"""`charrnn explain` and charrnn-repl's `:explain`: the page is written (atomically), its data matches the
text and the model, and wrong arguments fail with a message. What the page does in a browser is
Tests/pictures' part.
"""

import json
import os
import re
import subprocess

import pytest

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
REPL = os.environ.get("CHARRNN_REPL") or os.path.join(ROOT, ".build", "release", "charrnn-repl")
MODEL = os.path.join(ROOT, "models", "default.safetensors")

pytestmark = pytest.mark.skipif(not os.access(CLI, os.X_OK), reason=f"{CLI} not built (make build)")


def run(*args, timeout=120):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def page_data(path):
    with open(path, encoding="utf-8") as f:
        html = f.read()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    match = re.search(r'<script type="application/json" id="charrnn-data">(.*?)</script>', html, re.S)
    assert match and "__CHARRNN_EXPLAIN_DATA__" not in html
    return json.loads(match.group(1))


def test_explain_a_file_and_a_text(tmp_path):
    source = tmp_path / "speech.txt"
    source.write_text("ROMEO:\nBut soft, what light\n", encoding="utf-8")
    out = tmp_path / "page.html"
    proc = run("explain", str(source), "--model", MODEL, "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(
        r"wrote .*page\.html: 28 characters, loss [0-9.]+ nats/char \([0-9.]+ bits/char\)\n", proc.stdout
    )
    data = page_data(out)
    assert data["title"] == "speech.txt" and data["text"] == "ROMEO:\nBut soft, what light\n"
    assert (
        data["model"]["name"] == "default.safetensors" and data["model"]["description"] == "LSTM 2×512, one-hot input"
    )
    assert data["summary"]["chars"] == 28 and data["summary"]["predictions"] == 27
    evaluated = json.loads(run("eval", str(source), "--model", MODEL, "--json").stdout)
    assert abs(data["summary"]["loss"] - evaluated["loss"]) < 1e-9
    assert sorted(os.listdir(tmp_path)) == ["page.html", "speech.txt"]  # no temporary file left

    proc = run("explain", "--text", "To be", "--model", MODEL, "--html", str(out), "--cells", "3")
    assert proc.returncode == 0, proc.stderr
    data = page_data(out)
    assert data["text"] == "To be" and data["title"] == "text"
    assert data["states"]["chars"] == 3 and "cell states for the first 3 characters" in proc.stdout


def test_unknown_characters(tmp_path):
    out = tmp_path / "page.html"
    proc = run("explain", "--text", 'He said "hi"', "--model", MODEL, "--html", str(out))
    assert proc.returncode == 0 and "skipped 2 character(s)" in proc.stderr
    data = page_data(out)
    assert data["text"] == "He said hi" and data["skipped"] == 2
    proc = run("explain", "--text", 'He said "hi"', "--model", MODEL, "--html", str(out), "--unknown", "error")
    assert proc.returncode == 1 and "U+0022" in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--html", "x.html"], "not both and not neither"),
        (["--text", "a", "file.txt", "--html", "x.html"], "not both and not neither"),
        (["--text", "abc"], "--html"),
        (["--text", "abc", "--html", "x.html", "--cells", "0"], "--cells must be at least 1"),
        (["no-such-file.txt", "--html", "x.html"], "no-such-file.txt"),
        (["--text", "\u00e9\u00e9", "--html", "x.html"], "no character the model knows"),
        (["--text", "abc", "--html", "/proc/no/such/dir/x.html"], "/proc/no/such/dir"),
    ],
)
def test_bad_arguments_fail_with_a_message(tmp_path, args, message):
    proc = subprocess.run(
        [CLI, "explain", "--model", MODEL, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "x.html").exists()


@pytest.mark.skipif(not os.access(REPL, os.X_OK), reason=f"{REPL} not built (make build)")
def test_repl_explains_the_conversation(tmp_path):
    out = tmp_path / "chat.html"
    script = f"ROMEO:\n:explain {out}\n:reset\n:explain {out}\n:explain\n"
    proc = subprocess.run(
        [REPL, "--model", MODEL, "--seed", "1", "--max-chars", "40"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answer = proc.stdout.strip().splitlines()[0]
    data = page_data(out)
    # The user's line, its newline, then the answer (with any blank lines the REPL does not show).
    assert data["title"] == "the conversation" and data["text"].startswith("ROMEO:\n")
    assert answer and answer in data["text"] and len(data["text"]) <= len("ROMEO:\n") + 40
    assert re.search(r"wrote .*chat\.html: the conversation's \d+ characters, [0-9.]+ bits/char", proc.stderr)
    assert "nothing to explain yet" in proc.stderr and ":explain needs a file name" in proc.stderr
