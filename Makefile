# Two commands for a fresh machine: `make run` (runtime only) and `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_BUNDLE ?= build/demo-bundle
FOOTAGE ?= ../shared/data/footage/vtest.avi
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test venv-runtime venv-all demo-bundle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv-runtime: $(BIN)/python
	$(BIN)/pip install -q -e .

venv-all: $(BIN)/python
	$(BIN)/pip install -q -e '.[train,test]'

# Until the trained demo model is committed, the demo exports a freshly built compact
# convRNN (the export round-trip needs the 'train' extra) and explains a window with the runtime.
$(DEMO_BUNDLE)/manifest.json:
	$(MAKE) venv-all
	$(BIN)/vigil export --new compact --frames 16 --size 128 --out $(DEMO_BUNDLE)

demo-bundle: $(DEMO_BUNDLE)/manifest.json

run: venv-runtime demo-bundle
	$(BIN)/vigil inspect $(DEMO_BUNDLE) $(if $(wildcard $(FOOTAGE)),--video $(FOOTAGE),)

test: venv-all
	$(BIN)/python -m pytest -q

clean:
	rm -rf build .pytest_cache
