"""The local stack's topology: the programs it runs, in the order compose starts its services, each with its
command, environment, the ports it takes and the check that tells it answers.

Each builder is pure: it reads the settings and the paths it is given, and each component's own module
(`postgres_cluster`, `lake_server`, `spark_cluster`, `airflow_local`, `mongo_express`, `pgadmin`) says how
that component runs.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from market_weather.job import connect
from market_weather.settings import DashboardSettings, IntakeSettings, Settings, SparkSettings
from market_weather.stack import airflow_local, lake_server, mongo_express, pgadmin, postgres_cluster, spark_cluster

CORE = ("postgres", "lake")
# Started once the core answers and the databases are set up, as compose's depends_on orders them;
# Airflow's other components once its api-server answers (their tasks talk to it).
# The Spark cluster and the Connect server the loads run on (what `make bench` runs its loads on).
SPARK = ("spark_master", "spark_worker", "spark_connect")
PLATFORM = (
    *SPARK,
    *airflow_local.COMPONENTS,
    "mongo_express",
    "pgadmin",
    "dashboard",
    "intake",
)
AFTER_API_SERVER = tuple(name for name in airflow_local.COMPONENTS if name != "airflow_apiserver")
# The compose service each program stands for (a test holds the two files to it).
COMPOSE_SERVICES = {
    "postgres": "postgres",
    "lake": "mongo",
    "spark_master": "spark-master",
    "spark_worker": "spark-worker",
    "spark_connect": "spark-connect",
    "airflow_apiserver": "airflow-apiserver",
    "airflow_scheduler": "airflow-scheduler",
    "airflow_dag_processor": "airflow-dag-processor",
    "airflow_triggerer": "airflow-triggerer",
    "mongo_express": "mongo-express",
    "pgadmin": "pgadmin",
    "dashboard": "dashboard",
    "intake": "intake",
}


@dataclass
class Program:
    """One supervised process: how to run it, and how to tell that it answers."""

    name: str
    command: list[str]
    check: Callable[[], str]
    ports: list[tuple[str, int, str]]  # host, port, and the setting that chooses it
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stopsignal: str = "TERM"
    whole_group: bool = True  # stop and kill its children with it (a task's load, say)
    autostart: bool = True  # False: started once the databases it needs are set up


def postgres_program(settings: Settings, data: Path, run_dir: Path, os_user: str | None) -> Program:
    """`os_user`: the OS user to run the server as, None for ours."""
    return Program(
        "postgres",
        postgres_cluster.server_command(postgres_cluster.find_postgres_bindir(), data, run_dir, settings.POSTGRES_PORT),
        lambda: postgres_cluster.check(settings, run_dir),
        [("127.0.0.1", settings.POSTGRES_PORT, "POSTGRES_PORT")],
        user=os_user,
        stopsignal="INT",  # PostgreSQL's fast shutdown
        whole_group=False,  # the postmaster stops its own backends
    )


def lake_program(settings: Settings, storage: Path) -> Program:
    """The lake server LAKE_SERVER chooses (lake_server.chosen), which its status line names."""
    host, port = lake_server.address(settings)
    server = lake_server.chosen(settings)
    return Program(
        "lake",
        lake_server.command(settings, server, storage),
        lambda: lake_server.check(settings, server),
        [(host, port, "MONGO_URI")],
    )


def spark_master_program(settings: Settings, state_dir: Path) -> Program:
    return Program(
        "spark_master",
        spark_cluster.master_command(settings),
        lambda: spark_cluster.master_check(settings),
        [
            ("127.0.0.1", settings.SPARK_MASTER_PORT, "SPARK_MASTER_PORT"),
            ("127.0.0.1", settings.SPARK_MASTER_UI_PORT, "SPARK_MASTER_UI_PORT"),
        ],
        environment=spark_cluster.environment(state_dir),
        autostart=False,
    )


def spark_worker_program(settings: Settings, state_dir: Path) -> Program:
    return Program(
        "spark_worker",
        spark_cluster.worker_command(settings, state_dir / "spark" / "work"),
        lambda: spark_cluster.worker_check(settings),
        [("127.0.0.1", settings.SPARK_WORKER_UI_PORT, "SPARK_WORKER_UI_PORT")],
        environment=spark_cluster.environment(state_dir),
        autostart=False,
    )


def spark_connect_program(settings: Settings, state_dir: Path) -> Program:
    """The Spark Connect server every load runs on, an application on the master (`job.connect`); its warm-up reads
    the lake as the read-only login (`job.warm_up`), as in compose."""
    environment = {
        name: value for name, value in settings.as_environment().items() if name in SparkSettings.model_fields
    }
    environment |= {"MONGO_URI": lake_server.reader_uri(settings), "MONGO_DB": settings.MONGO_DB}
    return Program(
        "spark_connect",
        [sys.executable, "-m", "market_weather.job.connect", "serve", "--master", spark_cluster.master_url(settings)],
        lambda: connect.check(settings),
        [
            ("127.0.0.1", settings.SPARK_CONNECT_PORT, "SPARK_CONNECT_PORT"),
            ("127.0.0.1", settings.SPARK_CONNECT_UI_PORT, "SPARK_CONNECT_UI_PORT"),
        ],
        environment=environment | spark_cluster.environment(state_dir),
        autostart=False,
    )


def airflow_program(settings: Settings, name: str, airflow_home: Path) -> Program:
    ui = [("127.0.0.1", settings.AIRFLOW_UI_PORT, "AIRFLOW_UI_PORT")]
    return Program(
        name,
        airflow_local.command(name),
        lambda: airflow_local.check(settings, name),
        ui if name == "airflow_apiserver" else [],
        environment=airflow_local.environment(settings, airflow_home),
        autostart=False,
    )


def mongo_express_program(settings: Settings, install_dir: Path) -> Program:
    app = install_dir / "node_modules" / "mongo-express" / "app.js"
    argv, env = mongo_express.command(settings, app)
    return Program(
        "mongo_express",
        argv,
        lambda: mongo_express.check(settings),
        [("127.0.0.1", settings.MONGO_EXPRESS_PORT, "MONGO_EXPRESS_PORT")],
        environment=env,
        autostart=False,
    )


def pgadmin_program(settings: Settings, venv_dir: Path, state_dir: Path) -> Program:
    argv, env = pgadmin.command(settings, venv_dir, state_dir)
    return Program(
        "pgadmin",
        argv,
        lambda: pgadmin.check(settings),
        [("127.0.0.1", settings.PGADMIN_PORT, "PGADMIN_PORT")],
        environment=env,
        autostart=False,
    )


def dashboard_program(settings: Settings) -> Program:
    """The dashboard with its own settings and no others: never the warehouse's or the lake's owner's login
    (it reads the lake as LAKE_READER_USER, as in compose)."""
    environment = {
        name: value for name, value in settings.as_environment().items() if name in DashboardSettings.model_fields
    }
    environment["MONGO_URI"] = lake_server.reader_uri(settings)
    return Program(
        "dashboard",
        [sys.executable, "-m", "market_weather.dashboard"],
        lambda: dashboard_check(settings),
        [(settings.DASHBOARD_HOST, settings.DASHBOARD_PORT, "DASHBOARD_PORT")],
        environment=environment,
        autostart=False,
    )


def dashboard_check(settings: Settings) -> str:
    """The dashboard answers, and reaches the warehouse as its read-only login and the lake."""
    url = f"http://127.0.0.1:{settings.DASHBOARD_PORT}"
    with urllib.request.urlopen(f"{url}/api/health", timeout=3) as response:
        login = json.load(response)["warehouse_login"]
    return f"dashboard on {url}/ (reads the warehouse as {login})"


def intake_program(settings: Settings) -> Program:
    """The file intake's service with its own settings and no others: the lake's pipeline login (it lands rows), no
    warehouse login, no API key."""
    environment = {
        name: value for name, value in settings.as_environment().items() if name in IntakeSettings.model_fields
    }
    return Program(
        "intake",
        [sys.executable, "-m", "market_weather.intake"],
        lambda: intake_check(settings),
        [(settings.INTAKE_HOST, settings.INTAKE_PORT, "INTAKE_PORT")],
        environment=environment,
        autostart=False,
    )


def intake_check(settings: Settings) -> str:
    """The intake answers and reaches the lake."""
    url = f"http://127.0.0.1:{settings.INTAKE_PORT}"
    with urllib.request.urlopen(f"{url}/api/health", timeout=3) as response:
        json.load(response)
    return f"file intake on {url}/ (log in as {settings.INTAKE_USER}); drop folder {settings.INBOX_DIR}"
