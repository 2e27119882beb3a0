# charrnn — the README's two commands are `make run` and `make test`; both set up what is missing.
SHELL := /bin/bash
SWIFT ?= swift
SHARED ?= ../shared
CORPUS ?= $(SHARED)/data/tinyshakespeare.txt
VENV := .venv
PY := $(VENV)/bin/python
RELEASE := .build/release
export CHARRNN_ROOT := $(CURDIR)
export KERAS_BACKEND := jax

.PHONY: all deps build lib python keras run test test-swift test-c test-python check-memory bench fuzz clean

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
	$(SWIFT) build -c release
	@ln -sf charrnn-cli $(RELEASE)/charrnn

lib: build
	@test -f $(RELEASE)/libcharrnn.so && echo "built $(RELEASE)/libcharrnn.so"

# --- Python ---------------------------------------------------------------------------------------
$(PY):
	@echo "make: creating $(VENV) (numpy, h5py, pytest, pexpect)"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q numpy h5py pytest pexpect

# Keras 3 with the JAX backend, for the parity tests and the benchmark peer only.
$(VENV)/.keras: | $(PY)
	@echo "make: installing keras and jax into $(VENV)"
	$(PY) -m pip install -q keras jax
	touch $@

keras: $(VENV)/.keras

python: lib | $(PY)
	$(PY) -m pip install -q --force-reinstall --no-deps ./bindings/python

# --- the two commands -----------------------------------------------------------------------------
run: build
	$(RELEASE)/charrnn-repl

test: test-swift test-c test-python

test-swift: deps
	$(SWIFT) build -c release
	$(SWIFT) test

test-c: lib
	$(MAKE) -C Tests/c test check-memory
	$(MAKE) -C Tests/fuzz regress

check-memory: lib
	$(MAKE) -C Tests/c check-memory

test-python: python keras
	$(PY) -m pytest -q bindings/python/tests Tests/cli Tests/repl Tests/reliability

bench: python keras
	$(PY) bench/run.py --corpus $(CORPUS)

fuzz: lib
	$(MAKE) -C Tests/fuzz run

clean:
	rm -rf .build $(VENV)
