# The one local entry point. Every CI step is a target here, so anything the workflows do,
# a person can do on a laptop. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory
.SECONDEXPANSION:

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# abspath: VENV may be given absolute (make VENV=/opt/kws-venv; the act jobs do)
export PATH := $(abspath $(VENV))/bin:$(PATH)
export TF_USE_LEGACY_KERAS := 1
export PYTHONHASHSEED := 0
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db
# Quiet, honest output: no TensorFlow/absl start-up chatter, no CUDA probing without a GPU,
# no DVC analytics; progress bars only on a terminal (tqdm disables itself otherwise).
export TF_CPP_MIN_LOG_LEVEL := 3
export CUDA_VISIBLE_DEVICES ?= -1
export GRPC_VERBOSITY := ERROR
export DVC_NO_ANALYTICS := 1

VENV_STAMP := $(VENV)/.installed
APT_STAMP := build/.apt-installed

##@ Main job
.PHONY: demo
demo: setup ## Dataset -> int8 model -> firmware artefacts -> MLflow -> virtual boards (COLD=1: retrain)
	@# Sub-makes in sequence; the virtual boards get what repro just exported (PROFILE=full).
	@# data.dvc from the remote, or regenerated and checked equal; regenerated but different
	@# (another kind of CPU: see README), the demo goes on with the tracked model.
	@rm -f $(DATA_DIFFERS); $(MAKE) data-verified || test -f $(DATA_DIFFERS)
	@# What the DVC remote holds for dvc.lock is used (minutes); COLD=1 retrains from the data.
	@$(if $(filter 1,$(COLD)),echo "demo: COLD=1: every stage runs from the data",$(MAKE) pull)
	@if [[ -f $(DATA_DIFFERS) && "$(COLD)" != 1 ]]; then \
	  echo "demo: dvc repro skipped (it would retrain on data that is not data.dvc's): the pulled model is registered and tested as it is; make data-track && make repro trains on this machine's data"; \
	  $(BIN)/dvc repro -q --force --single-item register; \
	else $(MAKE) repro; fi
	@$(MAKE) registry
	@$(MAKE) hil-virtual PROFILE=full
	@echo; echo "== demo: the model's figures (metrics/evaluate.json) =="
	@$(MAKE) metrics
	@echo; echo "demo: done. Next:"
	@echo "  make plots                           # PNG + offline HTML of curves and confusion matrix"
	@echo "  vim params.yaml && make repro        # change something; only affected stages rerun"
	@echo "  dvc metrics diff HEAD                # what the change did"
	@echo "  make hil BOARD=esp32 PORT=/dev/ttyUSB0 PROFILE=full   # flash a real board, smoke + acceptance"

##@ Setup
.PHONY: help
help: ## Show this help (targets in the order of the work)
	@awk -v COLOR=$$([ -t 1 ] && echo 1 || echo 0) -f tools/make-help.awk $(MAKEFILE_LIST)
	@printf '  %-22s %s\n' 'PROFILE=tiny|full' "the model of the firmware, HIL and CI targets: tiny (default): \
	make tiny's dvc.yaml run in $(TINY_DIR); full: make repro's (make demo uses it)"

.PHONY: setup
setup: $(VENV_STAMP) apt ## Create .venv and install Python and Debian dependencies (idempotent)

