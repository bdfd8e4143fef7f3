"""Airflow 3 for the local stack: `airflow standalone` (SQLite metadata, LocalExecutor) on our DAGs.

Connections come from the AIRFLOW_CONN_* variables `orchestration.connections` builds from the
platform's settings, so the UI, hooks and tasks all see the same lake, warehouse and Spark.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from market_weather.orchestration.connections import airflow_connections
from market_weather.orchestration.setup import SetupError, prepare_airflow
from market_weather.settings import PROJECT_ROOT, Settings
from market_weather.stack.errors import StackError


def environment(settings: Settings, airflow_home: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
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
        **airflow_connections(settings),
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
