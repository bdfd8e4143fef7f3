"""The lake's logins on the local lake server, as the local stack gives them: the pipeline's (MONGO_URI's) may do
anything, the read-only one (LAKE_READER_USER) reads MONGO_DB and changes nothing, and a client without a login
does neither. Mongo Express holds the read-only login: each write request its pages and routes make, sent to it,
leaves the lake as it was, while the same request through a Mongo Express holding the pipeline's login (as it
used to) changes it, so each request is one that would write."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import requests
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from market_weather.producer import records
from market_weather.settings import Settings
from market_weather.stack import lake_server, mongo_express
from market_weather.stack.ports import free_port
from tests.conftest import load_fixture

UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
# A database of its own on the session's lake server, so dropping it costs the other tests nothing.
PROBE_DB = "me_probe"
ADDED_DB = "me_added"
COLLECTION = "probe"
DOCUMENT = "probe-1"


@pytest.fixture
def written(writer):
    """The lake with CoinCap's assets in it, as an ingest leaves it."""
    envelope = records.Envelope("coincap", "/assets", datetime.now(UTC), "logins")
    assert writer.write(records.coincap_assets(load_fixture("coincap_v3_assets.json"), envelope)).inserted > 0


def client_as(settings: Settings, login: lake_server.Login | None) -> MongoClient:
    host, port = lake_server.address(settings)
    if login is None:
        return MongoClient(host, port, document_class=dict, serverSelectionTimeoutMS=5000)
    return MongoClient(
        host, port, document_class=dict, serverSelectionTimeoutMS=5000,
        username=login.user, password=login.password, authSource=login.database,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ logins
def test_the_read_only_login_reads_the_lake_and_changes_nothing(settings, written):
    with client_as(settings, lake_server.reader_login(settings, settings)) as client:
        db = client[settings.MONGO_DB]
        assert db.coincap_assets.count_documents({}) > 0
        assert db.coincap_assets.find_one({}, {"payload": 0})["source"] == "coincap"
        assert "coincap_assets" in db.list_collection_names()
        writes = {
            "insert": lambda: db.coincap_assets.insert_one({"x": 1}),
            "update": lambda: db.coincap_assets.update_many({}, {"$set": {"x": 1}}),
            "delete": lambda: db.coincap_assets.delete_many({}),
            "drop a collection": lambda: db.coincap_assets.drop(),
            "drop the database": lambda: client.drop_database(settings.MONGO_DB),
            "create an index": lambda: db.coincap_assets.create_index("x"),
            "create a collection": lambda: db.create_collection("new"),
            "rename a collection": lambda: db.coincap_assets.rename("renamed"),
            "write another database": lambda: client.other.things.insert_one({"x": 1}),
            "create a login": lambda: db.command("createUser", "intruder", pwd="x", roles=["readWrite"]),
        }
        for name, write in writes.items():
            with pytest.raises(OperationFailure) as refused:
                write()
            assert refused.value.code == UNAUTHORIZED, name
    with MongoClient(settings.MONGO_URI, document_class=dict) as owner:
        assert owner[settings.MONGO_DB].coincap_assets.count_documents({"x": {"$exists": True}}) == 0
        assert "renamed" not in owner[settings.MONGO_DB].list_collection_names()


def test_without_a_login_the_lake_answers_nothing_but_the_handshake(settings, written):
    with client_as(settings, None) as client:
        for name, attempt in {
            "count": lambda: client[settings.MONGO_DB].coincap_assets.count_documents({}),
            "list": lambda: client[settings.MONGO_DB].list_collection_names(),
            "insert": lambda: client[settings.MONGO_DB].coincap_assets.insert_one({"x": 1}),
            "create a login": lambda: client.admin.command("createUser", "intruder", pwd="x", roles=["root"]),
        }.items():
            with pytest.raises(OperationFailure) as refused:
                attempt()
            assert refused.value.code == UNAUTHORIZED, name


def test_a_wrong_password_is_refused(settings):
    login = lake_server.reader_login(settings, settings)
    wrong = lake_server.Login(login.user, login.password + "-not", login.database, login.roles)
    with client_as(settings, wrong) as client, pytest.raises(OperationFailure) as refused:
        client[settings.MONGO_DB].list_collection_names()
    assert refused.value.code == AUTHENTICATION_FAILED


# ------------------------------------------------------------------------------------ Mongo Express
@contextmanager
def running_mongo_express(settings: Settings, install_dir, uri: str) -> Iterator[str]:
    """Mongo Express as the stack runs it (its command and environment), its lake login replaced by `uri`."""
    app = mongo_express.ensure_installed(install_dir)
    argv, env = mongo_express.command(settings, app)
    process = subprocess.Popen(
        argv, env={"PATH": "/usr/bin:/bin", **env, "ME_CONFIG_MONGODB_URL": uri},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                mongo_express.check(settings)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"Mongo Express did not start: {process.communicate()[0][-2000:]}")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{settings.MONGO_EXPRESS_PORT}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def probe_settings(stack_settings, stack) -> Settings:
    """The session's lake with MONGO_DB the probe database, so its read-only login is defined there."""
    return stack_settings.model_copy(update={"MONGO_DB": PROBE_DB})


@pytest.fixture(scope="module")
def express(probe_settings, stack) -> Iterator[dict[str, str]]:
    """Two Mongo Express apps on the probe database: the stack's, with the read-only login, and one with the
    pipeline's login, as Mongo Express ran before it had its own."""
    install = stack.state_dir / "mongo-express"
    reader = probe_settings.model_copy(update={"MONGO_EXPRESS_PORT": free_port()})
    owner = probe_settings.model_copy(update={"MONGO_EXPRESS_PORT": free_port()})
    host, port = lake_server.address(probe_settings)
    owner_uri = probe_settings.MONGO_URI.replace(f"{host}:{port}/", f"{host}:{port}/{PROBE_DB}", 1)
    assert f"/{PROBE_DB}?" in owner_uri
    seed(probe_settings)  # the database exists before Mongo Express lists it
    with (
        running_mongo_express(reader, install, lake_server.reader_uri(reader)) as reader_url,
        running_mongo_express(owner, install, owner_uri) as owner_url,
    ):
        yield {"reader": reader_url, "owner": owner_url}


def seed(settings: Settings) -> None:
    """The probe database as the pipeline leaves a lake: documents with a unique index, and its reader login."""
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        client.drop_database(ADDED_DB)
        client.drop_database(PROBE_DB)
        db = client[PROBE_DB]
        db[COLLECTION].insert_many([{"_id": DOCUMENT, "price": 1.5}, {"_id": "probe-2", "price": 2.5}])
        db[COLLECTION].create_index("price", name="price_1", unique=True)
        lake_server.ensure_user(db, lake_server.reader_login(settings, settings))


def lake_state(settings: Settings) -> dict:
    """Every probe database, collection, document and index, as the pipeline's login sees them."""
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        return {
            name: {
                collection: (
                    list(client[name][collection].find().sort("_id", 1)),
                    sorted(client[name][collection].index_information()),
                )
                for collection in sorted(client[name].list_collection_names())
            }
            for name in sorted(client.list_database_names())
            if name in (PROBE_DB, ADDED_DB)
        }


DB = f"/db/{PROBE_DB}"
DOC = quote(f'"{DOCUMENT}"', safe="")  # how its pages name a document: its _id as JSON
JSONL = {"file": ("probe.json", b'{"_id": "imported", "price": 9}\n', "application/octet-stream")}
# Each write request Mongo Express's routes take, as its pages send it (a form's POST with `_method` is the same
# route as the method). `changes`: whether the pipeline's login makes it change the lake; not so for the three
# routes that check Mongo Express's read-only option (the collection's delete, with a query or without, and the
# index drop), for import (1.0.0 hands the driver's insertOne a list, which fails whatever the login) or for
# compact, which rewrites storage and leaves the contents as they were. Its reIndex route is left out: the driver
# 1.0.0 ships has no reIndex, so the request ends the app (supervisord restarts it) before reaching the lake.
WRITES: dict[str, tuple[str, str, dict, bool]] = {
    "drop the database": ("DELETE", f"/{PROBE_DB}", {}, True),
    "drop the database from its form": ("POST", f"/{PROBE_DB}", {"data": {"_method": "delete"}}, True),
    "add a database": ("POST", "/", {"data": {"database": ADDED_DB}}, True),
    "add a collection": ("POST", DB, {"data": {"collection": "added"}}, True),
    "rename the collection": ("PUT", f"{DB}/{COLLECTION}", {"data": {"collection": "renamed"}}, True),
    "delete the collection": ("DELETE", f"{DB}/{COLLECTION}", {}, False),
    "delete the documents a query finds": (
        "DELETE",
        f"{DB}/{COLLECTION}?key=_id&value={DOCUMENT}&type=S",
        {},
        False,
    ),  # fmt: skip
    "add a document": ("POST", f"{DB}/{COLLECTION}", {"data": {"document": '{"_id": "added", "price": 3.5}'}}, True),
    "update a document": (
        "PUT",
        f"{DB}/{COLLECTION}/{DOC}",
        {"data": {"document": f'{{"_id": "{DOCUMENT}", "price": 99.5}}'}},
        True,
    ),  # fmt: skip
    "delete a document": ("DELETE", f"{DB}/{COLLECTION}/{DOC}", {}, True),
    "import documents": ("POST", f"{DB}/import/{COLLECTION}", {"files": JSONL}, False),
    "add an index": ("POST", f"{DB}/addIndex/{COLLECTION}", {"data": {"index": '{"_id": 1, "price": -1}'}}, True),
    "drop an index": ("GET", f"{DB}/dropIndex/{COLLECTION}?name=price_1", {}, False),
    "compact the collection": ("GET", f"{DB}/compact/{COLLECTION}", {}, False),
}


def send(settings: Settings, url: str, method: str, path: str, options: dict) -> requests.Response:
    auth = (settings.MONGO_EXPRESS_USER, settings.MONGO_EXPRESS_PASSWORD.get_secret_value())
    return requests.request(method, url + path, auth=auth, timeout=30, **options)


@pytest.mark.parametrize("write", WRITES)
def test_mongo_express_cannot_change_the_lake(express, probe_settings, write):
    method, path, options, changes = WRITES[write]
    seed(probe_settings)
    before = lake_state(probe_settings)
    send(probe_settings, express["reader"], method, path, options)
    assert lake_state(probe_settings) == before, f"{write} through Mongo Express changed the lake"
    page = send(probe_settings, express["reader"], "GET", f"{DB}/{COLLECTION}", {})
    assert page.status_code == 200 and DOCUMENT in page.text, "Mongo Express still shows the lake"
    if changes:
        send(probe_settings, express["owner"], method, path, options)
        assert lake_state(probe_settings) != before, f"with the pipeline's login, {write} is a write"


def test_mongo_express_shows_the_lake_with_the_read_only_login(express, probe_settings):
    seed(probe_settings)
    index = send(probe_settings, express["reader"], "GET", "/", {})
    assert index.status_code == 200 and f'href="/db/{PROBE_DB}/"' in index.text
    collection = send(probe_settings, express["reader"], "GET", f"{DB}/{COLLECTION}", {})
    assert collection.status_code == 200 and DOCUMENT in collection.text and "probe-2" in collection.text
    document = send(probe_settings, express["reader"], "GET", f"{DB}/{COLLECTION}/{DOC}", {})
    assert document.status_code == 200 and "1.5" in document.text
    exported = send(probe_settings, express["reader"], "GET", f"{DB}/export/{COLLECTION}", {})
    assert exported.status_code == 200 and DOCUMENT in exported.text
