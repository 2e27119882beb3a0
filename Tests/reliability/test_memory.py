"""Memory soak (soak.c): four threads generating 200k characters each from one model, 10k sessions
created and freed, 1k model loads (and 1k refused loads); the resident set must not grow by more than
2 MB in any phase. The C program is compiled here against .build/release/libcharrnn.so."""

import os
import shutil
import subprocess

import pytest

from reliability_util import ROOT

LIBDIR = os.environ.get("CHARRNN_LIBDIR") or os.path.join(ROOT, ".build", "release")
BOUND_KB = 2048


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    if not os.path.exists(os.path.join(LIBDIR, "libcharrnn.so")):
        pytest.skip(f"{LIBDIR}/libcharrnn.so not built (make lib)")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path_factory.mktemp("soak") / "soak"
    here = os.path.dirname(os.path.abspath(__file__))
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
            str(exe),
            os.path.join(here, "soak.c"),
            f"-L{LIBDIR}",
            f"-Wl,-rpath,{LIBDIR}",
            "-lcharrnn",
            "-lpthread",
        ],
        check=True,
        timeout=120,
    )
    return str(exe)


def test_no_memory_growth(soak, tmp_path):
    result = subprocess.run(
        [soak, "200000", "10000", str(BOUND_KB), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=300,
        env={"PATH": os.environ.get("PATH", "")},
    )
    out, err = result.stdout.decode(), result.stderr.decode()
    phases = {}
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split())
        phases[fields["phase"]] = fields
    assert result.returncode == 0, f"{out}\n{err}"
    assert set(phases) == {"generate", "sessions", "loads"}, out
    assert int(phases["generate"]["work"]) >= 4 * 200000
    for name, p in phases.items():
        assert int(p["growth_kb"]) <= BOUND_KB, f"{name}: {p}"
