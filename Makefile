# `make demo` and `make test` each set up .venv on their own (Python 3.11, CPU torch from local disk).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/refinery: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(BIN)/refinery

demo: setup
	$(BIN)/refinery run configs/sample.yaml

test: setup
	$(BIN)/python -m pytest -q

.PHONY: setup demo test
