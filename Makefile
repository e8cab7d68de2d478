# Two commands for a fresh machine: `make run` (runtime only) and `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_VIDEO ?= build/demo.mp4
export TF_CPP_MIN_LOG_LEVEL ?= 2
# pip's cache would hold a second copy of every wheel (TensorFlow's alone is hundreds of MB); CI's disk
# has run out on it.
export PIP_NO_CACHE_DIR ?= 1

.PHONY: run test lint venv-runtime venv-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The runtime only: numpy, OpenCV, onnxruntime-gpu, prometheus-client, paho-mqtt. No TensorFlow.
venv-runtime: $(BIN)/python
	$(BIN)/pip install -q -e .

# Everything: training and export (TensorFlow, tf2onnx), the test runner, benchmark plots.
venv-all: $(BIN)/python
	$(BIN)/pip install -q -e '.[train,test,bench]'

$(DEMO_VIDEO): | venv-runtime
	$(BIN)/vigil synth --demo $(DEMO_VIDEO)

# The monitor on the demo video with the committed demo model (config.toml).
run: venv-runtime $(DEMO_VIDEO)
	$(BIN)/vigil run --config config.toml

test: venv-all
	$(BIN)/python -m pytest -q

# Ruff, configured in pyproject.toml: formatting and lint (CI runs it after the tests).
lint: venv-all
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

clean:
	rm -rf build alerts .pytest_cache
