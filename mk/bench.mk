##@ Benchmarks
.PHONY: bench-data bench-pipeline
bench-data: setup ## Time the default offline dataset generation; check its hash against data.dvc
	@bash tools/bench.sh data

bench-pipeline: setup ## Cold dvc repro from features, no-op repro time, .tflite sha256 determinism
	@bash tools/bench.sh pipeline

BENCH_TARGETS += bench-data bench-pipeline

.PHONY: bench-firmware
bench-firmware: firmware-m4 ## Cortex-M4 section sizes (via firmware-m4) and 30 s of fuzzing (exec/s)
	@$(MAKE) fuzz FUZZ_SECONDS=30

BENCH_TARGETS += bench-firmware
