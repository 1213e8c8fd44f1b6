# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Both install whatever is missing first: Debian GL packages when root, a venv, the package.
# The venv lives outside the checkout by default (like poetry's), so every clone of the repo on
# a machine shares the ~9 GB of torch/Ray/simulators and a fresh clone installs only itself.
# `VENV=.venv make test` keeps one inside the checkout instead.
SHELL := /bin/bash
VENV ?= $(HOME)/.cache/roboact/venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= $(MUJOCO_GL)
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install system-deps demo test lint bench clean-venv

system-deps:
	@bash scripts/system_deps.sh

install: system-deps
	@VENV=$(VENV) bash scripts/install_venv.sh

demo: install
	$(VENV)/bin/roboact demo

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
