# Doorstep: `make run` to try it, `make test` to test it. Both start from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench i18n clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(STAMP)
	$(BIN)/doorstep dev

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/notify.py

# Re-extract the message catalogue and merge it into each locale's .po file.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o templates/locale/messages.pot --no-location --omit-header .
	for l in es fr; do $(BIN)/pybabel update -i templates/locale/messages.pot -d templates/locale -l $$l --no-fuzzy-matching -w 100 --omit-header; done
	$(BIN)/pybabel compile -d templates/locale --statistics

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
