# Two commands for a fresh machine: `make run` (runtime only) and `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_VIDEO ?= build/demo.mp4
export TF_CPP_MIN_LOG_LEVEL ?= 2
# pip's cache would hold a second copy of every wheel (TensorFlow's alone is hundreds of MB); CI's disk
# has run out on it.
export PIP_NO_CACHE_DIR ?= 1

TRITON_VENV ?= .venv-triton

.PHONY: run test lint serve venv-runtime venv-all venv-triton clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The runtime only: numpy, OpenCV, onnxruntime-gpu, prometheus-client, paho-mqtt. No TensorFlow.
venv-runtime: $(BIN)/python
	$(BIN)/pip install -q -e .

# Everything: training and export (TensorFlow, tf2onnx), the test runner, benchmark plots, the
# inference server's client.
venv-all: $(BIN)/python
	$(BIN)/pip install -q -e '.[train,test,bench,remote]'

# Triton's own environment for `vigil serve`: PyPI's Triton server (nvidia-pytriton) pins numpy<2,
# so it cannot share the monitor's. It holds Vigil itself without dependencies, and what the server
# side needs of them (ONNX Runtime, OpenCV without GUI).
$(TRITON_VENV)/bin/python:
	$(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install -q --upgrade pip

venv-triton: $(TRITON_VENV)/bin/python
	$(TRITON_VENV)/bin/pip install -q nvidia-pytriton==0.7.0 onnxruntime==1.23.2 opencv-python-headless==4.11.0.86
	$(TRITON_VENV)/bin/pip install -q --no-deps -e .

# One inference server for many monitors: make serve BUNDLE=models/demo
BUNDLE ?= models/demo
serve: venv-runtime venv-triton
	$(BIN)/vigil serve $(BUNDLE)

$(DEMO_VIDEO): | venv-runtime
	$(BIN)/vigil synth --demo $(DEMO_VIDEO)

# The monitor on the demo video with the committed demo model (config.toml).
run: venv-runtime $(DEMO_VIDEO)
	$(BIN)/vigil run --config config.toml

test: venv-all venv-triton
	$(BIN)/python -m pytest -q

# Ruff, configured in pyproject.toml: formatting and lint (CI runs it after the tests).
lint: venv-all
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

clean:
	rm -rf build alerts .pytest_cache
