# pianogen — every entry point. `make book` and `make test` do all set-up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= data/midi
PROFILE ?= quick
# Artists trained at once. One more than the 2 cores here: 5 artists in 2 rounds of 3 and 2
# instead of 3 rounds of 2, 2, 1 whose last artist leaves a core idle for a third of the batch.
JOBS ?= 3
RUN_DIR ?= runs
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help venv sysdeps data book plateau test test-fast bench lab lint format clean

help:
	@echo "make book   - set up, build the default dataset, run every notebook per artist, build the book"
	@echo "make test   - set up and run the test suite (what CI runs)"
	@echo "make plateau - the paper's presets trained to a training-accuracy plateau (hours on a CPU)"
	@echo "make bench  - run the benchmarks, write benchmarks/results.json"
	@echo "make lab    - open the notebooks in JupyterLab with the project's kernel"
	@echo "make lint   - ruff format --check + ruff check"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name pianogen --display-name "pianogen (.venv)" >/dev/null
	@touch $(STAMP)

venv: $(STAMP)

# FluidSynth + a GM SoundFont (real piano audio) and Chromium (the browser test). Installed
# with apt when we are root and they are missing; otherwise pianogen falls back to its numpy
# synthesizer and the browser test says what to install.
sysdeps:
	@bash scripts/sysdeps.sh

$(DATA_DIR)/MANIFEST.json: | $(STAMP)
	$(BIN)/pianogen corpus --out $(DATA_DIR)

data: $(STAMP)
	@if [ "$(DATA_DIR)" = "data/midi" ]; then $(MAKE) --no-print-directory data/midi/MANIFEST.json; fi

# The book is built from every artist that succeeded even when one failed; the batch's
# failure still makes `make book` exit non-zero after the build, with its summary printed.
# Without benchmarks/results.json (a fresh clone) the performance chapter shows a short
# benchmark run (`--quick`) made here, and says so.
book: $(STAMP) sysdeps data
	@start=$$(date +%s); status=0; \
	$(BIN)/pianogen batch --data-dir $(DATA_DIR) --profile $(PROFILE) --jobs $(JOBS) --out $(RUN_DIR) || status=$$?; \
	if [ ! -f benchmarks/results.json ]; then \
	  echo "make book: no benchmark results yet: the short run (make bench for the full one)"; \
	  $(BIN)/python benchmarks/run_all.py --quick >benchmarks/quick.log 2>&1 || echo "make book: the short benchmark failed (benchmarks/quick.log)"; \
	fi; \
	$(BIN)/pianogen book --data-dir $(DATA_DIR) --profile $(PROFILE) --runs $(RUN_DIR) || exit $$?; \
	echo "make book: $$(( $$(date +%s) - start )) s"; exit $$status

# The paper's 83 % / 91 % tested to convergence (pianogen.plateau): its GRU and LSTM on the
# artist with the least data, both splits, until their training accuracy plateaus. Far past
# the book's budget on a CPU (see README); the next `make book` shows it in the results chapter.
plateau: $(STAMP) data
	$(BIN)/pianogen plateau --data-dir $(DATA_DIR) --out $(RUN_DIR)

test: $(STAMP) sysdeps lint
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP) sysdeps data
	$(BIN)/python benchmarks/run_all.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf book/_build book/artists book/generated book/_toc.yml runs .cache
