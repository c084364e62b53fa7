# Two entry points: `make run` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   ?= .venv
# CUDA users: make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.comfy-core-installed

.PHONY: setup web web-test run test test-slow lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(STAMP)
	$(BIN)/python tools/fetch_vocab.py

# The browser editor's one npm dependency (web/package-lock.json); no build step.
web:
	@if [ ! -f web/node_modules/@comfyorg/litegraph/dist/litegraph.es.js ]; then \
	  if command -v npm >/dev/null; then cd web && npm ci --no-audit --no-fund; \
	  else echo "npm not found: the editor in web/ will not load (install nodejs/npm)"; fi; fi

# Browser tests drive Debian's chromium; installed here only when missing and we are root.
web-test: web
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

run: setup web
	$(BIN)/python main.py $(ARGS)

test: setup web-test
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV)
