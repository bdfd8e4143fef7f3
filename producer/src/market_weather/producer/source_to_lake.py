"""What the producer does: fetch from a source, validate, and append to the lake.

These functions are what the CLI and the DAGs call. They take any source of the right interface,
live or simulated, and the one lake writer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from tqdm import tqdm

from market_weather.api_limits import COINCAP_INTERVALS_MS, COINCAP_MAX_WINDOW_MS, OPENWEATHER_HISTORY_WINDOW_S
from market_weather.contract import COINCAP_ASSETS, COINCAP_HISTORY, OPENWEATHER_AIR, OPENWEATHER_WEATHER
from market_weather.lake import Batch, LakeWriter, WriteCounts
from market_weather.producer import records
from market_weather.producer.errors import UsageError
from market_weather.producer.http import ResponseNotJson
from market_weather.producer.sources import CoinCapSource, OpenWeatherSource
from market_weather.settings import ApiSettings, Location
from market_weather.times import split_range, utc_now


def _fetch(
    call: Callable[[], Any],
    api: str,
    endpoint: str,
    collection: str,
    run_id: str,
    to_batch: Callable[[Any, records.Envelope], Batch],
) -> Batch:
    """Call the source; validate what it returned, or dead-letter a body that cannot be read as JSON at all."""
    try:
        response = call()
    except ResponseNotJson as exc:
        envelope = records.Envelope(api, endpoint, utc_now(), run_id)
        return Batch(collection, [], [envelope.dead_letter(f"{exc.reason} (HTTP {exc.status})", exc.body)])
    return to_batch(response, records.Envelope(api, endpoint, utc_now(), run_id))


def _for_entity(
    validate: Callable[[Any, str, records.Envelope], Batch], entity_id: str
) -> Callable[[Any, records.Envelope], Batch]:
    """A response's validation, bound to the asset or location it was asked for."""
    return lambda response, envelope: validate(response, entity_id, envelope)


def fetch_coincap(source: CoinCapSource, writer: LakeWriter, assets: list[str], run_id: str) -> WriteCounts:
    """One `/assets` snapshot of the configured assets."""
    return writer.write(
        _fetch(partial(source.assets, assets), "coincap", "/assets", COINCAP_ASSETS, run_id, records.coincap_assets)
    )


def fetch_openweather(
    source: OpenWeatherSource, writer: LakeWriter, locations: list[Location], run_id: str
) -> WriteCounts:
    """Current weather and air pollution, one request each per location."""
    counts = WriteCounts()
    endpoints = (
        (source.current_weather, "/data/2.5/weather", OPENWEATHER_WEATHER, records.openweather_weather),
        (source.air_pollution, "/data/2.5/air_pollution", OPENWEATHER_AIR, records.openweather_air),
    )
    for loc in locations:
        for call, endpoint, collection, to_batch in endpoints:
            batch = _fetch(
                partial(call, loc), "openweather", endpoint, collection, run_id, _for_entity(to_batch, loc.id)
            )
            counts += writer.write(batch)
    return counts


def check_interval(interval: str) -> None:
    """A CoinCap history interval, or a UsageError that names the ones there are."""
    if interval not in COINCAP_INTERVALS_MS:
        raise UsageError(f"interval must be one of {', '.join(COINCAP_INTERVALS_MS)}, not {interval!r}")


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def backfill_coincap(
    source: CoinCapSource,
    writer: LakeWriter,
    assets: list[str],
    start: datetime,
    end: datetime,
    interval: str,
    run_id: str,
    progress: bool = False,
) -> WriteCounts:
    """History points of each asset over [start, end), in windows the API accepts."""
    check_interval(interval)
    windows = list(split_range(_to_ms(start), _to_ms(end), COINCAP_MAX_WINDOW_MS[interval]))
    counts = WriteCounts()
    with tqdm(total=len(windows) * len(assets), unit="window", disable=not progress, desc="coincap history") as bar:
        for asset_id in assets:
            for lo, hi in windows:
                call = partial(source.history, asset_id, interval, lo, hi)
                validate = _for_entity(records.coincap_history, asset_id)
                batch = _fetch(call, "coincap", f"/assets/{asset_id}/history", COINCAP_HISTORY, run_id, validate)
                counts += writer.write(batch)
                bar.update()
                bar.set_postfix(inserted=counts.inserted, refresh=False)
    return counts


def backfill_openweather(
    source: OpenWeatherSource,
    writer: LakeWriter,
    locations: list[Location],
    start: datetime,
    end: datetime,
    run_id: str,
    progress: bool = False,
) -> WriteCounts:
    """Air-pollution history of each location over [start, end)."""
    windows = list(split_range(int(start.timestamp()), int(end.timestamp()), OPENWEATHER_HISTORY_WINDOW_S))
    counts = WriteCounts()
    with tqdm(total=len(windows) * len(locations), unit="window", disable=not progress, desc="air history") as bar:
        for location in locations:
            for lo, hi in windows:
                call = partial(source.air_pollution_history, location, lo, hi)
                validate = _for_entity(records.openweather_air, location.id)
                batch = _fetch(
                    call, "openweather", "/data/2.5/air_pollution/history", OPENWEATHER_AIR, run_id, validate
                )
                counts += writer.write(batch)
                bar.update()
    return counts


def coincap_source(settings: ApiSettings) -> CoinCapSource:
    """CoinCap live where its key is set (PRODUCER_SOURCE=auto), else simulated."""
    if settings.source_for("coincap") == "live" and settings.COINCAP_API_KEY is not None:
        from market_weather.producer.coincap import CoinCapClient

        return CoinCapClient(settings.COINCAP_BASE_URL, settings.COINCAP_API_KEY)
    from market_weather.producer.simulated import SimulatedCoinCap

    return SimulatedCoinCap(settings.SIMULATOR_SEED)


def openweather_source(settings: ApiSettings) -> OpenWeatherSource:
    """OpenWeather live where its key is set (PRODUCER_SOURCE=auto), else simulated."""
    if settings.source_for("openweather") == "live" and settings.OPENWEATHER_API_KEY is not None:
        from market_weather.producer.openweather import OpenWeatherClient

        return OpenWeatherClient(settings.OPENWEATHER_BASE_URL, settings.OPENWEATHER_API_KEY)
    from market_weather.producer.simulated import SimulatedOpenWeather

    return SimulatedOpenWeather(settings.SIMULATOR_SEED)
