"""One producer run, set up from the settings: the entry points of the CLI and the Airflow tasks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymongo import MongoClient
from pymongo.errors import ServerSelectionTimeoutError

from market_weather.lake import LakeWriter, WriteCounts, ensure_lake_indexes
from market_weather.producer import source_to_lake
from market_weather.producer.errors import LakeUnreachable, UsageError
from market_weather.settings import LakeSettings, ProducerSettings, get_settings

ApiName = Literal["coincap", "openweather"]

# How long the producer waits for the lake before it says the lake does not answer.
LAKE_TIMEOUT_S = 10


@dataclass(frozen=True)
class RunResult:
    """Counts of one run, plus the API calls and bytes a live source made (None for simulated)."""

    fetched: int
    inserted: int
    duplicates: int
    dead_lettered: int
    api_calls: int | None
    bytes_received: int | None


def _result(counts: WriteCounts, source: object) -> RunResult:
    return RunResult(
        **counts.as_dict(),
        api_calls=getattr(source, "calls", None),
        bytes_received=getattr(source, "bytes_received", None),
    )


def redact_userinfo(uri: str) -> str:
    """A connection URI without its user and password: `mongodb://***@host:port/...`."""
    scheme, sep, rest = uri.partition("://")
    hosts = re.split(r"[/?]", rest, maxsplit=1)[0]
    if "@" not in hosts:
        return uri
    return f"{scheme}{sep}***@{rest[hosts.rindex('@') + 1 :]}"


def _unreachable(settings: LakeSettings, exc: ServerSelectionTimeoutError) -> LakeUnreachable:
    # pymongo's message ends in a dump of its topology; the first server's error is what helps.
    reason = re.sub(r" \(configured timeouts:[^)]*\)", "", str(exc).split(", Timeout:")[0])
    return LakeUnreachable(
        f"the lake at {redact_userinfo(settings.MONGO_URI)} (MONGO_URI) does not answer within "
        f"{LAKE_TIMEOUT_S} s: {reason}; start it with `make start` or fix MONGO_URI"
    )


@contextmanager
def _lake_writer(settings: LakeSettings) -> Iterator[LakeWriter]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings.MONGO_URI, serverSelectionTimeoutMS=LAKE_TIMEOUT_S * 1000, tz_aware=True
    )
    with client:
        try:
            db = client[settings.MONGO_DB]
            ensure_lake_indexes(db)
            yield LakeWriter(db)
        except ServerSelectionTimeoutError as exc:
            raise _unreachable(settings, exc) from exc


def fetch(api: ApiName, run_id: str, settings: ProducerSettings | None = None) -> RunResult:
    """Fetch once now: the CoinCap assets snapshot, or OpenWeather weather and air pollution."""
    settings = settings or get_settings(ProducerSettings)
    if api == "coincap":
        with source_to_lake.coincap_source(settings) as coincap, _lake_writer(settings) as writer:
            counts = source_to_lake.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, run_id)
        return _result(counts, coincap)
    with source_to_lake.openweather_source(settings) as openweather, _lake_writer(settings) as writer:
        counts = source_to_lake.fetch_openweather(openweather, writer, settings.OPENWEATHER_LOCATIONS, run_id)
    return _result(counts, openweather)


def backfill(
    api: ApiName,
    start: datetime,
    end: datetime,
    run_id: str,
    *,
    interval: str = "m1",
    entities: list[str] | None = None,
    settings: ProducerSettings | None = None,
    progress: bool = False,
) -> RunResult:
    """History over [start, end): CoinCap prices per asset, or OpenWeather air pollution per location.

    `entities` narrows the configured assets or location ids. Bad input is a UsageError, raised
    before any source or the lake is opened.
    """
    settings = settings or get_settings(ProducerSettings)
    if api == "coincap":
        source_to_lake.check_interval(interval)
        assets = entities or settings.COINCAP_ASSETS
        with source_to_lake.coincap_source(settings) as coincap, _lake_writer(settings) as writer:
            counts = source_to_lake.backfill_coincap(coincap, writer, assets, start, end, interval, run_id, progress)
        return _result(counts, coincap)
    locations = settings.OPENWEATHER_LOCATIONS
    if entities:
        unknown = set(entities) - {loc.id for loc in locations}
        if unknown:
            raise UsageError(f"unknown location ids {sorted(unknown)}: configure them in OPENWEATHER_LOCATIONS")
        locations = [loc for loc in locations if loc.id in entities]
    with source_to_lake.openweather_source(settings) as openweather, _lake_writer(settings) as writer:
        counts = source_to_lake.backfill_openweather(openweather, writer, locations, start, end, run_id, progress)
    return _result(counts, openweather)
