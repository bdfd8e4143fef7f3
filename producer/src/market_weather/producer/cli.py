"""`python -m market_weather.producer`: fetch from CoinCap and OpenWeather (live or simulated) into the lake."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from typing import Annotated, NoReturn

import typer

from market_weather.api_limits import COINCAP_INTERVALS_MS
from market_weather.contract import new_run_id
from market_weather.producer import commands
from market_weather.producer.errors import LakeUnreachable, UsageError
from market_weather.producer.http import ApiError
from market_weather.settings import SettingsError
from market_weather.times import as_utc

# A bug is a bug: a plain traceback, not a box of source lines and locals.
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)


class Api(StrEnum):
    coincap = "coincap"
    openweather = "openweather"


# Datasets a user may name, and what each means for a backfill.
HISTORY_DATASETS: dict[str, commands.ApiName] = {
    "coincap": "coincap",
    "coincap_history": "coincap",
    "openweather": "openweather",
    "openweather_air": "openweather",
}
SNAPSHOT_ONLY = {
    "coincap_assets": "CoinCap's /assets answers only for now; its history is `backfill coincap` (prices)",
    "openweather_weather": "OpenWeather's current weather has no history endpoint on this plan; "
    "`backfill openweather` loads air-pollution history",
}


def _report(label: str, result: commands.RunResult) -> None:
    line = (
        f"{label}: fetched {result.fetched}, inserted {result.inserted}, duplicates {result.duplicates}, "
        f"dead-lettered {result.dead_lettered}"
    )
    if result.api_calls is None:
        line += " (simulated source)"
    else:
        line += f", API calls {result.api_calls}, bytes received {result.bytes_received}"
    typer.echo(line)


@app.command()
def fetch(
    api: Api,
    run_id: Annotated[str | None, typer.Option(help="id stored with each document")] = None,
) -> None:
    """Fetch once now: the CoinCap assets snapshot, or OpenWeather weather and air pollution."""
    _report(api.value, commands.fetch(api.value, run_id or new_run_id()))


@app.command()
def backfill(
    dataset: Annotated[str, typer.Argument(help="coincap (price history) or openweather (air-pollution history)")],
    start: Annotated[datetime, typer.Option(help="first instant, ISO 8601 (UTC unless an offset is given)")],
    end: Annotated[datetime, typer.Option(help="end of the range (excluded), ISO 8601")],
    interval: Annotated[str, typer.Option(help=f"CoinCap history interval: {' '.join(COINCAP_INTERVALS_MS)}")] = "m1",
    assets: Annotated[str | None, typer.Option(help="comma-separated slugs (default: COINCAP_ASSETS)")] = None,
    run_id: Annotated[str | None, typer.Option(help="id stored with each document")] = None,
) -> None:
    """Load history: CoinCap price history, or OpenWeather air-pollution history.

    Current weather and the CoinCap assets snapshot have no history endpoint and cannot be backfilled.
    """
    if dataset in SNAPSHOT_ONLY:
        raise typer.BadParameter(f"{dataset} cannot be backfilled: {SNAPSHOT_ONLY[dataset]}", param_hint="DATASET")
    if dataset not in HISTORY_DATASETS:
        raise typer.BadParameter(f"choose one of {', '.join(HISTORY_DATASETS)}", param_hint="DATASET")
    api = HISTORY_DATASETS[dataset]
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise typer.BadParameter("--end must be after --start")
    entities = [s.strip() for s in assets.split(",")] if assets and api == "coincap" else None
    result = commands.backfill(
        api, start, end, run_id or new_run_id("backfill"), interval=interval, entities=entities, progress=True
    )
    _report(api if api == "coincap" else "openweather air_pollution/history", result)


def _fail(exc: Exception, code: int) -> NoReturn:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Bad input or settings exit 2, a service that fails or does not answer exits 1, each as one line."""
    try:
        app()
    except (SettingsError, UsageError) as exc:
        _fail(exc, 2)
    except (ApiError, LakeUnreachable) as exc:
        _fail(exc, 1)
