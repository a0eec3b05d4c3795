# Lottery Ticket Hypothesis reproduction suite.
#   make install        create .venv and install the project (+dev extras) at the locked versions
#   make lock           re-resolve the dependencies and rewrite requirements/constraints.txt
#   make test           import contracts, unit tests, then notebooks under nbval (smoke profile)
#   make reproduce-all  run every experiment notebook (PROFILE=quick|paper|smoke) that fits
#                       BUDGET (default: 1h on a CPU, 8h on a GPU; BUDGET=none: no limit)
#   make reproduce NB=<name> [P="dropout=True trials=3"]   run one notebook with parameters
#   make estimate [NB=<name>]   how long each notebook would take here, without running it
#   make lab            JupyterLab on notebooks/ (as root too: --allow-root is added then)
#   make bench          engine speed benchmark -> benchmarks/RESULTS.md (about 30 min on 2 cores)
#   make gpu-check      every GPU path a few iterations, one table (< 5 min on a GPU; on a CPU
#                       the CPU-capable paths, tiny); on CUDA it writes benchmarks/RESULTS-gpu.md
#   EXECUTOR=ray        train on Ray (a local instance, or the cluster at $RAY_ADDRESS)
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
NB      ?=
# local (in this process) or ray; empty: $LOTTERY_EXECUTOR as set, else local
EXECUTOR ?=
RUN_ENV := $(if $(strip $(EXECUTOR)),LOTTERY_EXECUTOR=$(EXECUTOR) ,)
# notebook parameters, NAME=VALUE separated by spaces, values as Python literals
P       ?=
# e.g. 90m, 2h, none (empty: reproduce's default for the device)
BUDGET  ?=
STAMP   := $(VENV)/.installed
# Exact versions of every dependency (`make lock` rewrites it); `CONSTRAINTS=` installs unpinned.
CONSTRAINTS ?= requirements/constraints.txt
# A PyTorch wheel index (https://download.pytorch.org/whl/cu126, .../cpu, ...): torch and
# torchvision come from there, and the lock's CUDA runtime pins (which fit PyPI's torch) are dropped.
TORCH_INDEX ?=
CUDA_PINS := ^(triton|nvidia-.*|cuda-.*)==
# The constraints this install applied, kept for tests/test_lock.py.
PINS    := $(VENV)/constraints.txt

ifeq ($(strip $(CONSTRAINTS)),)
TORCH_REQS := torch torchvision
PIN_CMD    := : > $(PINS)
else
TORCH_REQS  = $(shell grep -E '^(torch|torchvision)==' $(CONSTRAINTS))
ifeq ($(strip $(TORCH_INDEX)),)
PIN_CMD    := cp $(CONSTRAINTS) $(PINS)
else
PIN_CMD    := grep -Ev '$(CUDA_PINS)' $(CONSTRAINTS) > $(PINS)
endif
endif

.PHONY: all install lock test test-unit test-notebooks imports lint lab reproduce-all reproduce bench clean
.PHONY: estimate gpu-check

all: test

install: $(STAMP)

# Re-runs only when pyproject.toml or the lock changes (or the venv is missing).
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifneq ($(strip $(TORCH_INDEX)),)
	$(PY) -m pip install --index-url $(TORCH_INDEX) $(TORCH_REQS)
endif
	$(PIN_CMD)
	$(PY) -m pip install -c $(PINS) -e '.[dev,cluster]'
	@touch $(STAMP)

# Unconstrained resolve of every extra in a throwaway venv; commit the rewritten file.
lock:
	requirements/lock.sh $(PYTHON)

test: install test-unit test-notebooks

# The notebooks' smoke runs keep their store here, never in runs/ (kept between runs so a second
# `make test` loads the smoke networks; `make clean` removes it with the rest of .pytest_cache)
TEST_RUNS ?= $(abspath .pytest_cache/lottery-runs)

test-unit: install imports
	$(PY) -m pytest -q tests

# The package's floors (pyproject's [tool.importlinter] contracts): imports only point down.
imports: install
	$(VENV)/bin/lint-imports

test-notebooks: install
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		echo "LOTTERY_RUNS=$(TEST_RUNS) LOTTERY_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks"; \
		LOTTERY_RUNS=$(TEST_RUNS) LOTTERY_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks; \
	else \
		echo "no notebooks/*.ipynb yet; skipping notebook check"; \
	fi

lint: install
	$(PY) -m ruff check lottery tests benchmarks

# --allow-root is added when the user is root (lottery/run/lab.py); LAB_ARGS pass through
LAB_ARGS ?=
lab: install
	cd notebooks && ../$(PY) -m lottery.run.lab $(LAB_ARGS)

# P reaches reproduce through the environment, so its quotes and brackets arrive intact
export LOTTERY_PARAMS = $(P)
REPRODUCE = $(PY) -m lottery.run.reproduce --profile $(PROFILE) --param "$$LOTTERY_PARAMS" \
	$(if $(BUDGET),--budget $(BUDGET))

reproduce-all: install
	$(RUN_ENV)$(REPRODUCE)

reproduce: install
	@test -n "$(NB)" || { echo "usage: make reproduce NB=<notebook name> [PROFILE=quick] [P=\"name=value ...\"]"; exit 2; }
	$(RUN_ENV)$(REPRODUCE) --only $(NB)

estimate: install
	$(RUN_ENV)$(REPRODUCE) $(if $(NB),--only $(NB)) --estimate-only

gpu-check: install
	$(PY) benchmarks/gpu_check.py --write benchmarks/RESULTS-gpu.md

# Sections 7-8 also time the engine at BENCH_BEFORE (main when issue #19 was opened: before the
# sparse path and the fixed-cost work), checked out once under .bench/; BENCH_BEFORE= skips it.
BENCH_BEFORE ?= 49ba3e0
BENCH_TREE   := .bench/before-$(BENCH_BEFORE)
bench: install
ifneq ($(strip $(BENCH_BEFORE)),)
	@test -d $(BENCH_TREE) || git worktree add --detach $(BENCH_TREE) $(BENCH_BEFORE)
	LOTTERY_BENCH_BEFORE=$(abspath $(BENCH_TREE)) $(PY) benchmarks/run.py
else
	$(PY) benchmarks/run.py
endif

# Never touches data/, runs/ or figures/.
clean:
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info

# Real datasets, md5-checked, into $LOTTERY_DATA (else ./data): make data [DATASETS="mnist kmnist"]
DATASETS ?= mnist fashion_mnist cifar10
.PHONY: data
data: install
	$(PY) -m lottery.engine.download $(DATASETS)
