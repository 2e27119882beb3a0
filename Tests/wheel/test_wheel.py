"""The wheel as someone without the toolchain gets it (issue 20): dist/charrnn-*.whl, built and repaired by
`make wheel`, is installed into a fresh venv and used from there with nothing of the build around:

- every command runs from a scratch folder with an environment that points nowhere near the repository
  (no CHARRNN_*, PYTHONPATH, LD_LIBRARY_PATH), and, where a mount namespace can be had (root, or a user
  namespace), with the repository, the Swift runtime libraries and the system's OpenBLAS and libedit
  (with their dependencies) hidden, so anything not carried by the wheel fails to load;
- `import charrnn` loads the extension and libcharrnn from the venv, `charrnn.Model.load()` the bundled
  model, and it generates;
- the `charrnn` and `charrnn-repl` console scripts become the bundled programs (the same process: they
  exec), find the bundled model, and report the version of the package;
- the wheel is tagged manylinux and its RECORD lists the libraries auditwheel grafted.

Runs after `make wheel` (the `test-wheel` target)."""

import csv
import glob
import hashlib
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "include", "charrnn.h")
MODEL = os.path.join(ROOT, "models", "default.safetensors")
# What the programs and libcharrnn need beyond the manylinux set, and what those need in turn: the wheel
# must carry them all, and in the namespace the system's copies are replaced by empty files.
GRAFTED = ["libopenblas", "libgfortran", "libquadmath", "libedit", "libtinfo", "libbsd", "libmd"]
SYSTEM_SONAMES = [
    "libopenblas.so.0",
    "libgfortran.so.5",
    "libquadmath.so.0",
    "libedit.so.2",
    "libtinfo.so.6",
    "libbsd.so.0",
    "libmd.so.0",
]


def header_version():
    return re.search(r'#define CHARRNN_VERSION_STRING "([0-9.]+)"', open(HEADER).read()).group(1)


def inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


@pytest.fixture(scope="module")
def wheel():
    found = glob.glob(os.path.join(ROOT, "dist", "charrnn-*.whl"))
    assert len(found) == 1, f"expected one dist/charrnn-*.whl (run `make wheel`), found {found}"
    return found[0]


def system_library_paths():
    """The files the dynamic linker would load for SYSTEM_SONAMES (the targets of their links)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = set()
    for soname in SYSTEM_SONAMES:
        for path in re.findall(rf"^\s*{re.escape(soname)} \(libc6,x86-64\) => (\S+)$", out, re.M):
            paths.add(os.path.realpath(path))
    return sorted(paths)


def swift_runtime_folder():
    """The toolchain's lib/swift (its shared runtime), when a toolchain is on PATH."""
    swiftc = shutil.which("swiftc")
    if not swiftc:
        return None
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(swiftc))), "lib", "swift")
    return folder if os.path.isdir(folder) else None


# Run inside a private mount namespace: hide the repository and the Swift runtime behind empty tmpfs
# mounts and bind /dev/null over each system library the wheel must carry, then exec the command.
HIDE_SCRIPT = r"""
set -e
for folder in $HIDE_FOLDERS; do mount -t tmpfs -o ro tmpfs "$folder"; done
for file in $HIDE_FILES; do mount --bind /dev/null "$file"; done
exec "$@"
"""


class Sandbox:
    """A fresh venv with the wheel installed, and a way to run commands in it out of the build's reach."""

    def __init__(self, base, wheel):
        self.base = str(base)
        assert not inside(self.base, ROOT), f"the scratch folder {self.base} lies inside the repository"
        self.venv = os.path.join(self.base, "venv")
        self.cwd = os.path.join(self.base, "elsewhere")
        os.makedirs(self.cwd)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CHARRNN_", "PYTHON", "LD_", "PIP_", "VIRTUAL_ENV", "CONDA"))
        }
        self.env.update(PATH=f"{self.venv}/bin:/usr/local/bin:/usr/bin:/bin", PIP_DISABLE_PIP_VERSION_CHECK="1")
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", self.venv], check=True, cwd=self.cwd, env=self.env, timeout=120)
        install = subprocess.run(
            [os.path.join(self.venv, "bin", "python"), "-m", "pip", "install", "-q", wheel],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env,
            timeout=300,
        )
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
        self.install_seconds = time.monotonic() - started
        self.site = subprocess.run(
            [
                os.path.join(self.venv, "bin", "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['platlib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=self.cwd,
            env=self.env,
        ).stdout.strip()
        self.package = os.path.join(self.site, "charrnn")
        self.hidden_folders = [f for f in (ROOT, swift_runtime_folder()) if f]
        self.hidden_files = system_library_paths()
        self.isolated = self._namespace_works()

    def _namespace(self):
        command = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            command.append("--map-root-user")
        return command + ["sh", "-c", HIDE_SCRIPT, "sh"]

    def _namespace_works(self):
        if not shutil.which("unshare"):
            return False
        probe = subprocess.run(
            self._namespace() + ["true"], capture_output=True, text=True, cwd=self.cwd, env=self._hide_env(), timeout=30
        )
        return probe.returncode == 0

    def _hide_env(self):
        return dict(self.env, HIDE_FOLDERS=" ".join(self.hidden_folders), HIDE_FILES=" ".join(self.hidden_files))

    def command(self, args):
        """`args` as run here: inside the namespace when there is one."""
        return (self._namespace() if self.isolated else []) + list(args)

    def run(self, args, input=None, timeout=60):
        env = self._hide_env() if self.isolated else self.env
        return subprocess.run(
            self.command(args), input=input, capture_output=True, text=True, cwd=self.cwd, env=env, timeout=timeout
        )

    def popen(self, args, **kwargs):
        env = self._hide_env() if self.isolated else self.env
        return subprocess.Popen(self.command(args), cwd=self.cwd, env=env, **kwargs)

    def python(self, code):
        proc = self.run([os.path.join(self.venv, "bin", "python"), "-c", code])
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc.stdout

    def script(self, name):
        return os.path.join(self.venv, "bin", name)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, wheel):
    return Sandbox(tmp_path_factory.mktemp("wheel"), wheel)


def wheel_record(wheel):
    with zipfile.ZipFile(wheel) as z:
        record_name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(z.read(record_name).decode())))
        info = z.read(record_name.replace("RECORD", "WHEEL")).decode()
        entry_points = z.read(record_name.replace("RECORD", "entry_points.txt")).decode()
    return {row[0]: row[1] for row in rows if row}, info, entry_points


