"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, load_settings
from spark.lake_to_warehouse import spark_session

FIXTURES = Path(__file__).parent / "fixtures"

# py4j says goodbye at interpreter exit, after pytest has closed the streams it would log to.
logging.getLogger("py4j").setLevel(logging.WARNING)


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def spark():
    """One local Spark for the whole run, as Spark's testing guide recommends."""
    settings = load_settings(SPARK_MASTER="local[2]", POSTGRES_PASSWORD="unused")
    session = spark_session(
        settings, app_name="tests",
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
