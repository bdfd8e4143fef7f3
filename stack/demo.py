"""One full cycle of the pipeline on the running local stack, and a summary a person can read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import typer
from pymongo import MongoClient

from common.settings import Settings
from producer import ingest
from producer.lake import LakeWriter
from spark import lake_to_warehouse

WAREHOUSE_TABLES = (
    "assets", "asset_prices", "asset_ohlc", "locations", "weather_observations", "air_quality", "etl_runs",
)
HISTORY_HOURS = 2


def run_cycle(settings: Settings) -> None:
    coincap, openweather = ingest.coincap_source(settings), ingest.openweather_source(settings)
    run_id = ingest.new_run_id("demo")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with MongoClient(settings.MONGO_URI) as client:
        writer = LakeWriter(client[settings.MONGO_DB])
        steps = {
            "coincap /assets": lambda: ingest.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, run_id),
            f"coincap /history (last {HISTORY_HOURS} h, m1)": lambda: ingest.backfill_coincap(
                coincap, writer, settings.COINCAP_ASSETS, now - timedelta(hours=HISTORY_HOURS), now, "m1", run_id
            ),
            "openweather weather + air": lambda: ingest.fetch_openweather(
                openweather, writer, settings.OPENWEATHER_LOCATIONS, run_id
            ),
        }
        typer.echo(f"lake ({settings.MONGO_DB}), run {run_id}:")
        for label, step in steps.items():
            c = step()
            typer.echo(f"  {label:<34} inserted {c.inserted:>6}  duplicates {c.duplicates:>6}  dead-lettered {c.dead_lettered}")

    typer.echo("spark job lake_to_warehouse ...")
    summary = lake_to_warehouse.run(settings=settings)
    typer.echo(
        f"  read {summary.rows_read}, wrote {summary.rows_written}, rejected {summary.rows_rejected} "
        f"(watermark {summary.watermark_from} -> {summary.watermark_to})"
    )
    print_warehouse(settings, summary.run_id)


def print_warehouse(settings: Settings, run_id: str) -> None:
    with psycopg.connect(**settings.postgres_conninfo) as conn:
        typer.echo(f"warehouse ({settings.POSTGRES_DB}):")
        for table in WAREHOUSE_TABLES:
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            typer.echo(f"  {table:<22} {count:>8} rows")
        run = conn.execute(
            "SELECT run_id, status, rows_read, rows_written, rows_rejected, watermark_to FROM etl_runs WHERE run_id = %s",
            [run_id],
        ).fetchone()
        typer.echo(f"etl_runs: {run[0]} {run[1]} read={run[2]} written={run[3]} rejected={run[4]} watermark={run[5]}")
    typer.echo(
        "look at it:\n"
        f"  psql 'host={settings.POSTGRES_HOST} port={settings.POSTGRES_PORT} dbname={settings.POSTGRES_DB} "
        f"user={settings.POSTGRES_USER}' -c 'SELECT * FROM latest_asset_prices'\n"
        f"  (the password is POSTGRES_PASSWORD in .env)\n"
        f"  lake: {settings.MONGO_URI} database {settings.MONGO_DB}"
    )
