# Quick start: `make run` serves the demo on http://127.0.0.1:5000, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app wsgi
# Two test processes: the suite is written to run in parallel (each test has its own database).
PYTEST_ARGS ?= -n 2

.PHONY: run test test-pg e2e lint install install-test translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The demo's links (e-mails, certificate QR codes) point at the address it is served on.
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load
	@echo
	@echo "Serving on http://127.0.0.1:$(PORT)  (Ctrl+C to stop)"
	$(BIN)/python -m flask --app wsgi run --host 127.0.0.1 --port $(PORT)

# The whole suite on SQLite; with TEST_DATABASE_URL set, on PostgreSQL.
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Static checks: mypy on training/ (configured in pyproject.toml, which lists the modules held to strict).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy training

translations: install-test
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o training/translations/messages.pot .
	$(BIN)/pybabel update -i training/translations/messages.pot -d training/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d training/translations

clean:
	rm -rf $(VENV) instance/*.db instance/mail
