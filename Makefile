# The platform's commands. `make run` sets up what is missing and starts the whole stack;
# `make demo` runs one full cycle at once; `make test` runs every test against real services.

PYTHON_BIN ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JARS_DIR := .local/jars
JARS_STAMP := $(JARS_DIR)/.fetched

.PHONY: setup system-run system-test jars run demo start status stop load check lint test test-python-lake unit integration bench clean-data

# The system packages (Python 3.11, Java, Maven, the PostgreSQL server, Node.js and npm; for the tests also Go and
# Chromium), installed with apt when missing; where that cannot be done, one line says what and how.
system-run:
	@tools/system-packages run

system-test:
	@tools/system-packages test

$(STAMP): pyproject.toml constraints.txt dashboard/src/market_weather/dashboard/assets/package-lock.json | system-run
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint constraints.txt -e '.[airflow,stack,dashboard,intake,bench,test]'
	$(PY) -m market_weather.dashboard.assets
	touch $(STAMP)

$(JARS_STAMP): spark/jars/pom.xml | system-run
	rm -f $(JARS_DIR)/*.jar  # the jars of the pom as it is now, none of an earlier version beside them
	mvn --batch-mode --quiet -f spark/jars/pom.xml dependency:copy-dependencies \
	    -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS_DIR)
	touch $(JARS_STAMP)

# The lake's Rust server, built once into .local/tools/ (the version is pinned in the launcher's lake_server.py);
# without Rust's cargo the lake stays on SecantusDB's Python server, and one line says how to get the faster one.
setup: system-run $(STAMP) $(JARS_STAMP)
	@$(PY) -m market_weather.stack.lake_server

jars: $(JARS_STAMP)

run: setup
	$(PY) -m market_weather.stack run

demo: setup
	$(PY) -m market_weather.stack demo

start: setup
	$(PY) -m market_weather.stack start

# Every service and its state; scripts that need the exit status (1 when one is down) run the module.
status:
	@$(PY) -m market_weather.stack status || true

stop:
	$(PY) -m market_weather.stack stop

load: setup
	$(PY) -m market_weather.job.lake_to_warehouse

# The warehouse checks, each with its observed value; exits 1 when a check of severity error fails.
check: setup
	$(PY) -m market_weather.warehouse.quality

# Style, types and the import seams (pyproject.toml configures all three); CI runs it before the tests.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: system-test setup
	$(PY) -m pytest tests

# The lake contract, one load and the dashboard's lake snapshot on SecantusDB's Python server, the fallback lake
# (make test runs everything on the Rust server that setup builds).
test-python-lake: system-test setup
	LAKE_SERVER=python $(PY) -m pytest tests/integration/test_contract.py tests/integration/test_lake.py \
	    tests/integration/test_lake_logins.py tests/integration/test_intake.py tests/integration/test_inbox.py \
	    tests/integration/test_stack.py::test_started_services_report_healthy \
	    tests/integration/test_pipeline.py::test_full_cycle_matches_values_computed_from_the_lake \
	    tests/integration/test_dashboard.py::test_lake_counts_equal_the_lake \
	    tests/integration/test_dashboard.py::test_a_page_never_waits_for_the_lake_to_be_counted_again

unit: system-test setup
	$(PY) -m pytest tests/unit

integration: system-test setup
	$(PY) -m pytest tests/integration

# A benchmark suite, not tests: BENCH_SCALE=small finishes in about a quarter of an hour; BENCH_ONLY=backfill,dashboard
# runs only the figures named (lake_ingest, backfill, dashboard, warehouse_load, memory, incremental_and_idle, freshness).
bench: setup
	$(PY) -m bench.run

clean-data:
	$(PY) -m market_weather.stack clean
