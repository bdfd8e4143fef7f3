"""The warehouse side of the job: run bookkeeping, staging tables and the one merge transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from common.settings import Location
from spark import transforms as T

JOB = "lake_to_warehouse"
# One job run at a time: a second one waits for nothing and fails clearly.
ADVISORY_LOCK_KEY = 0x6C3277  # "l2w"


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    # Keep what is stored where the new row has nothing (a history point beside a snapshot).
    keep_existing_when_null: bool = False
    # Only a newer row replaces the stored one.
    newer_column: str | None = None


TABLES = (
    TableSpec("assets", T.ASSET_COLUMNS, ("asset_id",), numeric=("supply", "max_supply"), newer_column="updated_at"),
    TableSpec(
        "asset_prices", T.ASSET_PRICE_COLUMNS, ("asset_id", "observed_at"),
        numeric=T.ASSET_PRICE_COLUMNS[2:], keep_existing_when_null=True,
    ),
    TableSpec("locations", T.LOCATION_COLUMNS, ("location_id",)),
    TableSpec("weather_observations", T.WEATHER_COLUMNS, ("location_id", "observed_at")),
    TableSpec("air_quality", T.AIR_COLUMNS, ("location_id", "observed_at")),
)

OHLC_INTERVALS = (("1m", "minute", "1 minute"), ("1h", "hour", "1 hour"), ("1d", "day", "1 day"))


def staging_name(table: str, run_id: str) -> str:
    suffix = "".join(ch if ch.isalnum() else "_" for ch in run_id)[-40:]
    return f"{table}__{suffix}".lower()


def last_watermark(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute(
        "SELECT max(watermark_to) FROM etl_runs WHERE job = %s AND status = 'success'", [JOB]
    ).fetchone()
    return row[0]


def last_tail_docs(conn: psycopg.Connection, watermark: datetime) -> int | None:
    """How many documents the look-back before `watermark` held when the run that set it looked."""
    row = conn.execute(
        """SELECT tail_docs FROM etl_runs
            WHERE job = %s AND status = 'success' AND watermark_to = %s AND tail_docs IS NOT NULL
            ORDER BY started_at DESC LIMIT 1""",
        [JOB, watermark],
    ).fetchone()
    return row[0] if row else None


def try_lock(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY]).fetchone()[0]


def record_start(
    conn: psycopg.Connection, run_id: str, watermark_from: datetime | None, tail_docs: int | None = None
) -> None:
    # A retried run keeps its id: it starts over in the same row.
    conn.execute(
        """INSERT INTO etl_runs (run_id, job, status, started_at, watermark_from, tail_docs)
           VALUES (%s, %s, 'running', now(), %s, %s)
           ON CONFLICT (run_id) DO UPDATE
              SET status = 'running', started_at = now(), finished_at = NULL, watermark_from = EXCLUDED.watermark_from,
                  watermark_to = NULL, rows_read = 0, rows_written = 0, rows_rejected = 0, message = NULL,
                  tail_docs = EXCLUDED.tail_docs""",
        [run_id, JOB, watermark_from, tail_docs],
    )


def record_failure(conn: psycopg.Connection, run_id: str, message: str) -> None:
    conn.execute(
        "UPDATE etl_runs SET status = 'failed', finished_at = now(), message = %s WHERE run_id = %s",
        [message[:2000], run_id],
    )


def create_staging(conn: psycopg.Connection, run_id: str) -> dict[str, str]:
    """An unlogged copy of each target's columns, named for this run, in the `staging` schema."""
    names = {}
    for spec in TABLES:
        staged = staging_name(spec.name, run_id)
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS staging.{s}; CREATE UNLOGGED TABLE staging.{s} AS SELECT {cols} FROM {t} WITH NO DATA").format(
                s=sql.Identifier(staged), t=sql.Identifier(spec.name),
                cols=sql.SQL(", ").join(map(sql.Identifier, spec.columns)),
            )
        )
        names[spec.name] = f"staging.{staged}"
    return names


def drop_staging(conn: psycopg.Connection, run_id: str) -> None:
    for spec in TABLES:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS staging.{}").format(sql.Identifier(staging_name(spec.name, run_id))))


def _merge_statement(spec: TableSpec, staged: str) -> sql.Composed:
    schema, table = staged.split(".")
    source_cols = [
        sql.SQL("trim_scale({c})").format(c=sql.Identifier(c)) if c in spec.numeric else sql.Identifier(c)
        for c in spec.columns
    ]
    updated = [c for c in spec.columns if c not in spec.key]

    def new_value(c: str) -> sql.Composable:
        if spec.keep_existing_when_null:
            return sql.SQL("COALESCE(EXCLUDED.{c}, t.{c})").format(c=sql.Identifier(c))
        return sql.SQL("EXCLUDED.{c}").format(c=sql.Identifier(c))

    changed = sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in updated),
        new=sql.SQL(", ").join(new_value(c) for c in updated),
    )
    if spec.newer_column:
        changed = sql.SQL("{changed} AND t.{col} <= EXCLUDED.{col}").format(
            changed=changed, col=sql.Identifier(spec.newer_column)
        )
    return sql.SQL(
        "INSERT INTO {target} AS t ({cols}) SELECT {source_cols} FROM {schema}.{table} "
        "ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {changed}"
    ).format(
        target=sql.Identifier(spec.name),
        cols=sql.SQL(", ").join(map(sql.Identifier, spec.columns)),
        source_cols=sql.SQL(", ").join(source_cols),
        schema=sql.Identifier(schema),
        table=sql.Identifier(table),
        key=sql.SQL(", ").join(map(sql.Identifier, spec.key)),
        sets=sql.SQL(", ").join(sql.SQL("{c} = {v}").format(c=sql.Identifier(c), v=new_value(c)) for c in updated),
        changed=changed,
    )


