"""charrnn-repl through a pseudo-terminal (pexpect) and through a pipe.

The model is trained once per session with `charrnn train` on a small built-in corpus (about a second);
$CHARRNN_TEST_MODEL names a ready model instead. $CHARRNN_REPL and $CHARRNN_CLI override the binaries.
"""

import os
import pathlib
import re
import signal
import subprocess
import time

import pexpect
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# A small public-domain corpus (Shakespeare), so the tests need nothing outside the repository.
CORPUS = """\
ROMEO:
But, soft! what light through yonder window breaks?
It is the east, and Juliet is the sun.

JULIET:
O Romeo, Romeo! wherefore art thou Romeo?
Deny thy father and refuse thy name;
Or, if thou wilt not, be but sworn my love,
And I'll no longer be a Capulet.

ROMEO:
Shall I hear more, or shall I speak at this?

JULIET:
'Tis but thy name that is my enemy;
Thou art thyself, though not a Montague.
What's in a name? that which we call a rose
By any other name would smell as sweet.

HAMLET:
To be, or not to be: that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles,
And by opposing end them? To die: to sleep;
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to.

KING RICHARD III:
Now is the winter of our discontent
Made glorious summer by this sun of York;
And all the clouds that lour'd upon our house
In the deep bosom of the ocean buried.

"""


def _repl_binary():
    path = os.path.abspath(os.environ.get("CHARRNN_REPL") or str(ROOT / ".build/release/charrnn-repl"))
    if not os.path.exists(path):
        pytest.skip(f"charrnn-repl not built at {path} (run `make build`, or set CHARRNN_REPL)")
    return path


def _cli_binary():
    candidates = [
        os.environ.get("CHARRNN_CLI"),
        str(ROOT / ".build/release/charrnn"),
        str(ROOT / ".build/release/charrnn-cli"),
    ]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    return None


@pytest.fixture(scope="session")
def repl():
    return _repl_binary()


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """A model file: $CHARRNN_TEST_MODEL, or one trained here with `charrnn train` (about a second)."""
    given = os.environ.get("CHARRNN_TEST_MODEL")
    if given:
        return given
    cli = _cli_binary()
    if cli is None:
        pytest.skip(
            "no charrnn CLI to train a test model (run `make build`, set CHARRNN_CLI, "
            "or point CHARRNN_TEST_MODEL at a .safetensors model)"
        )
    work = tmp_path_factory.mktemp("repl-model")
    corpus = work / "corpus.txt"
    corpus.write_text(CORPUS * 8)
    out = work / "out"
    result = subprocess.run(
        [
            cli,
            "train",
            str(corpus),
            "--hidden",
            "32",
            "--layers",
            "1",
            "--max-steps",
            "200",
            "--batch-size",
            "8",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    path = out / "latest.safetensors"
    assert path.exists(), f"charrnn train wrote no {path}: {sorted(os.listdir(out))}"
    return str(path)


# --------------------------------------------------------------------------------------------------
# Helpers

PROMPT = "you›"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text):
    return ANSI.sub("", text)


def spawn(repl, model, *args, seed=7):
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        repl,
        ["--model", model, "--seed", str(seed), *args],
        encoding="utf-8",
        timeout=15,
        dimensions=(50, 250),
        env=env,
    )
    child.expect(PROMPT)
    return child


def say(child, line):
    """Sends a line and returns everything printed up to the next prompt."""
    child.sendline(line)
    child.expect(PROMPT)
    return child.before


def answer(output):
    """The model's answer in `say` output, without colours, the length note or line indentation."""
    text = plain(output)
    start = text.index("rnn› ") + len("rnn› ")
    end = text.find(" … (", start)
    if end < 0:
        end = text.rfind("\r\n")
    return text[start:end].replace("\r\n     ", "\n")


def finish(child):
    """One Ctrl-D; returns the exit status. Sent once: a Ctrl-D must never be lost (see TypeAhead)."""
    child.sendeof()
    child.expect(pexpect.EOF, timeout=10)
    child.close()
    return child.exitstatus


def stream_a_while(child):
    """Waits until a long answer is streaming: a few hundred coloured characters."""
    child.expect("rnn›")
    streamed = 0
    while streamed < 4000:
        streamed += len(child.read_nonblocking(4096, timeout=10))


def pipe(repl, model, text, *args, seed=7):
    data = text if isinstance(text, bytes) else text.encode()
    return subprocess.run(
        [repl, "--model", model, "--seed", str(seed), *args], input=data, capture_output=True, timeout=60
    )


