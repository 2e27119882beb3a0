"""The library as a C programmer or a packager gets it (issue 20): `make install` into a staged DESTDIR,
the examples built with nothing but `pkg-config --cflags --libs charrnn`, the installed programs run
with the bundled model found where they were installed, only the header's functions exported under a
versioned SONAME, and `make uninstall` leaving nothing behind.

Runs after `make lib man` (the `test-install` target)."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "include", "charrnn.h")
PREFIX = "/opt/charrnn-staged"


def header_version():
    text = open(HEADER).read()
    return re.search(r'#define CHARRNN_VERSION_STRING "([0-9.]+)"', text).group(1)


def header_functions():
    return set(re.findall(r"^CHARRNN_API .*?[ *](charrnn_[a-z0-9_]+)\(", open(HEADER).read(), re.M))


def make(*args, **kwargs):
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", ROOT, *args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A DESTDIR install; yields (destdir, prefix inside it)."""
    destdir = tmp_path_factory.mktemp("destdir")
    make("install", f"DESTDIR={destdir}", f"PREFIX={PREFIX}")
    yield str(destdir), str(destdir) + PREFIX


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def test_layout(staged):
    """Library with its version links, header, pkg-config file, programs, model and manual pages."""
    _, prefix = staged
    version = header_version()
    major = version.split(".")[0]
    assert files_under(prefix) == sorted(
        [
            "bin/charrnn",
            "bin/charrnn-repl",
            "include/charrnn.h",
            f"lib/libcharrnn.so.{version}",
            f"lib/libcharrnn.so.{major}",
            "lib/libcharrnn.so",
            "lib/pkgconfig/charrnn.pc",
            "share/charrnn/default.safetensors",
            "share/man/man1/charrnn.1",
            "share/man/man1/charrnn-repl.1",
        ]
    )
    assert os.readlink(os.path.join(prefix, "lib", f"libcharrnn.so.{major}")) == f"libcharrnn.so.{version}"
    assert os.readlink(os.path.join(prefix, "lib", "libcharrnn.so")) == f"libcharrnn.so.{major}"
    pc = open(os.path.join(prefix, "lib", "pkgconfig", "charrnn.pc")).read()
    assert f"prefix={PREFIX}\n" in pc and f"Version: {version}\n" in pc
    assert ".Nm charrnn" in open(os.path.join(prefix, "share", "man", "man1", "charrnn.1")).read()


def test_soname_exports_and_dependencies(staged):
    """SONAME libcharrnn.so.MAJOR; exactly the header's functions exported, under CHARRNN_MAJOR; nothing
    needed beyond libc, libm, libstdc++, libgcc_s and OpenBLAS (the Swift runtime is inside)."""
    _, prefix = staged
    version = header_version()
    major = version.split(".")[0]
    lib = os.path.join(prefix, "lib", f"libcharrnn.so.{version}")
    dynamic = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout
    assert re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", dynamic) == [f"libcharrnn.so.{major}"]
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dynamic))
    allowed = re.compile(r"^(libc|libm|libstdc\+\+|libgcc_s|libopenblas|ld-linux-x86-64)\.so\.[0-9]+$")
    assert needed and all(allowed.match(n) for n in needed), needed
    symbols = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    exported = {}
    for line in symbols.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1].isupper():  # global (nm's lower case letters are local)
            name, _, node = fields[2].partition("@@")
            exported[name] = node
    assert exported.pop(f"CHARRNN_{major}") == ""  # the version node itself
    assert set(exported) == header_functions()
    assert set(exported.values()) == {f"CHARRNN_{major}"}


def pkg_config_env(destdir, prefix):
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.join(prefix, "lib", "pkgconfig")
    env["PKG_CONFIG_SYSROOT_DIR"] = destdir  # a staged install: -I and -L point into DESTDIR
    return env


@pytest.mark.parametrize(
    "example", sorted(f for f in os.listdir(os.path.join(ROOT, "examples", "c")) if f.endswith(".c"))
)
def test_examples_build_with_pkg_config_alone(staged, tmp_path, example):
    """`cc prog.c $(pkg-config --cflags --libs charrnn)` and nothing else, then the program runs."""
    destdir, prefix = staged
    env = pkg_config_env(destdir, prefix)
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "charrnn"], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert f"-I{destdir}{PREFIX}/include" in flags and f"-L{destdir}{PREFIX}/lib" in flags and "-lcharrnn" in flags
    binary = tmp_path / example[:-2]
    source = os.path.join(ROOT, "examples", "c", example)
    build = subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(binary), source, *flags],
        capture_output=True,
        text=True,
        env=env,
    )
    assert build.returncode == 0, build.stderr
    # Installed for real it would be on the loader's path; staged, the loader is told where it is.
    run_env = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": os.path.join(prefix, "lib")}
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO: But soft, what light through yonder window breaks?\n" * 400)
    args = {
        "generate.c": [os.path.join(prefix, "share", "charrnn", "default.safetensors"), "ROMEO:", "40"],
        "many_streams.c": [os.path.join(prefix, "share", "charrnn", "default.safetensors"), "ROMEO:", "4"],
        "train.c": [str(corpus), str(tmp_path / "trained.safetensors"), "5"],
    }.get(example, [])
    ran = subprocess.run([str(binary), *args], capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    loaded = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=run_env).stdout
    assert os.path.join(prefix, "lib", "libcharrnn.so") in loaded, loaded


def test_installed_programs_find_the_installed_model(staged, tmp_path):
    """The programs run from PREFIX/bin, outside the build tree, find PREFIX/share/charrnn's model, and
    report the header's version."""
    _, prefix = staged
    env = {"PATH": "/usr/bin:/bin"}
    sample = subprocess.run(
        [os.path.join(prefix, "bin", "charrnn"), "sample", "--length", "20", "--seed", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert sample.returncode == 0 and len(sample.stdout) >= 20, sample.stderr
    for program in ("charrnn", "charrnn-repl"):
        version = subprocess.run(
            [os.path.join(prefix, "bin", program), "--version"], capture_output=True, text=True, env=env, timeout=60
        )
        assert version.stdout.strip() == header_version(), version.stdout + version.stderr
    repl = subprocess.run(
        [os.path.join(prefix, "bin", "charrnn-repl"), "--max-chars", "10"],
        input="ROMEO:\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert repl.returncode == 0 and repl.stdout.strip(), repl.stderr


def test_uninstall_leaves_nothing_behind(tmp_path):
    """Install, uninstall: no file and no folder the install made is left."""
    destdir = tmp_path / "stage"
    make("install", f"DESTDIR={destdir}", f"PREFIX={PREFIX}")
    assert files_under(str(destdir))
    make("uninstall", f"DESTDIR={destdir}", f"PREFIX={PREFIX}")
    assert files_under(str(destdir)) == []
    assert not os.path.exists(str(destdir) + PREFIX), os.listdir(str(destdir) + PREFIX)