$(VENV_STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@# -qq: errors only (a pip.conf's missing find-links folder is a warning per package)
	@$(PY) -m pip install -qq --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@
	@echo "setup: python dependencies installed in $(VENV)"

.PHONY: apt
apt: ## Install the Debian packages the targets need (skips what is installed)
	@bash tools/apt-deps.sh

.PHONY: toolchain-check
toolchain-check: apt ## Compile one C++ file for the host and one for Cortex-M4: names a missing package in seconds
	@bash tools/toolchain-check.sh build/toolchain-check

.PHONY: lock
lock: ## Re-resolve dependencies and rewrite constraints.txt
	@rm -rf build/lock-venv && $(PYTHON_BOOT) -m venv build/lock-venv
	@build/lock-venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	@build/lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt
	@echo "lock: wrote constraints.txt ($$(wc -l < constraints.txt) pins)"

##@ Tests
.PHONY: lint
lint: $(VENV_STAMP) ## ruff, shellcheck, actionlint and zizmor
	@$(BIN)/ruff check ml hil tests tools
	@$(BIN)/ruff format --check ml hil tests tools
	@shellcheck .ci/run tools/*.sh
	@if ls .github/workflows/*.yml >/dev/null 2>&1; then \
	  $(BIN)/actionlint .github/workflows/*.yml && $(BIN)/zizmor --offline --quiet --color auto .github/workflows; fi

.PHONY: format
format: $(VENV_STAMP) ## Apply ruff's formatting and autofixes
	@$(BIN)/ruff check --fix ml hil tests tools
	@$(BIN)/ruff format ml hil tests tools

##@ Pipeline
# PROFILE: which run of dvc.yaml the firmware, HIL and CI targets take their model from.
#   tiny (default): dvc.yaml with tiny params in the workspace build/tiny (`make tiny`:
#                   minutes, from any fresh clone); the tests use it too.
#   full:           dvc.yaml at the root (`make repro`): firmware/generated, hil/vectors.
PROFILE ?= tiny
ifneq ($(words $(filter tiny full,$(PROFILE))) $(words $(PROFILE)),1 1)
$(error PROFILE must be tiny or full (got '$(PROFILE)'))
endif
TINY_DIR := build/tiny
# The profile's DVC workspace (the repository's layout), its outputs, and the target that
# makes (tiny) or checks (full) them: none when GENERATED_DIR names other ones (CI's model).
PROFILE_DIR := $(if $(filter tiny,$(PROFILE)),$(TINY_DIR)/)
GENERATED_DIR ?= $(PROFILE_DIR)firmware/generated
VECTORS_DIR ?= $(PROFILE_DIR)hil/vectors
PROFILE_ARTEFACTS = $(if $(filter $(PROFILE_DIR)firmware/generated,$(GENERATED_DIR)),\
  $(if $(filter tiny,$(PROFILE)),tiny,full-artefacts))

.PHONY: tiny
tiny: setup ## PROFILE=tiny's model: dvc.yaml with tiny params and a tiny generated dataset in build/tiny
	@$(PY) -m ml.tiny --out $(TINY_DIR)

.PHONY: full-artefacts
full-artefacts:
	@for f in $(GENERATED_DIR)/model_settings.json $(VECTORS_DIR)/manifest.json; do \
	  test -f $$f || { echo "error: PROFILE=full: $$f is missing: run make repro first (or PROFILE=tiny)" >&2; exit 2; }; done

##@ Tests
PYTEST_ARGS ?=
.PHONY: test
test: setup toolchain-check lint ## Everything CI runs: toolchain check, lint, Python tests, firmware tests, virtual HIL
	@# one phase after the other, each timed: where make test's 30 minutes go
	@# `|| exit`: a for loop in sh goes on after a failed command; make test must not
	@for t in pytest $(TEST_TARGETS); do start=$$(date +%s); $(MAKE) $$t || exit 1; \
	  echo "test: $$t passed in $$(( $$(date +%s) - start )) s"; done
	@echo "test: all green"

.PHONY: pytest
pytest: setup host-board ## Python test suite (tests/; the HIL tests drive the host board)
	@$(BIN)/pytest -n 2 --dist loadscope --timeout=600 $(PYTEST_ARGS) tests

##@ Benchmarks
.PHONY: bench
bench: setup $$(BENCH_TARGETS) ## Measure speed and size targets; prints figures

# Fragments (one per part) add their targets and append to TEST_TARGETS and BENCH_TARGETS;
# the rules above read those lists after all files are parsed. Listed by name, not globbed:
# a missing fragment is an error, not a silently smaller `make test`.
TEST_TARGETS :=
BENCH_TARGETS :=
include mk/data.mk mk/ml.mk mk/transfer.mk mk/search.mk mk/firmware.mk mk/hil.mk mk/qemu.mk mk/monitor.mk mk/ci.mk mk/bench.mk
