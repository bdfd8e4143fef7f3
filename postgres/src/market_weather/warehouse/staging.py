"""A run's staging tables: an unlogged copy of each target's columns, named for the run, in the `staging`
schema. The loader fills them, the merge reads them, and closing an abandoned run drops what it left."""

from __future__ import annotations

import psycopg
from psycopg import sql

from market_weather.contract import AIR_QUALITY, ASSET_PRICES, ASSETS, LOCATIONS, WEATHER_OBSERVATIONS

STAGING_SCHEMA = "staging"
# The targets a run stages, in the order the merge writes them.
TABLES = (ASSETS, ASSET_PRICES, LOCATIONS, WEATHER_OBSERVATIONS, AIR_QUALITY)


def staging_name(table: str, run_id: str) -> str:
    suffix = "".join(ch if ch.isalnum() else "_" for ch in run_id)[-40:]
    return f"{table}__{suffix}".lower()


def create_staging(conn: psycopg.Connection, run_id: str) -> dict[str, str]:
    """The run's staging tables, made empty; each target's name to its staging table's `schema.table`."""
    names = {}
    for table in TABLES:
        staged = sql.Identifier(STAGING_SCHEMA, staging_name(table.name, run_id))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staged))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {s} AS SELECT {cols} FROM {t} WITH NO DATA").format(
                s=staged,
                t=sql.Identifier(table.name),
                cols=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
            )
        )
        names[table.name] = f"{STAGING_SCHEMA}.{staging_name(table.name, run_id)}"
    return names


def drop_staging(conn: psycopg.Connection, run_id: str) -> None:
    for table in TABLES:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(STAGING_SCHEMA, staging_name(table.name, run_id)))
        )
