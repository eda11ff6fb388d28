# The README's commands (test, bench, demo). Each builds .venv with uv when needed (installing uv with pip if missing).
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

# Static checkers find modules by folder, not through the editable install's import hook, so they read
# this tree of links laid out as the installed package is (README, "Development").
TREE := $(VENV)/tree

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-extras
	mkdir -p $(TREE)/rowrelay
	ln -sfn $(CURDIR)/flows/rowrelay/__init__.py $(CURDIR)/flows/rowrelay/py.typed $(TREE)/rowrelay/
	ln -sfn $(CURDIR)/flows $(TREE)/rowrelay/flows
	ln -sfn $(CURDIR)/tasks $(TREE)/rowrelay/tasks
	touch $@

venv: $(VENV)/.synced

demo: venv
	$(VENV)/bin/python -m rowrelay.flows.demo

test: venv lint typecheck contracts pytest

lint: venv
	$(VENV)/bin/ruff format --no-cache --check .
	$(VENV)/bin/ruff check --no-cache .

# The tests too, as strictly: they import rowrelay from the same tree (MYPYPATH), never from the checkout's
# folders, so each module is checked once under its installed name.
typecheck: venv
	MYPYPATH=$(TREE) $(VENV)/bin/mypy --strict -p rowrelay -p tests

contracts: venv
	PYTHONPATH=$(TREE) $(VENV)/bin/lint-imports --no-cache

# Three workers (pytest-xdist) on two cores, a test file to each at a time: most of the suite waits on
# real servers, processes and clusters rather than computing. On the 2-core VM two workers took 13 min
# and were idle a quarter of it; three took 11.2-11.6 min, with the files holding slow tests handed out first
# (tests/conftest.py). A file's tests stay together, in order, on one worker. Since then the suite has
# grown past what two cores do in that time: on 2026-12-03 three workers took 15.1 min and four 16.3 min,
# the cores 99% busy throughout (/proc/stat), so more workers only add contention. The CLI tests served
# by a warm runner and the usage errors forked from a preloaded process brought it to 9.9-11.2 min in four runs, 17 min in a fifth (README).
# xdist hands files out by their number of tests, most first (tests/conftest.py says why that is kept).
# Bytecode is written here even where PYTHONDONTWRITEBYTECODE is set, as for site-packages above: each
# worker rewrites the asserts of every test module it collects, and without the cache pytest keeps beside
# them it did so again in every worker of every run: collecting took 15.7-17.7 CPU-s a worker, 8.4-8.5
# from the cache (two runs each). A fresh clone's first run gains nothing: its workers collect at once.
# The checkout's __pycache__ folders are ignored by git.
pytest: venv
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/pytest -n 3 --dist loadfile

bench: venv
	$(VENV)/bin/python -m tests.benchmarks

clean:
	rm -rf $(VENV)
