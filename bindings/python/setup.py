"""Builds the charrnn Python package: the C extension charrnn._charrnn over include/charrnn.h, with a
copy of libcharrnn.so inside the package, found through the runpath ($ORIGIN). The package also carries
the two programs and the bundled model, laid out as an installed prefix is:

    charrnn/bin/charrnn, charrnn/bin/charrnn-repl      run by the console scripts of the same names
    charrnn/share/charrnn/default.safetensors          what they and Model.load() use by default
    charrnn/share/charrnn/explain.html                 the page of Trace._repr_html_ (charrnn explain's)

The repository root is found relative to this file (bindings/python/setup.py), or from CHARRNN_ROOT.
The library and programs must have been built first (`make lib`; they are looked for in
.build/release, or CHARRNN_LIB_DIR and CHARRNN_BIN_DIR). `make wheel` turns the result into a wheel
that carries OpenBLAS and libedit too (auditwheel)."""

import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("CHARRNN_ROOT") or HERE.parent.parent).resolve()
INCLUDE = ROOT / "include"
LIBDIR = Path(os.environ.get("CHARRNN_LIB_DIR") or ROOT / ".build" / "release").resolve()
BINDIR = Path(os.environ.get("CHARRNN_BIN_DIR") or LIBDIR).resolve()
LIBNAME = "libcharrnn.so"
MODEL = ROOT / "models" / "default.safetensors"
# Files copied into the package: its path inside the package -> the built (or bundled) file.
PACKAGE_FILES = {
    "bin/charrnn": BINDIR / "charrnn-cli",
    "bin/charrnn-repl": BINDIR / "charrnn-repl",
    "share/charrnn/default.safetensors": MODEL,
    # The page of Trace._repr_html_ and `charrnn explain` (one template, compiled into the programs too).
    "share/charrnn/explain.html": ROOT / "Sources" / "CommandLineSupport" / "Resources" / "explain.html",
}


def _header_version():
    """The version, as include/charrnn.h writes it (the one place it is written)."""
    text = (INCLUDE / "charrnn.h").read_text()
    match = re.search(r'#define CHARRNN_VERSION_STRING "([0-9]+\.[0-9]+\.[0-9]+)"', text)
    if not match:
        sys.exit(f"charrnn: no CHARRNN_VERSION_STRING in {INCLUDE / 'charrnn.h'}")
    return match.group(1)


VERSION = _header_version()
# The extension records the library's SONAME (libcharrnn.so.MAJOR), so that is the name it is copied as.
SONAME = f"libcharrnn.so.{VERSION.split('.')[0]}"


def _check_inputs():
    if not (INCLUDE / "charrnn.h").is_file():
        sys.exit(f"charrnn: header not found: {INCLUDE / 'charrnn.h'} (set CHARRNN_ROOT to the repository root)")
    for path in [LIBDIR / LIBNAME, *PACKAGE_FILES.values()]:
        if not path.is_file():
            sys.exit(
                f"charrnn: {path} does not exist.\n"
                "Build the library and programs first: `make lib` in the repository root "
                f"({ROOT}), or set CHARRNN_ROOT / CHARRNN_LIB_DIR / CHARRNN_BIN_DIR."
            )


class BuildPy(build_py):
    """Copies the programs and the bundled model into the package (see the top of this file)."""

    def run(self):
        _check_inputs()
        super().run()
        package = Path(self.build_lib) / "charrnn"
        for name, source in PACKAGE_FILES.items():
            dest = package / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)  # keeps the programs' mode bits


class BuildExt(build_ext):
    """Checks for the library, then copies it next to the extension so $ORIGIN finds it."""

    def run(self):
        _check_inputs()
        self.force = True  # always relink: the library may have changed while the sources did not
        super().run()
        for ext in self.extensions:
            dest_dir = Path(self.get_ext_fullpath(ext.name)).parent
            dest_dir.mkdir(parents=True, exist_ok=True)
            for stale in dest_dir.glob(LIBNAME + "*"):  # e.g. a copy named libcharrnn.so by an older build
                stale.unlink()
            shutil.copy2(LIBDIR / LIBNAME, dest_dir / SONAME)  # follows the links to the real file


ext = Extension(
    "charrnn._charrnn",
    sources=[f"src/{n}.c" for n in ("module", "errors", "model", "session", "train")],
    depends=["src/charrnn_py.h", str(INCLUDE / "charrnn.h"), str(LIBDIR / LIBNAME)],
    include_dirs=[str(INCLUDE), "src"],
    library_dirs=[str(LIBDIR)],
    libraries=["charrnn"],
    runtime_library_dirs=["$ORIGIN"],
    extra_compile_args=["-std=c11", "-Wall", "-Wno-missing-field-initializers"],
    extra_link_args=["-Wl,--enable-new-dtags"],
)

setup(
    name="charrnn",
    version=VERSION,
    description="Character-level RNN language models (Python binding of libcharrnn) with Keras import/export",
    packages=["charrnn", "charrnn.keras"],
    package_dir={"": "."},
    ext_modules=[ext],
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    entry_points={
        "console_scripts": [
            "charrnn = charrnn._programs:charrnn",
            "charrnn-repl = charrnn._programs:charrnn_repl",
        ]
    },
    python_requires=">=3.9",
    install_requires=["numpy", "h5py"],
    zip_safe=False,
)
