"""What the producer does: fetch from a source, validate, and append to the lake.

These functions are what the CLI and the DAGs call. They take any source of the right interface,
live or simulated, and the one lake writer.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from tqdm import tqdm

from common.settings import Location, Settings
from producer import records
from producer.http import ResponseNotJson
from producer.lake import COINCAP_ASSETS, COINCAP_HISTORY, OPENWEATHER_AIR, OPENWEATHER_WEATHER, Batch, LakeWriter, WriteCounts
from producer.sources import COINCAP_INTERVALS_MS, COINCAP_MAX_WINDOW_MS, CoinCapSource, OpenWeatherSource

OPENWEATHER_HISTORY_WINDOW_S = 7 * 86_400


def new_run_id(prefix: str = "manual") -> str:
    return f"{prefix}__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"


def _fetch(
    call: Callable[[], Any],
    api: str,
    endpoint: str,
    collection: str,
    run_id: str,
    to_batch: Callable[[Any, records.Envelope], Batch],
) -> Batch:
    """Call the source; validate what it returned, or dead-letter a body that is not JSON at all."""
    try:
        response = call()
    except ResponseNotJson as exc:
        envelope = records.Envelope(api, endpoint, datetime.now(timezone.utc), run_id)
        return Batch(collection, [], [envelope.dead_letter(f"response is not JSON (HTTP {exc.status})", exc.body)])
    return to_batch(response, records.Envelope(api, endpoint, datetime.now(timezone.utc), run_id))


def fetch_coincap(source: CoinCapSource, writer: LakeWriter, assets: list[str], run_id: str) -> WriteCounts:
    """One `/assets` snapshot of the configured assets."""
    return writer.write(
        _fetch(lambda: source.assets(assets), "coincap", "/assets", COINCAP_ASSETS, run_id, records.coincap_assets)
    )


def fetch_openweather(
    source: OpenWeatherSource, writer: LakeWriter, locations: list[Location], run_id: str
) -> WriteCounts:
    """Current weather and air pollution, one request each per location."""
    counts = WriteCounts()
    for loc in locations:
        counts += writer.write(_fetch(
            lambda: source.current_weather(loc), "openweather", "/data/2.5/weather", OPENWEATHER_WEATHER, run_id,
            lambda response, envelope: records.openweather_weather(response, loc.id, envelope),
        ))
        counts += writer.write(_fetch(
            lambda: source.air_pollution(loc), "openweather", "/data/2.5/air_pollution", OPENWEATHER_AIR, run_id,
            lambda response, envelope: records.openweather_air(response, loc.id, envelope),
        ))
    return counts


def time_windows(start: int, end: int, width: int) -> Iterator[tuple[int, int]]:
    """Split [start, end) into consecutive windows no wider than `width`.

    Windows share no point and leave no gap: each ends where the next starts.
    """
    if end <= start:
        raise ValueError("the end of a range must be after its start")
    for lo in range(start, end, width):
        yield lo, min(end, lo + width)


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
    if interval not in COINCAP_INTERVALS_MS:
        raise ValueError(f"interval must be one of {', '.join(COINCAP_INTERVALS_MS)}, not {interval!r}")
    windows = list(time_windows(_to_ms(start), _to_ms(end), COINCAP_MAX_WINDOW_MS[interval]))
    counts = WriteCounts()
    with tqdm(total=len(windows) * len(assets), unit="window", disable=not progress, desc="coincap history") as bar:
        for asset_id in assets:
            for lo, hi in windows:
                counts += writer.write(_fetch(
                    lambda: source.history(asset_id, interval, lo, hi), "coincap", f"/assets/{asset_id}/history",
                    COINCAP_HISTORY, run_id,
                    lambda response, envelope: records.coincap_history(response, asset_id, envelope),
                ))
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
    windows = list(time_windows(int(start.timestamp()), int(end.timestamp()), OPENWEATHER_HISTORY_WINDOW_S))
    counts = WriteCounts()
    with tqdm(total=len(windows) * len(locations), unit="window", disable=not progress, desc="air history") as bar:
        for location in locations:
            for lo, hi in windows:
                counts += writer.write(_fetch(
                    lambda: source.air_pollution_history(location, lo, hi), "openweather",
                    "/data/2.5/air_pollution/history", OPENWEATHER_AIR, run_id,
                    lambda response, envelope: records.openweather_air(response, location.id, envelope),
                ))
                bar.update()
    return counts


def coincap_source(settings: Settings) -> CoinCapSource:
    """CoinCap live where its key is set (PRODUCER_SOURCE=auto), else simulated."""
    if settings.source_for("coincap") == "live":
        from producer.coincap import CoinCapClient

        return CoinCapClient(settings.COINCAP_BASE_URL, settings.COINCAP_API_KEY)
    from producer.simulated import SimulatedCoinCap

    return SimulatedCoinCap(settings.SIMULATOR_SEED)


def openweather_source(settings: Settings) -> OpenWeatherSource:
    """OpenWeather live where its key is set (PRODUCER_SOURCE=auto), else simulated."""
    if settings.source_for("openweather") == "live":
        from producer.openweather import OpenWeatherClient

        return OpenWeatherClient(settings.OPENWEATHER_BASE_URL, settings.OPENWEATHER_API_KEY)
    from producer.simulated import SimulatedOpenWeather

    return SimulatedOpenWeather(settings.SIMULATOR_SEED)
