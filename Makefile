# Two commands matter: `make run` and `make test` (README.md). Everything bootstraps itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUTPUT_ROOT ?= outputs
MNIST_SOURCE ?= ../shared/datasets/mnist-10k
UV_VERSION := 0.13.9
FLAGS ?=

.PHONY: run test lint format data bench lock schema clean

# Creates .venv with Python 3.10 and installs the locked dependency set with uv.
$(STAMP): requirements.lock setup.py
	@test -x $(PY) || $$(scripts/find_python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	@touch $(STAMP)

$(OUTPUT_ROOT)/data/digits: | $(STAMP)
	$(PY) -m data.prepare digits $@

data: $(OUTPUT_ROOT)/data/digits

run: $(STAMP) data
	$(PY) -m pipeline.local_runner --output-root $(OUTPUT_ROOT) $(FLAGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pipeline.benchmark --mnist-source $(MNIST_SOURCE) $(FLAGS)

# Re-resolves requirements.in into the committed lock (needs the package registry).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile requirements.in --python-version 3.10 -o requirements.lock

# Writes the latest SchemaGen schema (a run with --use-schema-gen true) to SCHEMA_OUT, ready to curate.
schema: $(STAMP)
	$(PY) -m pipeline.refresh_schema --out $(SCHEMA_OUT) --output-root $(OUTPUT_ROOT) $(FLAGS)

clean:
	rm -rf $(OUTPUT_ROOT)
