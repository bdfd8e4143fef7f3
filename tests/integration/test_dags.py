"""Each DAG run for real (`airflow dags test`, Airflow's own local run) against the test services."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from market_weather.orchestration.connections import airflow_connections
from market_weather.stack import airflow_local
from market_weather.stack.ports import free_port


@pytest.fixture(scope="module")
def airflow_env(stack, stack_settings, spark_connect, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        **airflow_local.environment(stack_settings, home),
        # `airflow dags test` runs the tasks in its own process, on metadata of its own; the loads run on the
        # test stack's Spark Connect server, through the connection the platform builds.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        **airflow_connections(stack_settings),
    }
    migrated = subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    return env


def dags_test(env, dag_id: str, conf: dict | None = None) -> subprocess.CompletedProcess:
    argv = ["airflow", "dags", "test", dag_id]
    if conf:
        argv += ["-c", json.dumps(conf)]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def asset_events(env) -> dict[str, int]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute(
            "SELECT a.uri, count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id GROUP BY a.uri"
        ).fetchall()
    return {uri.rsplit("/", 1)[-1]: n for uri, n in rows}


def test_ingest_dags_fill_the_lake_and_emit_asset_events(airflow_env, lake):
    dags_test(airflow_env, "ingest_coincap")
    dags_test(airflow_env, "ingest_openweather")

    assert lake.coincap_assets.count_documents({}) == 3
    assert lake.openweather_weather.count_documents({}) == 2
    assert lake.openweather_air.count_documents({}) == 2
    assert lake.coincap_assets.find_one()["run_id"].startswith("manual__")
    events = asset_events(airflow_env)
    assert events["coincap_assets"] >= 1 and events["openweather_weather"] >= 1 and events["openweather_air"] >= 1


def test_ingest_tasks_write_to_the_lake_their_connection_names(airflow_env, lake):
    """`lake_mongo` is how Airflow code reaches the lake: the tasks follow it, not MONGO_URI pointing nowhere."""
    dags_test({**airflow_env, "MONGO_URI": f"mongodb://127.0.0.1:{free_port()}"}, "ingest_coincap")
    assert lake.coincap_assets.count_documents({}) == 3


def test_warehouse_dag_runs_the_job_on_the_spark_connect_server(airflow_env, connect_server, writer, pg):
    from market_weather.producer import source_to_lake
    from market_weather.producer.simulated import SimulatedCoinCap

    source_to_lake.fetch_coincap(SimulatedCoinCap(seed=3), writer, ["bitcoin", "ethereum"], "seed")
    dags_test(airflow_env, "lake_to_warehouse")

    run_id, status, rows_read = pg.execute("SELECT run_id, status, rows_read FROM etl_runs").fetchone()
    assert run_id.startswith("manual__") and status == "success" and rows_read == 2
    assert pg.execute("SELECT count(*) FROM assets").fetchone()[0] == 2


def test_backfill_dag_loads_history_in_chunks_then_the_warehouse(airflow_env, lake, pg):
    result = dags_test(
        airflow_env,
        "backfill_history",
        {
            "source": "coincap",
            "entities": ["bitcoin"],
            "interval": "h1",
            "start": "2026-01-01T00:00:00+00:00",
            "end": "2026-01-03T12:00:00+00:00",
        },
    )
    assert lake.coincap_history.count_documents({"entity_id": "bitcoin"}) == 60
    assert len(set(lake.coincap_history.distinct("run_id"))) == 1
    assert pg.execute("SELECT count(*) FROM asset_prices WHERE asset_id = 'bitcoin'").fetchone()[0] == 60
    assert pg.execute("SELECT count(*) FROM asset_ohlc WHERE interval = '1d'").fetchone()[0] == 3
    assert "load_coincap_chunks" in result.stdout + result.stderr


def test_backfill_dag_refuses_an_inverted_range(airflow_env):
    argv = [
        "airflow",
        "dags",
        "test",
        "backfill_history",
        "-c",
        json.dumps({"source": "openweather", "start": "2026-01-03T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"}),
    ]
    started = time.monotonic()
    result = subprocess.run(argv, env=airflow_env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert "must be after start" in output
    assert "up_for_retry" not in output and time.monotonic() - started < 120, "bad input is not retried"


def test_airflow_code_reaches_the_lake_and_the_warehouse_through_their_connections(airflow_env, writer):
    """`lake_mongo` and `warehouse_postgres`, as the providers' hooks read them from the environment."""
    from market_weather.producer import source_to_lake
    from market_weather.producer.simulated import SimulatedCoinCap

    source_to_lake.fetch_coincap(SimulatedCoinCap(seed=3), writer, ["bitcoin", "ethereum"], "seed")
    script = (
        "from airflow.providers.mongo.hooks.mongo import MongoHook\n"
        "from airflow.providers.postgres.hooks.postgres import PostgresHook\n"
        "with MongoHook(mongo_conn_id='lake_mongo') as lake:\n"
        "    print('lake', lake.get_collection('coincap_assets').count_documents({}))\n"
        "warehouse = PostgresHook(postgres_conn_id='warehouse_postgres')\n"
        "print('warehouse', warehouse.get_first('SELECT current_database()')[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=airflow_env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lake 2" in result.stdout and "warehouse warehouse" in result.stdout


def test_a_failed_check_turns_the_check_task_red_and_posts_the_alert(airflow_env, writer, pg, webhook):
    from market_weather.producer import source_to_lake
    from market_weather.producer.simulated import SimulatedCoinCap

    url, received = webhook
    source_to_lake.fetch_coincap(SimulatedCoinCap(seed=4), writer, ["bitcoin"], "seed")
    dags_test(airflow_env, "lake_to_warehouse")
    assert pg.execute("SELECT count(*) FROM quality_latest WHERE status = 'fail'").fetchone()[0] == 0
    assert received == [], "nothing is sent while every check passes"

    pg.execute("UPDATE asset_ohlc SET high = low - 1 WHERE interval = '1d'")
    argv = ["airflow", "dags", "test", "lake_to_warehouse"]
    env = {**airflow_env, "ALERT_WEBHOOK_URL": url}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr

    assert "data-quality check(s) failed" in output and "ohlc_invariants" in output
    assert [(a["dag_id"], a["task_id"]) for a in received] == [("lake_to_warehouse", "check_warehouse")]
    assert "ohlc_invariants" in received[0]["message"]
    assert pg.execute("SELECT status FROM quality_latest WHERE check_name = 'ohlc_invariants'").fetchone()[0] == "fail"
    assert url not in output, "the webhook URL stays out of the task log"
