# calsync: `make run` serves the app with its workers; `make test` runs lint and the whole suite.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
INSTALLED := $(VENV)/.installed

# The test suite's services: PostgreSQL and Redis on this machine (override to point elsewhere).
# The suite runs in TEST_WORKERS pytest-xdist processes (0: in this one). Worker N has its own database,
# test_<name>_gwN, and Redis database (TEST_REDIS_URL's minus N: 15 and 14 by default); a second run beside
# this one needs its own names, e.g. TEST_DATABASE_URL=.../calsync_b TEST_REDIS_URL=redis://127.0.0.1:6379/11.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/calsync
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_WORKERS ?= 2
# Throw-away secrets for tests only; DEBUG stays off so the suite runs the production code paths.
TEST_ENV := DEBUG=0 \
	DATABASE_URL=$(TEST_DATABASE_URL) \
	REDIS_URL=$(TEST_REDIS_URL) \
	SECRET_KEY=test-secret-key-not-for-production \
	ENCRYPTION_KEYS=test:Y2Fsc3luYy10ZXN0LXN1aXRlLWtleS0zMi1ieXRlcyE=

.PHONY: help install run test lint audit bench soak lock clean chromium

help:
	@echo "make run    serve calsync with a Celery worker and beat (SQLite and a folder broker unless configured)"
	@echo "make test   lint, then the whole test suite against PostgreSQL and Redis on 127.0.0.1"
	@echo "make lint   ruff, mypy, bandit and the import contracts (lint-imports)"
	@echo "make audit  pip-audit of the locked dependencies"
	@echo "make bench  performance benchmarks"
	@echo "make soak   signed-in users browse under gunicorn while workers sync; then the data check"
	@echo "make lock   re-resolve requirements/*.txt from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One command reproduces the locked versions: pip install --require-hashes -r requirements/dev.txt
$(INSTALLED): requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

install: $(INSTALLED)

# The demo: a Radicale CalDAV server on loopback over TLS (its own authority, trusted through
# REQUESTS_CA_BUNDLE) holding the demo account's calendar; `seed_demo` connects and syncs it.
DEMO_DIR ?= $(or $(CALSYNC_VAR_DIR),var)/demo
DEMO_CALDAV_PORT ?= 5232
DEMO_ENV := DEMO_DIR=$(abspath $(DEMO_DIR)) DEMO_CALDAV_PORT=$(DEMO_CALDAV_PORT) \
	REQUESTS_CA_BUNDLE=$(abspath $(DEMO_DIR))/ca-bundle.pem CALDAV_PRIVATE_NETWORKS=127.0.0.1/32

run: $(INSTALLED)
	DEBUG=1 $(BIN)/honcho run $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/honcho run $(BIN)/python manage.py setup_periodic_tasks
	$(BIN)/python -m demo.caldav_server prepare --folder $(DEMO_DIR) --port $(DEMO_CALDAV_PORT)
	@echo
	@echo "  calsync is starting at  http://127.0.0.1:$(PORT)/"
	@echo "  sign in as  demo@example.com  with password  calsync-demo  (synced from the demo CalDAV server"
	@echo "  at https://127.0.0.1:$(DEMO_CALDAV_PORT)/, user demo, password demo; the README says how to edit it)"
	@echo "  admin: create a staff account with  .venv/bin/python manage.py createsuperuser  (with DEBUG=1)"
	@echo
	DEBUG=1 $(DEMO_ENV) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho -f Procfile.dev start -p $(PORT)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) $(BIN)/mypy .
	$(BIN)/bandit -q -c pyproject.toml -r .
	$(BIN)/lint-imports --no-cache

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint chromium
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

audit: $(INSTALLED)
	$(BIN)/pip-audit --strict --disable-pip -r requirements/base.txt

# The bench's own database (created and migrated here; never the developer's) and Redis database.
# BENCH_ARGS=--quick for a short run, --only 3,4,5 for some items; BENCH_<SIZE>=n sets one size (bench/config.py).
# Items 1, 2 and 6 read the data set: `python -m bench.dataset --users N` with the same DATABASE_URL.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/calsync_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/5
BENCH_ENV := DEBUG=0 \
	DATABASE_URL=$(BENCH_DATABASE_URL) \
	REDIS_URL=$(BENCH_REDIS_URL) \
	SECRET_KEY=bench-secret-key-not-for-production \
	ENCRYPTION_KEYS=test:Y2Fsc3luYy10ZXN0LXN1aXRlLWtleS0zMi1ieXRlcyE=
BENCH_ARGS ?=

bench: $(INSTALLED)
	$(BENCH_ENV) $(BIN)/python -m bench.database
	$(BENCH_ENV) $(BIN)/python manage.py migrate --noinput -v0
	$(BENCH_ENV) $(BIN)/python -m bench $(BENCH_ARGS)

# The soak's own database (created and migrated here) and Redis database; all load stays on 127.0.0.1.
# SOAK_ARGS="--users 40 --seconds 300" for a longer one; the report goes to var/soak/results.md.
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/calsync_soak
SOAK_REDIS_URL ?= redis://127.0.0.1:6379/6
SOAK_ENV := DEBUG=0 \
	DATABASE_URL=$(SOAK_DATABASE_URL) \
	REDIS_URL=$(SOAK_REDIS_URL) \
	SECRET_KEY=soak-secret-key-not-for-production \
	ENCRYPTION_KEYS=test:Y2Fsc3luYy10ZXN0LXN1aXRlLWtleS0zMi1ieXRlcyE=
SOAK_ARGS ?=

soak: $(INSTALLED)
	$(SOAK_ENV) $(BIN)/python -m soak.database
	$(SOAK_ENV) $(BIN)/python manage.py migrate --noinput -v0
	$(SOAK_ENV) $(BIN)/python -m soak $(SOAK_ARGS)

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra dev -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
