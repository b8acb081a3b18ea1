# Tocsin developer commands. `make run` and `make test` are the two the README promises.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-sqlite test-postgres install install-test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

install: $(STAMP)

install-test: $(TEST_STAMP)

## Start Tocsin on SQLite under ./data with demo data, at http://127.0.0.1:8080
run: install
	$(BIN)/tocsin db upgrade
	$(BIN)/tocsin demo
	$(BIN)/tocsin serve

## The whole suite: SQLite always; PostgreSQL too when TOCSIN_TEST_POSTGRES_URL is set (CI).
test: install-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports
	TOCSIN_TEST_DB=sqlite $(BIN)/python -m pytest -p no:cacheprovider
	@if [ -n "$$TOCSIN_TEST_POSTGRES_URL" ]; then \
	  echo "== again on PostgreSQL"; \
	  TOCSIN_TEST_DB=postgres $(BIN)/python -m pytest -p no:cacheprovider; \
	else \
	  echo "(PostgreSQL run skipped: set TOCSIN_TEST_POSTGRES_URL to run the suite on it too)"; \
	fi

lint: install-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

format: install-test
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

## Benchmarks into docs/benchmarks.md (~8 minutes): ingestion vs Alertmanager 0.25 (Debian's wrk,
## prometheus-alertmanager), who is on call now, escalation timers, alert to first notification
## (aiosmtpd, from the test extra). `bench/run.py --quick` is a ~2 minute smoke run that only prints.
bench: install-test
	$(BIN)/python bench/run.py --write

clean:
	rm -rf $(VENV) data build dist src/*.egg-info