def _add_air_only_locations(conn: psycopg.Connection, staged_air: str, configured: Sequence[Location]) -> int:
    """A location known so far only from air quality gets its row, named as configured.

    Weather observations name locations from the API; these rows never replace one of those.
    """
    schema, table = staged_air.split(".")
    known = [(loc.id, loc.name, loc.lat, loc.lon) for loc in configured]
    values = sql.SQL("SELECT * FROM (VALUES {rows}) AS c (location_id, name, lat, lon)").format(
        rows=sql.SQL(", ").join(sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, row))) for row in known)
    ) if known else sql.SQL("SELECT NULL::text, NULL::text, NULL::float8, NULL::float8 WHERE false")
    return conn.execute(sql.SQL(
        """
        INSERT INTO locations (location_id, name, lat, lon)
        SELECT a.location_id, coalesce(c.name, a.location_id), c.lat, c.lon
          FROM (SELECT DISTINCT location_id FROM {schema}.{table}) a
          LEFT JOIN ({values}) c (location_id, name, lat, lon) USING (location_id)
        ON CONFLICT (location_id) DO NOTHING
        """
    ).format(schema=sql.Identifier(schema), table=sql.Identifier(table), values=values)).rowcount


def _ohlc_statement(staged_prices: str, interval: str, unit: str, width: str) -> sql.Composed:
    """Recompute, from every stored point, each bucket of `interval` that the new points fall in."""
    schema, table = staged_prices.split(".")
    return sql.SQL(
        """
        WITH touched AS (
            SELECT DISTINCT asset_id, date_trunc({unit}, observed_at, 'UTC') AS bucket_start
              FROM {schema}.{table}
        ), bounds AS (
            SELECT asset_id, min(bucket_start) AS lo, max(bucket_start) + {width}::interval AS hi
              FROM touched GROUP BY asset_id
        ), buckets AS (
            SELECT p.asset_id, date_trunc({unit}, p.observed_at, 'UTC') AS bucket_start,
                   (array_agg(p.price_usd ORDER BY p.observed_at))[1] AS open,
                   max(p.price_usd) AS high,
                   min(p.price_usd) AS low,
                   (array_agg(p.price_usd ORDER BY p.observed_at DESC))[1] AS close,
                   count(*) AS points
              FROM bounds b
              JOIN asset_prices p ON p.asset_id = b.asset_id AND p.observed_at >= b.lo AND p.observed_at < b.hi
             GROUP BY 1, 2
        )
        INSERT INTO asset_ohlc AS t (asset_id, interval, bucket_start, open, high, low, close, points)
        SELECT k.asset_id, {interval}, k.bucket_start, k.open, k.high, k.low, k.close, k.points
          FROM buckets k JOIN touched USING (asset_id, bucket_start)
        ON CONFLICT (asset_id, interval, bucket_start) DO UPDATE
           SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
               close = EXCLUDED.close, points = EXCLUDED.points
         WHERE (t.open, t.high, t.low, t.close, t.points)
               IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.points)
        """
    ).format(
        unit=sql.Literal(unit), width=sql.Literal(width), interval=sql.Literal(interval),
        schema=sql.Identifier(schema), table=sql.Identifier(table),
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
        per_table["locations"] += _add_air_only_locations(conn, staged["air_quality"], configured_locations)
        ohlc = 0
        for interval, unit, width in OHLC_INTERVALS:
            ohlc += conn.execute(_ohlc_statement(staged["asset_prices"], interval, unit, width)).rowcount
        per_table["asset_ohlc"] = ohlc
        written = sum(per_table.values())
        conn.execute(
            """UPDATE etl_runs SET status = 'success', finished_at = now(), watermark_to = %s,
                      rows_read = %s, rows_written = %s, rows_rejected = %s, message = %s
                WHERE run_id = %s""",
            [watermark_to, rows_read, written, rows_rejected,
             ", ".join(f"{t}={n}" for t, n in per_table.items()), run_id],
        )
    return MergeResult(written, per_table)


def record_idle(conn: psycopg.Connection, run_id: str, watermark: datetime | None) -> None:
    """A run that found nothing new: it succeeds, writes nothing and keeps the watermark."""
    record_start(conn, run_id, watermark)
    conn.execute(
        """UPDATE etl_runs SET status = 'success', finished_at = now(), watermark_to = %s,
                  message = 'nothing new in the lake'
            WHERE run_id = %s""",
        [watermark, run_id],
    )
