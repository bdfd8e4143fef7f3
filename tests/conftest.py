"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from market_weather.job.session import spark_session
from market_weather.settings import PROJECT_ROOT, load_settings

FIXTURES = Path(__file__).parent / "fixtures"

# py4j says goodbye at interpreter exit, after pytest has closed the streams it would log to.
logging.getLogger("py4j").setLevel(logging.WARNING)


def run_module(env: dict[str, str], module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m module args` from the project folder, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def spark():
    """One local Spark for the whole run, as Spark's testing guide recommends."""
    settings = load_settings(SPARK_MASTER="local[2]", POSTGRES_PASSWORD="unused")
    session = spark_session(
        settings,
        app_name="tests",
        **{"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.ui.showConsoleProgress": "false"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def jars_dir() -> Path:
    path = PROJECT_ROOT / ".local" / "jars"
    if not any(path.glob("mongo-spark-connector*.jar")):
        pytest.fail("Spark connector jars are missing: run `make jars` (make test does it)")
    return path
