"""Warehouse loads queue for one pool slot, and a failed load says why at ERROR in the task log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from market_weather.job.connect import SparkServerError
from market_weather.orchestration import defaults
from market_weather.orchestration.connections import SPARK_CONNECT_CONN_ID
from market_weather.settings import PROJECT_ROOT


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
    """Every task that runs the warehouse load (a session on the Spark Connect server), by `dag.task`."""
    return {
        f"{dag.dag_id}.{task.task_id}": task
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if getattr(task, "conn_id", None) == SPARK_CONNECT_CONN_ID
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


def test_a_failed_load_logs_its_cause_at_error_on_one_line(caplog):
    down = SparkServerError(
        "the Spark Connect server at sc://127.0.0.1:15002 (SPARK_CONNECT_PORT=15002)\ndoes not answer"
    )
    with caplog.at_level(logging.INFO, logger=defaults.__name__):
        defaults.log_load_failure({"exception": down})
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            "the warehouse load failed: SparkServerError: the Spark Connect server at sc://127.0.0.1:15002 "
            "(SPARK_CONNECT_PORT=15002) does not answer",
        )
    ]


def test_airflow_ends_a_load_a_little_after_the_job_interrupts_itself(dagbag):
    timeout = defaults.get_settings(defaults.SparkSettings).LOAD_TIMEOUT_SECONDS
    for name, task in loads_of_the_warehouse(dagbag).items():
        assert task.execution_timeout.total_seconds() == timeout + defaults.LOAD_TIMEOUT_GRACE_SECONDS, name
