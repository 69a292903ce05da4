# Two commands matter: `make run` and `make test` (README.md). Everything bootstraps itself.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUTPUT_ROOT ?= outputs
MNIST_SOURCE ?= ../shared/datasets/mnist-10k
SERVING_DIR ?= $(OUTPUT_ROOT)/serving/digits-convnet
MODEL_NAME ?= digits
UI_PORT ?= 8502
UV_VERSION := 0.13.9
FLAGS ?=
# Where `make compile` and `make preflight` aim the job: vertex (Vertex AI Pipelines) or kfp (Kubeflow Pipelines 2).
TARGET ?= vertex

.PHONY: run test lint browser ui format data bench bench-peer bench-scale bench-serve lock schema compile preflight check-serving-tf notebooks clean tensorboard serve

# Creates .venv with Python 3.10 and installs the locked dependency set with uv.
$(STAMP): requirements.lock setup.py
	@test -x $(PY) || $$(scripts/find_python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --compile-bytecode --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	@touch $(STAMP)

$(OUTPUT_ROOT)/data/digits: | $(STAMP)
	$(PY) -m data.prepare digits $@

data: $(OUTPUT_ROOT)/data/digits

run: $(STAMP) data
	$(PY) local_runner.py --output-root $(OUTPUT_ROOT) $(FLAGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# pytest-xdist: one worker per core; a test module runs on one worker, so its module-scoped runs are made once.
TEST_WORKERS ?= 2
test: lint browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The web UI's tests drive a real Chromium: Debian's chromium and chromium-driver, installed when missing
# (as root, as on CI; otherwise the line says what to install).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "make: the UI tests need Chromium: apt-get install chromium chromium-driver (as root)" >&2; exit 1; fi; }

bench: $(STAMP)
	$(PY) -m benchmarks.cold_cached --mnist-source $(MNIST_SOURCE) $(FLAGS)

# This project against tfx/examples/mnist on the same data: wall time, accuracy, tuned vs default.
bench-peer: $(STAMP)
	$(PY) -m benchmarks.peer --mnist-source $(MNIST_SOURCE) $(FLAGS)

# The pipeline's cost from 10k to a million examples (jittered MNIST-10k): every component's time,
# peak memory of the whole run, disk, cached re-run; a log-log plot. About 21 minutes, plus preparing the data once.
bench-scale: $(STAMP)
	$(PY) -m benchmarks.scale --mnist-source $(MNIST_SOURCE) $(FLAGS)

# Throughput, p50/p99 latency and resident memory (100,000 requests, 10 hot swaps, 10 failed loads)
# of the REST server on loopback, batching on and off, on the newest version in SERVING_DIR.
bench-serve: $(STAMP)
	$(PY) -m benchmarks.rest_load --serving-dir $(SERVING_DIR) $(FLAGS)

# Re-resolves requirements.in into the committed lock (needs the package registry).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile requirements.in --python-version 3.10 -o requirements.lock

# Writes the latest SchemaGen schema (a run with --use-schema-gen true) to SCHEMA_OUT, ready to curate.
schema: $(STAMP)
	$(PY) -m inspection.schema --out $(SCHEMA_OUT) --output-root $(OUTPUT_ROOT) $(FLAGS)

# Compiles the pipeline for Vertex AI / Kubeflow Pipelines into $(OUTPUT_ROOT)/compiled/pipeline.json.
# CLOUD_CONFIG: a file like cloud.example.yaml (default: $$PIPELINE_CLOUD_CONFIG).
compile: $(STAMP)
	$(PY) kubeflow_v2_runner.py --output $(OUTPUT_ROOT)/compiled/pipeline.json --target $(TARGET) \
		$(if $(CLOUD_CONFIG),--cloud-config $(CLOUD_CONFIG))

# Runs what `cloud.submit` would send, task by task on this machine (TFX's container entrypoint per
# task; Vertex Training, Dataflow and the endpoint stand in locally) on the prepared digits, under
# $(OUTPUT_ROOT)/preflight/. CLOUD_CONFIG as for compile; PREFLIGHT_DATA replaces the gs:// data_root.
PREFLIGHT_DATA ?= $(OUTPUT_ROOT)/data/digits
preflight: $(STAMP) data
	$(PY) -m cloud.preflight --output-root $(OUTPUT_ROOT) --param data_root=$(abspath $(PREFLIGHT_DATA)) \
		--target $(TARGET) $(if $(CLOUD_CONFIG),--cloud-config $(CLOUD_CONFIG)) $(FLAGS)

# Loads the newest model in SERVING_DIR with the TensorFlow of the Vertex AI serving image the cloud
# config proposes (tf2-cpu.2-15: TensorFlow 2.15), installed alone in .venv-serving-tf, and checks that
# both signatures answer as they do here. Needs the package registry once.
SERVING_TF ?= 2.15.1
SERVING_TF_VENV := .venv-serving-tf
check-serving-tf: $(STAMP) data
	@test -x $(SERVING_TF_VENV)/bin/python || $(VENV)/bin/uv venv -q --python $$(scripts/find_python.sh) $(SERVING_TF_VENV)
	$(VENV)/bin/uv pip install -q --python $(SERVING_TF_VENV)/bin/python tensorflow-cpu==$(SERVING_TF)
	@model=$$(ls -d $(SERVING_DIR)/*/ | sort -n | tail -1); records=$$(ls $(OUTPUT_ROOT)/data/digits/*.tfrecord | head -1); \
	$(SERVING_TF_VENV)/bin/python scripts/serving_tf_check.py run $$model $$records $(OUTPUT_ROOT)/serving-tf-theirs.json && \
	$(PY) scripts/serving_tf_check.py run $$model $$records $(OUTPUT_ROOT)/serving-tf-ours.json && \
	$(PY) scripts/serving_tf_check.py compare $(OUTPUT_ROOT)/serving-tf-theirs.json $(OUTPUT_ROOT)/serving-tf-ours.json

# Opens JupyterLab on notebooks/; they read the run from $(OUTPUT_ROOT) (or PIPELINE_METADATA_PATH, PIPELINE_NAME).
# Jupyter refuses to run as root unless told to, which containers need.
NOTEBOOKS_PORT ?= 8888
notebooks: $(STAMP)
	PIPELINE_OUTPUT_ROOT=$(abspath $(OUTPUT_ROOT)) $(VENV)/bin/jupyter lab --notebook-dir=notebooks --port $(NOTEBOOKS_PORT) \
		$(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(OUTPUT_ROOT)

# TensorBoard on the Tuner's trials and the Trainer's epochs of every pipeline run under OUTPUT_ROOT.
TENSORBOARD_PORT ?= 6006
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir $(OUTPUT_ROOT)/pipelines --port $(TENSORBOARD_PORT)

# The web UI (ui/app.py) on loopback: the runs under OUTPUT_ROOT, and the model their Pusher wrote to try.
ui: $(STAMP)
	$(PY) -m ui --output-root $(OUTPUT_ROOT) --port $(UI_PORT) $(FLAGS)

# The REST server (TF Serving's API, port 8501) on the newest version the Pusher wrote to SERVING_DIR.
serve: $(STAMP)
	$(PY) -m serving.server --serving-dir $(SERVING_DIR) --model-name $(MODEL_NAME) $(FLAGS)
