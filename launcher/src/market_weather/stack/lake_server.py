"""The SecantusDB lake server for the local stack: the MongoDB protocol on MONGO_URI's host and port, its
data under the state folder, as compose's mongo service serves the lake."""

from __future__ import annotations

import sys
from pathlib import Path

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from market_weather.lake import ensure_lake_indexes
from market_weather.settings import LakeSettings
from market_weather.stack.errors import StackError


def address(settings: LakeSettings) -> tuple[str, int]:
    """The host and port the server listens on: MONGO_URI's first."""
    host, port = parse_uri(settings.MONGO_URI)["nodelist"][0]
    return host, port


def command(settings: LakeSettings, storage: Path) -> list[str]:
    secantus = Path(sys.executable).parent / "secantusd-py"
    if not secantus.exists():
        raise StackError("the SecantusDB server is not installed in this virtualenv: run make setup")
    host, port = address(settings)
    return [
        str(secantus),
        "--host",
        host,
        "--port",
        str(port),
        "--storage-path",
        str(storage),
        "--log-level",
        "WARNING",
    ]


def ensure_indexes(settings: LakeSettings) -> None:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=5000) as client:
        ensure_lake_indexes(client[settings.MONGO_DB])


def check(settings: LakeSettings) -> str:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=1000) as client:
        version = client.server_info()["version"]
    host, port = address(settings)
    return f"SecantusDB (MongoDB {version} protocol) on {host}:{port}"
