# The commands a person types. Each one creates or refreshes the environment from uv.lock first.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced-$(UV_VERSION)

# Byte code is compiled at install time: with PYTHONDONTWRITEBYTECODE=1 set, an environment
# without .pyc files recompiles TensorFlow and friends at every start.
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-fast test-e2e team-up team-down bench lint audit clean help

help:  ## list the commands
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: $(STAMP)  ## train on the noisy sine, register the champion, write a batch forecast
	$(VENV)/bin/lstm-pipeline demo

test: $(STAMP)  ## run the whole test suite (unit, integration, flows, e2e on real servers)
	$(VENV)/bin/pytest

test-e2e: $(STAMP)  ## only the end-to-end tests on real MLflow, Prefect and Dask processes (about 4 minutes)
	$(VENV)/bin/pytest -m e2e tests/e2e

team-up: $(STAMP)  ## start team mode: MLflow + Prefect servers, work pool, deployments, worker
	scripts/team.sh up

team-down:  ## stop team mode (worker, then both servers)
	scripts/team.sh down

test-fast: $(STAMP)  ## unit tests only (seconds)
	$(VENV)/bin/pytest tests/unit

bench: $(STAMP)  ## every benchmark, each with its ratio to a reference run beside it (see BENCHMARKS.md)
	$(VENV)/bin/python bench/run_all.py --all

lint: $(STAMP)  ## ruff, mypy and the dependency audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	scripts/audit.sh

audit: $(STAMP)  ## audit uv.lock for known vulnerabilities (AUDIT_STRICT=1: fail if the service is unreachable)
	scripts/audit.sh

clean:  ## remove the environment, the MLflow store and the outputs
	rm -rf $(VENV) .tools mlruns outputs .audit

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@
