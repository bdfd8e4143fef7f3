"""What every DAG of the platform shares: retry policy, pools, and the Spark job submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from market_weather.job.spark_conf import APP_NAME, JOB_FILE, SPARK_CONF, job_jars
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
POOLS = {
    COINCAP_POOL: (1, "CoinCap API calls (credits are metered)"),
    OPENWEATHER_POOL: (1, "OpenWeather API calls (60 per minute on the free plan)"),
}


def spark_submit_kwargs() -> dict:
    """The SparkSubmitOperator's arguments; the Spark settings alone, so DAG files parse without the warehouse's."""
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
        "name": APP_NAME,
        "conf": conf,
        "verbose": False,
    }
