# Newswatch: `make run` for the demo pass, `make test` for the test suite. Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
RUN_DEPS := $(VENV)/.run-deps
DEV_DEPS := $(VENV)/.dev-deps
BENCH_DEPS := $(VENV)/.bench-deps
AUDIT_DEPS := $(VENV)/.audit-deps
AIRFLOW_DEPS := $(VENV)/.airflow-deps
DEMO_FEEDS ?= config/feeds.demo.yaml
# make airflow: Airflow's own files (metadata DB, logs, generated login) stay in the project folder.
AIRFLOW_HOME ?= $(CURDIR)/.airflow
AIRFLOW_FEEDS ?= $(DEMO_FEEDS)
AIRFLOW_PORT ?= 8080

.PHONY: run test bench bench-large scale-test scale-run airflow audit samples clean help lock

help:
	@echo "make run    create $(VENV), install, run one pass over the demo feeds into the SQLite store (./var)"
	@echo "make test   install test dependencies and run the test suite"
	@echo "make bench  throughput benchmarks against bounds measured in the same run (bench/results.md)"
	@echo "make bench-large  the same with the growth curve up to 100,000 articles"
	@echo "make scale-test  Celery workers and a 2-node Elasticsearch cluster on loopback, a worker and a node killed (bench/scale.py)"
	@echo "make audit  known vulnerabilities in requirements.txt (pip-audit; needs internet, not part of make test)"
	@echo "make airflow  Airflow 3 standalone on http://localhost:$(AIRFLOW_PORT) with the DAGs in dags/"
	@echo "make clean  remove $(VENV) and ./var"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_DEPS): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(AIRFLOW_DEPS): requirements-airflow.txt $(RUN_DEPS)
	$(BIN)/pip install --quiet --require-hashes -r requirements-airflow.txt
	touch $@

$(DEV_DEPS): requirements-dev.txt $(AIRFLOW_DEPS)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

run: $(RUN_DEPS)
	$(BIN)/newswatch run --feeds $(DEMO_FEEDS)
	@echo
	@echo "Counter-terrorism articles now in the store (newswatch search ...):"
	$(BIN)/newswatch search "terrorism OR terrorist OR counterterrorism OR Daesh" --limit 10

# Lint and format checks first (ruff, configured in pyproject.toml), then the suite.
test: $(DEV_DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

$(BENCH_DEPS): requirements-bench.txt $(RUN_DEPS)
	$(BIN)/pip install --quiet --require-hashes -r requirements-bench.txt
	touch $@

# Throughput against bounds measured in the same run (about 15 minutes on 2 cores); writes bench/results.json,
# bench/results.md and bench/growth.png. Starts the local Elasticsearch test node unless ELASTICSEARCH_URL is set.
bench: $(BENCH_DEPS)
	$(BIN)/python -m bench

# The same, with the growth curve up to 100,000 articles.
bench-large: $(BENCH_DEPS)
	$(BIN)/python -m bench --large

# Past one machine, for real (about 15 minutes on 2 cores; not part of `make test`): Airflow's CeleryExecutor with
# Redis and PostgreSQL from Debian's packages (installed when missing, as root), two Celery workers and a two-node
# Elasticsearch cluster; one worker and one node are killed in the middle of a run. Figures go to
# bench/results.json. Its own virtual environment: Celery pins packages the test set pins newer.
SCALE_VENV ?= .venv-scale
scale-test:
	$(MAKE) VENV=$(SCALE_VENV) scale-run

# The lock is complete (uv, universal), so no resolution is needed; pip's resolver would refetch celery[redis].
$(VENV)/.scale-deps: requirements-scale.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-scale.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

scale-run: $(VENV)/.scale-deps
	$(BIN)/python -m bench.scale

$(AUDIT_DEPS): requirements-audit.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-audit.txt
	touch $@

# Known vulnerabilities in the pinned runtime dependencies. pip-audit asks PyPI's vulnerability data online,
# which the CI machines cannot reach, so this is for users and maintainers, not part of `make test`. --strict:
# a package that could not be looked up fails the audit instead of passing as "no known vulnerabilities".
audit: $(AUDIT_DEPS)
	$(BIN)/pip-audit --strict -r requirements.txt

# Airflow 3 standalone (scheduler, dag-processor, triggerer, api-server, SQLite metadata DB) for local use.
# The DAGs poll AIRFLOW_FEEDS (the demo feeds unless you say otherwise: make airflow AIRFLOW_FEEDS=config/feeds.yaml)
# into the store NEWSWATCH_HOME (./var) or the `elasticsearch_default` connection when you add one.
airflow: $(AIRFLOW_DEPS)
	@mkdir -p $(AIRFLOW_HOME)
	AIRFLOW_HOME=$(AIRFLOW_HOME) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False \
	AIRFLOW__API__HOST=127.0.0.1 \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	NEWSWATCH_HOME=$${NEWSWATCH_HOME:-$(CURDIR)/var} \
	NEWSWATCH_FEEDS_FILE=$${NEWSWATCH_FEEDS_FILE:-$(abspath $(AIRFLOW_FEEDS))} \
	PATH=$(CURDIR)/$(BIN):$$PATH \
	$(BIN)/airflow standalone

# Rebuild config/samples/ from the seed documents (only when the seeds or the demo items change):
# make samples SEEDS=path/to/seeds (the team keeps the seeds; they are not part of the repository).
samples: $(RUN_DEPS)
	@test -n "$(SEEDS)" || { echo "make samples SEEDS=path/to/seeds"; exit 2; }
	$(BIN)/python scripts/build_samples.py $(SEEDS)

clean:
	rm -rf $(VENV) var .airflow

# Recompile the hashed lock files (requirements*.txt) from the top-level pins in requirements*.in (needs PyPI).
UV_VERSION ?= 0.13.9
LOCKS := requirements requirements-airflow requirements-dev requirements-bench requirements-audit requirements-scale
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	for name in $(LOCKS); do \
	  $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 --no-annotate \
	    --custom-compile-command "make lock" $$name.in -o $$name.txt || exit 1; \
	done
