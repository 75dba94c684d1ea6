# Blocktime. The two commands:
#   make run    install, migrate, seed demo data, print an admin token and ACME's portal link, serve GraphiQL and /portal
#   make test   the suite on SQLite, then again on DATABASE_URL / REDIS_URL when they are set

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
BIN := .venv/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help install run test lint bench migration-check migration migration-initial

help:
	@echo "make run               install, migrate, seed demo data, print an admin token, serve http://$(HOST):$(PORT)/graphql"
	@echo "make test              pytest on SQLite, then on DATABASE_URL/REDIS_URL if set (PYTEST_ARGS=... to narrow)"
	@echo "make lint              ruff check, ruff format --check, mypy strict (accounting, models, api, workers)"
	@echo "make bench             benchmarks B1-B6 on local PostgreSQL/Redis (BENCH_ARGS=--only B1,B3)"
	@echo "make install           uv (bootstrapped with pip if missing) + uv sync --frozen into .venv"
	@echo "make migration-check   upgrade/check/downgrade the migrations on SQLite and PostgreSQL"
	@echo "make migration NAME=x  autogenerate the next revision from models/ (review it by hand)"
	@echo "make migration-initial regenerate the initial revision from models/ (only while unreleased)"

# A fresh machine may have nothing but Python: find uv, else install it for this user
# with pip (adding --break-system-packages where the OS Python is PEP 668-managed).
install:
	@set -e; \
	if command -v uv >/dev/null 2>&1; then uv="uv"; \
	elif $(PYTHON) -m uv --version >/dev/null 2>&1; then uv="$(PYTHON) -m uv"; \
	else \
	  echo "uv not found; installing it with: $(PYTHON) -m pip install --user uv"; \
	  export PIP_ROOT_USER_ACTION=ignore; \
	  $(PYTHON) -m pip install --user --quiet uv 2>/dev/null \
	    || $(PYTHON) -m pip install --user --quiet --break-system-packages uv; \
	  uv="$(PYTHON) -m uv"; \
	fi; \
	$$uv sync --frozen --quiet; \
	echo "environment ready: .venv ($$($(BIN)/python --version))"

# Ctrl-C stops the server gracefully (make then reports "Interrupt"); the SQLite file
# blocktime.db stays, so the next `make run` migrates nothing and seeds nothing twice.
run: install
	$(BIN)/blocktime db upgrade
	$(BIN)/blocktime demo
	@$(BIN)/blocktime token create --role ADMIN --name make-run
	@set -eo pipefail; portal_token="$$($(BIN)/blocktime token create --role CUSTOMER --company ACME --name make-run-portal | tail -n 1)"; \
	echo "GraphiQL: http://$(HOST):$(PORT)/graphql with the header {\"Authorization\": \"Bearer <the token above>\"}"; \
	echo "Portal:   http://$(HOST):$(PORT)/portal#token=$$portal_token (ACME's customer view; the token stays in the link's fragment, which browsers never send)"
	$(BIN)/blocktime serve --host $(HOST) --port $(PORT)

# Each pass ends with a line naming its backend and the number of tests that ran;
# both passes always run, and the target fails if either fails.
test: install
	@summary=(); status=0; \
	run_pass() { \
	  local label="$$1"; shift; \
	  local report; report="$$(mktemp)"; \
	  echo "==> pytest on $$label"; \
	  "$$@" $(BIN)/python -m pytest $(PYTEST_ARGS) --junitxml="$$report" -o junit_family=xunit2; \
	  local rc=$$?; \
	  local counts; counts="$$($(BIN)/python -c "$$COUNT_TESTS" "$$report" 2>/dev/null || echo 'no report')"; \
	  rm -f "$$report"; \
	  if [ "$$rc" -eq 5 ]; then counts="$$counts (no tests collected)"; rc=0; fi; \
	  local verdict=passed; [ "$$rc" -eq 0 ] || verdict="FAILED (pytest exit $$rc)"; \
	  summary+=("$$label: $$counts -> $$verdict"); \
	  echo "==> $${summary[-1]}"; \
	  return "$$rc"; \
	}; \
	run_pass "sqlite (temporary file, in-process broker)" env -u DATABASE_URL -u REDIS_URL || status=1; \
	if [ -n "$${DATABASE_URL:-}" ] || [ -n "$${REDIS_URL:-}" ]; then \
	  db="sqlite"; case "$${DATABASE_URL:-}" in postgresql*) db="postgresql";; esac; \
	  broker="in-process broker"; [ -z "$${REDIS_URL:-}" ] || broker="redis"; \
	  run_pass "$$db + $$broker (DATABASE_URL/REDIS_URL)" env || status=1; \
	fi; \
	echo; echo "Test summary:"; printf '  %s\n' "$${summary[@]}"; \
	exit $$status

# Reads pytest's JUnit report: how many tests ran, and how they ended.
export COUNT_TESTS := import sys, xml.etree.ElementTree as ET; \
root = ET.parse(sys.argv[1]).getroot(); \
suites = [root] if root.tag == "testsuite" else root.findall("testsuite"); \
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}; \
ran = n["tests"] - n["skipped"]; \
print(f"{ran} tests ran ({ran - n['failures'] - n['errors']} passed, {n['failures']} failed, {n['errors']} errors), {n['skipped']} skipped")

lint: install
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy accounting models api workers || status=1; \
	exit $$status

# Against the local PostgreSQL and Redis: a scratch database and Redis database 6 (never
# the suite's `test` database or Redis 0/1). BENCH_ARGS=... to pass e.g. --only B1,B3.
BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/6
BENCH_ARGS ?=
bench: install
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -m bench.run $(BENCH_ARGS)

# Upgrade to head, `alembic check` (no drift), downgrade to base and upgrade again, on
# a temporary SQLite file and on a throwaway PostgreSQL database (skipped if unreachable).
migration-check: install
	$(BIN)/python -m pytest -q tests/test_migrations.py

migration: install
	@[ -n "$(NAME)" ] || { echo "usage: make migration NAME=what_changed" >&2; exit 2; }
	$(BIN)/python -m migrations.runner revision "$(NAME)"
	$(BIN)/python -m pytest -q tests/test_migrations.py

migration-initial: install
	$(BIN)/python -m migrations.runner regenerate-initial
	$(BIN)/python -m pytest -q tests/test_migrations.py
