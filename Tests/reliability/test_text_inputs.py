"""Hostile text: invalid UTF-8 in a corpus (every kind, with its byte offset), in --prime and in the
REPL's input; empty, one-character and too-short corpora; a 1 MB line into charrnn-repl."""

import os
import subprocess

import pytest

from reliability_util import CLI, REPL, TINY, assert_clean_failure, run

# (bytes, byte offset of the first invalid sequence)
INVALID = [
    (b"\xff", 0),  # never valid
    (b"caf\xc3", 3),  # truncated at the end of the file
    (b"ab\xc3(cd", 2),  # a continuation byte missing
    (b"ab\x80cd", 2),  # a lone continuation byte
    (b"ab\xc0\xafcd", 2),  # overlong "/"
    (b"ab\xe0\x80\xafcd", 2),  # overlong, three bytes
    (b"ab\xed\xa0\x80cd", 2),  # a UTF-16 surrogate (U+D800)
    (b"ab\xf4\x90\x80\x80cd", 2),  # beyond U+10FFFF
    (b"ab\xf8\x88\x80\x80\x80cd", 2),  # a five-byte form
]


@pytest.mark.parametrize("bad,offset", INVALID, ids=[b.hex() for b, _ in INVALID])
def test_invalid_utf8_corpus_names_the_byte_offset(tmp_path, bad, offset):
    prefix = "To be, or not to be: that is the question.\n" * 40
    path = tmp_path / "bad.txt"
    path.write_bytes(prefix.encode() + bad + b"\n" + prefix.encode())
    result = run("train", str(path), *TINY, "--max-steps", "2", "--out", str(tmp_path / "o"))
    assert_clean_failure(result, f"byte offset {len(prefix.encode()) + offset}", str(path))
    assert not os.path.exists(tmp_path / "o" / "latest.safetensors")


@pytest.mark.parametrize("bad,offset", INVALID[:5], ids=[b.hex() for b, _ in INVALID[:5]])
def test_invalid_utf8_prime_is_refused(trained, bad, offset):
    """Arguments are bytes: they reach the CLI as they are and are refused with the offset (exit 2)."""
    proc = subprocess.run(
        [os.fsencode(CLI), b"sample", b"--model", os.fsencode(trained), b"--length", b"5", b"--prime", b"RO" + bad],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert b"not valid UTF-8" in proc.stderr and b"byte offset %d" % (2 + offset) in proc.stderr
    assert proc.stdout == b""


def test_invalid_utf8_repl_model_argument(trained):
    if not os.access(REPL, os.X_OK):
        pytest.skip(f"{REPL} not built")
    proc = subprocess.run(
        [os.fsencode(REPL), b"--model", os.fsencode(trained) + b"\xff"],
        input=b"ROMEO:\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    assert proc.returncode > 0
    assert b"Fatal error" not in proc.stderr


@pytest.mark.parametrize(
    "text,fragment",
    [
        (b"", "empty"),
        (b"a", "single character"),
        (b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", None),
        (b"To be, or not to be: that is the question.\n" * 3, "shorter than one batch"),
        (b"\xef\xbb\xbf", None),  # a byte-order mark alone
        (b"\n" * 5000, None),  # one character repeated: vocabulary of one
    ],
)
def test_degenerate_corpora(tmp_path, text, fragment):
    """Empty, one-character, one-symbol and too-short corpora: a clean refusal (or, for a usable text, a run)."""
    path = tmp_path / "c.txt"
    path.write_bytes(text)
    result = run("train", str(path), "--out", str(tmp_path / "o"), "--max-steps", "2")
    if result.returncode == 0:
        assert fragment is None, f"expected a refusal naming {fragment!r}"
        return
    assert_clean_failure(result, *([fragment] if fragment else []))


@pytest.mark.parametrize(
    "make",
    [lambda tmp: tmp, lambda tmp: "/dev/null", lambda tmp: "/proc/self/status"],
    ids=["folder", "devnull", "procfile"],
)
def test_corpus_that_is_not_a_regular_file(tmp_path, make):
    result = run("train", str(make(tmp_path)), *TINY, "--max-steps", "2", "--out", str(tmp_path / "o"))
    assert_clean_failure(result)


def _repl(model, data, *args):
    return subprocess.run(
        [REPL, "--model", model, "--seed", "1", "--lines", "0", *args],
        input=data,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )


@pytest.fixture
def repl_ready(trained):
    if not os.access(REPL, os.X_OK):
        pytest.skip(f"{REPL} not built (make build, or set CHARRNN_REPL)")
    return trained


def test_repl_megabyte_line_without_newline(repl_ready):
    """1 MB of text, no newline at the end of input: read, fed, answered, exit 0."""
    line = (b"First Citizen: Before we proceed any further, hear me speak. " * 20000)[: 1 << 20]
    result = _repl(repl_ready, line, "--max-chars", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "no answer"


def test_repl_megabyte_of_unknown_characters_and_nuls(repl_ready):
    """A 1 MB line the vocabulary knows nothing of, then NUL bytes, then a normal line: each handled."""
    data = ("\u20ac" * (1 << 18)).encode() + b"\n" + b"ab\x00cd\n" + b"ROMEO:\n"
    result = _repl(repl_ready, data, "--max-chars", "10")
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"Fatal error" not in result.stderr
    assert result.stdout.strip(), "no answer"


def test_repl_invalid_utf8_megabyte_line(repl_ready):
    data = b"a" * (1 << 20) + b"\xff" + b"\nROMEO:\n"
    result = _repl(repl_ready, data, "--max-chars", "10")
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"byte offset %d" % (1 << 20) in result.stderr
    assert len(result.stdout.decode().splitlines()) == 1
