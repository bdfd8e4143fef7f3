"""Warehouse loads queue for one pool slot, and a failed load says why at ERROR in the task log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from market_weather.job.spark_conf import JOB_FILE
from market_weather.orchestration import defaults
from market_weather.settings import PROJECT_ROOT

# What the Spark provider raises when spark-submit exits with 1: the command, then the tail of its output.
SUBMIT_FAILED = """Cannot execute: spark-submit --master spark://127.0.0.1:7077 --name lake_to_warehouse \
market_weather/job/lake_to_warehouse.py --run-id manual__2026-01-01. Error code is: 1.
Last spark-submit output:
WARNING: Using incubator modules: jdk.incubator.vector
2026-01-01 00:00:53,497 ERROR lake_to_warehouse: run failed: RuntimeError: another run holds the lock
Traceback (most recent call last):
File "market_weather/job/lake_to_warehouse.py", line 92, in run
RuntimeError: another run holds the lock
2026-01-01 00:00:54.508 INFO ShutdownHookManager: Shutdown hook called"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(PROJECT_ROOT / "dags"))
    monkeypatch.undo()
    assert bag.import_errors == {}
    return bag


def loads_of_the_warehouse(dagbag) -> dict[str, Any]:
    """Every task that submits the warehouse load, by `dag.task`."""
    return {
        f"{dag.dag_id}.{task.task_id}": task
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if getattr(task, "application", None) == str(JOB_FILE)
    }


def test_every_load_of_the_warehouse_takes_the_one_slot_of_one_pool(dagbag):
    loads = loads_of_the_warehouse(dagbag)
    assert set(loads) == {"lake_to_warehouse.load_warehouse", "backfill_history.load_warehouse"}
    assert {(task.pool, task.pool_slots) for task in loads.values()} == {(defaults.WAREHOUSE_POOL, 1)}
    slots, about = defaults.POOLS[defaults.WAREHOUSE_POOL]
    assert slots == 1 and about
    in_the_pool = {
        f"{d.dag_id}.{t.task_id}" for d in dagbag.dags.values() for t in d.tasks if t.pool == defaults.WAREHOUSE_POOL
    }
    assert in_the_pool == set(loads), "the slot is for loads alone"


def callback_names(callbacks) -> set[str]:
    listed = callbacks if isinstance(callbacks, list) else [callbacks]
    return {f"{c.__module__}.{c.__qualname__}" for c in listed if c}


@pytest.mark.parametrize("kind", ["on_retry_callback", "on_failure_callback"])
def test_every_load_of_the_warehouse_says_why_it_failed(dagbag, kind):
    for name, task in loads_of_the_warehouse(dagbag).items():
        assert "market_weather.orchestration.defaults.log_load_failure" in callback_names(getattr(task, kind)), name


def test_the_cause_is_the_jobs_failure_line():
    cause = defaults.load_failure_cause(Exception(SUBMIT_FAILED))
    assert cause == "run failed: RuntimeError: another run holds the lock"


def test_without_the_jobs_line_the_cause_is_the_last_error_line():
    spark_failed = SUBMIT_FAILED.replace("ERROR lake_to_warehouse: run failed", "INFO lake_to_warehouse: starting")
    spark_failed += "\n2026-01-01 00:00:55.000 ERROR SparkContext: Error initializing SparkContext."
    assert defaults.load_failure_cause(spark_failed) == (
        "2026-01-01 00:00:55.000 ERROR SparkContext: Error initializing SparkContext."
    )
    assert defaults.load_failure_cause("Cannot execute: spark-submit. Error code is: 1.") is None
    assert defaults.load_failure_cause(None) is None


def test_a_failed_load_logs_its_cause_at_error(caplog):
    with caplog.at_level(logging.INFO, logger=defaults.__name__):
        defaults.log_load_failure({"exception": RuntimeError(SUBMIT_FAILED)})
        defaults.log_load_failure({"exception": RuntimeError("Cannot execute: spark-submit. Error code is: 1.")})
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "the warehouse load failed: run failed: RuntimeError: another run holds the lock"),
        (logging.ERROR, "the warehouse load failed; spark-submit's output above, at INFO, says why"),
    ]
