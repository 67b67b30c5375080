# CI and release targets: every `run:` step of .github/workflows/ is one of these (or another
# target of this Makefile). Locally the same targets run against virtual boards; `make
# ci-local` runs the workflow files themselves under act (tools/ci_local.py).

CI_MODEL := build/ci/model
# A job that downloaded the `model` artifact uses it; else what this work tree has.
CI_GENERATED = $(if $(wildcard $(CI_MODEL)/generated/model_settings.json),$(CI_MODEL)/generated,$(GENERATED_DIR))
CI_VECTORS = $(if $(wildcard $(CI_MODEL)/vectors/manifest.json),$(CI_MODEL)/vectors,$(VECTORS_DIR))
CI_PARAMS = $(if $(wildcard $(CI_MODEL)/params.yaml),$(CI_MODEL)/params.yaml,$(HIL_PARAMS))
# The runner's port variable for BOARD (docs/runners.md): HIL_PORT_ESP32, HIL_PORT_NANO33BLE.
BOARD_PORT_VAR = HIL_PORT_$(shell echo '$(BOARD)' | tr '[:lower:]' '[:upper:]')
TAG ?=
STAGE ?=
BASE ?=
PR ?=
DEPS ?= pinned

##@ CI and releases
.PHONY: ci-pipeline
ci-pipeline: setup ## CI pipeline: the dataset (pulled, or regenerated and checked), dvc pull, dvc repro (PROFILE=tiny: make tiny); collects build/ci/model
	@if [ "$(PROFILE)" = tiny ]; then \
	  echo "ci-pipeline: PROFILE=tiny: dvc.yaml with tiny params in $(TINY_DIR) (make tiny)"; \
	  $(MAKE) tiny; \
	else \
	  $(MAKE) data-verified && $(MAKE) pull && $(MAKE) repro; \
	fi
	@$(PY) -m ml.release collect --generated $(GENERATED_DIR) --vectors $(VECTORS_DIR) \
	  --params $(HIL_PARAMS) --metrics $(PROFILE_DIR)metrics --out $(CI_MODEL)

.PHONY: ci-firmware
ci-firmware: ## Firmware host ctest, Cortex-M4 under QEMU and fuzz smoke on the CI model
	@$(MAKE) firmware-test firmware-m4 fuzz-smoke GENERATED_DIR=$(CI_GENERATED)

.PHONY: ci-hil-virtual
ci-hil-virtual: ## Virtual HIL (both boards) on the CI model
	@$(MAKE) hil-virtual GENERATED_DIR=$(CI_GENERATED) VECTORS_DIR=$(CI_VECTORS) HIL_PARAMS=$(CI_PARAMS)
	@$(PY) -m ml.ci_summary hil $(HIL_RESULTS)

