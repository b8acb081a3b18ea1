# Tocsin developer commands. `make run` and `make test` are the two the README promises.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POSTGRES_LOG := $(or $(TMPDIR),/tmp)/tocsin-test-postgres.log

.PHONY: run test test-sqlite test-postgres install synapse oidc-provider lint typecheck format bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The exact versions of requirements.lock, then Tocsin itself (editable) without resolving.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

install: $(STAMP)

## The Synapse homeserver the Matrix chat tests start, in its own virtualenv (its
## dependencies never mix with Tocsin's), at the exact versions of requirements-synapse.lock.
SYNAPSE_VENV ?= .venv-synapse
SYNAPSE_STAMP := $(SYNAPSE_VENV)/.installed
$(SYNAPSE_STAMP): requirements-synapse.lock
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SYNAPSE_VENV)/bin/python -m pip install -q --no-deps -r requirements-synapse.lock
	@touch $@

synapse: $(SYNAPSE_STAMP)

## The certified OpenID provider the single sign-on tests start (oidc-provider on Node), at the
## exact versions of tests/auth/oidc/package-lock.json.
OIDC_DIR := tests/auth/oidc
OIDC_STAMP := $(OIDC_DIR)/node_modules/.installed
$(OIDC_STAMP): $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	cd $(OIDC_DIR) && npm ci --no-audit --no-fund --silent
	@touch $@

oidc-provider: $(OIDC_STAMP)

## Start Tocsin on SQLite under ./data with demo data, at http://127.0.0.1:8080
run: install
	$(BIN)/tocsin db upgrade
	$(BIN)/tocsin demo
	$(BIN)/tocsin serve

## Lint, then the whole suite: SQLite always; PostgreSQL too (at the same time, in a second
## process) when TOCSIN_TEST_POSTGRES_URL is set (CI). The OpenAPI conformance run (about
## 3 minutes) checks the HTTP contract, the same on both databases: it runs with SQLite, the
## shorter of the two suites, so that CI stays under 15 minutes.
CONFORMANCE := tests/test_openapi_conformance.py
test: lint synapse oidc-provider
	@if [ -n "$$TOCSIN_TEST_POSTGRES_URL" ]; then \
	  echo "== the suite on SQLite and, at the same time, on PostgreSQL ($(POSTGRES_LOG))"; \
	  TOCSIN_TEST_DB=postgres $(BIN)/python -m pytest -p no:cacheprovider -q --durations=25 \
	    --deselect $(CONFORMANCE) > $(POSTGRES_LOG) 2>&1 & \
	  pg=$$!; \
	  TOCSIN_TEST_DB=sqlite $(BIN)/python -m pytest -p no:cacheprovider --durations=25; sqlite=$$?; \
	  wait $$pg; postgres=$$?; \
	  echo "== PostgreSQL"; tail -n 60 $(POSTGRES_LOG); \
	  echo "== SQLite exit $$sqlite, PostgreSQL exit $$postgres"; \
	  test $$sqlite -eq 0 -a $$postgres -eq 0; \
	else \
	  TOCSIN_TEST_DB=sqlite $(BIN)/python -m pytest -p no:cacheprovider; \
	  echo "(PostgreSQL run skipped: set TOCSIN_TEST_POSTGRES_URL to run the suite on it too)"; \
	fi

test-sqlite: install synapse oidc-provider
	TOCSIN_TEST_DB=sqlite $(BIN)/python -m pytest -p no:cacheprovider

test-postgres: install synapse oidc-provider
	TOCSIN_TEST_DB=postgres $(BIN)/python -m pytest -p no:cacheprovider

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

## Pin the exact versions of every dependency (after changing pyproject.toml).
lock: | $(BIN)/python
	$(BIN)/python -m pip install -q "pip-tools>=7.4,<8"
	$(BIN)/pip-compile -q --extra test --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links -o requirements.lock pyproject.toml

## Benchmarks into docs/benchmarks.md (~35 minutes): a storm that pages, steady repeats against
## Alertmanager 0.25 on SQLite and PostgreSQL (Debian's wrk, prometheus-alertmanager, the local
## PostgreSQL server or TOCSIN_BENCH_POSTGRES_URL), who is on call now, escalation timers, alert to
## first notification (aiosmtpd, from the test extra), the status page, the Insights pages on a
## generated history of 100,000 incidents (about 15 more minutes, both databases).
## `bench/run.py --quick` is a smoke run of every part (a few minutes) that only prints.
bench: install
	$(BIN)/python bench/run.py --write

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) data build dist src/*.egg-info
