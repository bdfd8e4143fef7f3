"""Real services for integration tests: a project-local PostgreSQL and a SecantusDB lake server,
started by the same LocalStack users run, on free ports in a throw-away state folder."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from pymongo import MongoClient

from market_weather.contract import DATA_TABLES, WAREHOUSE_TABLES
from market_weather.lake import LakeWriter, ensure_lake_indexes
from market_weather.stack.services import LocalStack, isolated_settings


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


@pytest.fixture
def settings(stack, stack_settings):
    """Settings of the running test stack, with an empty lake and an empty warehouse."""
    with MongoClient(stack_settings.MONGO_URI, document_class=dict) as client:
        client.drop_database(stack_settings.MONGO_DB)
        ensure_lake_indexes(client[stack_settings.MONGO_DB])
    with psycopg.connect(**stack_settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(t.name for t in WAREHOUSE_TABLES))
    return stack_settings


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
