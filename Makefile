# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format services clean

# A virtualenv with openstoq and its test tools, rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "openstoq needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

## run: install what is needed and serve openstoq on its embedded default (SQLite in ./.openstoq), with a demo shop
## (make run PORT=8001 for another port)
run: $(VENV)/.installed
	$(BIN)/openstoq serve --demo --port $(PORT)

## test: lint, type-check, check the layers, then the whole suite on SQLite and PostgreSQL
## (starts PostgreSQL and Redis when they are down)
test: $(VENV)/.installed services
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

services:
	@scripts/services

format: $(VENV)/.installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
