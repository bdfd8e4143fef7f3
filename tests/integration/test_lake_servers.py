"""The two lake servers open each other's data folder: a lake the Python server wrote opens under the Rust server
with every document, index and login (the upgrade in place), and the way back holds too (LAKE_SERVER=python)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import MongoClient

from market_weather.contract import RAW_COLLECTIONS
from market_weather.producer import commands
from market_weather.settings import Settings
from market_weather.stack import lake_server
from market_weather.stack.ports import isolated_settings


@contextmanager
def serving(kind: str, settings: Settings, storage, provision: bool) -> Iterator[MongoClient]:
    """One lake server over `storage` with logins required, given them first when `provision`, until the block
    ends, then stopped as supervisord stops it (SIGTERM). The client holds the pipeline's login."""
    server = lake_server.chosen(settings.model_copy(update={"LAKE_SERVER": kind}))
    assert server.kind == kind
    if provision:
        lake_server.provision(settings, server, storage)
    process = subprocess.Popen(
        lake_server.command(settings, server, storage), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        client: MongoClient = MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=1000)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.admin.command("ping")
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the {kind} lake server did not answer: {process.communicate()[0][-2000:]}")
                time.sleep(0.2)
        with client:
            yield client
    finally:
        process.terminate()
        process.wait(timeout=60)


def contents(client: MongoClient, database: str) -> dict:
    """Every document of every collection in `_id` order, and each collection's indexes (name, key, unique)."""
    db = client[database]
    return {
        name: {
            "documents": list(db[name].find().sort("_id", 1)),
            "indexes": sorted(
                (index, tuple(map(tuple, spec["key"])), bool(spec.get("unique")))
                for index, spec in db[name].index_information().items()
            ),
        }
        for name in sorted(db.list_collection_names())
    }


@pytest.fixture
def settings(state_dir):
    if not lake_server.RUST_BINARY.exists():
        pytest.fail(f"the Rust lake server is not built ({lake_server.RUST_BINARY}): make setup builds it")
    return isolated_settings(state_dir, MONGO_DB="lake")


def test_a_lake_the_python_server_wrote_opens_under_the_rust_server_and_back(settings, state_dir):
    """The logins the Python server was given open the Rust server's lake and back: nothing is given again."""
    storage = state_dir / "lake"
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with serving("python", settings, storage, provision=True) as client:
        lake_server.ensure_indexes(settings)
        commands.fetch("coincap", "python-run", settings)
        commands.fetch("openweather", "python-run", settings)
        commands.backfill("coincap", end - timedelta(hours=1), end, "python-run", interval="m1", settings=settings)
        written = contents(client, settings.MONGO_DB)
    assert set(RAW_COLLECTIONS) <= set(written) and all(written[name]["documents"] for name in RAW_COLLECTIONS)
    assert sum(len(c["documents"]) for c in written.values()) > 60
    assert all(len(written[name]["indexes"]) >= 3 for name in RAW_COLLECTIONS), "_id, the unique key, fetched_at"

    with serving("rust", settings, storage, provision=False) as client:
        assert contents(client, settings.MONGO_DB) == written, (
            "every document and index, as the Python server left them"
        )
        again = commands.backfill(
            "coincap", end - timedelta(hours=1), end, "rust-run", interval="m1", settings=settings
        )
        assert again.inserted == 0 and again.duplicates > 0, "the unique keys hold under the Rust server"
        commands.fetch("coincap", "rust-run", settings)
        grown = contents(client, settings.MONGO_DB)
    assert len(grown["coincap_assets"]["documents"]) > len(written["coincap_assets"]["documents"])

    with serving("python", settings, storage, provision=False) as client:
        assert contents(client, settings.MONGO_DB) == grown, "the way back: the Python server opens the Rust server's"
