# Newswatch: `make run` for the demo pass, `make test` for the test suite. Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
RUN_DEPS := $(VENV)/.run-deps
DEV_DEPS := $(VENV)/.dev-deps
DEMO_FEEDS ?= config/feeds.demo.yaml

.PHONY: run test bench samples clean help

help:
	@echo "make run    create $(VENV), install, run one pass over the demo feeds into the SQLite store (./var)"
	@echo "make test   install test dependencies and run the test suite"
	@echo "make bench  throughput benchmarks (bench/results.json)"
	@echo "make clean  remove $(VENV) and ./var"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_DEPS): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_DEPS): requirements-dev.txt $(RUN_DEPS)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(RUN_DEPS)
	$(BIN)/newswatch run --feeds $(DEMO_FEEDS)
	@echo
	@echo "Counter-terrorism articles now in the store (newswatch search ...):"
	$(BIN)/newswatch search "terrorism OR terrorist OR counterterrorism OR Daesh" --limit 10

test: $(DEV_DEPS)
	$(BIN)/python -m pytest

# Throughput against bounds measured in the same run; writes bench/results.json.
bench: $(RUN_DEPS)
	$(BIN)/python -m bench

# Rebuild config/samples/ from ../shared/seeds (only when the seeds or the demo items change).
samples: $(RUN_DEPS)
	$(BIN)/python scripts/build_samples.py ../shared/seeds

clean:
	rm -rf $(VENV) var
