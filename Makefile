# Two commands on a fresh machine: `make run` (the whole system) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

# Development defaults for `make run`; override any of them in the environment.
export BOOTSTRAP_ADMIN_EMAIL ?= admin@example.com
export BOOTSTRAP_ADMIN_PASSWORD ?= Admin-password-1

.PHONY: install run test test-unit lint format bench migrate services lock clean

install: $(STAMP)  ## create .venv and install the pinned dependencies

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip sync -q -p $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@

services:  ## start the local PostgreSQL and RabbitMQ if installed and not running
	@bash deploy/ensure-local-services.sh

run: install services  ## migrate and start every service; Ctrl-C stops them
	$(BIN)/python -m deploy.local

migrate: install  ## create the database if needed and migrate every schema
	$(BIN)/python -m servicekit.migrations

test: install services  ## the whole suite against real RabbitMQ and Postgres
	$(BIN)/pytest

test-unit: install  ## the use cases and rules in process: no Postgres, no RabbitMQ
	$(BIN)/pytest tests/unit -q

lint: install  ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install services  ## throughput and latency of the request path, printed and saved
	$(BIN)/python -m bench

lock:  ## re-pin dependencies after editing pyproject.toml
	$(BIN)/uv pip compile -q pyproject.toml --extra dev -o requirements.lock -p $(BIN)/python

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