.PHONY: firmware-ci
firmware-ci: ## Board image in its toolchain for CI: make firmware-ci BOARD=esp32|nano33ble -> build/ci/firmware/BOARD
	@$(MAKE) firmware BOARD=$(BOARD) GENERATED_DIR=$(CI_GENERATED)
	@rm -rf build/ci/firmware/$(BOARD) && mkdir -p build/ci/firmware/$(BOARD)
	@if [ "$(BOARD)" = esp32 ]; then \
	  cp $(FW_BUILD)/esp32/flasher_args.json $(FW_BUILD)/esp32/*.bin build/ci/firmware/esp32/ && \
	  mkdir -p build/ci/firmware/esp32/bootloader build/ci/firmware/esp32/partition_table && \
	  cp $(FW_BUILD)/esp32/bootloader/*.bin build/ci/firmware/esp32/bootloader/ && \
	  cp $(FW_BUILD)/esp32/partition_table/*.bin build/ci/firmware/esp32/partition_table/; \
	else cp $(FW_BUILD)/$(BOARD)/*.bin build/ci/firmware/$(BOARD)/; fi
	@ls -l build/ci/firmware/$(BOARD)

ARDUINO_CLI_VERSION := 1.3.1
ARDUINO_MBED_CORE := arduino:mbed_nano@4.4.1
.PHONY: arduino-setup
arduino-setup: ## arduino-cli (checksum-verified release) and the arduino:mbed_nano core, into build/arduino
	@bash tools/arduino-setup.sh $(ARDUINO_CLI_VERSION) $(ARDUINO_MBED_CORE) build/arduino

.PHONY: hil-runner
hil-runner: setup ## Self-hosted job: flash + smoke + acceptance on the runner's BOARD (port from HIL_PORT_<BOARD>)
	@port="$${$(BOARD_PORT_VAR):-}"; \
	if [ -z "$$port" ]; then echo "error: board $(BOARD): runner variable $(BOARD_PORT_VAR) is not set (docs/runners.md)" >&2; exit 2; fi; \
	if $(PY) -c 'import sys; from hil.virtual.slot import slot_of_port; sys.exit(slot_of_port(sys.argv[1]) is None)' "$$port"; then \
	  echo "hil-runner: $(BOARD) on $$port is a virtual board: flash its model, then smoke + acceptance"; \
	  $(PY) -m hil.deploy flash --board $(BOARD) --port "$$port" --settings $(CI_GENERATED)/model_settings.json && \
	  $(PY) -m hil.deploy suite --board $(BOARD) --port "$$port" --suite all --settings $(CI_GENERATED)/model_settings.json \
	    --vectors $(CI_VECTORS) --params $(CI_PARAMS) --results $(HIL_RESULTS); \
	else \
	  image=$$(ls -d build/ci/firmware/$(BOARD)/*.bin 2>/dev/null | head -n1); \
	  [ "$(BOARD)" = esp32 ] && image=build/ci/firmware/esp32; \
	  $(MAKE) hil BOARD=$(BOARD) PORT="$$port" IMAGE="$$image" GENERATED_DIR=$(CI_GENERATED) \
	    VECTORS_DIR=$(CI_VECTORS) HIL_PARAMS=$(CI_PARAMS); \
	fi
	@$(PY) -m ml.ci_summary hil $(HIL_RESULTS) $(BOARD)

.PHONY: report
report: setup ## PR report vs BASE (make report BASE=origin/main): params/metrics diff, budgets, gates, HIL, plots in build/report/
	@if [ -z "$(BASE)" ]; then echo "error: usage: make report BASE=<git ref>" >&2; exit 2; fi
	@$(PY) -m ml.report --base '$(BASE)' --out build/report

.PHONY: report-comment
report-comment: setup ## Post/update the sticky PR comment with build/report/report.md (gh; PR=<number>)
	@$(PY) -m ml.report --comment --pr '$(PR)' --out build/report

.PHONY: release-build
release-build: setup ## Release TAG: model sha256 = MLflow candidate of this commit, gates pass; bundle in build/release/TAG
	@$(PY) -m ml.release build --tag '$(TAG)' --model $(CI_MODEL)

.PHONY: release-deploy
release-deploy: setup ## Release TAG to STAGE (staging|production) boards: flash, id check, suite, MLflow alias
	@$(PY) -m ml.release deploy --tag '$(TAG)' --stage '$(STAGE)' --download build/ci/download

.PHONY: release-publish
release-publish: setup ## GitHub Release of TAG (gh) or, off GitHub, the bundle in $$KWS_RELEASES_DIR (build/releases)
	@$(PY) -m ml.release publish --tag '$(TAG)' --download build/ci/download

.PHONY: release
release: setup ## Local release (virtual boards): make release TAG=v0.1.0 PROFILE=full|tiny
	@$(MAKE) ci-pipeline
	@$(PY) -m ml.release local --tag '$(TAG)' --model $(CI_MODEL)

.PHONY: rollback
rollback: setup ## Put release TAG back on the production boards and alias: make rollback TAG=v0.1.0
	@$(PY) -m ml.release rollback --tag '$(TAG)'

.PHONY: board-id
board-id: setup ## What a virtual release board reports: make board-id BOARD=esp32 STAGE=production
	@$(PY) -m hil.virtual.slot id --dir build/vboards/$(STAGE)-$(BOARD)

.PHONY: nightly-run
nightly-run: ## Nightly: pipeline + virtual HIL with DEPS=pinned (constraints.txt) or DEPS=latest
	@bash tools/nightly.sh run '$(DEPS)'

.PHONY: nightly-report
nightly-report: ## Nightly: differences between the pinned and the latest runs (metrics, tests, versions)
	@$(PYTHON_BOOT) tools/nightly_report.py build/nightly

.PHONY: ci-local
CI_LOCAL ?= all
ci-local: setup host-board ## The workflow files under act, offline: push, PR (branch, fork), tag, rollback, nightly, drift [CI_LOCAL=<scenarios>]
	@$(PY) tools/ci_local.py $(CI_LOCAL)

.PHONY: ci-local-quick
ci-local-quick: setup host-board ## ci-local: fork PR (board jobs) and tag release (part of make test)
	@$(PY) tools/ci_local.py --quick fork tag

# make test: the fork PR (no self-hosted job may run) and the tag release under act
TEST_TARGETS += ci-local-quick
