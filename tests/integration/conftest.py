"""Real services for integration tests: a project-local PostgreSQL and a SecantusDB lake server,
started by the same LocalStack users run, on free ports in a throw-away state folder."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
from pymongo import MongoClient

from common.settings import load_settings
from producer.lake import LakeWriter, ensure_lake_indexes
from stack.services import LocalStack

WAREHOUSE_TABLES = ("assets", "asset_prices", "asset_ohlc", "locations", "weather_observations", "air_quality", "etl_runs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    settings = load_settings(
        LOCAL_STATE_DIR=state,
        POSTGRES_PORT=free_port(),
        POSTGRES_PASSWORD="test-secret-pw",
        MONGO_URI=f"mongodb://127.0.0.1:{free_port()}",
        MONGO_DB="lake",
        PRODUCER_SOURCE="simulated",
        COINCAP_ASSETS="bitcoin,ethereum,tether",
        OPENWEATHER_LOCATIONS="paris:Paris:48.8566:2.3522;tokyo:Tokyo:35.6762:139.6503",
        COINCAP_API_KEY="",
        OPENWEATHER_API_KEY="",
        ETL_LOOKBACK_MINUTES=15,
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
    with MongoClient(stack_settings.MONGO_URI) as client:
        client.drop_database(stack_settings.MONGO_DB)
        ensure_lake_indexes(client[stack_settings.MONGO_DB])
    with psycopg.connect(**stack_settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(WAREHOUSE_TABLES))
    return stack_settings


@pytest.fixture
def lake(settings):
    with MongoClient(settings.MONGO_URI) as client:
        yield client[settings.MONGO_DB]


@pytest.fixture
def writer(lake):
    return LakeWriter(lake)


@pytest.fixture
def pg(settings):
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
        yield conn
