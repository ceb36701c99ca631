# Two commands on a fresh machine: `make quickstart` (the main job) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install quickstart test test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first and pinned: the local CPU wheel; a looser spec would pull gigabytes of CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,onnx,mine]'
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(BIN)/e2edrive quickstart

test: install
	$(BIN)/python -m pytest -q -x --durations=15

test-slow: install
	$(BIN)/python -m pytest -q -m slow --durations=15

lint: install
	$(BIN)/ruff check e2edrive tests bench scripts
	$(BIN)/ruff format --check e2edrive tests bench scripts

bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.world_steps
	$(BIN)/python -m bench.render
	$(BIN)/python -m bench.latency

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
