# setup · run · test · bench — every target works on a fresh clone (setup is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
VC := $(VENV)/bin/visdom-chaos
export VISDOM_CHAOS_CACHE ?= $(CURDIR)/.cache
STAMP := $(VENV)/.installed

.PHONY: setup targets run test test-fast bench lint format clean

setup: $(STAMP) targets

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,browser]'
	touch $@

# Visdom targets in their own virtual environments under $(VISDOM_CHAOS_CACHE);
# 0.3.0 needs Python 3.12 and is skipped with a clear message where there is none.
targets: $(STAMP)
	$(VC) target build 0.2.4
	$(VC) target build 0.3.0 || echo "note: target 0.3.0 unavailable (see message above); its tests will skip"

run: setup
	$(VC) run

test: setup
	$(VENV)/bin/pytest

# pure logic only (no Visdom process, no browser, nothing slow): a couple of minutes
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not visdom and not browser and not slow"

bench: setup
	$(PY) -m bench

# what CI checks before the tests: the format, the linter, the type checker (.ci/typecheck)
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	VENV=$(VENV) .ci/typecheck

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .cache reports/runs reports/latest
