# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install what production runs, migrate the database, serve
#                (HOST/PORT, default 127.0.0.1:8000)
#   make test  - create .venv, install the test tools too, lint, audit the pinned set for known
#                vulnerabilities (skipped, saying so, without a network), build the docs
#                strict, run the whole test suite (Debian's chromium, for the browser tests,
#                and Debian's nginx, for the reverse-proxy test, are installed when missing:
#                bin/ensure-chromium, bin/ensure-nginx)
# FLASK_SQLALCHEMY_DATABASE_URI picks the database (default: SQLite in instance/).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint audit lock docs screenshots chromium nginx venv dev-venv migrate bench clean

# What production runs (requirements.txt) ... Both files are pinned with hashes (`make lock`
# writes them from requirements.in and requirements-dev.in) and installed --require-hashes:
# a file whose hash is not in them is refused. pip itself is brought to the dev set's version.
PIP_PIN = $(shell sed -n 's/^\(pip==[0-9.]*\).*/\1/p' requirements-dev.txt)

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(PIP_PIN)"
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

# ... and what tests, lint and the docs add (requirements-dev.txt: all of requirements.txt at
# the same versions, and the rest).
$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

dev-venv: $(BIN)/.installed-dev

migrate: venv
	$(BIN)/flask --app app db upgrade

# The server and its settings live in bin/serve, which the benchmark starts too.
run: migrate
	HOST=$(HOST) PORT=$(PORT) bin/serve

# Load benchmark (not part of the tests): make bench BENCH_ARGS="--big-table --json out.json";
# --floor (the framework-free floor), --peers (Authlib and django-oauth-toolkit, in their own
# .venv-peers), --targets (issue 22's, exit 1 unless met); or a soak run of mixed traffic
# with worker RSS over time: make bench BENCH_ARGS="--soak 600"
bench: dev-venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# ruff's settings are in pyproject.toml; the whole tree, tests included.
lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Known vulnerabilities in the pinned set (pip-audit, pinned in requirements-dev.txt); without
# a vulnerability service to ask (no network), one line says it was skipped. bin/audit-deps.
audit: dev-venv
	$(BIN)/python bin/audit-deps

# requirements.txt and requirements-dev.txt, with hashes, from the .in files (pip-tools, pinned
# in the dev set). A pin already in a .txt file is kept; a new or changed requirement in a .in
# file gets the newest version that fits. Run after editing a .in file, and commit all four.
# To move one package on: make lock LOCK_ARGS="--upgrade-package flask".
LOCK_ARGS ?=
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--no-emit-find-links --no-emit-index-url --strip-extras $(LOCK_ARGS)
lock: dev-venv
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --allow-unsafe --output-file requirements-dev.txt requirements-dev.in

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

# The tests marked slow (real servers, mostly waiting) run beside the others: bin/run-tests.
test: lint audit docs chromium nginx
	$(BIN)/python bin/run-tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache site
