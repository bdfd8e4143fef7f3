"""`python -m producer`: fetch from CoinCap and OpenWeather (live or simulated) into the lake."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Optional

import typer

from common.settings import SettingsError
from producer import ingest, runs
from producer.http import ApiError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


class Api(str, Enum):
    coincap = "coincap"
    openweather = "openweather"


# Datasets a user may name, and what each means for a backfill.
HISTORY_DATASETS = {"coincap": "coincap", "coincap_history": "coincap",
                    "openweather": "openweather", "openweather_air": "openweather"}
SNAPSHOT_ONLY = {
    "coincap_assets": "CoinCap's /assets answers only for now; its history is `backfill coincap` (prices)",
    "openweather_weather": "OpenWeather's current weather has no history endpoint on this plan; "
                           "`backfill openweather` loads air-pollution history",
}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _report(label: str, result: runs.RunResult) -> None:
    line = (
        f"{label}: fetched {result['fetched']}, inserted {result['inserted']}, duplicates {result['duplicates']}, "
        f"dead-lettered {result['dead_lettered']}"
    )
    if result["api_calls"] is None:
        line += " (simulated source)"
    else:
        line += f", API calls {result['api_calls']}, bytes received {result['bytes_received']}"
    typer.echo(line)


@app.command()
def fetch(
    api: Api,
    run_id: Annotated[Optional[str], typer.Option(help="id stored with each document")] = None,
) -> None:
    """Fetch once now: the CoinCap assets snapshot, or OpenWeather weather and air pollution."""
    _report(api.value, runs.fetch(api.value, run_id or ingest.new_run_id()))


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
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise typer.BadParameter("--end must be after --start")
    entities = [s.strip() for s in assets.split(",")] if assets and api == "coincap" else None
    result = runs.backfill(api, start, end, run_id or ingest.new_run_id("backfill"),
                           interval=interval, entities=entities, progress=True)
    _report(api if api == "coincap" else "openweather air_pollution/history", result)


def main() -> None:
    try:
        app()
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
