##@ Benchmarks
.PHONY: bench-data bench-pipeline
bench-data: setup ## Time the default offline dataset generation; check its hash against data.dvc
	@bash tools/bench.sh data

bench-pipeline: setup ## Cold dvc repro from features, no-op repro time, .tflite sha256 determinism
	@bash tools/bench.sh pipeline

BENCH_TARGETS += bench-data bench-pipeline
