"""A Spark standalone cluster for the local stack, as compose runs one: a master and a worker, started
from the Spark that the pyspark package ships, every listener on 127.0.0.1.

The job's executors run in the worker, in the JVM only: the job evaluates no Python there (a test holds
its plan to that), so the worker needs no Python of the driver's version.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import requests

from market_weather.settings import Settings
from market_weather.stack.errors import StackError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise StackError("pyspark is not installed in this virtualenv: run make setup")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").exists():
        raise StackError(f"{home} holds no bin/spark-class: reinstall pyspark with make setup")
    return home


def master_url(settings: Settings) -> str:
    return f"spark://127.0.0.1:{settings.SPARK_MASTER_PORT}"


def master_ui(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.SPARK_MASTER_UI_PORT}"


def environment(state_dir: Path) -> dict[str, str]:
    home = spark_home()
    return {
        "SPARK_HOME": str(home),
        # Web UIs bind this address (they have no setting of their own); RPC ends take --host.
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(state_dir / "logs" / "spark"),
        "SPARK_NO_DAEMONIZE": "true",
    }


def master_command(settings: Settings) -> list[str]:
    return [
        str(spark_home() / "bin" / "spark-class"),
        MASTER_CLASS,
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.SPARK_MASTER_PORT),
        "--webui-port",
        str(settings.SPARK_MASTER_UI_PORT),
    ]


def worker_command(settings: Settings, work_dir: Path) -> list[str]:
    return [
        str(spark_home() / "bin" / "spark-class"),
        WORKER_CLASS,
        "--host",
        "127.0.0.1",
        "--webui-port",
        str(settings.SPARK_WORKER_UI_PORT),
        "--cores",
        str(settings.SPARK_WORKER_CORES),
        "--memory",
        settings.SPARK_WORKER_MEMORY,
        "--work-dir",
        str(work_dir),
        master_url(settings),
    ]


def cluster_state(settings: Settings) -> dict:
    """The master's own JSON report: its status, workers and applications."""
    response = requests.get(f"{master_ui(settings)}/json/", timeout=3)
    response.raise_for_status()
    return response.json()


def master_check(settings: Settings) -> str:
    state = cluster_state(settings)
    if state.get("status") != "ALIVE":
        raise RuntimeError(f"master is {state.get('status')}")
    return f"Spark master {master_url(settings)}, UI on {master_ui(settings)}"


def worker_check(settings: Settings) -> str:
    alive = [w for w in cluster_state(settings).get("workers", []) if w.get("state") == "ALIVE"]
    if not alive:
        raise RuntimeError("no worker registered with the master yet")
    cores = sum(w["cores"] for w in alive)
    memory = sum(w["memory"] for w in alive)
    return f"{len(alive)} worker on the master: {cores} cores, {memory} MB"
