# Model search on DVC experiments (ml/search.py). Every candidate is a `dvc exp run -S ...`
# of the normal stages up to evaluate; results, table and Pareto plot go to build/search/.

SEARCH_BUDGET ?= 12
SEARCH_SEED ?= 0
# Extra limits beyond the board budgets, e.g. the default's compass:
#   SEARCH_LIMITS="--max-model-bytes 40960 --max-arena-bytes 40960 --max-latency-ms esp32=15"
SEARCH_LIMITS ?=
# Params every candidate gets, e.g. SEARCH_SET="--set train.epochs=6" for a quicker search
SEARCH_SET ?=
SEARCH_OUT ?= build/search
# 1: also count each candidate's instructions per inference on the emulated Cortex-M4
# (its model exported and linked into the nano33ble-mapped image, QEMU -icount; ml/search_emulate.py)
SEARCH_EMULATE ?= 0

##@ Search
.PHONY: search
search: setup $(if $(filter 1,$(SEARCH_EMULATE)),apt tflm-sources-m4) ## Search models that fit BOARD (comma list ok): SEARCH_BUDGET=n DVC experiments (SEARCH_EMULATE=1: + emulated M4 instructions)
	@test -n "$(BOARD)" || { echo "error: BOARD=<board> is required (see hil/boards.yaml)" >&2; exit 2; }
	@$(PY) -m ml.search run --board $(BOARD) --budget $(SEARCH_BUDGET) --seed $(SEARCH_SEED) \
	  --out $(SEARCH_OUT) $(if $(filter 1,$(SEARCH_EMULATE)),--emulate) $(SEARCH_LIMITS) $(SEARCH_SET)

.PHONY: search-apply
search-apply: setup ## Write experiment EXP's changed model/frontend keys into params.yaml
	@test -n "$(EXP)" || { echo "error: EXP=<experiment name> is required (see dvc exp show)" >&2; exit 2; }
	@$(PY) -m ml.search apply --exp $(EXP)