# --------------------------------------------------------------------------------------------------
# Through a pseudo-terminal


def test_prompt_banner_and_coloured_stream(repl, model):
    child = spawn(repl, model, "--max-chars", "40")
    assert "charrnn-repl" in child.before and "seed 7" in child.before
    out = say(child, "ROMEO:")
    assert "rnn›" in out
    assert "\x1b[48;5;" in out, "answer characters are coloured by probability"
    assert re.search(r"your line: \d+\.\d\d bits/char", plain(out))
    assert finish(child) == 0


def test_state_carries_over_between_lines(repl, model):
    args = ("--max-chars", "40", "--lines", "0")
    child = spawn(repl, model, *args)
    say(child, "JULIET:")
    after_context = answer(say(child, "O Romeo, Romeo!"))
    say(child, ":reset")
    alone = answer(say(child, "O Romeo, Romeo!"))
    assert len(after_context) == 40 and len(alone.replace("\n", "")) <= 40
    assert after_context != alone
    assert finish(child) == 0
    # :reset also restarts the generator: the same as a fresh session with the same seed.
    fresh = spawn(repl, model, *args)
    assert answer(say(fresh, "O Romeo, Romeo!")) == alone
    assert finish(fresh) == 0


@pytest.mark.parametrize(
    "command, expected",
    [
        (":temp 0.5", "temperature 0.5"),
        (":temp", "temperature 0.8"),
        (":topk 5", "top-k 5"),
        (":topk 0", "top-k off"),
        (":topp 0.9", "top-p 0.9"),
        (":greedy", "greedy on"),
        (":greedy off", "greedy off"),
        (":greedy on", "greedy on"),
        (":seed 3", "seed 3"),
        (":len 12", "answers up to 12 characters"),
        (":lines 2", "answers end after 2 lines"),
        (":lines 0", "answers end only at the length limit"),
        (":probs table", "probs table"),
        (":probs off", "probs off"),
        (":probs color", "probs color"),
        (":reset", "conversation reset"),
        (":help", ":topk K"),
    ],
)
def test_commands(repl, model, command, expected):
    child = spawn(repl, model, "--max-chars", "10")
    out = plain(say(child, command))
    assert expected in out
    assert "rnn›" not in out, "a command is not fed to the model"
    assert "rnn›" in say(child, "ROMEO:"), "still answering after the command"
    assert finish(child) == 0


@pytest.mark.parametrize(
    "command, expected",
    [
        (":temp 0", "must be a finite number > 0"),
        (":temp warm", "needs a temperature"),
        (":topk -1", "whole number >= 0"),
        (":topk many", "whole number >= 0"),
        (":topp 1.5", "(0, 1]"),
        (":topp 0", "(0, 1]"),
        (":greedy maybe", "on, off"),
        (":seed -3", "whole number"),
        (":len 0", "whole number >= 1"),
        (":lines x", "whole number >= 0"),
        (":probs loud", "color, table or off"),
        (":save", "needs a file name"),
        (":load", "needs a file name"),
        (":load /nonexistent/state", "cannot load"),
        (":model /nonexistent/model.safetensors", "cannot load the model"),
        (":frobnicate", "unknown command :frobnicate"),
        (":", "command name is missing"),
    ],
)
def test_bad_commands_explain_and_continue(repl, model, command, expected):
    child = spawn(repl, model, "--max-chars", "10")
    out = plain(say(child, command))
    assert expected in out
    lines = [l for l in out.split("\r\n")[1:] if l.strip()]
    assert len(lines) == 1, f"one-line explanation, got {lines}"
    assert child.isalive()
    assert "rnn›" in say(child, "ROMEO:")
    assert finish(child) == 0


def test_model_switch_resets(repl, model):
    child = spawn(repl, model, "--max-chars", "20", "--lines", "0")
    first = answer(say(child, "HAMLET:"))
    out = plain(say(child, f":model {model}"))
    assert "conversation reset" in out
    assert answer(say(child, "HAMLET:")) == first
    assert finish(child) == 0


def test_unknown_characters_are_skipped_with_a_note(repl, model):
    child = spawn(repl, model, "--max-chars", "10")
    out = plain(say(child, "héllo ☃ ROMEO"))
    assert "skipped 2 characters not in the model's vocabulary" in out
    assert "'é' (U+00E9)" in out and "U+2603" in out
    assert "rnn›" in out
    assert finish(child) == 0


