"""Helpers of the reliability tests (issue 8): the binaries, running the CLI, checking clean failures,
and reading and rewriting safetensors files.

$CHARRNN_CLI / $CHARRNN_REPL override the binaries (default .build/release/charrnn and charrnn-repl).
"""
import json
import os
import struct
import subprocess

ROOT = os.environ.get("CHARRNN_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("CHARRNN_CLI") or os.path.join(ROOT, ".build", "release", "charrnn")
REPL = os.environ.get("CHARRNN_REPL") or os.path.join(ROOT, ".build", "release", "charrnn-repl")

# A model small enough that a training step takes well under a millisecond.
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "10", "--seq-length", "20", "--seed", "3"]


class Result:
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")


def run(*args, binary=None, timeout=60, **kwargs):
    argv = [binary or CLI, *args]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kwargs)
    return Result(proc)


def last_json(result):
    lines = result.out.strip().splitlines()
    assert lines, f"no stdout; stderr: {result.err}"
    return json.loads(lines[-1])


def assert_clean_failure(result, *fragments, status=None):
    """Exited by itself (no signal, no Swift trap, no traceback) with a non-zero status and a message
    naming each fragment."""
    assert result.returncode > 0, f"status {result.returncode} (negative: killed by a signal); stderr: {result.err[-2000:]}"
    if status is not None:
        assert result.returncode == status, result.err
    for marker in ("Traceback", "Fatal error", "Illegal instruction", "Current stack trace", "Backtrace"):
        assert marker not in result.err, result.err[-2000:]
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in {result.err!r}"


def read_safetensors(path):
    """(header dict, body bytes) of a safetensors file (given by path, or as bytes)."""
    if isinstance(path, bytes):
        data = path
    else:
        with open(path, "rb") as f:
            data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def encode_safetensors(header, body):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def training_state(path):
    header, _ = read_safetensors(path)
    return json.loads(header["__metadata__"]["training"])


def with_training_state(src, dst, **changes):
    """Copies checkpoint `src` to `dst` with fields of its training state replaced."""
    header, body = read_safetensors(src)
    state = json.loads(header["__metadata__"]["training"])
    state.update(changes)
    header["__metadata__"]["training"] = json.dumps(state, sort_keys=True)
    with open(dst, "wb") as f:
        f.write(encode_safetensors(header, body))
    return str(dst)


def snapshot(folder):
    """name -> bytes of every file in `folder`."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def temporaries(folder):
    return [n for n in os.listdir(folder) if ".tmp-" in n]


def loads(path):
    """True when `charrnn summary` reads the model file."""
    return run("summary", "--model", str(path)).returncode == 0
