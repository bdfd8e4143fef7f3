"""Policy over every DAG: it imports cleanly without touching a database, and follows the house rules."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest

from market_weather import settings
from market_weather.settings import PROJECT_ROOT
from tests.unit.test_settings import without_warehouse_password

EXPECTED_SCHEDULES = {
    "ingest_coincap": "* * * * *",
    "ingest_openweather": "*/10 * * * *",
}


@pytest.fixture(scope="module", params=["with .env", "without the warehouse password"])
def dagbag(request, tmp_path_factory):
    """Parse dags/ the way the dag-processor does, with every database client made to explode; and
    again with POSTGRES_PASSWORD set nowhere, which only the warehouse's settings need."""
    import socket

    import psycopg

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    if request.param == "without the warehouse password":
        without_warehouse_password(monkeypatch, tmp_path_factory.mktemp("env"))
        # Modules imported earlier hold the settings they read then: import them afresh.
        for name in [n for n in sys.modules if n.startswith("market_weather.orchestration")]:
            monkeypatch.delitem(sys.modules, name)

    def refuse(*args, **kwargs):
        raise AssertionError("a DAG file touched a database at import time")

    # Whatever name a module imported them under: no socket connects (pymongo and HTTP clients go
    # through Python sockets) and no libpq connection opens while the DAG files are parsed.
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(psycopg, "connect", refuse)
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(refuse))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(PROJECT_ROOT / "dags"))
    monkeypatch.undo()
    settings._load_once.cache_clear()
    return bag


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "ingest_coincap",
        "ingest_openweather",
        "lake_to_warehouse",
        "backfill_history",
        "intake_inbox",
    }


def test_every_dag_has_docs_tags_retries_and_one_run_at_a_time(dagbag):
    for dag in dagbag.dags.values():
        assert dag.doc_md and dag.doc_md.strip().startswith("###"), dag.dag_id
        assert dag.tags, dag.dag_id
        assert dag.max_active_runs == 1 and dag.catchup is False, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id}"
            assert task.retry_exponential_backoff, f"{dag.dag_id}.{task.task_id}"
            assert task.retry_delay >= timedelta(seconds=10)


@pytest.mark.parametrize("dag_id, cron", EXPECTED_SCHEDULES.items())
def test_ingest_schedules(dagbag, dag_id, cron):
    assert dagbag.dags[dag_id].timetable.expression == cron


def test_ingest_tasks_use_the_api_pools_and_publish_lake_assets(dagbag):
    coincap = dagbag.dags["ingest_coincap"].get_task("fetch_assets_snapshot")
    weather = dagbag.dags["ingest_openweather"].get_task("fetch_weather_and_air")
    assert coincap.pool == "coincap_api" and weather.pool == "openweather_api"
    assert [a.uri.rsplit("/", 1)[-1] for a in coincap.outlets] == ["coincap_assets"]
    assert sorted(a.uri.rsplit("/", 1)[-1] for a in weather.outlets) == ["openweather_air", "openweather_weather"]


def test_the_warehouse_load_is_scheduled_on_the_ingest_and_inbox_assets(dagbag):
    load = dagbag.dags["lake_to_warehouse"]
    producers = (*EXPECTED_SCHEDULES, "intake_inbox")
    produced = {a.uri for dag_id in producers for t in dagbag.dags[dag_id].tasks for a in t.outlets}
    consumed = {a.uri for a in load.timetable.asset_condition.objects}
    assert type(load.timetable.asset_condition).__name__ == "AssetAny"  # any new ingest triggers a load
    assert consumed == produced
    task = load.get_task("load_warehouse")
    assert type(task).__name__ == "_PySparkDecoratedOperator" and task.conn_id == "spark_connect_default"
    assert task.python_callable.__name__ == "load_warehouse"


def test_the_inbox_waits_on_a_deferrable_sensor_over_the_inbox_connection_then_takes_the_files(dagbag):
    inbox = dagbag.dags["intake_inbox"]
    assert type(inbox.timetable).__name__ == "ContinuousTimetable" and inbox.max_active_runs == 1
    wait = inbox.get_task("wait_for_a_file")
    assert type(wait).__name__ == "FileSensor" and wait.deferrable and wait.fs_conn_id == "inbox_fs"
    assert wait.poke_interval <= 5, "a file is picked up within seconds"
    assert wait.soft_fail, "a run that waited its longest ends skipped, and the next one waits again"
    take = inbox.get_task("take_files")
    assert [t.task_id for t in wait.downstream_list] == ["take_files"]
    assert sorted(a.uri.rsplit("/", 1)[-1] for a in take.outlets) == ["coingecko_history", "open_meteo_weather"]


def test_backfill_is_manual_with_params_and_ends_with_the_load(dagbag):
    backfill = dagbag.dags["backfill_history"]
    assert backfill.timetable.can_be_scheduled is False
    assert set(backfill.params) == {"source", "entities", "start", "end", "interval"}
    entities = backfill.params.get_param("entities")
    assert "null" in entities.schema["type"], "the trigger form does not mark it required: empty means all"
    assert entities.resolve(None) is None and entities.resolve(["bitcoin"]) == ["bitcoin"]
    # The form opens on the last complete UTC day, read when the file was parsed: valid as it stands.
    resolved = backfill.params.validate()
    start, end = (datetime.fromisoformat(resolved[name]) for name in ("start", "end"))
    assert end - start == timedelta(days=1) and end.time() == datetime.min.time() and end.tzinfo == UTC
    assert end <= datetime.now(UTC) < end + timedelta(days=2), "a recent day (parsed up to a day ago at most)"
    load = backfill.get_task("load_warehouse")
    assert load.upstream_task_ids == {"load_coincap_chunks", "load_openweather_chunks"}
    assert backfill.get_task("load_coincap_chunks").pool == "coincap_api"
    assert backfill.get_task("load_openweather_chunks").pool == "openweather_api"


@pytest.mark.parametrize("dag_id", ["lake_to_warehouse", "backfill_history"])
def test_every_load_is_followed_by_the_warehouse_checks_which_alert_on_failure(dagbag, dag_id):
    from market_weather.orchestration.quality import QualityAlert

    dag = dagbag.dags[dag_id]
    check = dag.get_task("check_warehouse")
    assert check.upstream_task_ids == {"load_warehouse"} and not check.downstream_task_ids
    assert check.pool != "warehouse_load", "checking does not hold the load's slot"
    callbacks = (
        check.on_failure_callback if isinstance(check.on_failure_callback, list) else [check.on_failure_callback]
    )
    assert any(type(c).__name__ == QualityAlert.__name__ for c in callbacks)
