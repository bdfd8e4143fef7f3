"""What every DAG of the platform shares: retry policy, pools, and the Spark job submission."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from market_weather.job.spark_conf import APP_NAME, JOB_FILE, SPARK_CONF, application_name, job_jars
from market_weather.orchestration.connections import SPARK_CONN_ID
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

# How the job's failure reads in spark-submit's output: lake_to_warehouse.main logs it last, on one line, so
# it is in the tail the Spark provider keeps. Failing that, the last ERROR line.
JOB_FAILURE = re.compile(rf"\bERROR {APP_NAME}: (run failed: .+)")
ERROR_LINE = re.compile(r"\bERROR\b")

log = logging.getLogger(__name__)


def load_failure_cause(error: BaseException | str | None) -> str | None:
    """The cause of a failed load in the submission's error: the job's failure line, else the last ERROR line.

    The Spark provider ends its error with the tail of spark-submit's output, where the job's failure is.
    """
    lines = str(error or "").splitlines()
    for line in reversed(lines):
        if found := JOB_FAILURE.search(line):
            return found.group(1)
    return next((line.strip() for line in reversed(lines) if ERROR_LINE.search(line)), None)


def log_load_failure(context: Any) -> None:
    """Say at ERROR why a load failed.

    spark-submit's output reaches the task log at INFO, the job's failure with it; the error Airflow logs
    says only that spark-submit exited with 1, so a log filtered to errors would hide the cause.
    """
    cause = load_failure_cause(context.get("exception"))
    if cause:
        log.error("the warehouse load failed: %s", cause)
    else:
        log.error("the warehouse load failed; spark-submit's output above, at INFO, says why")


def spark_submit_kwargs() -> dict:
    """The SparkSubmitOperator's arguments; the Spark settings alone, so DAG files parse without the warehouse's.

    Every task that loads the warehouse takes the one slot of WAREHOUSE_POOL, and logs why at ERROR when it fails.
    Spark's master UI names each load by its DAG and run (`lake_to_warehouse / backfill_history / <run_id>`).
    """
    settings = get_settings(SparkSettings)
    conf = dict(SPARK_CONF)
    driver_host = settings.SPARK_DRIVER_HOST
    if driver_host:
        conf |= {"spark.driver.host": driver_host, "spark.driver.bindAddress": "0.0.0.0"}
    return {
        "conn_id": SPARK_CONN_ID,
        "application": str(JOB_FILE),
        "application_args": ["--run-id", "{{ run_id }}"],
        "jars": ",".join(job_jars(settings.SPARK_JARS_DIR)),
        "name": application_name("{{ dag.dag_id }}", "{{ run_id }}"),
        "conf": conf,
        "verbose": False,
        "pool": WAREHOUSE_POOL,
        "on_retry_callback": log_load_failure,
        "on_failure_callback": log_load_failure,
    }
