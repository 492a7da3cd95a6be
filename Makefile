# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
SIMULATOR_PORT ?= 8055

.PHONY: run test install lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## make run: the simulator + dreamweb with local storage, no key, no cloud
run: install
	$(BIN)/python -m dreamweb.demo --port $(PORT) --simulator-port $(SIMULATOR_PORT)

## make test: system packages (Chromium), lint, then the whole pytest suite
test: install
	bash .ci/install-system-packages.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/storage_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) build *.egg-info artifacts
