# Two commands for a fresh clone:  `make run`  and  `make test`.
# `make run` installs what running needs (the base dependencies); `make test` adds the test extras
# (`.[dev]`: pytest, Playwright, moto, pandas...). Each has its own stamp, redone when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
ADDR ?= 127.0.0.1:$(PORT)
PYTEST_ARGS ?=
# Modules are compiled when first imported instead of all at install time (most are never imported).
PIP_INSTALL := $(PY) -m pip install -q --no-compile --disable-pip-version-check

.PHONY: run test install install-run lint

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(PY)
	@if [ $(VENV)/.installed-dev -nt pyproject.toml ]; then echo "test extras installed: running needs nothing more"; \
	else $(PIP_INSTALL) -e .; fi
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

install-run: $(VENV)/.installed-run

install: $(VENV)/.installed-dev

# Migrations, the demo project and the admin login in one process, then web, worker and beat.
run: install-run
	$(PY) manage.py run_all --prepare --addr $(ADDR)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
