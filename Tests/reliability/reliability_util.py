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
    assert result.returncode > 0, (
        f"status {result.returncode} (negative: killed by a signal); stderr: {result.err[-2000:]}"
    )
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
    return json.loads(data[8 : 8 + n]), data[8 + n :]


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


# --- issue 18: measured children, limits, C programs, hand-written headers ---------------------------

import resource
import shutil
import sys
import tempfile
import threading
import time

PYTHON = sys.executable
LIBDIR = os.environ.get("CHARRNN_LIBDIR") or os.path.join(ROOT, ".build", "release")
HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
GiB = 1 << 30
# Children run under address-space limits with one BLAS thread and few malloc arenas, so that their
# baseline (and so what a limit leaves them) does not depend on how many cores the machine has.
LIMITED_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", MALLOC_ARENA_MAX="2")


class Measured(Result):
    """A finished child: Result's fields, plus `seconds` (wall time), `peak_mb` (its peak resident set,
    from wait4's rusage) and `timed_out` (killed with SIGKILL after the timeout)."""

    def __init__(self, returncode, stdout, stderr, seconds, peak_mb, timed_out):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.out = stdout.decode("utf-8", "replace")
        self.err = stderr.decode("utf-8", "replace")
        self.seconds, self.peak_mb, self.timed_out = seconds, peak_mb, timed_out


def address_space_limit(limit):
    """A preexec_fn that sets RLIMIT_AS (what `ulimit -v` sets) in the child before it execs."""

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


# The launcher run_measured starts: a small interpreter that forks the program and reports its rusage.
# A child forked straight from pytest would count pytest's own resident set (a GB once Keras is loaded)
# in its peak: Linux carries the forking process's high-water mark across fork and exec.
_LAUNCHER = """
import json, os, resource, signal, sys
limit, timeout, report = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
pid = os.fork()
if pid == 0:
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execvp(sys.argv[4], sys.argv[4:])
killed = []
def kill(*_):
    killed.append(True)
    os.kill(pid, signal.SIGKILL)
signal.signal(signal.SIGALRM, kill)
signal.setitimer(signal.ITIMER_REAL, timeout)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        pass
signal.setitimer(signal.ITIMER_REAL, 0)
with open(report, "w") as f:
    json.dump({"status": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss, "killed": bool(killed)}, f)
"""


def run_measured(argv, *, timeout=30, input=b"", limit_as=None, env=None, cwd=None):
    """Runs argv to its end (SIGKILL after `timeout` s: a SIGTERM could be waited out by a program that
    hangs) and measures its wall time and peak RSS (its own: see _LAUNCHER). `limit_as` sets RLIMIT_AS
    in the child."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as report,
    ):
        start = time.monotonic()
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(limit_as or 0), str(timeout), report.name]
        proc = subprocess.run(
            launcher + [os.fspath(a) for a in argv],
            input=input,
            stdout=out,
            stderr=err,
            env=LIMITED_ENV if env is None else env,
            cwd=cwd,
            timeout=timeout + 30,
        )
        seconds = time.monotonic() - start
        with open(report.name) as f:
            measured = json.load(f)
        out.seek(0)
        err.seek(0)
        return Measured(
            measured["status"], out.read(), err.read(), seconds, measured["maxrss_kb"] / 1024, measured["killed"]
        )


def run_python(script, *, headroom=None, timeout=60, cwd=None):
    """Runs `script` in a child interpreter that imports charrnn and then, with `headroom` bytes, limits its
    address space to what it maps at that point plus `headroom`. The script's last stdout line is JSON."""
    prelude = (
        "import json, os, resource, sys, time\n"
        "import charrnn\n"
        "def mapped():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        return int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
        "def limit(headroom):\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (mapped() + headroom, resource.RLIM_INFINITY))\n"
        "def unlimit():\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "def attempt(call):\n"
        "    start = time.monotonic()\n"
        "    try:\n"
        "        value = call()\n"
        "        out = {'raised': None, 'value': repr(value)[:200]}\n"
        "    except BaseException as exc:\n"
        "        out = {'raised': type(exc).__name__, 'message': str(exc)}\n"
        "    out['seconds'] = time.monotonic() - start\n"
        "    out['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "    return out\n"
    )
    if headroom is not None:
        prelude += f"limit({int(headroom)})\n"
    return run_measured([PYTHON, "-c", prelude + script], timeout=timeout, cwd=cwd)


def child_json(result):
    """The JSON object on the last stdout line of a child that must have exited 0."""
    assert result.returncode == 0 and not result.timed_out, (
        f"child ended with status {result.returncode} (timed out: {result.timed_out}): {result.err[-3000:]}"
    )
    return last_json(result)


_compiled = {}


def compile_c(name):
    """Builds Tests/reliability/<name>.c against include/ and the built libcharrnn.so (once per run) and
    returns the executable's path; skips the test when the library or a compiler is missing."""
    import pytest

    if name in _compiled:
        return _compiled[name]
    if not os.path.exists(os.path.join(LIBDIR, "libcharrnn.so")):
        pytest.skip(f"{LIBDIR}/libcharrnn.so not built (make lib)")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    exe = os.path.join(tempfile.mkdtemp(prefix=f"charrnn-{name}-"), name)
    subprocess.run(
        [
            cc,
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            os.path.join(ROOT, "include"),
            "-o",
            exe,
            os.path.join(HERE, f"{name}.c"),
            f"-L{LIBDIR}",
            f"-Wl,-rpath,{LIBDIR}",
            "-lcharrnn",
            "-lpthread",
            "-lm",
        ],
        check=True,
        timeout=120,
    )
    _compiled[name] = exe
    return exe


def probe_lines(result):
    """label -> {"status": ..., "ms": ..., "message": ...} from probe.c's output lines
    `<label> status=<NAME> ms=<n> message=<text>`."""
    out = {}
    for line in result.out.splitlines():
        label, _, rest = line.partition(" status=")
        if not rest:
            continue
        status, _, rest = rest.partition(" ms=")
        ms, _, message = rest.partition(" message=")
        out[label] = {"status": status, "ms": float(ms), "message": message}
    return out


def write_raw_safetensors(path, header_text, body=b""):
    """Writes a safetensors file whose header is `header_text` exactly (for JSON Python's json cannot
    write: duplicate keys, numbers out of range, deep nesting), padded with spaces to 8 bytes."""
    h = header_text.encode() if isinstance(header_text, str) else header_text
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)
    return str(path)


def tensors_of(path):
    """(metadata, {name: (shape, bytes)}) of a safetensors file, in file order."""
    header, body = read_safetensors(path)
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = e["data_offsets"]
        tensors[name] = (list(e["shape"]), body[begin:end])
    return meta, tensors


def packed_safetensors(path, metadata, tensors):
    """Writes `tensors` ({name: (shape, bytes)}) back to back, as a well-formed file would hold them."""
    header, parts, offset = {"__metadata__": metadata}, [], 0
    for name, (shape, data) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        parts.append(data)
        offset += len(data)
    with open(path, "wb") as f:
        f.write(encode_safetensors(header, b"".join(parts)))
    return str(path)
