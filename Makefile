# carbonfin — the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# Known-good versions (reproducible runs); `make CONSTRAINTS= test` installs the newest allowed.
CONSTRAINTS ?= constraints.txt

.PHONY: run test lint bench venv clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## run: create the venv, compile the numerical kernels once into their cache (so the first
## pricing command starts in about a second), migrate carbonfin.db (SQLite), load the sample
## market if empty, create demo API keys (printed once, kept in the git-ignored
## .carbonfin-demo-keys) and serve the HTTP API on http://127.0.0.1:8000 (docs at /docs) until Ctrl-C
run: $(STAMP)
	$(BIN)/carbonfin warmup
	$(BIN)/carbonfin serve --demo

## test: the whole test suite (PostgreSQL tests skip unless CARBONFIN_TEST_POSTGRES_URL is set) on
## two pytest-xdist workers, a test file per worker at a time (tests/conftest.py says what keeps
## them apart); `make test PYTEST_ARGS=` runs it in one process, PYTEST_ARGS="-n 2 --dist
## loadfile -x" stops at the first failure
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

## constraints: pin the dev venv's versions (after adding a dependency to pyproject.toml)
constraints: $(STAMP)
	{ sed -n '/^#/p' constraints.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^carbonfin' | grep -v '^#'; \
	} > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) carbonfin.db .pytest_cache .mypy_cache .ruff_cache
