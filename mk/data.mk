# Dataset targets. data.dvc (at the root) tracks data/speech_commands; the default DVC remote
# is a local directory outside the repository (.dvc/config), overridable per user with
# `dvc remote add --local -d <name> <url>` or `dvc remote modify --local local url <path>`.
# `dvc add data/speech_commands` would put its .dvc file under the git-ignored data/, so
# data.dvc names the directory itself and `dvc commit -f data.dvc` does what add does.

DATA_DIR := data/speech_commands
DATA_DVC := data.dvc
# Marks data/speech_commands as regenerated but not what data.dvc records (make demo reads it)
DATA_DIFFERS := build/.data-differs
DVC := $(BIN)/dvc
DOWNLOAD_CACHE := build/downloads

##@ Data
# `data` never replaces the recorded dataset: when data.dvc exists and the DVC remote cannot
# give it, it says why and stops. Regenerating is asked for explicitly (`data-synth`, then
# `data-track` to record it), or done by `data-verified`, which accepts a regenerated dataset
# only if it is byte for byte the one data.dvc records (a fresh machine with an empty remote).
.PHONY: data
data: setup ## Dataset: matches data.dvc -> nothing; else dvc pull; if that fails, say why and stop
	@if [[ ! -f $(DATA_DVC) ]]; then \
	  echo "data: no $(DATA_DVC) yet; generating the dataset (ml.synth) and recording it"; \
	  $(MAKE) data-synth && $(MAKE) data-track; exit; \
	fi; \
	if [[ -d $(DATA_DIR) ]] && $(MAKE) data-verify >/dev/null 2>&1; then \
	  state="matches $(DATA_DVC)"; \
	elif out=$$($(DVC) pull $(DATA_DVC) 2>&1); then \
	  state="pulled from the DVC remote"; \
	else \
	  remote=$$($(DVC) remote list 2>/dev/null | awk '/\(default\)/ {print $$2}'); \
	  if grep -q "neither locally nor on remote" <<<"$$out"; then \
	    why="the DVC remote $$remote lacks $$(grep -c '^md5:' <<<"$$out" || true) of its files"; \
	  else \
	    why=$$(grep -m1 '^ERROR' <<<"$$out" | sed -E 's/^ERROR: *//' || true); \
	    why="$${why:-$$(grep -m1 -v '^[[:space:]]*$$' <<<"$$out" || echo 'no message')}, remote $$remote"; \
	  fi; \
	  why=$$(printf '%s' "$$why" | $(PY) -m ml.redact); \
	  echo "error: $(DATA_DVC): dvc pull failed ($$why); the recorded dataset was left alone (make data-verified regenerates and checks it, make data-synth data-track records a new one)" >&2; \
	  exit 1; \
	fi; \
	if ! $(PY) -m ml.synth --check --out $(DATA_DIR) 2>/dev/null; then \
	  echo "error: params.yaml: synth settings differ from the dataset $(DATA_DVC) records; nothing regenerated (make data-synth data-track regenerates and records it)" >&2; \
	  exit 1; \
	fi; \
	echo "data: $(DATA_DIR) $$state"

.PHONY: data-verified
data-verified: setup ## Dataset for a fresh machine: make data; if the remote lacks it, regenerate and check it equals data.dvc
	@# When `make data` fails its sub-make's "make[2]: *** ... Error 1" is expected: dropped
	@if [[ ! -f $(DATA_DVC) ]]; then $(MAKE) data; exit; fi; \
	if out=$$($(MAKE) data 2>&1); then printf '%s\n' "$$out"; exit 0; fi; \
	printf '%s\n' "$$out" | sed -E '/^make\[[0-9]+\]: \*\*\*/d; s/^error: /data: /'; \
	echo "data: regenerating the dataset (ml.synth) to check it against $(DATA_DVC)"; \
	$(MAKE) data-synth; \
	$(MAKE) data-verify; \
	if $(DVC) push -q $(DATA_DVC) >/dev/null 2>&1; then echo "data: regenerated = $(DATA_DVC); pushed to the DVC remote"; \
	else echo "data: regenerated = $(DATA_DVC) (the DVC remote could not take it: dvc push)"; fi

.PHONY: data-verify
data-verify: setup ## Check data/speech_commands hashes to what data.dvc records (never rewrites data.dvc)
	@test -d $(DATA_DIR) || { echo "error: $(DATA_DIR): not found (run make data)" >&2; exit 1; }
	@# `dvc status` says "not in cache" for any dataset the local cache lacks, equal or not: then
	@# hash it by committing it to the cache, and put data.dvc back unless it came out the same.
	@if [[ "$$($(DVC) status --json $(DATA_DVC) 2>/dev/null)" == "{}" ]]; then \
	  rm -f $(DATA_DIFFERS); echo "data: $(DATA_DIR) matches $(DATA_DVC)"; exit 0; \
	fi; \
	mkdir -p build && cp $(DATA_DVC) build/.data.dvc.recorded; \
	if ! $(DVC) commit -q -f $(DATA_DVC) >/dev/null 2>&1 || ! cmp -s $(DATA_DVC) build/.data.dvc.recorded; then \
	  cp build/.data.dvc.recorded $(DATA_DVC); touch $(DATA_DIFFERS); \
	  echo "error: $(DATA_DIR): differs from what $(DATA_DVC) records ($$(awk '/md5:/ {print $$2}' $(DATA_DVC))); $(DATA_DVC) left as it is (make data-track records this dataset instead). Regenerated on another kind of CPU, Piper's clips can differ: ONNX Runtime picks its kernels (AVX-512 or not) by CPU" >&2; \
	  exit 1; \
	fi; \
	rm -f $(DATA_DIFFERS); \
	echo "data: $(DATA_DIR) matches $(DATA_DVC) (now in the local DVC cache)"

.PHONY: data-synth
data-synth: setup ## Generate the offline dataset into data/speech_commands (params.yaml synth:)
	@# synth.source: synthetic (offline engines), mix (generated + real Speech Commands), real.
	@read -r source real_dir < <($(PY) -m ml.synth --print-source); \
	if [[ "$$source" == real ]]; then \
	  echo "error: params.yaml: synth.source is real: that dataset is downloaded (make data-speech-commands), not generated" >&2; exit 1; \
	fi; \
	if [[ "$$source" == mix && ! -f "$$real_dir/testing_list.txt" ]]; then \
	  $(PY) -m ml.download --out "$$real_dir" --cache $(DOWNLOAD_CACHE); \
	fi; \
	$(PY) -m ml.synth --out $(DATA_DIR)

.PHONY: data-track
data-track: setup ## Record data/speech_commands in data.dvc and push it to the DVC remote
	@test -d $(DATA_DIR) || { echo "error: $(DATA_DIR): not found (run make data)" >&2; exit 1; }
	@test -f $(DATA_DVC) || printf 'outs:\n- path: %s\n' $(DATA_DIR) > $(DATA_DVC)
	@$(DVC) commit -q -f $(DATA_DVC)
	@$(DVC) push -q $(DATA_DVC)
	@echo "data: $(DATA_DVC) -> $$(awk '/md5:/ {print $$2}' $(DATA_DVC)), pushed to $$($(DVC) remote list | awk '/\(default\)/ {print $$2}' | $(PY) -m ml.redact)"

.PHONY: data-speech-commands
data-speech-commands: setup ## Download the real Speech Commands v0.02 (2.4 GB, sha256 checked, resumable)
	@$(PY) -m ml.download --out $(DATA_DIR) --cache $(DOWNLOAD_CACHE)
	@$(MAKE) data-track
