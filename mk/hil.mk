# HIL: the same pytest-embedded suites against virtual boards (here) and real ones (runners
# with a board attached). Suites and tools live in hil/; results in hil/results/<board>/.

HIL_RESULTS ?= hil/results
# The gates of the params that made the profile's model (PROFILE, Makefile).
HIL_PARAMS ?= $(PROFILE_DIR)params.yaml

##@ HIL
.PHONY: hil-virtual
hil-virtual: setup $(PROFILE_ARTEFACTS) host-board ## Smoke + acceptance on host boards (the firmware on a pty) for esp32 and nano33ble in parallel; prints a table per board
	@$(PY) -m hil.run_virtual --generated $(GENERATED_DIR) --vectors $(VECTORS_DIR) \
	  --params $(HIL_PARAMS) --results $(HIL_RESULTS)

.PHONY: hil
FLASH ?= 1
hil: setup ## Flash a real board, run smoke + acceptance on it under one port lock: make hil BOARD=esp32 PORT=/dev/ttyUSB0 [IMAGE=...] [FLASH=0: already flashed]
	@if [ -z "$(BOARD)" ] || [ -z "$(PORT)" ]; then \
	  echo "error: usage: make hil BOARD=<esp32|nano33ble> PORT=<serial port> [IMAGE=<firmware>] [FLASH=0]" >&2; exit 2; fi
	@$(PY) -m hil.run_board --board $(BOARD) --port $(PORT) $(if $(IMAGE),--image $(IMAGE)) \
	  $(if $(filter 0,$(FLASH)),--no-flash) --generated $(GENERATED_DIR) --vectors $(VECTORS_DIR) \
	  --params $(HIL_PARAMS) --results $(HIL_RESULTS)

.PHONY: hil-bench
hil-bench: setup $(PROFILE_ARTEFACTS) host-board ## Golden-set time and wire efficiency on one virtual esp32 (part of make bench)
	@$(PY) -m hil.run_virtual --boards esp32 --generated $(GENERATED_DIR) --vectors $(VECTORS_DIR) \
	  --params $(HIL_PARAMS) --results $(HIL_RESULTS)/bench

TEST_TARGETS += hil-virtual
BENCH_TARGETS += hil-bench
