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

# The exported model on engines no training clip came from (ml/unheard.py): transfer.unheard
# speakers generated into build/unheard (minutes; kept while they match), scored by TFLM.
.PHONY: unheard
unheard: setup ## The exported int8 model on engines it never heard -> metrics/unheard.json
	@test -f build/model/model_int8.tflite || $(MAKE) pull
	@$(PY) -m ml.unheard --model build/model/model_int8.tflite --out metrics/unheard.json
