"""The job's SparkSession: a session on the Spark Connect server, or an in-process Spark."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from market_weather.job import connect
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


def load_session(settings: SparkSettings, title: str) -> SparkSession:
    """A load's session where SPARK_LOAD_SESSION says: a session of its own on the Spark Connect server (`connect`,
    or `auto` when the server answers), else an in-process Spark on SPARK_MASTER named `title`."""
    choice = settings.SPARK_LOAD_SESSION
    if choice == "connect" or (choice == "auto" and connect.answers(settings)):
        return connect.remote_session(settings)
    return spark_session(settings, title=title)


def spark_session(
    settings: SparkSettings, app_name: str = APP_NAME, *, title: str | None = None, **conf: str
) -> SparkSession:
    """An in-process Spark with the job's settings on SPARK_MASTER, named `title` (else `app_name`) in Spark's UIs;
    its JVM logs to `spark_log_path`, not the terminal."""
    builder = SparkSession.builder
    for key, value in {**SPARK_CONF, **conf}.items():
        builder = builder.config(key, value)
    builder = builder.appName(title or app_name).master(settings.SPARK_MASTER)
    jars = job_jars(settings.SPARK_JARS_DIR)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if settings.SPARK_DRIVER_HOST is None:
        # A driver on this machine listens on loopback, like every other service of the local stack.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with _standard_error_to(spark_log_path(settings, app_name)):
        return builder.getOrCreate()
