"""Builds the charrnn Python package: the C extension charrnn._charrnn over include/charrnn.h, with a
copy of libcharrnn.so inside the package, found through the runpath ($ORIGIN).

The repository root is found relative to this file (bindings/python/setup.py), or from CHARRNN_ROOT.
The library must have been built first (`swift build -c release`, or `make lib`)."""

import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("CHARRNN_ROOT") or HERE.parent.parent).resolve()
INCLUDE = ROOT / "include"
LIBDIR = Path(os.environ.get("CHARRNN_LIB_DIR") or ROOT / ".build" / "release").resolve()
LIBNAME = "libcharrnn.so"


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
    if not (LIBDIR / LIBNAME).is_file():
        sys.exit(
            f"charrnn: {LIBDIR / LIBNAME} does not exist.\n"
            "Build the library first: `swift build -c release` (or `make lib`) in the repository root "
            f"({ROOT}), or set CHARRNN_ROOT / CHARRNN_LIB_DIR.")


class BuildExt(build_ext):
    """Checks for the library, then copies it next to the extension so $ORIGIN finds it."""

    def run(self):
        _check_inputs()
        self.force = True  # always relink: the library may have changed while the sources did not
        super().run()
        for ext in self.extensions:
            dest_dir = Path(self.get_ext_fullpath(ext.name)).parent
            dest_dir.mkdir(parents=True, exist_ok=True)
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
    cmdclass={"build_ext": BuildExt},
    python_requires=">=3.9",
    install_requires=["numpy", "h5py"],
    zip_safe=False,
)
