"""The platform's Airflow connections, built from the settings in this one place.

`spark_connect_default` (the Spark provider's Spark Connect type) is the server the warehouse loads run on, a
session of their own each. `inbox_fs` (the standard provider's File type) is the drop folder, INBOX_DIR, that the
inbox's sensor watches and its task takes files from. `lake_mongo` and
`warehouse_postgres` are how Airflow code reaches the lake and the warehouse (the MongoDB and
PostgreSQL providers' hooks, the common SQL provider's check operators) rather than reading the
settings itself; the ingest tasks hand the producer the lake `lake_mongo` names (`producer_settings`).
The local stack exports them as `AIRFLOW_CONN_*` variables.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from market_weather.settings import (
    InboxSettings,
    IntakeSettings,
    LakeSettings,
    ProducerSettings,
    Settings,
    SparkSettings,
    WarehouseSettings,
    get_settings,
)

SPARK_CONNECT_CONN_ID = "spark_connect_default"
LAKE_CONN_ID = "lake_mongo"
WAREHOUSE_CONN_ID = "warehouse_postgres"
INBOX_CONN_ID = "inbox_fs"


def lake_connection(lake: LakeSettings) -> str:
    """MONGO_URI as a `mongo` connection: its hosts, user and options, with MONGO_DB as the default database."""
    parts = urlsplit(lake.MONGO_URI)
    options = parse_qsl(parts.query, keep_blank_values=True)
    # In MONGO_URI a database in the path is where the user authenticates; here the path is MONGO_DB.
    auth_db = unquote(parts.path.lstrip("/"))
    if auth_db and not any(name.lower() == "authsource" for name, _ in options):
        options.append(("authSource", auth_db))
    if parts.scheme == "mongodb+srv":
        options.append(("srv", "true"))  # the provider's hook rebuilds mongodb+srv:// from this
    return urlunsplit(("mongo", parts.netloc, "/" + quote(lake.MONGO_DB, safe=""), urlencode(options), ""))


def _lake_from_connection() -> dict[str, str]:
    """MONGO_URI and MONGO_DB as the `lake_mongo` connection names them, as the MongoDB provider's hook reads it (from
    an `AIRFLOW_CONN_*` variable, a secrets backend or Airflow's database). For a task, not a DAG file's parse."""
    from airflow.providers.mongo.hooks.mongo import MongoHook
    from airflow.sdk.exceptions import AirflowFailException

    hook = MongoHook(mongo_conn_id=LAKE_CONN_ID)
    database = hook.connection.schema
    if not database:
        raise AirflowFailException(f"the {LAKE_CONN_ID} connection names no database")
    # The client options the hook would pass to MongoClient, in the URI the producer opens.
    options = {**hook.extras, **({"tlsAllowInvalidCertificates": True} if hook.allow_insecure else {})}
    query = urlencode(
        {name: str(value).lower() if isinstance(value, bool) else value for name, value in options.items()}
    )
    uri = f"{hook.uri}?{query}" if query else hook.uri
    return {"MONGO_URI": uri, "MONGO_DB": database}


def producer_settings() -> ProducerSettings:
    """The producer's settings, its lake the one `lake_mongo` names: the ingest tasks write where the warehouse
    checks read, and a connection changed in Airflow changes both."""
    return get_settings(ProducerSettings).model_copy(update=_lake_from_connection())


def inbox_settings() -> IntakeSettings:
    """The intake's settings for the inbox's task: its lake the one `lake_mongo` names, its drop folder the one
    `inbox_fs` does (where the sensor looked)."""
    from airflow.providers.standard.hooks.filesystem import FSHook

    inbox = Path(FSHook(fs_conn_id=INBOX_CONN_ID).get_path())
    return get_settings(IntakeSettings).model_copy(update={**_lake_from_connection(), "INBOX_DIR": inbox})


def inbox_connection(inbox: InboxSettings) -> str:
    """INBOX_DIR as a `fs` connection."""
    return json.dumps({"conn_type": "fs", "extra": {"path": str(inbox.INBOX_DIR)}})


def warehouse_connection(warehouse: WarehouseSettings) -> str:
    """The warehouse as a `postgres` connection; user and password are quoted, so any character is safe."""
    user = quote(warehouse.POSTGRES_USER, safe="")
    password = quote(warehouse.POSTGRES_PASSWORD.get_secret_value(), safe="")
    database = quote(warehouse.POSTGRES_DB, safe="")
    return f"postgres://{user}:{password}@{warehouse.POSTGRES_HOST}:{warehouse.POSTGRES_PORT}/{database}"


def spark_connect_connection(spark: SparkSettings) -> str:
    """The Spark Connect server as a `spark_connect` connection (plain gRPC: it listens on loopback, or on
    compose's own network)."""
    return json.dumps(
        {
            "conn_type": "spark_connect",
            "host": spark.SPARK_CONNECT_HOST,
            "port": spark.SPARK_CONNECT_PORT,
            "extra": {"use_ssl": False},
        }
    )


def airflow_connections(settings: Settings) -> dict[str, str]:
    """Every connection of the platform, as the `AIRFLOW_CONN_*` environment variables Airflow reads."""
    return {
        f"AIRFLOW_CONN_{SPARK_CONNECT_CONN_ID.upper()}": spark_connect_connection(settings),
        f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": lake_connection(settings),
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": warehouse_connection(settings),
        f"AIRFLOW_CONN_{INBOX_CONN_ID.upper()}": inbox_connection(settings),
    }
