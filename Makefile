# tibcpt — every target calls the `tibcpt` CLI inside the project virtualenv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TIBCPT := $(VENV)/bin/tibcpt
SOURCES ?= sources.yaml
OUT ?= out
WORKERS ?= $(shell nproc)
export TIBCPT_SAMPLE ?= ../shared/corpus

.PHONY: setup test test-fast lint format corpus tokenizer pack train base-model generate publish bench clean

setup:  ## virtualenv + torch CPU wheel first + the project with dev extras
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'

test:  ## whole suite (slow end-to-end tests included)
	$(VENV)/bin/pytest -q

test-fast:
	$(VENV)/bin/pytest -q -m 'not slow'

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

corpus:  ## sources.yaml -> out/corpus (clean text shards + manifest)
	$(TIBCPT) corpus --sources $(SOURCES) --out $(OUT)/corpus --workers $(WORKERS)

clean:
	rm -rf $(OUT)
