"""The job's SparkSession, built from the same settings as its submission."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from market_weather.job.spark_conf import APP_NAME, SPARK_CONF, job_jars
from market_weather.settings import SparkSettings


def spark_log_path(settings: SparkSettings, app_name: str = APP_NAME) -> Path:
    return Path(settings.LOCAL_STATE_DIR) / "logs" / "spark" / f"{app_name}.log"


@contextmanager
def _standard_error_to(path: Path) -> Iterator[None]:
    """Child processes started inside inherit `path` as their standard error; this process gets its own back.

    The JVM writes what no log4j setting can silence (its incubator-module warning) straight to it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("wb") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def spark_session(
    settings: SparkSettings, app_name: str = APP_NAME, *, title: str | None = None, **conf: str
) -> SparkSession:
    """A session with the job's settings, named `title` (else `app_name`) in Spark's UIs; a JVM started
    here logs to `spark_log_path`, not the terminal."""
    builder = SparkSession.builder
    for key, value in {**SPARK_CONF, **conf}.items():
        builder = builder.config(key, value)
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # Under spark-submit (the scheduler's way) master, jars, the log and the application's name (its
        # DAG and run) come from the submission.
        return builder.getOrCreate()
    builder = builder.appName(title or app_name).master(settings.SPARK_MASTER)
    jars = job_jars(settings.SPARK_JARS_DIR)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if settings.SPARK_DRIVER_HOST is None:
        # A driver on this machine listens on loopback, like every other service of the local stack.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with _standard_error_to(spark_log_path(settings, app_name)):
        return builder.getOrCreate()
