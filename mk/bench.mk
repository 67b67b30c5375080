##@ Benchmarks
.PHONY: bench-data bench-pipeline
bench-data: setup ## Time the default offline dataset generation; check its hash against data.dvc
	@bash tools/bench.sh data

bench-pipeline: setup ## Cold dvc repro from features, no-op repro time, .tflite sha256 determinism
	@bash tools/bench.sh pipeline

BENCH_TARGETS += bench-data bench-pipeline

.PHONY: bench-firmware
bench-firmware: firmware-m4 m4-board ## Cortex-M4 section sizes (core; the whole emulated board image against the Nano's flash/RAM budgets) and 30 s of fuzzing (exec/s)
	@echo "bench-firmware: the whole Cortex-M4 board image (core + TFLM + CMSIS-NN + model):"
	@$(PY) -m hil.image_size $(FW_M4_BOARD)
	@$(MAKE) fuzz FUZZ_SECONDS=30

BENCH_TARGETS += bench-firmware
