"""What every DAG of the platform shares: retry policy, pools, and the warehouse load's task."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from market_weather.orchestration.connections import SPARK_CONNECT_CONN_ID
from market_weather.settings import SparkSettings, get_settings

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# What every DAG's @dag shares; each adds its schedule, tags and doc_md.
DAG_DEFAULTS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
}

# Pools cap concurrent API calls: CoinCap meters credits, OpenWeather's free plan allows 60 calls a minute.
COINCAP_POOL = "coincap_api"
OPENWEATHER_POOL = "openweather_api"
# And loads of the warehouse queue for one slot: a backfill's load waits for the scheduled one, and the
# other way round, rather than meeting it on the job's lock.
WAREHOUSE_POOL = "warehouse_load"
POOLS = {
    COINCAP_POOL: (1, "CoinCap API calls (credits are metered)"),
    OPENWEATHER_POOL: (1, "OpenWeather API calls (60 per minute on the free plan)"),
    WAREHOUSE_POOL: (1, "Warehouse loads (the Spark job), one at a time"),
}
# What Airflow adds to LOAD_TIMEOUT_SECONDS before it ends a load's task itself.
LOAD_TIMEOUT_GRACE_SECONDS = 120

log = logging.getLogger(__name__)


def log_load_failure(context: Any) -> None:
    """Say at ERROR, on one line, why a load failed: the job's own error (a Spark Connect server that does not
    answer names SPARK_CONNECT_PORT; a load that outran LOAD_TIMEOUT_SECONDS says so)."""
    error = context.get("exception")
    log.error("the warehouse load failed: %s", " ".join(f"{type(error).__name__}: {error}".split())[:1000])


def load_warehouse_task(**overrides: Any) -> Any:
    """The task that loads the warehouse: the job's run (`lake_to_warehouse.run`) in a session of its own on the
    Spark Connect server the `spark_connect_default` connection names (the Spark provider's `@task.pyspark`).

    It takes the one slot of WAREHOUSE_POOL, and says why at ERROR when it fails. The job interrupts its Spark
    work after LOAD_TIMEOUT_SECONDS; Airflow ends the task a little later whatever it is doing. Its result (the
    run's summary) is the task's XCom. Reads the Spark settings alone, so DAG files parse without the others.
    """
    from airflow.sdk import task

    timeout = get_settings(SparkSettings).LOAD_TIMEOUT_SECONDS

    @task.pyspark(
        task_id="load_warehouse",
        conn_id=SPARK_CONNECT_CONN_ID,
        pool=WAREHOUSE_POOL,
        execution_timeout=timedelta(seconds=timeout + LOAD_TIMEOUT_GRACE_SECONDS),
        on_retry_callback=log_load_failure,
        on_failure_callback=log_load_failure,
        **overrides,
    )
    def load_warehouse(spark: Any = None, run_id: str | None = None) -> dict:
        from dataclasses import asdict

        from market_weather.job import lake_to_warehouse

        return asdict(lake_to_warehouse.run(spark=spark, run_id=run_id))

    return load_warehouse()
