"""Airflow 3 for the local stack, as docker compose runs it: the api-server, scheduler, dag-processor and
triggerer as four programs, the LocalExecutor, and the metadata in the `airflow` database (its own role)
of the platform's PostgreSQL.

`shared_config` is the `[section] option` list both modes set to the same values; the compose file
repeats it for its containers and a test holds the two equal. Connections come from the
AIRFLOW_CONN_* variables `orchestration.connections` builds, so the UI, hooks and tasks all see the
same lake, warehouse and Spark Connect server. The scheduler and the triggerer share the log folder with the
api-server, so they run without Airflow's log server (which binds every interface).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote

import requests
from cryptography.fernet import Fernet

from market_weather.files import write_private
from market_weather.orchestration.connections import airflow_connections
from market_weather.orchestration.setup import SetupError, prepare_airflow
from market_weather.settings import PROJECT_ROOT, Settings
from market_weather.stack.errors import StackError

# Program name: the `airflow` subcommand it runs, and its part of the api-server's health report.
COMPONENTS = {
    "airflow_apiserver": (["api-server"], "metadatabase"),
    "airflow_scheduler": (["scheduler", "--skip-serve-logs"], "scheduler"),
    "airflow_dag_processor": (["dag-processor"], "dag_processor"),
    "airflow_triggerer": (["triggerer", "--skip-serve-logs"], "triggerer"),
}
AIRFLOW_DB = "airflow"
# Two cores: four task slots are plenty for the DAGs' pools, and one API worker serves the UI and tasks.
PARALLELISM = 4
API_WORKERS = 1


def shared_config(
    *, sql_alchemy_conn: str, execution_api: str, dags_folder: str, passwords_file: str, admin_user: str
) -> dict[str, str]:
    """The Airflow options both modes set, with the values they share; the arguments are what differs
    between a container and this machine (host names and paths)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": execution_api,
        "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{admin_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": passwords_file,
        "AIRFLOW__API__WORKERS": str(API_WORKERS),
    }


def generated_secrets(airflow_home: Path) -> dict[str, str]:
    """The Fernet key and the JWT secret every component shares: made once, kept owner-only."""
    path = airflow_home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"fernet_key": Fernet.generate_key().decode(), "jwt_secret": secrets.token_urlsafe(48)}
    airflow_home.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(values))
    return values


def environment(settings: Settings, airflow_home: Path) -> dict[str, str]:
    """What every Airflow program runs with; tasks inherit it (the settings the stack started with; the loads
    run on the Spark Connect server that `spark_connect_default` names)."""
    keys = generated_secrets(airflow_home)
    bin_dir = str(Path(sys.executable).parent)
    api = f"http://127.0.0.1:{settings.AIRFLOW_UI_PORT}"
    database = (
        f"postgresql+psycopg2://{quote(settings.AIRFLOW_DB_USER, safe='')}:"
        f"{quote(settings.AIRFLOW_DB_PASSWORD.get_secret_value(), safe='')}"
        f"@127.0.0.1:{settings.POSTGRES_PORT}/{AIRFLOW_DB}"
    )
    return {
        **settings.as_environment(),
        "AIRFLOW_HOME": str(airflow_home),
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        **shared_config(
            sql_alchemy_conn=database,
            execution_api=f"{api}/execution/",
            dags_folder=str(PROJECT_ROOT / "dags"),
            passwords_file=str(airflow_home / "passwords.json"),
            admin_user=settings.AIRFLOW_ADMIN_USER,
        ),
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.AIRFLOW_UI_PORT),
        "AIRFLOW__API__BASE_URL": api,
        **airflow_connections(settings),
    }


def prepare(settings: Settings, airflow_home: Path) -> None:
    """Migrate the metadata database, write the admin's password, create the pools; idempotent. The
    `airflow` database must exist and PostgreSQL answer."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    try:
        prepare_airflow(settings, {**os.environ, **environment(settings, airflow_home)})
    except SetupError as exc:
        raise StackError(str(exc)) from None


def command(program: str) -> list[str]:
    subcommand, _ = COMPONENTS[program]
    return [str(Path(sys.executable).parent / "airflow"), *subcommand]


def check(settings: Settings, program: str) -> str:
    """A component is healthy when the api-server's health report says so (its heartbeat is recent)."""
    _, part = COMPONENTS[program]
    url = f"http://127.0.0.1:{settings.AIRFLOW_UI_PORT}"
    report = requests.get(f"{url}/api/v2/monitor/health", timeout=3).json()[part]
    if report.get("status") != "healthy":
        raise RuntimeError(f"{part} is {report.get('status')}")
    if program == "airflow_apiserver":
        return f"Airflow on {url}"
    beat = next((value for key, value in report.items() if key.endswith("heartbeat")), None)
    return f"{part.replace('_', '-')}, last heartbeat {beat}"
