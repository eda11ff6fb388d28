# The README's two commands. Each builds .venv with uv when needed (installing uv with pip if missing).
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the one pip installs next to $(PYTHON) (run as `python -m uv`).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile site-packages to bytecode once at install: with PYTHONDONTWRITEBYTECODE set (as on CI
# machines), every process would otherwise recompile Prefect, pandas and the SDK at import.
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint typecheck contracts pytest bench venv clean

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	touch $@

venv: $(VENV)/.synced

demo: venv
	$(VENV)/bin/python -m flows.demo

test: venv lint typecheck contracts pytest

lint: venv
	$(VENV)/bin/ruff format --no-cache --check .
	$(VENV)/bin/ruff check --no-cache .

typecheck: venv
	$(VENV)/bin/mypy --strict flows tasks

contracts: venv
	$(VENV)/bin/lint-imports

pytest: venv
	$(VENV)/bin/pytest

bench: venv
	$(VENV)/bin/python -m tests.benchmarks

clean:
	rm -rf $(VENV)
