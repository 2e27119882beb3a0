# charrnn — the README's two commands are `make run` and `make test`; both set up what is missing.
SHELL := /bin/bash
SWIFT ?= swift
SHARED ?= ../shared
CORPUS ?= $(SHARED)/data/tinyshakespeare.txt
VENV := .venv
PY := $(VENV)/bin/python
RELEASE := .build/release
# Programs link the Swift runtime statically, so installed copies need no toolchain. Every release
# build uses the same flags: SwiftPM rebuilds everything when they change.
SWIFT_BUILD := $(SWIFT) build -c release --static-swift-stdlib
export CHARRNN_ROOT := $(CURDIR)
export KERAS_BACKEND := jax

# The version is written once, in include/charrnn.h; everything else reads it from there.
VERSION := $(shell sed -n 's/^\#define CHARRNN_VERSION_STRING "\(.*\)"$$/\1/p' include/charrnn.h)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))

# Installation, as autotools and CMake projects do it: PREFIX, and DESTDIR for staged installs.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(DESTDIR)$(PREFIX)/bin
LIBDIR := $(DESTDIR)$(PREFIX)/lib
INCLUDEDIR := $(DESTDIR)$(PREFIX)/include
PKGCONFIGDIR := $(LIBDIR)/pkgconfig
DATADIR := $(DESTDIR)$(PREFIX)/share/charrnn
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1

.PHONY: all deps build lib man python keras browser docs-deps format-deps format check-format run test test-swift test-c test-python test-install test-consumer check-memory bench bench-venv fuzz \
	install uninstall clean

all: build

# --- system dependencies ------------------------------------------------------------------------
# OpenBLAS (BLAS for every matrix product) and libedit (line editing in the REPL).
deps:
	@missing=""; \
	pkg-config --exists openblas || missing="$$missing libopenblas-dev"; \
	[ -f /usr/include/histedit.h ] || missing="$$missing libedit-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "make: missing$$missing; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# --- Swift ----------------------------------------------------------------------------------------
build: deps
	$(SWIFT_BUILD)
	@ln -sf charrnn-cli $(RELEASE)/charrnn

# libcharrnn.so.$(VERSION) with its SONAME, version script and links (see scripts/link-library.sh).
lib: build
	scripts/link-library.sh $(RELEASE)

# Manual pages from the programs' own --help (swift-argument-parser's generate-manual).
man: build
	$(SWIFT_BUILD) --product generate-manual
	@mkdir -p $(RELEASE)/man
	$(RELEASE)/generate-manual $(RELEASE)/charrnn --output-directory $(RELEASE)/man
	$(RELEASE)/generate-manual $(RELEASE)/charrnn-repl --output-directory $(RELEASE)/man

# --- installing -----------------------------------------------------------------------------------
install: lib man
	install -d $(BINDIR) $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) $(DATADIR) $(MANDIR)
	install -m 755 $(RELEASE)/charrnn-cli $(BINDIR)/charrnn
	install -m 755 $(RELEASE)/charrnn-repl $(BINDIR)/charrnn-repl
	install -m 755 $(RELEASE)/libcharrnn.so.$(VERSION) $(LIBDIR)/libcharrnn.so.$(VERSION)
	ln -sfn libcharrnn.so.$(VERSION) $(LIBDIR)/libcharrnn.so.$(SOVERSION)
	ln -sfn libcharrnn.so.$(SOVERSION) $(LIBDIR)/libcharrnn.so
	install -m 644 include/charrnn.h $(INCLUDEDIR)/charrnn.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' charrnn.pc.in > $(PKGCONFIGDIR)/charrnn.pc
	install -m 644 models/default.safetensors $(DATADIR)/default.safetensors
	install -m 644 $(RELEASE)/man/charrnn.1 $(RELEASE)/man/charrnn-repl.1 $(MANDIR)/
	@echo "installed charrnn $(VERSION) into $(DESTDIR)$(PREFIX)"

# Removes exactly what install wrote, and the folders it made when they are left empty.
uninstall:
	rm -f $(BINDIR)/charrnn $(BINDIR)/charrnn-repl
	rm -f $(LIBDIR)/libcharrnn.so.$(VERSION) $(LIBDIR)/libcharrnn.so.$(SOVERSION) $(LIBDIR)/libcharrnn.so
	rm -f $(INCLUDEDIR)/charrnn.h $(PKGCONFIGDIR)/charrnn.pc
	rm -f $(DATADIR)/default.safetensors $(MANDIR)/charrnn.1 $(MANDIR)/charrnn-repl.1
	-rmdir $(DATADIR) 2>/dev/null
	-rmdir -p $(BINDIR) $(PKGCONFIGDIR) $(INCLUDEDIR) $(MANDIR) 2>/dev/null

# --- Python ---------------------------------------------------------------------------------------
$(PY):
	@echo "make: creating $(VENV) (numpy, h5py, pytest, pexpect, atheris)"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q numpy h5py pytest pexpect atheris

# Keras 3 with the JAX backend, for the parity tests and the benchmark peer only.
$(VENV)/.keras: | $(PY)
	@echo "make: installing keras and jax into $(VENV)"
	$(PY) -m pip install -q keras jax
	touch $@

keras: $(VENV)/.keras

# Headless Chromium (Debian's package, as `deps` installs OpenBLAS) and Playwright for Python, for the
# page tests in Tests/pictures: Playwright drives the system's chromium, and downloads no browser.
browser: | $(PY)
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing chromium with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make: chromium is missing; run: sudo apt-get install -y chromium"; exit 1; \
	  fi; \
	fi
	@$(PY) -c "import playwright" 2>/dev/null || { echo "make: installing playwright into $(VENV)"; \
	  $(PY) -m pip install -q playwright; }

