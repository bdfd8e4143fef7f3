"""Real services for integration tests: a project-local PostgreSQL and a SecantusDB lake server,
started by the same LocalStack users run, on free ports in a throw-away state folder."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import requests
from pymongo import MongoClient

from market_weather.contract import DATA_TABLES, WAREHOUSE_TABLES
from market_weather.lake import LakeWriter, ensure_lake_indexes
from market_weather.producer import records
from market_weather.settings import PROJECT_ROOT
from market_weather.stack import lake_server
from market_weather.stack.ports import free_port, isolated_settings
from market_weather.stack.services import LocalStack
from tests.conftest import load_fixture, run_module


def table_counts(pg) -> dict[str, int]:
    """Rows in each data table of the warehouse."""
    return {t.name: pg.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in DATA_TABLES}


def open_state_dir() -> Path:
    """A fresh state folder that the 'postgres' user can reach too when the tests run as root."""
    state = Path(tempfile.mkdtemp(prefix="platform-test-"))
    state.chmod(0o755)
    return state


@pytest.fixture
def state_dir():
    path = open_state_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings():
    state = open_state_dir()
    settings = isolated_settings(
        state,
        POSTGRES_PASSWORD="test-secret-pw",
        MONGO_DB="lake",
        COINCAP_ASSETS="bitcoin,ethereum,tether",
        OPENWEATHER_LOCATIONS="paris:Paris:48.8566:2.3522;tokyo:Tokyo:35.6762:139.6503",
        ETL_LATE_WRITE_SECONDS=30,
        SPARK_MASTER="local[2]",
    )
    yield settings
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(stack_settings):
    local = LocalStack(stack_settings)
    local.start()
    yield local
    local.stop()


class ConnectServer:
    """Spark's Connect server as `job.connect serve` runs it, on the test stack's SPARK_CONNECT_PORT: in-process
    executors (`local[2]`: the test services have no cluster), the job's settings and jars. A test may kill it;
    `ensure_running` starts it again."""

    def __init__(self, settings, log_path: Path):
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from market_weather.job import connect

        env = {**os.environ, **self.settings.as_environment(), "SPARK_LOCAL_IP": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "market_weather.job.connect", "serve", "--master", "local[2]"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                connect.check(self.settings)
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Spark Connect server did not start; see {self.log_path}") from None
                time.sleep(1)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def stop(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def spark_connect(stack, stack_settings):
    """The test stack's Spark Connect server, running (started once, again after a test killed it)."""
    server = ConnectServer(stack_settings, Path(stack_settings.LOCAL_STATE_DIR) / "logs" / "spark_connect.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def connect_server(spark_connect):
    spark_connect.ensure_running()
    return spark_connect


def emptied(settings):
    """The lake and the warehouse of `settings` emptied (the schema and the lake's indexes kept); the settings."""
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        client.drop_database(settings.MONGO_DB)
        ensure_lake_indexes(client[settings.MONGO_DB])
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(t.name for t in WAREHOUSE_TABLES))
    return settings


@pytest.fixture
def settings(stack, stack_settings):
    """Settings of the running test stack, with an empty lake and an empty warehouse."""
    return emptied(stack_settings)


@pytest.fixture
def lake(settings):
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        yield client[settings.MONGO_DB]


@pytest.fixture
def writer(lake):
    return LakeWriter(lake)


@pytest.fixture
def pg(settings):
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
        yield conn


class Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    """A local alert webhook: its URL (with a token in the path, as real ones have) and what it received."""
    Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alert-token-123", Webhook.received
    server.shutdown()


# ------------------------------------------------------------------------------------ dashboard
BAD_PRICE = "priceUsd: not a decimal that fits DECIMAL(38,18)"


def demo_env(settings) -> dict[str, str]:
    """The environment `make demo` and the other commands run with against the test stack."""
    return {
        **os.environ,
        "LOCAL_STATE_DIR": str(settings.LOCAL_STATE_DIR),
        "POSTGRES_PORT": str(settings.POSTGRES_PORT),
        "POSTGRES_PASSWORD": settings.POSTGRES_PASSWORD.get_secret_value(),
        "MONGO_URI": settings.MONGO_URI,
        "PRODUCER_SOURCE": "simulated",
        "COINCAP_ASSETS": ",".join(settings.COINCAP_ASSETS),
        "OPENWEATHER_LOCATIONS": "paris:Paris:48.8566:2.3522",
        "SPARK_MASTER": "local[2]",
    }


def write_dead_letter(settings) -> None:
    """One CoinCap record with a price that is not a number, through the producer's own parsing."""
    body = copy.deepcopy(load_fixture("coincap_v3_assets.json"))
    body["data"][0]["priceUsd"] = "not-a-price"
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        LakeWriter(client[settings.MONGO_DB]).write(
            records.coincap_assets(body, records.Envelope("coincap", "/assets", datetime.now(UTC), "dashboard-test"))
        )


@pytest.fixture(scope="module")
def filled(stack, stack_settings):
    """The test stack emptied, then filled by `make demo`'s cycle, with one dead letter beside."""
    result = run_module(demo_env(emptied(stack_settings)), "market_weather.stack", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    write_dead_letter(stack_settings)
    return stack_settings


def start_dashboard(settings, **overrides) -> tuple[subprocess.Popen, str]:
    """The dashboard as the stack runs it: the lake's read-only login on its MONGO_DB (given it there, as the
    stack gives it on start), the warehouse's read-only login."""
    port = free_port()
    lake = settings.model_copy(update={"MONGO_DB": overrides.get("MONGO_DB", settings.MONGO_DB)})
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        lake_server.ensure_user(client[lake.MONGO_DB], lake_server.reader_login(lake, lake))
    env = {
        **os.environ,
        "MONGO_URI": lake_server.reader_uri(lake),
        "MONGO_DB": settings.MONGO_DB,
        "POSTGRES_PORT": str(settings.POSTGRES_PORT),
        "DASHBOARD_PORT": str(port),
        **overrides,
    }
    env.pop("POSTGRES_PASSWORD", None)  # the dashboard never needs the owner's password
    process = subprocess.Popen(
        [sys.executable, "-m", "market_weather.dashboard"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    # The API's description is served whether the databases answer or not.
    return process, answering(process, url, "/api/openapi.json", "the dashboard")


def answering(process: subprocess.Popen, url: str, path: str, what: str, timeout: float = 60) -> str:
    """`url` once `path` answers 200 there; the process's output in the error when it ends or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}{path}", timeout=2).ok:
                return url
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{what} did not start:\n{process.communicate()[0]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def dashboard(filled):
    process, url = start_dashboard(filled)
    assert requests.get(f"{url}/api/health", timeout=10).json() == {"status": "ok", "warehouse_login": "dashboard"}
    yield url
    process.terminate()
    process.wait(timeout=30)
