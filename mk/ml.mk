# ML pipeline targets: dvc.yaml holds the stages (validate -> ... -> export -> register);
# these wrap DVC and MLflow for people. The lead's `make demo` composes them.

##@ Pipeline
.PHONY: repro
repro: setup ## Run the DVC pipeline (dvc repro): only stages whose inputs changed; register in MLflow; push the cache
	@$(BIN)/dvc repro $(if $(filter 1,$(COLD)),--force)
	@# DVC skips `register` when its inputs match dvc.lock, which they always do on a fresh
	@# clone (the pipeline is deterministic): the model would never reach this machine's
	@# MLflow. Forcing that one stage is cheap: it only moves the alias of a model it has.
	@$(BIN)/dvc repro -q --force --single-item register
	@# Cached outputs (the confusion-matrix image, models) go to the remote so that others'
	@# `dvc plots diff` against this commit finds both sides.
	@$(BIN)/dvc push -q || echo "repro: warning: dvc push failed; others cannot diff images against this run" >&2
	@# A fresh clone's make demo pulls the model from seed/: keep it equal to dvc.lock.
	@$(MAKE) seed || echo "repro: warning: seed/ not refreshed; a fresh clone would retrain" >&2

.PHONY: pull
pull: setup ## Fetch dvc.lock's outputs from the DVC remote, then the trained model from seed/: stages whose outputs arrive do not rerun
	@# The pipeline is deterministic, so what the remote holds for dvc.lock is what a rerun
	@# would produce: DVC's own answer to "do not retrain what someone already trained".
	@# seed/ (ml/seed.py) is the fallback a fresh machine's empty remote needs: the model,
	@# not the features, which the features stage rebuilds from the dataset in under a minute.
	@if [ -n "$$($(BIN)/dvc remote default 2>/dev/null)" ] && $(BIN)/dvc pull -q 2>/dev/null; then \
	  echo "pull: dvc.lock's outputs came from the DVC remote; stages rerun only for what changed"; \
	elif $(PY) -m ml.seed pull >/dev/null 2>&1; then \
	  echo "pull: the DVC remote lacks dvc.lock's outputs; the trained model came from seed/ (the features stage rebuilds; later stages rerun only if its output differs)"; \
	else echo "pull: neither the DVC remote nor seed/ holds all of dvc.lock's outputs: their stages rerun"; fi

.PHONY: seed
seed: setup ## Refresh seed/ (the trained model a fresh clone pulls, ~2 MB in git) from the local DVC cache
	@$(PY) -m ml.seed refresh

.PHONY: metrics
metrics: setup ## Print the evaluate figures as a table (all metrics: dvc metrics show --md)
	@$(PY) -m ml.evaluate --show metrics/evaluate.json --plots metrics/plots
	@$(PY) -m ml.transfer --show metrics/transfer.json --evaluate metrics/evaluate.json --features build/features
	@echo
	@$(PY) -m ml.unheard --show metrics/unheard.json --model build/model/model_int8.tflite
	@echo "(every metric: dvc metrics show --md; against main: dvc metrics diff main)"

.PHONY: plots
plots: setup ## Plots as PNGs + an offline index.html in dvc_plots/ (BASE=<rev> adds the before)
	@$(PY) -m ml.plots --out dvc_plots $(if $(BASE),--rev $(BASE))

.PHONY: exp
exp: setup ## Compact comparison of DVC experiments: the key figures, changed params only
	@$(BIN)/dvc exp show --only-changed --md --no-pager \
	  --drop 'Created|State|Executor' 2>/dev/null || $(BIN)/dvc exp show --only-changed --md

.PHONY: det
DET_MODELS ?= default=build/model/model_int8.tflite
DET_THRESHOLDS ?= 120:255:5
det: setup ## Recognizer trade-off per detection threshold: streaming recall vs false accepts per hour, table + build/det/det.png [DET_MODELS="a=x.tflite b=y.tflite"]
	@$(PY) -m ml.det --data $(DATA_DIR) $(foreach m,$(DET_MODELS),--model $(m)) \
	  --thresholds $(DET_THRESHOLDS) --out build/det

.PHONY: registry
registry: setup ## Print the latest versions of registered model kws and their aliases
	@$(PY) -m ml.register --list