# matplotlib, for the README's plotting example (Tests/docs runs every example as written).
docs-deps: | $(PY)
	@$(PY) -c "import matplotlib" 2>/dev/null || { echo "make: installing matplotlib into $(VENV)"; \
	  $(PY) -m pip install -q matplotlib; }

python: lib | $(PY)
	$(PY) -m pip install -q --force-reinstall --no-deps ./bindings/python

# --- formatting -----------------------------------------------------------------------------------
# One style per language, applied by a tool: swift format (it ships with the toolchain; .swift-format),
# clang-format (Debian's; .clang-format, and bindings/python/src/.clang-format for CPython's style) and
# ruff format (pip; ruff.toml). `make format` applies them; `make check-format`, part of `make test`,
# fails naming any file they would change.
SWIFT_FILES = $(shell git ls-files '*.swift')
# The public header is laid out by hand (its fields' comments in one column, as sqlite3.h's).
C_FILES = $(filter-out include/charrnn.h Sources/CCharRNNHeader/include/charrnn.h,$(shell git ls-files '*.c' '*.h'))
PY_FILES = $(shell git ls-files '*.py')

format-deps: | $(PY)
	@if ! command -v clang-format >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing clang-format with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-format >/dev/null; \
	  else \
	    echo "make: clang-format is missing; run: sudo apt-get install -y clang-format"; exit 1; \
	  fi; \
	fi
	@$(PY) -m ruff --version >/dev/null 2>&1 || { echo "make: installing ruff into $(VENV)"; \
	  $(PY) -m pip install -q ruff; }

format: format-deps
	$(SWIFT) format format -i --configuration .swift-format $(SWIFT_FILES)
	clang-format -i $(C_FILES)
	$(PY) -m ruff format -q $(PY_FILES)

check-format: format-deps
	$(SWIFT) format lint --strict --configuration .swift-format $(SWIFT_FILES)
	clang-format --dry-run --Werror $(C_FILES)
	$(PY) -m ruff format --check -q $(PY_FILES)

# --- the two commands -----------------------------------------------------------------------------
run: build
	$(RELEASE)/charrnn-repl

test: check-format test-swift test-c test-python test-install test-wheel test-consumer

test-swift: deps
	$(SWIFT_BUILD)
	$(SWIFT) test

# A package that depends on charrnn by URL and version (a local tag), in Swift and in C.
test-consumer: deps | $(PY)
	$(PY) -m pytest -q Tests/consumer

# A staged install (DESTDIR) used as C programmers and packagers use one: pkg-config, the examples,
# the installed programs; the exported symbols; then uninstall leaves nothing behind.
test-install: lib man | $(PY)
	$(PY) -m pytest -q Tests/install

test-c: lib
	$(MAKE) -C Tests/c test check-memory
	$(MAKE) -C Tests/fuzz regress

check-memory: lib
	$(MAKE) -C Tests/c check-memory

test-python: python keras browser docs-deps
	$(PY) -m pytest -q bindings/python/tests Tests/cli Tests/repl Tests/reliability Tests/pictures Tests/docs

# The benchmark's PyTorch and ONNX Runtime peers live in their own venv, so that `make test` never
# installs torch. torch is the CPU build: a wheel in pip's find-links (e.g. /opt/wheels) if there is one,
# otherwise PyTorch's CPU index (PyPI's torch would pull in CUDA). Its dependencies come from PyPI.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_PACKAGES := torch onnxruntime onnx numpy
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

$(BENCH_VENV)/.installed:
	@echo "make: creating $(BENCH_VENV) for the benchmark peers: $(BENCH_PACKAGES)"
	python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --upgrade pip
	@if $(BENCH_PY) -m pip install -q --no-index --no-deps torch 2>/dev/null; then \
	  echo "make: torch: the CPU wheel from pip's find-links"; \
	else \
	  echo "make: torch: the CPU build from $(TORCH_CPU_INDEX)"; \
	  $(BENCH_PY) -m pip install -q --index-url $(TORCH_CPU_INDEX) torch || exit 1; \
	fi
	@echo "make: installing $(BENCH_PACKAGES) and their dependencies into $(BENCH_VENV)"
	$(BENCH_PY) -m pip install -q $(BENCH_PACKAGES)
	@$(BENCH_PY) -m pip list 2>/dev/null | grep -iE '^(torch|onnxruntime|onnx|numpy) ' | sed 's/^/make: installed /'
	touch $@

bench-venv: $(BENCH_VENV)/.installed

# run.py itself needs only the standard library; the Keras peer runs in $(VENV), PyTorch's and ONNX
# Runtime's in $(BENCH_VENV). BENCH_ARGS adds options, e.g. BENCH_ARGS="--quality --rounds 1".
bench: python keras bench-venv
	$(PY) bench/run.py --corpus $(CORPUS) --peers keras,torch,onnx --peer-python $(BENCH_PY) $(BENCH_ARGS)

fuzz: lib | $(PY)
	$(MAKE) -C Tests/fuzz run
	$(MAKE) -C Tests/fuzz keras

clean:
	rm -rf .build $(VENV) $(BENCH_VENV) dist

# make wheel, make test-wheel: the pip-installable wheel (after PY, which its recipes use).
include mk/wheel.mk