def test_tag_and_record(wheel):
    """manylinux tag (auditwheel's, from the glibc the binaries need) in the name and in WHEEL; RECORD lists
    the extension, libcharrnn (once, under its SONAME), both programs, the bundled model (the repository's,
    byte for byte) and the grafted OpenBLAS and libedit with their dependencies."""
    name = os.path.basename(wheel)
    version = header_version()
    match = re.fullmatch(rf"charrnn-{re.escape(version)}-(cp\d+)-(cp\d+)-(manylinux_2_\d+_x86_64)\.whl", name)
    assert match, name
    record, info, entry_points = wheel_record(wheel)
    tags = re.findall(r"^Tag: (\S+)$", info, re.M)
    assert tags and all(re.fullmatch(r"cp\d+-cp\d+-manylinux_2_\d+_x86_64", t) for t in tags), info
    assert "Root-Is-Purelib: false" in info

    files = set(record)
    for path in [
        "charrnn/__init__.py",
        "charrnn/_programs.py",
        "charrnn/keras/__init__.py",
        "charrnn/libcharrnn.so.0",
        "charrnn/bin/charrnn",
        "charrnn/bin/charrnn-repl",
        "charrnn/share/charrnn/default.safetensors",
        "charrnn/share/charrnn/explain.html",
    ]:
        assert path in files, (path, sorted(files))
    assert any(re.fullmatch(r"charrnn/_charrnn\.cpython-\d+-x86_64-linux-gnu\.so", f) for f in files)
    assert [f for f in files if "libcharrnn" in f] == ["charrnn/libcharrnn.so.0"]
    grafted = [f for f in files if f.startswith("charrnn.libs/")]
    for lib in GRAFTED:
        assert any(
            os.path.basename(f).startswith(lib + "-") or os.path.basename(f).startswith(lib + "p-") for f in grafted
        ), (lib, grafted)

    digest = hashlib.sha256(open(MODEL, "rb").read()).digest()
    expected = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert record["charrnn/share/charrnn/default.safetensors"] == expected

    assert re.search(r"^charrnn = charrnn\._programs:charrnn$", entry_points, re.M), entry_points
    assert re.search(r"^charrnn-repl = charrnn\._programs:charrnn_repl$", entry_points, re.M), entry_points


def test_installed_out_of_the_builds_reach(sandbox):
    """The venv is fresh and the repository out of reach (hidden, where a namespace can be had)."""
    assert os.path.isdir(sandbox.package)
    print(f"venv and install: {sandbox.install_seconds:.1f} s; isolated: {sandbox.isolated}")
    if not sandbox.isolated:
        pytest.skip("no mount namespace here (unshare refused): ran without hiding the repository")
    listing = sandbox.run(["sh", "-c", f'ls -A "{ROOT}"; ls -A "{sandbox.package}"'])
    assert listing.returncode == 0, listing.stderr
    assert "Makefile" not in listing.stdout and "_programs.py" in listing.stdout, listing.stdout
    empty = sandbox.run(["sh", "-c", 'for f in "$@"; do [ ! -s "$f" ] || echo "$f"; done', "sh", *sandbox.hidden_files])
    assert empty.returncode == 0 and empty.stdout == "", empty.stdout + empty.stderr


