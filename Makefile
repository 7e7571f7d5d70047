# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install, migrate the database, serve (HOST/PORT, default 127.0.0.1:8000)
#   make test  - create .venv, install, lint, run the whole test suite (Debian's chromium,
#                for the browser tests, is installed when missing: bin/ensure-chromium)
# FLASK_SQLALCHEMY_DATABASE_URI picks the database (default: SQLite in instance/).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint chromium venv migrate bench clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

venv: $(BIN)/.installed

migrate: venv
	$(BIN)/flask --app app db upgrade

# The server and its settings live in bin/serve, which the benchmark starts too.
run: migrate
	HOST=$(HOST) PORT=$(PORT) bin/serve

# Load benchmark (not part of the tests): make bench BENCH_ARGS="--big-table --json out.json"
# or a soak run of mixed traffic with worker RSS over time: make bench BENCH_ARGS="--soak 600"
bench: venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# ruff's settings are in pyproject.toml; the whole tree, tests included.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The admin pages' browser tests drive Debian's chromium: installed when it is missing, or
# one line says how (bin/ensure-chromium).
chromium:
	bin/ensure-chromium

test: lint chromium
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
