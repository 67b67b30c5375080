# Production monitoring and continuous training: device telemetry into the DVC-tracked store
# (telemetry.dvc), field clips for labelling, the drift check (dvc.yaml stage `monitor`) and
# the retraining loop the retrain workflow runs (.github/workflows/retrain.yml).

TELEMETRY_DIR := telemetry
FIELD_DIR ?= field
POLLS ?= 1
INTERVAL ?= 60
NAME ?=
BAND ?=
RETRAIN_DIR := build/retrain
# The revision the retrain pull request's metrics diff compares with (a CI checkout has origin/main).
RETRAIN_BASE ?= $(if $(shell git rev-parse -q --verify origin/main 2>/dev/null),origin/main,main)

##@ Monitoring
define need_board_port
	@if [ -z "$(BOARD)" ] || [ -z "$(PORT)" ]; then \
	  echo "error: usage: make $(1) BOARD=<esp32|nano33ble> PORT=<serial port> [NAME=<board name>]" >&2; exit 2; fi
endef

.PHONY: telemetry
telemetry: setup telemetry-store ## Poll a board's id + stats into telemetry/ (DVC-tracked): make telemetry BOARD= PORT= [NAME= POLLS= INTERVAL=]
	$(call need_board_port,telemetry)
	@$(PY) -m hil.telemetry --board $(BOARD) --port $(PORT) --store $(TELEMETRY_DIR) \
	  --polls $(POLLS) --interval-s $(INTERVAL) $(if $(NAME),--name $(NAME))
	@$(DVC) add -q $(TELEMETRY_DIR) && echo "telemetry: recorded in telemetry.dvc (commit it; dvc push)"

# A runner's boards: the deploy's port variables HIL_PORT_<STAGE>_<BOARD> (docs/runners.md); a board type with
# no port on this runner is named and skipped. The store is appended to what the remote holds
# (telemetry-store pulls it first), recorded in telemetry.dvc and pushed.
STAGE ?= production
STAGE_UC = $(shell echo '$(STAGE)' | tr '[:lower:]' '[:upper:]')
.PHONY: telemetry-fleet
telemetry-fleet: setup telemetry-store ## Poll every board of STAGE (ports HIL_PORT_<STAGE>_<BOARD>) into telemetry/, dvc add + push
	@polled=0; for b in $$($(PY) -c 'from hil.boards import board_names; print(*board_names())'); do \
	  var=HIL_PORT_$(STAGE_UC)_$$(echo "$$b" | tr '[:lower:]' '[:upper:]'); port=$${!var:-}; \
	  if [ -z "$$port" ]; then echo "telemetry-fleet: $$b: no $$var on this runner: not polled"; continue; fi; \
	  $(PY) -m hil.telemetry --board "$$b" --port "$$port" --name '$(STAGE)'-"$$b" \
	    --store $(TELEMETRY_DIR) --polls $(POLLS) --interval-s $(INTERVAL); \
	  polled=$$((polled + 1)); \
	done; \
	if [ "$$polled" = 0 ]; then echo "error: telemetry-fleet: no HIL_PORT_$(STAGE_UC)_<BOARD> set: no board polled" >&2; exit 1; fi
	@$(DVC) add -q $(TELEMETRY_DIR)
	@if [ -n "$$($(DVC) remote default 2>/dev/null)" ]; then $(DVC) push -q telemetry.dvc && echo "telemetry-fleet: store pushed (telemetry.dvc)"; \
	  else echo "telemetry-fleet: no default DVC remote: store kept in this workspace only"; fi

.PHONY: drift-alarm
drift-alarm: ## Send repository_dispatch `drift-alarm` (starts retrain.yml); needs gh and GH_TOKEN
	@if [ -n "$${ACT:-}" ] || [ -z "$${GITHUB_REPOSITORY:-}" ]; then \
	  echo "drift-alarm: not on GitHub (act or local): no repository_dispatch sent"; \
	else gh api "repos/$${GITHUB_REPOSITORY}/dispatches" -f event_type=drift-alarm \
	  && echo "drift-alarm: repository_dispatch sent to $${GITHUB_REPOSITORY}"; fi

.PHONY: collect
collect: setup ## Save a board's field clip (top score in the band) under field/<label>/: make collect BOARD= PORT= [BAND=lo,hi|off NAME=]
	$(call need_board_port,collect)
	@$(PY) -m hil.collect --board $(BOARD) --port $(PORT) --out $(FIELD_DIR) \
	  --polls $(POLLS) --interval-s $(INTERVAL) $(if $(NAME),--name $(NAME)) $(if $(BAND),--band $(BAND))

.PHONY: monitor
monitor: setup ## Drift report (metrics/monitor.json + plot) of the telemetry store against evaluate's references
	@$(DVC) repro -q -s monitor  # this stage only: upstream is `make repro`

.PHONY: monitor-check
monitor-check: monitor ## Exit 1 with one line (board, distribution, figure) when a drift threshold is crossed
	@$(PY) -m ml.monitor --check metrics/monitor.json

# Retraining (the retrain workflow)
.PHONY: retrain
retrain: setup ## The retrain workflow's run: data, pipeline, drift report, metrics diff against main (build/retrain/)
	@$(MAKE) data-verified
	@# What the remote holds for dvc.lock first: only what new data, code or params change reruns
	@# (unchanged inputs give the same model: the pipeline is deterministic).
	@$(MAKE) pull
	@$(MAKE) repro  # dvc repro incl. the monitor stage, then dvc push of the new model
	@KWS_BIN=$(abspath $(BIN)) bash tools/retrain_report.sh $(RETRAIN_BASE) $(RETRAIN_DIR)

.PHONY: retrain-pr
retrain-pr: ## Commit the new model's lock/metrics to a retrain/ branch and open a pull request (never main)
	@bash tools/retrain_pr.sh $(RETRAIN_DIR)

# The monitor stage depends on the store: a fresh clone gets it from the DVC remote, or an
# empty one (what telemetry.dvc records until a board is polled), before any `dvc repro`.
.PHONY: telemetry-store
telemetry-store: setup
	@[ -d $(TELEMETRY_DIR) ] || $(DVC) pull -q telemetry.dvc 2>/dev/null || mkdir -p $(TELEMETRY_DIR)
repro monitor retrain: telemetry-store
