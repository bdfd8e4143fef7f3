"""The load's warehouse side: the run's staging tables (`staging`) while the loader fills them, then one
transaction that merges them into the targets, recomputes the touched OHLC buckets and records the run with its
new watermark (`runs`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from market_weather.contract import (
    AIR_QUALITY,
    ASSET_OHLC,
    ASSET_PRICES,
    ASSETS,
    LOCATIONS,
    OHLC_INTERVALS,
    WEATHER_OBSERVATIONS,
    Table,
)
from market_weather.settings import Location
from market_weather.warehouse import runs
from market_weather.warehouse.queries import load
from market_weather.warehouse.staging import create_staging, drop_staging

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSpec:
    """How the merge writes one table of the contract."""

    table: Table
    numeric: tuple[str, ...] = ()
    # Keep what is stored where the new row has nothing (a history point beside a snapshot).
    keep_existing_when_null: bool = False
    # Only a newer row replaces the stored one.
    newer_column: str | None = None
    # The table holds rows from files too (`from_file`): an API's row replaces one from a file, wholly, and a file's
    # row never replaces an API's.
    api_wins: bool = False

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def columns(self) -> tuple[str, ...]:
        return self.table.columns

    @property
    def key(self) -> tuple[str, ...]:
        return self.table.key


TABLES = (
    TableSpec(ASSETS, numeric=("supply", "max_supply"), newer_column="updated_at"),
    TableSpec(ASSET_PRICES, numeric=ASSET_PRICES.values[:-1], keep_existing_when_null=True, api_wins=True),
    TableSpec(LOCATIONS),
    TableSpec(WEATHER_OBSERVATIONS, api_wins=True),
    TableSpec(AIR_QUALITY),
)


def _identifier(staged: str) -> sql.Identifier:
    """`schema.table` as one quoted identifier."""
    return sql.Identifier(*staged.split("."))


@contextmanager
def staging_tables(conn: psycopg.Connection, run_id: str) -> Iterator[dict[str, str]]:
    """The run's staging tables for the block, dropped after it; a failed drop never hides the block's error."""
    staged = create_staging(conn, run_id)
    try:
        yield staged
    except Exception:
        try:
            drop_staging(conn, run_id)
        except Exception:
            log.exception("could not drop the staging tables of run %s", run_id)
        raise
    drop_staging(conn, run_id)


def _merge_statement(spec: TableSpec, staged: str) -> sql.Composed:
    """INSERT ... ON CONFLICT DO UPDATE from a staging table, touching only rows whose values change."""
    source_cols = [
        sql.SQL("trim_scale({c})").format(c=sql.Identifier(c)) if c in spec.numeric else sql.Identifier(c)
        for c in spec.columns
    ]
    updated = [c for c in spec.columns if c not in spec.key]

    def new_value(c: str) -> sql.Composable:
        if not spec.keep_existing_when_null:
            return sql.SQL("EXCLUDED.{c}").format(c=sql.Identifier(c))
        kept = sql.SQL("COALESCE(EXCLUDED.{c}, t.{c})").format(c=sql.Identifier(c))
        if spec.api_wins:  # nothing of a file's row is kept beside an API's
            return sql.SQL("CASE WHEN t.from_file AND NOT EXCLUDED.from_file THEN EXCLUDED.{c} ELSE {kept} END").format(
                c=sql.Identifier(c), kept=kept
            )
        return kept

    changed = sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in updated),
        new=sql.SQL(", ").join(new_value(c) for c in updated),
    )
    if spec.newer_column:
        changed = sql.SQL("{changed} AND t.{col} <= EXCLUDED.{col}").format(
            changed=changed, col=sql.Identifier(spec.newer_column)
        )
    if spec.api_wins:
        changed = sql.SQL("{changed} AND (t.from_file OR NOT EXCLUDED.from_file)").format(changed=changed)
    return sql.SQL(
        "INSERT INTO {target} AS t ({cols}) SELECT {source_cols} FROM {staged} "
        "ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {changed}"
    ).format(
        target=sql.Identifier(spec.name),
        cols=sql.SQL(", ").join(map(sql.Identifier, spec.columns)),
        source_cols=sql.SQL(", ").join(source_cols),
        staged=_identifier(staged),
        key=sql.SQL(", ").join(map(sql.Identifier, spec.key)),
        sets=sql.SQL(", ").join(sql.SQL("{c} = {v}").format(c=sql.Identifier(c), v=new_value(c)) for c in updated),
        changed=changed,
    )


def _add_configured_locations(conn: psycopg.Connection, staged: dict[str, str], configured: Sequence[Location]) -> int:
    """Locations that air quality or a file's weather names before the API's weather does."""
    statement = load("locations_configured").format(
        staged_air=_identifier(staged[AIR_QUALITY.name]), staged_weather=_identifier(staged[WEATHER_OBSERVATIONS.name])
    )
    return conn.execute(
        statement,
        {
            "ids": [loc.id for loc in configured],
            "names": [loc.name for loc in configured],
            "lats": [loc.lat for loc in configured],
            "lons": [loc.lon for loc in configured],
        },
    ).rowcount


def _recompute_ohlc(conn: psycopg.Connection, staged_prices: str) -> int:
    statement = load("ohlc_recompute").format(staged_prices=_identifier(staged_prices))
    return sum(
        conn.execute(statement, {"interval": interval, "unit": unit, "width": width}).rowcount
        for interval, unit, width in OHLC_INTERVALS
    )


@dataclass
class MergeResult:
    rows_written: int
    per_table: dict[str, int]


def merge_and_commit(
    conn: psycopg.Connection,
    run_id: str,
    staged: dict[str, str],
    watermark_to: datetime | None,
    rows_read: int,
    rows_rejected: int,
    configured_locations: Sequence[Location] = (),
) -> MergeResult:
    """Merge every staging table into its target and record the run, all in one transaction.

    The watermark moves only if this commits; any error rolls all of it back.
    """
    per_table: dict[str, int] = {}
    with conn.transaction():
        for spec in TABLES:
            per_table[spec.name] = conn.execute(_merge_statement(spec, staged[spec.name])).rowcount
        per_table[LOCATIONS.name] += _add_configured_locations(conn, staged, configured_locations)
        per_table[ASSET_OHLC.name] = _recompute_ohlc(conn, staged[ASSET_PRICES.name])
        written = sum(per_table.values())
        message = ", ".join(f"{t}={n}" for t, n in per_table.items())
        runs.record_success(conn, run_id, watermark_to, rows_read, written, rows_rejected, message)
    return MergeResult(written, per_table)
