# clvlake: the two commands are `make demo` and `make test`. Everything installs itself into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  ?= 2026-01-01
CUSTOMERS ?= 10000
CONF   ?= conf/local.yml
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint clean clean-lake

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m clvlake.jars
	touch $(STAMP)

install: $(STAMP)

## demo: install, generate $(CUSTOMERS) customers, run ingest → features → train → score, print the tier table
demo: $(STAMP)
	$(BIN)/clv generate --conf $(CONF) --customers $(CUSTOMERS) --seed 42
	$(BIN)/clv pipeline --conf $(CONF) --as-of $(AS_OF)

## test: install and run the whole test suite (slow tests included)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check lib jobs scripts tests
	$(BIN)/ruff format --check lib jobs scripts tests

clean-lake:
	rm -rf lakehouse data

clean: clean-lake
	rm -rf $(VENV) build dist *.egg-info lib/*.egg-info
