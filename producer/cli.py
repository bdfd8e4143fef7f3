"""`python -m producer`: fetch from CoinCap and OpenWeather (live or simulated) into the lake."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Optional

import typer
from pymongo import MongoClient

from common.settings import Settings, SettingsError, get_settings
from producer import ingest
from producer.http import ApiError
from producer.lake import LakeWriter, WriteCounts, ensure_lake_indexes

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


class Api(str, Enum):
    coincap = "coincap"
    openweather = "openweather"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _report(api: str, counts: WriteCounts, source: object) -> None:
    calls = getattr(source, "calls", None)
    received = getattr(source, "bytes_received", None)
    line = (
        f"{api}: fetched {counts.fetched}, inserted {counts.inserted}, duplicates {counts.duplicates}, "
        f"dead-lettered {counts.dead_lettered}"
    )
    line += f", API calls {calls}, bytes received {received}" if calls is not None else " (simulated source)"
    typer.echo(line)


def _writer(settings: Settings) -> tuple[MongoClient, LakeWriter]:
    client = MongoClient(settings.MONGO_URI, serverSelectionTimeoutMS=10_000)
    db = client[settings.MONGO_DB]
    ensure_lake_indexes(db)
    return client, LakeWriter(db)


@app.command()
def fetch(
    api: Api,
    run_id: Annotated[Optional[str], typer.Option(help="id stored with each document")] = None,
) -> None:
    """Fetch once now: the CoinCap assets snapshot, or OpenWeather weather and air pollution."""
    settings = get_settings()
    coincap, openweather = ingest.sources(settings)
    run_id = run_id or ingest.new_run_id()
    client, writer = _writer(settings)
    with client:
        if api is Api.coincap:
            counts = ingest.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, run_id)
            _report(api.value, counts, coincap)
        else:
            counts = ingest.fetch_openweather(openweather, writer, settings.OPENWEATHER_LOCATIONS, run_id)
            _report(api.value, counts, openweather)


# Datasets a user may name, and what each means for a backfill.
HISTORY_DATASETS = {"coincap": Api.coincap, "coincap_history": Api.coincap,
                    "openweather": Api.openweather, "openweather_air": Api.openweather}
SNAPSHOT_ONLY = {
    "coincap_assets": "CoinCap's /assets answers only for now; its history is `backfill coincap` (prices)",
    "openweather_weather": "OpenWeather's current weather has no history endpoint on this plan; "
                           "`backfill openweather` loads air-pollution history",
}


@app.command()
def backfill(
    dataset: Annotated[str, typer.Argument(help="coincap (price history) or openweather (air-pollution history)")],
    start: Annotated[datetime, typer.Option(help="first instant, ISO 8601 (UTC unless an offset is given)")],
    end: Annotated[datetime, typer.Option(help="end of the range (excluded), ISO 8601")],
    interval: Annotated[str, typer.Option(help="CoinCap history interval: m1 m5 m15 m30 h1 h2 h6 h12 d1")] = "m1",
    assets: Annotated[Optional[str], typer.Option(help="comma-separated slugs (default: COINCAP_ASSETS)")] = None,
    run_id: Annotated[Optional[str], typer.Option(help="id stored with each document")] = None,
) -> None:
    """Load history: CoinCap price history, or OpenWeather air-pollution history.

    Current weather and the CoinCap assets snapshot have no history endpoint and cannot be backfilled.
    """
    if dataset in SNAPSHOT_ONLY:
        raise typer.BadParameter(f"{dataset} cannot be backfilled: {SNAPSHOT_ONLY[dataset]}", param_hint="DATASET")
    if dataset not in HISTORY_DATASETS:
        raise typer.BadParameter(f"choose one of {', '.join(HISTORY_DATASETS)}", param_hint="DATASET")
    api = HISTORY_DATASETS[dataset]
    settings = get_settings()
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise typer.BadParameter("--end must be after --start")
    coincap, openweather = ingest.sources(settings)
    run_id = run_id or ingest.new_run_id("backfill")
    client, writer = _writer(settings)
    with client:
        if api is Api.coincap:
            slugs = [s.strip() for s in assets.split(",")] if assets else settings.COINCAP_ASSETS
            counts = ingest.backfill_coincap(coincap, writer, slugs, start, end, interval, run_id, progress=True)
            _report(api.value, counts, coincap)
        else:
            counts = ingest.backfill_openweather(
                openweather, writer, settings.OPENWEATHER_LOCATIONS, start, end, run_id, progress=True
            )
            _report("openweather air_pollution/history", counts, openweather)


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