def test_invalid_utf8_gets_a_note(repl, model):
    child = spawn(repl, model, "--max-chars", "10")
    os.write(child.child_fd, b"ab\xff\xfecd\r")
    child.expect(PROMPT)
    assert "not valid UTF-8" in plain(child.before)
    assert "rnn›" not in child.before
    assert finish(child) == 0


def test_ctrl_c_interrupts_a_long_answer(repl, model):
    child = spawn(repl, model, "--max-chars", "100000", "--lines", "0")
    child.sendline("ROMEO:")
    stream_a_while(child)
    for _ in range(3):
        child.sendintr()
        if child.expect(["interrupted after (\\d+) characters", pexpect.TIMEOUT], timeout=5) == 0:
            break
    else:
        pytest.fail("Ctrl-C did not stop the answer")
    assert int(child.match.group(1)) < 100000
    child.expect(PROMPT)
    assert "rnn›" in say(child, "JULIET:"), "the conversation goes on"
    assert finish(child) == 0


def test_ctrl_c_leaves_on_screen_what_the_state_holds(repl, model):
    """The terminal is slow to take the answer (nothing reads it for a while), then Ctrl-C: every
    character generated — and so fed into the state — is on screen, no colour escape is cut, and the
    colours are reset before the note."""
    child = spawn(repl, model, "--max-chars", "100000", "--lines", "0", "--probs", "color")
    child.sendline("ROMEO:")
    child.expect("rnn›")
    time.sleep(1.0)  # the pseudo-terminal's buffer fills; the REPL must wait for it, not run ahead
    child.sendintr()
    child.expect("interrupted after (\\d+) characters")
    produced = int(child.match.group(1))
    shown = child.before
    child.expect(PROMPT)
    body = shown.split(" ^C")[0] if " ^C" in shown else shown
    # Every escape sequence is whole: none is left open at the cut.
    assert re.sub(r"\x1b\[[0-9;]*m", "", body).count("\x1b") == 0
    visible = plain(body)[1:].replace("\r\n     ", "\n").replace("\r\n", "")  # after "rnn› "
    # Leading blank lines are fed but not shown: allow those few.
    assert produced - 3 <= len(visible) <= produced, (produced, len(visible))
    assert finish(child) == 0


def test_ctrl_c_at_the_prompt_drops_the_line(repl, model):
    child = spawn(repl, model, "--max-chars", "10")
    child.send("half a line")
    time.sleep(0.2)
    child.sendintr()
    child.expect(PROMPT)
    assert "^C" in child.before and "rnn›" not in child.before
    assert child.isalive()
    out = say(child, ":len")
    assert "half a line" not in plain(out)
    assert finish(child) == 0


def test_terminal_echo_stays_off_redirected_stdout(repl, model, tmp_path):
    """With stdin a terminal and stdout a file, Ctrl-C's "^C" and the newlines that end an interrupted
    line or the session were written into the file; they belong on the terminal (where libedit echoes)."""
    out = tmp_path / "out.txt"
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f'exec "$0" --model "$1" --seed 7 > "$2"', repl, model, str(out)],
        encoding="utf-8",
        timeout=15,
        env=env,
    )
    child.expect("you> ")
    child.send("half a line")
    time.sleep(0.2)
    child.sendintr()
    child.expect("you> ")
    assert finish(child) == 0
    assert out.read_bytes() == b""


def test_ctrl_d_exits_zero(repl, model):
    child = spawn(repl, model)
    assert finish(child) == 0


def test_ctrl_d_during_an_answer_ends_the_session_after_it(repl, model):
    """A Ctrl-D pressed while the answer streamed met the kernel's canonical mode: libedit then read a NUL
    (its quoted-insert key), so that Ctrl-D was lost and the next one was inserted as a character."""
    child = spawn(repl, model, "--max-chars", "20000", "--lines", "0")
    child.sendline("ROMEO:")
    stream_a_while(child)
    child.sendeof()
    child.expect(pexpect.EOF, timeout=30)
    assert "^D" in child.before[-200:], "the answer ran to its end, then the prompt took the Ctrl-D"
    child.close()
    assert child.exitstatus == 0


