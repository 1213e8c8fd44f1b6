# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Both install whatever is missing first: Debian GL packages when root, a venv, the package.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.roboact-installed
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= $(MUJOCO_GL)
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install system-deps demo test lint bench clean-venv

system-deps:
	@bash scripts/system_deps.sh

$(PY):
	python3 -m venv $(VENV)

# Reinstalls only when pyproject.toml or requirements.lock changed (or the checkout moved).
$(STAMP): pyproject.toml requirements.lock | $(PY)
	$(PIP) install -q --upgrade "pip>=24"
	$(PIP) install -c requirements.lock -e ".[dev]"
	@echo "$(CURDIR)" > $(STAMP)

install: system-deps $(STAMP)
	@grep -qx "$(CURDIR)" $(STAMP) || { $(PIP) install -q --no-deps -e . && echo "$(CURDIR)" > $(STAMP); }

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
