# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv from the lock.
# While changing code: `make check`, the fast tier (no Airflow run, no production stack).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export NIGHTSHIFT_HOME ?= $(CURDIR)/.nightshift

.PHONY: install demo check test chaos airflow lock clean bench chromium stack-up stack-down

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

demo: install  ## the story end to end through real Airflow DAG runs (resets .nightshift/)
	$(BIN)/nightshift demo

# Two xdist workers; tests/conftest.py keeps a module on one worker and PostgreSQL's tests on one.
WORKERS := -n 2 --dist loadgroup --no-loadscope-reorder

# The e2e marker is on every test that runs Airflow or the production stack (tests/e2e, tests/stack, the
# benchmarks' smoke run). The promotion race runs on the local PostgreSQL and MLflow, but takes minutes.
check: install  ## the fast tier: ruff, then every test that runs no Airflow DAG and no production stack (about 3 minutes on 2 cores)
	$(BIN)/ruff check include dags plugins stack tests bench docs
	$(BIN)/python -m pytest -m "not e2e" --ignore=tests/services/test_promotion_race.py $(WORKERS) --durations=15

test: install chromium  ## unit, DAG integrity and end-to-end tests (the production stack and a browser included)
	$(BIN)/python -m pytest $(WORKERS) --durations=15

# Debian's chromium for the browser test: Playwright drives it (Playwright's own browser download does not work here).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || $(SUDO) apt-get install -y -qq chromium >/dev/null \
		|| ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null)

chaos: install  ## only the chaos suites (killed workers and stopped services on the production stack, killed task processes on the embedded default); make test runs them too
	$(BIN)/python -m pytest $(WORKERS) tests/stack/test_chaos.py tests/e2e/test_embedded_kills.py --durations=0

stack-up: install  ## the production topology as plain processes (no Docker); see stack/stack.py
	$(BIN)/python stack/stack.py up

stack-down:  ## stop exactly what stack-up started
	$(BIN)/python stack/stack.py down

airflow: install  ## the Airflow UI (and scheduler) on the embedded default, http://localhost:8080
	$(BIN)/nightshift airflow db migrate >/dev/null
	$(BIN)/nightshift airflow standalone

lock:  ## re-lock requirements.txt after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 -o requirements.txt

clean:
	rm -rf $(NIGHTSHIFT_HOME)

bench: install  ## every benchmark against its baseline, side by side (~85 min); rewrites bench/RESULTS.md and plots
	$(BIN)/python bench/run.py

# --strict: a pin that cannot be checked fails the audit (without it, pip-audit skips the pin and reports nothing).
.PHONY: audit
audit: install  ## known vulnerabilities in the pinned lock (pip-audit on PyPI's advisories); needs full internet access
	$(BIN)/pip-audit -r requirements.txt --no-deps --disable-pip --strict --progress-spinner off
