# ML pipeline targets: dvc.yaml holds the stages (validate -> ... -> export -> register);
# these wrap DVC and MLflow for people. The lead's `make demo` composes them.

##@ ML pipeline
.PHONY: repro
repro: setup ## Run the DVC pipeline (dvc repro): only stages whose inputs changed
	@$(BIN)/dvc repro

.PHONY: metrics
metrics: setup ## Print the evaluate figures as a table (all metrics: dvc metrics show --md)
	@$(PY) -m ml.evaluate --show metrics/evaluate.json
	@$(PY) -m ml.transfer --show metrics/transfer.json --evaluate metrics/evaluate.json --features build/features
	@echo "(every metric: dvc metrics show --md; against main: dvc metrics diff main)"

.PHONY: plots
plots: setup ## Render the pipeline's plots (confusion matrix, training curves) to dvc_plots/
	@$(BIN)/dvc plots show

.PHONY: registry
registry: setup ## Print the latest versions of registered model kws and their aliases
	@$(PY) -m ml.register --list
