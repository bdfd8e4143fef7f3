"""What every DAG of the platform shares: retry policy, pools, and the Spark job submission."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from common.settings import PROJECT_ROOT, get_settings

START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

DEFAULT_ARGS = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# What every DAG's @dag shares; each adds its schedule, tags and doc_md.
DAG_DEFAULTS = {
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

SPARK_CONN_ID = "spark_default"
SPARK_JOB = PROJECT_ROOT / "spark" / "lake_to_warehouse.py"


def spark_job_jars() -> str:
    """The connector jars for spark-submit, as a comma-separated list (read from disk, no service)."""
    return ",".join(str(p) for p in sorted(Path(get_settings().SPARK_JARS_DIR).glob("*.jar")))


def spark_submit_kwargs() -> dict:
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.ui.showConsoleProgress": "false",
    }
    driver_host = get_settings().SPARK_DRIVER_HOST
    if driver_host:
        conf |= {"spark.driver.host": driver_host, "spark.driver.bindAddress": "0.0.0.0"}
    return {
        "conn_id": SPARK_CONN_ID,
        "application": str(SPARK_JOB),
        "application_args": ["--run-id", "{{ run_id }}"],
        "jars": spark_job_jars(),
        "name": "lake_to_warehouse",
        "conf": conf,
        "verbose": False,
    }
