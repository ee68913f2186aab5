# The two set-up commands of the README. Each creates .venv from the pinned requirements if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: plan test bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	chmod 600 tests/example/keys/a.berger tests/example/keys/m.keller  # git keeps no permissions; OpenSSH needs these
	touch $(STAMP)

## plan: offline plan and policy check of every shipped stack (no cloud account needed). The shipped stacks
## are the example: checked in example mode, with its published keys, as of the date pinned in tests/example.
plan: $(STAMP)
	$(BIN)/envctl --example plan
	$(BIN)/envctl --example check

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: the fleet benchmark (not a test; its figures are in the README)
bench: $(STAMP)
	$(BIN)/python bench/fleet.py --customers 100

clean:
	rm -rf $(VENV) .pytest_cache
