# Firmware: firmware/core on the host (unit tests + ctest), on an emulated Cortex-M4 (QEMU
# mps2-an386), under libFuzzer, and the board apps through their own toolchains.

FW_BUILD := build/firmware
FW_CMAKE_SRC := firmware
FW_GENERATED_ABS = $(abspath $(GENERATED_DIR))
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
BOARD ?=
FW_BOARDS := esp32 nano33ble
# TFLM from source: the pinned upstream commits (firmware/tflm/third_party.lock), from the
# archives in ../shared/third_party (or KWS_THIRD_PARTY=<dir>) or fetched with git; prepared
# once under build/third_party and compiled once per build dir (cached by CMake).
FW_THIRD_PARTY := build/third_party
FW_THIRD_PARTY_ABS = $(abspath $(FW_THIRD_PARTY))
FW_M4_QEMU := qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel

##@ Firmware
.PHONY: tflm-sources
tflm-sources: setup ## Prepare TFLM's sources (pinned commits, TFLM's patches, create_tflm_tree.py) under build/third_party
	@PATH="$(CURDIR)/.venv/bin:$$PATH" bash firmware/tflm/third_party.sh $(FW_THIRD_PARTY) host

.PHONY: tflm-sources-m4
tflm-sources-m4: tflm-sources
	@PATH="$(CURDIR)/.venv/bin:$$PATH" bash firmware/tflm/third_party.sh $(FW_THIRD_PARTY) m4

# The host build dir: firmware-test and the host board share it (TFLM compiled once).
define fw_host_configure
	@cmake -S $(FW_CMAKE_SRC) -B $(FW_BUILD)/host -DCMAKE_BUILD_TYPE=Debug \
	  -DKWS_GENERATED_DIR=$(FW_GENERATED_ABS) -DKWS_THIRD_PARTY=$(FW_THIRD_PARTY_ABS) >/dev/null
endef

.PHONY: host-board
host-board: apt tflm-sources $$(PROFILE_ARTEFACTS) ## The host board: the firmware + TFLM reference kernels as a Linux program on a pty (build/firmware/host/kws_host_board)
	$(fw_host_configure)
	@start=$$(date +%s); cmake --build $(FW_BUILD)/host -j2 --target kws_host_board -- --no-print-directory \
	  | { grep -Ev '^\[|^-- ' || true; }; \
	  echo "host-board: $(FW_BUILD)/host/kws_host_board ($$(( $$(date +%s) - start )) s, TFLM cached in $(FW_BUILD)/host)"

.PHONY: firmware-test
firmware-test: apt tflm-sources $$(PROFILE_ARTEFACTS) ## Host build of firmware/core + firmware/tflm + the host board (-Werror, ASan+UBSan) and their unit tests (ctest)
	$(fw_host_configure)
	@cmake --build $(FW_BUILD)/host -j2 -- --no-print-directory | { grep -Ev '^\[|^-- ' || true; }
	@cd $(FW_BUILD)/host && ctest --output-on-failure
	@echo "firmware-test: host tests passed (generated headers: $(GENERATED_DIR))"

# FW_M4_TFLM=1 adds firmware/tflm with TFLM's CMSIS-NN kernels (and their tests) to the M4
# build; the build dir keeps it once configured so (make m4-board does).
FW_M4_TFLM ?= 0
FW_M4_TFLM_ARGS = $(if $(filter 1,$(FW_M4_TFLM)),-DKWS_THIRD_PARTY=$(FW_THIRD_PARTY_ABS))

# The M4 build dir: firmware-m4 and the emulated board (m4-board, mk/qemu.mk) share it (TFLM
# compiled once). $(1): extra cmake arguments.
define fw_m4_configure
	@bash firmware/m4/configure.sh $(FW_BUILD)/m4 $(FW_GENERATED_ABS) $(abspath $(PY)) $(1) >/dev/null
endef

