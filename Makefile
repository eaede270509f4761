# persona-mining: one command each for the common jobs. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Offline and quiet (no model hub, no telemetry): every entry point (the CLI, the test session, the
# benches) sets that itself from persona_mining/environment.py, a value set by the user winning.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export NUMBA_CACHE_DIR ?= $(CURDIR)/.prefect/numba-cache
# pip's and uv's progress bars (downloads: count, rate, time left) on a terminal; quiet in CI
# and logs.
PIP_OUTPUT = $$(test -t 2 && echo --progress-bar=on || echo --quiet)
UV_OUTPUT = $$(test -t 2 || echo --quiet)

.PHONY: help setup demo serve status report test test-fast lint format typecheck clean bench

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# torch first, with pip: it takes the CPU build from local disk where one is (a plain resolve
# would fetch a CUDA build). uv then installs the rest, with the versions pip would choose, in
# seconds where pip takes about three minutes, and keeps that torch. It compiles their bytecode as
# pip does (about 50 s): where PYTHONDONTWRITEBYTECODE is set, nothing would write it later, and
# every process would compile transformers, BERTopic and Prefect from source again (BERTopic's
# import: 27 s against 13 s).
$(BIN)/persona-mining: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_OUTPUT) --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install $(PIP_OUTPUT) --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install $(UV_OUTPUT) --compile-bytecode --python $(BIN)/python -e '.[dev,scale]'
	touch $@

setup: $(BIN)/persona-mining ## Create .venv and install persona-mining with all its dependencies

demo: setup ## Generate the demo help desk, run the whole pipeline, print the issue-by-persona table
	$(BIN)/persona-mining demo

serve: setup ## Serve the nightly and refit deployments on their schedules (own Prefect server unless PREFECT_API_URL is set)
	$(BIN)/persona-mining serve

status: setup ## Show the last runs, the current topic model, the watermarks and whether a refit is due
	$(BIN)/persona-mining status

report: setup ## Write report.html (heatmap, persona cards, trends) from the warehouse
	$(BIN)/persona-mining report --out report.html

# Two workers (pytest-xdist): in one process the suite keeps a core busy about half the time, as
# it waits on the CLI runs and Prefect servers it starts. A worker takes whole modules, and one
# takes every module that reads the session's demo run (tests/conftest.py).
TEST_WORKERS ?= 2
test: setup ## Run the whole test suite (what CI runs; TEST_WORKERS=2 processes)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-fast: setup ## Run the unit tests while working: no end-to-end runs, real models or Prefect servers
	$(BIN)/python -m pytest -q -m "not slow and not heavy"

SIZES ?= 2000 20000
PROFILE ?= default
INCREMENTAL ?= 0
bench: setup ## Time every stage on generated demo data (SIZES="2000 20000"; 100000 1000000 on request) against a bare encode
	$(BIN)/python bench/run.py --sizes $(SIZES) --profile $(PROFILE) --incremental $(INCREMENTAL)

lint: setup ## ruff (lint and format check) and mypy
	$(BIN)/ruff check persona_mining flows tests
	$(BIN)/ruff format --check persona_mining flows tests
	$(BIN)/mypy persona_mining

format: setup ## Format the code with ruff
	$(BIN)/ruff format persona_mining flows tests
	$(BIN)/ruff check --fix persona_mining flows tests

clean: ## Remove the warehouse, saved models and caches (not .venv)
	rm -rf warehouse/*.duckdb warehouse/*.duckdb.wal warehouse/demo models/topics-* models/static-* .prefect .pytest_cache
