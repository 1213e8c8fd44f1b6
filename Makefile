# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Both install whatever is missing first: Debian GL packages when root, the venvs, the package.
# Every checkout runs its own `.venv` (roboact editable from this checkout, nothing else), whose
# site-packages reads the ~9 GB of torch/Ray/simulators from one shared dependency cache,
# DEPS_VENV: a fresh clone installs in seconds, and deleting a clone breaks no other one.
# `VENV=path` picks another checkout venv; `DEPS_VENV=` (empty) installs everything into VENV.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
DEPS_VENV ?= $(HOME)/.cache/roboact/venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= $(MUJOCO_GL)
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install system-deps demo test lint bench clean-venv

system-deps:
	@bash scripts/system_deps.sh

install: system-deps
	@VENV=$(VENV) DEPS_VENV=$(DEPS_VENV) bash scripts/install_venv.sh

demo: install
	$(VENV)/bin/roboact demo

test: install
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:  # this checkout's venv only; the shared DEPS_VENV stays for the other checkouts
	rm -rf $(VENV)