.PHONY: firmware-m4
firmware-m4: apt $(if $(filter 1,$(FW_M4_TFLM)),tflm-sources-m4) $$(PROFILE_ARTEFACTS) ## Cortex-M4 build of the core + tests, run under QEMU mps2-an386; prints sizes (FW_M4_TFLM=1: + firmware/tflm, CMSIS-NN)
	$(call fw_m4_configure,$(FW_M4_TFLM_ARGS))
	@cmake --build $(FW_BUILD)/m4 -j2 -- --no-print-directory | { grep -Ev '^\[|^-- ' || true; }
	@cd $(FW_BUILD)/m4 && ctest --output-on-failure
	@echo "firmware-m4: sizes (arm-none-eabi-size, bytes)"
	@arm-none-eabi-size $(FW_BUILD)/m4/kws_core_tests $(FW_BUILD)/m4/kws_generated_tests \
	  $(if $(filter 1,$(FW_M4_TFLM)),$(FW_BUILD)/m4/kws_tflm_tests)
	@$(FW_M4_QEMU) $(FW_BUILD)/m4/kws_generated_tests | sed -n 's/^info: /firmware-m4: /p'
	@echo "firmware-m4: core library only (-Os, Cortex-M4F):"
	@arm-none-eabi-size -t $(FW_BUILD)/m4/libkws_core.a | tail -n 1 | \
	  awk '{printf "  text=%s data=%s bss=%s (all objects of libkws_core.a)\n", $$1, $$2, $$3}'

.PHONY: fuzz-build
fuzz-build: apt
	@CC=clang CXX=clang++ cmake -S $(FW_CMAKE_SRC) -B $(FW_BUILD)/fuzz -DKWS_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FW_BUILD)/fuzz -j2 -- --no-print-directory | { grep -Ev '^\[|^-- ' || true; }

# Runs the fuzzer for $(1) seconds on a corpus seeded from firmware/core/fuzz/seeds; any
# crash, leak, UB or timeout fails; prints executions per second.
define fw_fuzz_run
	@mkdir -p $(FW_BUILD)/fuzz/corpus $(FW_BUILD)/fuzz/artifacts
	@cp -n firmware/core/fuzz/seeds/* $(FW_BUILD)/fuzz/corpus/ 2>/dev/null || true
	@$(FW_BUILD)/fuzz/fuzz_protocol -max_total_time=$(1) -max_len=4096 -timeout=10 \
	  -rss_limit_mb=1024 -print_final_stats=1 -dict=firmware/core/fuzz/protocol.dict \
	  -artifact_prefix=$(FW_BUILD)/fuzz/artifacts/ $(FW_BUILD)/fuzz/corpus \
	  > $(FW_BUILD)/fuzz/last.log 2>&1 || { tail -n 40 $(FW_BUILD)/fuzz/last.log; \
	  echo "error: fuzz_protocol failed; reproducer in $(FW_BUILD)/fuzz/artifacts/" >&2; exit 1; }
	@awk '/stat::number_of_executed_units/ {n=$$2} /stat::average_exec_per_sec/ {r=$$2} \
	  /cov: [0-9]+/ {for (i = 1; i < NF; i++) if ($$i == "cov:") c = $$(i + 1)} \
	  END {printf "fuzz: %s executions in $(1) s, %s exec/s, coverage %s edges, no crash\n", n, r, c}' \
	  $(FW_BUILD)/fuzz/last.log
endef

.PHONY: fuzz
fuzz: fuzz-build ## libFuzzer (ASan+UBSan) on the protocol parser/dispatcher for FUZZ_SECONDS (60)
	$(call fw_fuzz_run,$(FUZZ_SECONDS))

.PHONY: fuzz-smoke
fuzz-smoke: fuzz-build ## A few seconds of the protocol fuzzer (part of make test)
	$(call fw_fuzz_run,$(FUZZ_SMOKE_SECONDS))

.PHONY: firmware
firmware: $$(PROFILE_ARTEFACTS) ## Build the board app: make firmware BOARD=esp32|nano33ble (needs idf.py / arduino-cli)
	@case "$(BOARD)" in \
	  esp32|nano33ble) ;; \
	  *) echo "error: BOARD must be one of: $(FW_BOARDS) (got '$(BOARD)')" >&2; exit 2;; \
	esac
	@bash firmware/build_board.sh $(BOARD) $(FW_GENERATED_ABS) $(CURDIR)/$(FW_BUILD)/$(BOARD)

TEST_TARGETS += firmware-test firmware-m4 fuzz-smoke
