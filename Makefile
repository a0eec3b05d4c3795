# Lottery Ticket Hypothesis reproduction suite.
#   make install        create .venv and install the project (+dev extras)
#   make test           unit tests, then notebooks executed under nbval (smoke profile)
#   make reproduce-all  run every experiment notebook (PROFILE=quick|paper|smoke)
#   make reproduce NB=<name>   run a single notebook
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
NB      ?=
STAMP   := $(VENV)/.installed

.PHONY: all install test test-unit test-notebooks lint lab reproduce-all reproduce bench clean

all: test

install: $(STAMP)

# Re-runs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	@touch $(STAMP)

test: install test-unit test-notebooks

test-unit: install
	$(PY) -m pytest -q tests

test-notebooks: install
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		echo "LOTTERY_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks"; \
		LOTTERY_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks; \
	else \
		echo "no notebooks/*.ipynb yet; skipping notebook check"; \
	fi

lint: install
	$(PY) -m ruff check lottery tests benchmarks

lab: install
	cd notebooks && ../$(PY) -m jupyter lab

reproduce-all: install
	$(PY) -m lottery.reproduce --profile $(PROFILE)

reproduce: install
	@test -n "$(NB)" || { echo "usage: make reproduce NB=<notebook name> [PROFILE=quick]"; exit 2; }
	$(PY) -m lottery.reproduce --profile $(PROFILE) --only $(NB)

bench: install
	$(PY) benchmarks/run.py

# Never touches data/, runs/ or figures/.
clean:
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info

# Real datasets, md5-checked, into $LOTTERY_DATA (else ./data): make data [DATASETS="mnist kmnist"]
DATASETS ?= mnist fashion_mnist cifar10
.PHONY: data
data: install
	$(PY) -m lottery.download $(DATASETS)
