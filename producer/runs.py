"""One producer run, set up from the settings: the entry points of the CLI and the Airflow tasks."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, Literal

from pymongo import MongoClient

from common.settings import Settings, get_settings
from producer import ingest
from producer.lake import LakeWriter, WriteCounts, ensure_lake_indexes

ApiName = Literal["coincap", "openweather"]


class RunResult(dict):
    """Counts of one run, plus the API calls and bytes a live source made (None for simulated)."""


def _result(counts: WriteCounts, source: object) -> RunResult:
    return RunResult(
        **counts.as_dict(),
        api_calls=getattr(source, "calls", None),
        bytes_received=getattr(source, "bytes_received", None),
    )


@contextmanager
def _lake_writer(settings: Settings) -> Iterator[LakeWriter]:
    with MongoClient(settings.MONGO_URI, serverSelectionTimeoutMS=10_000, tz_aware=True) as client:
        db = client[settings.MONGO_DB]
        ensure_lake_indexes(db)
        yield LakeWriter(db)


def fetch(api: ApiName, run_id: str, settings: Settings | None = None) -> RunResult:
    """Fetch once now: the CoinCap assets snapshot, or OpenWeather weather and air pollution."""
    settings = settings or get_settings()
    with _lake_writer(settings) as writer:
        if api == "coincap":
            coincap = ingest.coincap_source(settings)
            return _result(ingest.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, run_id), coincap)
        openweather = ingest.openweather_source(settings)
        return _result(ingest.fetch_openweather(openweather, writer, settings.OPENWEATHER_LOCATIONS, run_id), openweather)


def backfill(
    api: ApiName,
    start: datetime,
    end: datetime,
    run_id: str,
    *,
    interval: str = "m1",
    entities: list[str] | None = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> RunResult:
    """History over [start, end): CoinCap prices per asset, or OpenWeather air pollution per location.

    `entities` narrows the configured assets or location ids.
    """
    settings = settings or get_settings()
    with _lake_writer(settings) as writer:
        if api == "coincap":
            coincap = ingest.coincap_source(settings)
            assets = entities or settings.COINCAP_ASSETS
            counts = ingest.backfill_coincap(coincap, writer, assets, start, end, interval, run_id, progress)
            return _result(counts, coincap)
        locations = settings.OPENWEATHER_LOCATIONS
        if entities:
            unknown = set(entities) - {loc.id for loc in locations}
            if unknown:
                raise ValueError(f"unknown location ids {sorted(unknown)}: configure them in OPENWEATHER_LOCATIONS")
            locations = [loc for loc in locations if loc.id in entities]
        openweather = ingest.openweather_source(settings)
        counts = ingest.backfill_openweather(openweather, writer, locations, start, end, run_id, progress)
        return _result(counts, openweather)
