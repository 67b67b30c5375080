# The emulated Cortex-M4 board: the firmware (core + TFLM glue + TFLM's CMSIS-NN kernels + the
# generated model) linked into the Nano 33 BLE's flash and RAM budgets (hil/boards.yaml), run
# under qemu-system-arm -M mps2-an386 -icount with its UART on a pty (hil/virtual/qemu.py).
FW_M4_BOARD := $(FW_BUILD)/m4/kws_m4_board
# In make test (TEST_TARGETS, below). What it adds on a fresh clone (2026-11-30, load 4-6 on
# the 2 cores): the M4 TFLM tree 4-5 s (171 s before third_party.sh skipped TFLM's example
# arrays), TFLM + CMSIS-NN for M4 and the three images 4 min 13 s wall / 3.7 min CPU (11 min /
# 6.8 min CPU before the precompiled flatbuffers header, firmware/tflm/tflm.cmake), the suites
# ~2 min, the planted-error and six fault checks ~1 min. make test prints each phase's time.
# tests/test_m4_memory_map.py (the memory map and the one-line overflow error) is in pytest.

##@ Firmware
.PHONY: m4-board
m4-board: apt tflm-sources-m4 $$(PROFILE_ARTEFACTS) ## The emulated Cortex-M4 board image (build/firmware/m4/kws_m4_board; + the planted-error test images): CMSIS-NN, Nano 33 BLE memory map; prints its sizes
	$(call fw_m4_configure,-DKWS_THIRD_PARTY=$(FW_THIRD_PARTY_ABS))
	@mkdir -p $(FW_BUILD)/m4; start=$$(date +%s); \
	  if ! cmake --build $(FW_BUILD)/m4 -j2 --target kws_m4_board kws_m4_board_plant_frontend \
	    kws_m4_board_plant_output -- --no-print-directory \
	    > $(FW_BUILD)/m4/m4-board.log 2>&1; then \
	    grep -m1 '^error: kws_m4_board' $(FW_BUILD)/m4/m4-board.log >&2 || tail -n 30 $(FW_BUILD)/m4/m4-board.log >&2; \
	    exit 1; fi; \
	  echo "m4-board: $(FW_M4_BOARD) ($$(( $$(date +%s) - start )) s, TFLM cached in $(FW_BUILD)/m4)"
	@$(PY) -m hil.image_size $(FW_M4_BOARD)

##@ HIL
.PHONY: hil-qemu
hil-qemu: setup $(PROFILE_ARTEFACTS) m4-board ## Smoke + acceptance on the emulated Cortex-M4 (QEMU mps2-an386, -icount); prints its table and image sizes; planted errors must fail; relay faults end in named failures
	@$(PY) -m hil.run_virtual --kind qemu --generated $(GENERATED_DIR) --vectors $(VECTORS_DIR) \
	  --params $(HIL_PARAMS) --results $(HIL_RESULTS)/qemu
	@$(BIN)/pytest -q -p no:cacheprovider --timeout=600 tests/qemu_planted.py tests/qemu_faults.py \
	  tests/qemu_search_emulate.py
	@echo "hil-qemu: the planted front-end and output errors fail parity and agreement on the emulated board;"
	@echo "hil-qemu: the six relay faults (disconnect, reset, hang, garbage, drop, slow) end in named failures"
	@echo "hil-qemu: the search's emulated instruction count (make search SEARCH_EMULATE=1) matches the built image's"

TEST_TARGETS += hil-qemu

