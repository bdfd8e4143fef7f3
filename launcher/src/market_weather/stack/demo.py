"""One full cycle of the pipeline on the running local stack, and a summary a person can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import typer
from psycopg import sql

from market_weather.contract import WAREHOUSE_TABLES, new_run_id
from market_weather.job import lake_to_warehouse
from market_weather.job.session import spark_log_path
from market_weather.producer import commands
from market_weather.settings import Settings
from market_weather.stack import lake_server
from market_weather.warehouse import quality

HISTORY_HOURS = 2


def run_cycle(settings: Settings) -> None:
    run_id = new_run_id("demo")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The producer's own commands, which `python -m market_weather.producer` and the ingest DAGs run.
    steps = {
        "coincap /assets": lambda: commands.fetch("coincap", run_id, settings),
        f"coincap /history (last {HISTORY_HOURS} h, m1)": lambda: commands.backfill(
            "coincap", now - timedelta(hours=HISTORY_HOURS), now, run_id, interval="m1", settings=settings
        ),
        "openweather weather + air": lambda: commands.fetch("openweather", run_id, settings),
    }
    typer.echo(f"lake ({settings.MONGO_DB}), run {run_id}:")
    for label, step in steps.items():
        c = step()
        typer.echo(
            f"  {label:<34} inserted {c.inserted:>6}  duplicates {c.duplicates:>6}  dead-lettered {c.dead_lettered}"
        )

    typer.echo("spark job lake_to_warehouse ...")
    summary = lake_to_warehouse.run(settings=settings)
    typer.echo(
        f"  read {summary.rows_read}, wrote {summary.rows_written}, rejected {summary.rows_rejected} "
        f"(watermark {summary.watermark_from} -> {summary.watermark_to}); Spark's log: {spark_log_path(settings)}"
    )
    print_warehouse(settings, summary.run_id)
    typer.echo("warehouse checks (make check runs them again):")
    for result in quality.check_warehouse(settings):
        typer.echo(f"  {result.line()}")


def print_warehouse(settings: Settings, run_id: str) -> None:
    with psycopg.connect(**settings.postgres_conninfo) as conn:
        typer.echo(f"warehouse ({settings.POSTGRES_DB}):")
        for table in WAREHOUSE_TABLES:
            (count,) = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
            ).fetchone() or (0,)
            typer.echo(f"  {table.name:<22} {count:>8} rows")
        run = conn.execute(
            "SELECT run_id, status, rows_read, rows_written, rows_rejected, watermark_to"
            " FROM etl_runs WHERE run_id = %s",
            [run_id],
        ).fetchone()
        if run is not None:
            run_id, status, read, written, rejected, watermark = run
            typer.echo(
                f"etl_runs: {run_id} {status} read={read} written={written} rejected={rejected} watermark={watermark}"
            )
    typer.echo(
        "look at it:\n"
        f"  psql 'host={settings.POSTGRES_HOST} port={settings.POSTGRES_PORT} dbname={settings.POSTGRES_DB} "
        f"user={settings.POSTGRES_USER}' -c 'SELECT * FROM latest_asset_prices'\n"
        f"  (the password is POSTGRES_PASSWORD in .env)\n"
        f"  lake: {lake_server.where(settings)}"
    )
