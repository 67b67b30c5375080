# Transfer validation (ml/transfer.py): one model per speech engine, trained without it and
# tested on it. Not a stage of `dvc repro` (four extra trainings would double `make demo`);
# metrics/transfer.json is declared as a metric in dvc.yaml, so `dvc metrics show/diff`
# track it, and it records the features hash it was computed from (`make metrics` says
# when it is stale).

.PHONY: transfer
transfer: setup ## Held-out-engine accuracy per speech engine -> metrics/transfer.json (4 trainings)
	@test -f build/features/train.npz || $(BIN)/dvc repro features
	@$(PY) -m ml.transfer --features build/features --out metrics/transfer.json
	@$(PY) -m ml.transfer --show metrics/transfer.json --evaluate metrics/evaluate.json --features build/features
