# Dataset targets. data.dvc (at the root) tracks data/speech_commands; the default DVC remote
# is a local directory outside the repository (.dvc/config), overridable per user with
# `dvc remote add --local -d <name> <url>` or `dvc remote modify --local local url <path>`.
# `dvc add data/speech_commands` would put its .dvc file under the git-ignored data/, so
# data.dvc names the directory itself and `dvc commit -f data.dvc` does what add does.

DATA_DIR := data/speech_commands
DATA_DVC := data.dvc
DVC := $(BIN)/dvc
DOWNLOAD_CACHE := build/downloads

##@ Data
.PHONY: data
data: setup ## Dataset: up to date -> nothing; else dvc pull; else generate, track and push
	@if [[ -f $(DATA_DVC) && -d $(DATA_DIR) ]] && \
	    [[ "$$($(DVC) status --json $(DATA_DVC) 2>/dev/null)" == "{}" ]]; then \
	  state="matches $(DATA_DVC)"; \
	elif [[ -f $(DATA_DVC) ]] && $(DVC) pull -q $(DATA_DVC) 2>/dev/null; then \
	  state="pulled from the DVC remote"; \
	else \
	  state=""; \
	fi; \
	if [[ -n "$$state" ]] && $(PY) -m ml.synth --check --out $(DATA_DIR); then \
	  echo "data: $(DATA_DIR) $$state"; \
	else \
	  echo "data: $(DATA_DIR) missing or stale for params.yaml; generating it (ml.synth)"; \
	  $(MAKE) data-synth && $(MAKE) data-track; \
	fi

.PHONY: data-synth
data-synth: setup ## Generate the offline dataset into data/speech_commands (params.yaml synth:)
	@$(PY) -m ml.synth --out $(DATA_DIR)

.PHONY: data-track
data-track: setup ## Record data/speech_commands in data.dvc and push it to the DVC remote
	@test -d $(DATA_DIR) || { echo "error: $(DATA_DIR): not found (run make data)" >&2; exit 1; }
	@test -f $(DATA_DVC) || printf 'outs:\n- path: %s\n' $(DATA_DIR) > $(DATA_DVC)
	@$(DVC) commit -q -f $(DATA_DVC)
	@$(DVC) push -q $(DATA_DVC)
	@echo "data: $(DATA_DVC) -> $$(awk '/md5:/ {print $$2}' $(DATA_DVC)), pushed to $$($(DVC) remote list | awk '/\(default\)/ {print $$2}')"

.PHONY: data-speech-commands
data-speech-commands: setup ## Download the real Speech Commands v0.02 (2.4 GB, sha256 checked, resumable)
	@$(PY) -m ml.download --out $(DATA_DIR) --cache $(DOWNLOAD_CACHE)
	@$(MAKE) data-track