def test_keys_typed_during_an_answer_wait_for_the_prompt(repl, model):
    """Typed ahead: not echoed into the answer by the terminal, but edited at the next prompt."""
    child = spawn(repl, model, "--max-chars", "20000", "--lines", "0")
    child.sendline("ROMEO:")
    stream_a_while(child)
    child.send("4242")  # digits: not in the model's vocabulary, so never in its answer
    child.expect(PROMPT, timeout=30)
    assert "4242" not in plain(child.before), "typed keys were echoed into the answer"
    child.expect("4242")  # libedit shows the typed-ahead line at the prompt
    child.send("\r")
    child.expect("rnn›")
    assert child.isalive()
    child.sendintr()
    child.expect(PROMPT)
    assert finish(child) == 0


@pytest.mark.parametrize("when", ["at the prompt", "during an answer", "after Ctrl-D", "after a stop"])
def test_terminal_mode_is_restored(repl, model, tmp_path, when):
    """The mode the REPL found is back after it ends, whether by Ctrl-D or SIGTERM, at the prompt (libedit's
    raw mode) or during an answer (TypeAhead's mode), and after a stop and continue."""
    before, after = tmp_path / "before", tmp_path / "after"
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    script = f'stty -g > "$3"; "$0" --model "$1" --seed 7 --max-chars 100000 --lines 0; stty -g > "$2"'
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", script, repl, model, str(after), str(before)],
        encoding="utf-8",
        timeout=15,
        env=env,
        dimensions=(50, 250),
    )
    child.expect(PROMPT)
    pid = int(subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True, text=True).stdout.split()[0])
    if when == "after Ctrl-D":
        child.sendeof()
    elif when == "after a stop":  # as Ctrl-Z and `fg`: the REPL takes its mode back and goes on
        os.kill(pid, signal.SIGTSTP)
        time.sleep(0.3)
        os.kill(pid, signal.SIGCONT)
        assert "rnn›" in say(child, "ROMEO:")
        child.sendeof()
    else:
        if when == "during an answer":
            child.sendline("ROMEO:")
            stream_a_while(child)
        os.kill(pid, signal.SIGTERM)
    child.expect(pexpect.EOF, timeout=15)
    child.close()
    assert after.read_text() == before.read_text()


def test_terminal_not_held_when_libedit_does_not_edit(repl, model, tmp_path):
    """With stdout and stderr redirected libedit leaves the line to the kernel's editing: holding the
    terminal then would have hidden the typing and made Ctrl-D a character."""
    out = tmp_path / "out.txt"
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", 'exec "$0" --model "$1" --seed 7 --max-chars 10 > "$2" 2>&1', repl, model, str(out)],
        encoding="utf-8",
        timeout=15,
        env=env,
    )
    time.sleep(0.5)
    child.send("ROMEO:\r")
    child.expect("ROMEO:")  # the kernel echoes the typing
    deadline = time.time() + 15
    while "rnn" not in out.read_text(errors="replace") and time.time() < deadline:
        time.sleep(0.1)
    child.sendeof()
    child.expect(pexpect.EOF, timeout=10)
    child.close()
    assert child.exitstatus == 0


def test_quit(repl, model):
    child = spawn(repl, model)
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_save_and_load_reproduce_a_continuation(repl, model, tmp_path):
    state = tmp_path / "chat.state"
    child = spawn(repl, model, "--max-chars", "30", "--lines", "0")
    say(child, "JULIET:")
    assert "saved" in plain(say(child, f":save {state}"))
    first = answer(say(child, "What's in a name?"))
    say(child, "more talk to move the state on")
    assert "loaded" in plain(say(child, f":load {state}"))
    assert answer(say(child, "What's in a name?")) == first
    (tmp_path / "bad.state").write_bytes(b"not a state")
    assert "cannot load" in plain(say(child, f":load {tmp_path / 'bad.state'}"))
    assert finish(child) == 0
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p], "no temporary files left"


# --------------------------------------------------------------------------------------------------
# Through a pipe


def test_pipe_has_no_escape_codes(repl, model):
    result = pipe(repl, model, "ROMEO:\nJULIET:\n:help\n:temp 0.7\n:bogus\nhéllo\n", "--max-chars", "20")
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout and b"\x1b" not in result.stderr
    assert b"you" not in result.stdout.split(b"\n")[0]
    assert b"unknown command :bogus" in result.stderr
    assert b"skipped 1 character" in result.stderr


