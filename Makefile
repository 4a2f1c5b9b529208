# Two commands: `make run` starts Mailbridge, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test check lint typecheck bench clean system-deps

run: $(VENV)/.runtime
	$(BIN)/python app.py run

test: system-deps $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

system-deps:
	@sh scripts/system-deps.sh

$(VENV)/bin/python:
	@sh scripts/system-deps.sh
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12), "Mailbridge needs Python 3.11 or 3.12"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.txt
	@# flanker regenerates its parser tables on first import; do it once here, quietly.
	@$(BIN)/python -W ignore -c 'import flanker.addresslib.address' >/dev/null 2>&1
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
