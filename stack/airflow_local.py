"""Airflow 3 for the local stack: `airflow standalone` (SQLite metadata, LocalExecutor) on our DAGs.

Connections come from AIRFLOW_CONN_* variables built from the platform's settings, so the UI, hooks
and tasks all see the same lake, warehouse and Spark.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

import requests

from common.settings import PROJECT_ROOT, Settings
from orchestration.defaults import SPARK_CONN_ID
from orchestration.setup import SetupError, prepare_airflow
from stack.errors import StackError

LAKE_CONN_ID = "lake_mongo"
WAREHOUSE_CONN_ID = "warehouse_postgres"


def environment(settings: Settings, airflow_home: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    password = quote(settings.POSTGRES_PASSWORD.get_secret_value(), safe="")
    return {
        **settings.as_environment(),  # tasks read the very settings the stack was started with
        "AIRFLOW_HOME": str(airflow_home),
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYSPARK_PYTHON": sys.executable,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.AIRFLOW_ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.AIRFLOW_UI_PORT),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{settings.AIRFLOW_UI_PORT}",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}": json.dumps({"conn_type": "spark", "host": settings.SPARK_MASTER}),
        f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": settings.MONGO_URI.replace("mongodb://", "mongo://", 1),
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": (
            f"postgres://{quote(settings.POSTGRES_USER, safe='')}:{password}@{settings.POSTGRES_HOST}:"
            f"{settings.POSTGRES_PORT}/{settings.POSTGRES_DB}"
        ),
    }


def prepare(settings: Settings, airflow_home: Path) -> None:
    """Metadata database, the admin's password and the API pools; idempotent."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    try:
        prepare_airflow(settings, {**os.environ, **environment(settings, airflow_home)})
    except SetupError as exc:
        raise StackError(str(exc)) from None


def command() -> list[str]:
    return [str(Path(sys.executable).parent / "airflow"), "standalone"]


def check(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.AIRFLOW_UI_PORT}"
    health = requests.get(f"{url}/api/v2/monitor/health", timeout=3).json()
    sick = [name for name, part in health.items() if part.get("status") != "healthy"]
    if sick:
        raise RuntimeError(f"not healthy yet: {', '.join(sick)}")
    return f"Airflow on {url}"