def test_pipe_failed_stdout_is_an_error(repl, model):
    """Answers lost to a full disk (/dev/full) used to end with status 0 and no word."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [repl, "--model", model, "--seed", "7"],
            input=b"ROMEO:\nJULIET:\n",
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "cannot write to standard output: No space left on device" in err, err


def test_pipe_color_falls_back_to_plain(repl, model):
    result = pipe(repl, model, "ROMEO:\n", "--probs", "color", "--max-chars", "20")
    assert result.returncode == 0
    assert b"\x1b" not in result.stdout
    assert b"needs a terminal" in result.stderr


def test_pipe_table_rows(repl, model):
    result = pipe(repl, model, "ROMEO:\nJULIET:\n", "--probs", "table", "--max-chars", "8", "--lines", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert b"\x1b" not in result.stdout
    assert out.count("p(model)") == 2
    assert re.search(r"^surprise: \d+\.\d\d bits/char over 5 characters$", out, re.M)
    rows = re.findall(r"^ +(\d+)  (\S+) +(\d\.\d{3}|\de-\d\d) +(\d\.\d{3}|\de-\d\d) +(.*)$", out, re.M)
    assert [int(r[0]) for r in rows] == list(range(1, 9)) * 2
    for _, char, p_model, p_drawn, alternatives in rows:
        assert 0 < float(p_model) <= 1 and 0 < float(p_drawn) <= 1
        pairs = re.findall(r"(\S+) (\d\.\d{3}|\de-\d\d)", alternatives)
        assert len(pairs) == 5
        probs = [float(p) for _, p in pairs]
        assert probs == sorted(probs, reverse=True)
        assert " " not in [c for c, _ in pairs], "whitespace is shown visibly"


def test_pipe_same_seed_same_session(repl, model):
    text = "ROMEO:\nJULIET:\nHAMLET:\n"
    a = pipe(repl, model, text, "--max-chars", "30", "--lines", "0")
    b = pipe(repl, model, text, "--max-chars", "30", "--lines", "0")
    c = pipe(repl, model, text, "--max-chars", "30", "--lines", "0", seed=8)
    assert a.stdout == b.stdout and a.stdout != c.stdout
    assert a.stdout.count(b"\n") >= 3


def test_pipe_int8_is_deterministic_and_answers(repl, model):
    text = "ROMEO:\nJULIET:\n"
    a = pipe(repl, model, text, "--int8", "--max-chars", "30", "--lines", "0")
    b = pipe(repl, model, text, "--int8", "--max-chars", "30", "--lines", "0")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.count(b"\n") >= 2


def test_pipe_megabyte_line(repl, model):
    line = ("To be, or not to be: that is the question: " * 25000)[: 1 << 20]
    start = time.time()
    result = pipe(repl, model, line + "\nROMEO:\n", "--max-chars", "20", "--probs", "table")
    assert result.returncode == 0, result.stderr
    assert re.search(rb"over 1048575 characters", result.stdout)
    assert result.stdout.count(b"p(model)") == 2
    assert time.time() - start < 30


def test_pipe_invalid_utf8_is_noted_and_skipped(repl, model):
    result = pipe(repl, model, b"ab\xff\xfe\nROMEO:\n", "--max-chars", "10", "--lines", "0")
    assert result.returncode == 0
    assert b"ignored the line: invalid UTF-8 at byte offset 2" in result.stderr
    assert len(result.stdout.decode().splitlines()) == 1, "one answer, for ROMEO:"


def test_bad_flags_and_missing_model(repl, model, tmp_path):
    bad = subprocess.run([repl, "--model", model, "--temperature", "0"], capture_output=True, input=b"")
    assert bad.returncode != 0 and b"--temperature" in bad.stderr
    missing = subprocess.run([repl, "--model", str(tmp_path / "nope.safetensors")], capture_output=True, input=b"")
    assert missing.returncode == 1 and b"cannot load the model" in missing.stderr
    folder = subprocess.run(
        [repl, "--model", os.path.dirname(model), "--seed", "1"], capture_output=True, input=b"ROMEO:\n"
    )
    assert folder.returncode == 0, folder.stderr


def test_no_default_model_explains(repl, tmp_path):
    if (ROOT / "models/default.safetensors").exists():
        pytest.skip("the bundled default model exists, so the lookup succeeds")
    env = {k: v for k, v in os.environ.items() if k != "CHARRNN_MODEL"}
    result = subprocess.run([repl], capture_output=True, input=b"", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert b"no model found" in result.stderr and b"charrnn train" in result.stderr