IMPORT_AND_GENERATE = r"""
import json, charrnn
model = charrnn.Model.load()
with model.session(seed=1) as s:
    s.feed("ROMEO:\n")
    text = s.generate_text(20, temperature=0.8)
page = model.trace("ROMEO:\n" + text).to_html()  # the explain page's template, from the package
maps = sorted({line.split(None, 5)[5].strip() for line in open("/proc/self/maps") if len(line.split(None, 5)) == 6})
print(json.dumps({"extension": charrnn._charrnn.__file__, "package": charrnn.__file__, "text": text,
                  "version": charrnn.__version__, "vocab": model.vocab_size, "maps": maps,
                  "page": "charrnn-explain" in page and "__CHARRNN_EXPLAIN_DATA__" not in page}))
"""


def test_import_load_the_bundled_model_and_generate(sandbox):
    """import charrnn, Model.load() with no path (the bundled model), 20 characters: the extension,
    libcharrnn and OpenBLAS are the venv's, and nothing comes from the repository."""
    got = json.loads(sandbox.python(IMPORT_AND_GENERATE))
    assert inside(got["extension"], sandbox.package) and inside(got["package"], sandbox.package), got
    assert len(got["text"]) == 20 and got["vocab"] == 65 and got["page"]
    assert got["version"] == header_version()
    maps = [m for m in got["maps"] if m.startswith("/")]
    libcharrnn = [m for m in maps if "libcharrnn" in m]
    assert libcharrnn and all(inside(m, sandbox.package) for m in libcharrnn), libcharrnn
    openblas = [m for m in maps if "libopenblas" in m and "numpy" not in m]
    assert openblas and all(inside(m, os.path.join(sandbox.site, "charrnn.libs")) for m in openblas), openblas
    assert not [m for m in maps if inside(m, ROOT)], maps


def test_charrnn_sample_uses_the_bundled_model(sandbox):
    """`charrnn sample --length 20` through the console script finds the model the package carries."""
    proc = sandbox.run([sandbox.script("charrnn"), "sample", "--length", "20", "--seed", "1"])
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) >= 20, proc.stdout
    summary = sandbox.run([sandbox.script("charrnn"), "summary"])
    assert summary.returncode == 0, summary.stderr
    model_path = summary.stdout.splitlines()[0]
    assert inside(model_path, os.path.join(sandbox.package, "share", "charrnn")), summary.stdout


def test_charrnn_repl_reads_lines(sandbox):
    """`printf 'ROMEO:\\n' | charrnn-repl --max-chars 20`: one answer of at most 20 characters, exit 0."""
    proc = sandbox.run([sandbox.script("charrnn-repl"), "--max-chars", "20", "--seed", "1"], input="ROMEO:\n")
    assert proc.returncode == 0, proc.stderr
    assert 0 < len(proc.stdout.strip()) <= 40, proc.stdout


def test_version_is_the_packages(sandbox):
    """`charrnn --version` and `charrnn-repl --version` print charrnn.__version__ (the header's)."""
    version = sandbox.python("import charrnn; print(charrnn.__version__)").strip()
    assert version == header_version()
    for program in ("charrnn", "charrnn-repl"):
        proc = sandbox.run([sandbox.script(program), "--version"])
        assert proc.returncode == 0 and proc.stdout.strip() == version, (program, proc.stdout, proc.stderr)


def test_console_scripts_become_the_programs(sandbox):
    """The console script execs the bundled program: the same process, its libraries from charrnn.libs,
    and the program's own exit status and messages."""
    proc = sandbox.popen(
        [sandbox.script("charrnn-repl"), "--max-chars", "5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        exe, maps = None, ""
        while time.monotonic() < deadline:
            try:
                exe = os.readlink(f"/proc/{proc.pid}/exe")
                maps = open(f"/proc/{proc.pid}/maps").read()
            except OSError:
                pass
            if exe and exe.endswith("/charrnn/bin/charrnn-repl") and "libedit" in maps:
                break
            time.sleep(0.05)
        assert exe == os.path.join(os.path.realpath(sandbox.package), "bin", "charrnn-repl"), exe
        libs = {line.split()[-1] for line in maps.splitlines() if ".so" in line}
        for lib in ("libopenblas", "libedit", "libtinfo"):
            found = [p for p in libs if os.path.basename(p).startswith(lib)]
            assert found and all(inside(p, os.path.join(sandbox.site, "charrnn.libs")) for p in found), (lib, libs)
    finally:
        out, err = proc.communicate("", timeout=30)
    assert proc.returncode == 0, err

    missing = os.path.join(sandbox.cwd, "no-such-model.safetensors")
    via_script = sandbox.run([sandbox.script("charrnn"), "sample", "--model", missing])
    direct = sandbox.run([os.path.join(sandbox.package, "bin", "charrnn"), "sample", "--model", missing])
    assert via_script.returncode != 0 and via_script.returncode == direct.returncode
    assert via_script.stderr == direct.stderr and "no-such-model" in via_script.stderr, via_script.stderr
