# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install what production runs, migrate the database, serve
#                (HOST/PORT, default 127.0.0.1:8000)
#   make test  - create .venv, install the test tools too, lint, build the docs strict, run
#                the whole test suite (Debian's chromium, for the browser tests, is installed
#                when missing: bin/ensure-chromium; so is Debian's nginx, for the reverse-proxy
#                test: bin/ensure-nginx)
# FLASK_SQLALCHEMY_DATABASE_URI picks the database (default: SQLite in instance/).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint docs screenshots chromium nginx venv dev-venv migrate bench clean

# What production runs (requirements.txt) ...
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# ... and what tests, lint and the docs add (requirements-dev.txt).
$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

dev-venv: $(BIN)/.installed-dev

migrate: venv
	$(BIN)/flask --app app db upgrade

# The server and its settings live in bin/serve, which the benchmark starts too.
run: migrate
	HOST=$(HOST) PORT=$(PORT) bin/serve

# Load benchmark (not part of the tests): make bench BENCH_ARGS="--big-table --json out.json"
# or a soak run of mixed traffic with worker RSS over time: make bench BENCH_ARGS="--soak 600"
bench: dev-venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# ruff's settings are in pyproject.toml; the whole tree, tests included.
lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The docs site (mkdocs.yml, docs/) into site/; --strict: a broken link or anchor fails.
docs: dev-venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Debian's chromium for the admin pages' browser tests, installed when missing (or one
# line saying how, when this user cannot).
chromium:
	bin/ensure-chromium

# Debian's nginx for the reverse-proxy live test (tests/live/test_nginx.py), installed
# when missing (or one line saying how; the test is skipped then).
nginx:
	bin/ensure-nginx

# The admin pages' screenshots in the docs, taken by the browser test from the pages as they are.
screenshots: dev-venv chromium
	DOCS_SCREENSHOTS=docs/img $(BIN)/pytest -q tests/live/test_admin_browser.py

test: lint docs chromium nginx
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache site
