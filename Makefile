# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install, migrate the database, serve (HOST/PORT, default 127.0.0.1:8000)
#   make test  - create .venv, install, run the whole test suite
# FLASK_SQLALCHEMY_DATABASE_URI picks the database (default: SQLite in instance/).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
THREADS ?= 4
PYTEST_ARGS ?=

.PHONY: run test venv migrate clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

venv: $(BIN)/.installed

migrate: venv
	$(BIN)/flask --app app db upgrade

# gthread workers keep client connections alive; no access log (a legacy client may put
# its client_secret in the query string, and secrets never go to logs).
run: migrate
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) \
	  --worker-class gthread --threads $(THREADS) --keep-alive 5 \
	  'app:create_app()'

test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
