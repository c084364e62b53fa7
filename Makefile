# Two entry points: `make run` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   ?= .venv
# CUDA users: make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.comfy-core-installed

.PHONY: setup run test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(STAMP)
	$(BIN)/python tools/fetch_vocab.py

run: setup
	$(BIN)/python main.py $(ARGS)

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV)
