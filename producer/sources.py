"""The interface every source of each API offers: the live HTTP clients and the simulated sources.

Methods return the decoded JSON body exactly as the API sends it; the producer neither knows nor
cares which implementation it holds.
"""

from __future__ import annotations

from typing import Any, Protocol

from common.settings import Location

# CoinCap history intervals and the longest range one request may cover, in milliseconds.
COINCAP_INTERVALS_MS = {
    "m1": 60_000,
    "m5": 300_000,
    "m15": 900_000,
    "m30": 1_800_000,
    "h1": 3_600_000,
    "h2": 7_200_000,
    "h6": 21_600_000,
    "h12": 43_200_000,
    "d1": 86_400_000,
}
_DAY_MS = 86_400_000
COINCAP_MAX_WINDOW_MS = {
    "m1": _DAY_MS,
    "m5": 5 * _DAY_MS,
    "m15": 7 * _DAY_MS,
    "m30": 14 * _DAY_MS,
    "h1": 30 * _DAY_MS,
    "h2": 61 * _DAY_MS,
    "h6": 183 * _DAY_MS,
    "h12": 365 * _DAY_MS,
    "d1": 3650 * _DAY_MS,
}


class CoinCapSource(Protocol):
    def assets(self, ids: list[str]) -> Any:
        """`GET /assets?ids=...`"""

    def history(self, asset_id: str, interval: str, start_ms: int, end_ms: int) -> Any:
        """`GET /assets/{id}/history?interval=&start=&end=`"""


class OpenWeatherSource(Protocol):
    def current_weather(self, location: Location) -> Any:
        """`GET /data/2.5/weather?lat=&lon=&units=metric`"""

    def air_pollution(self, location: Location) -> Any:
        """`GET /data/2.5/air_pollution?lat=&lon=`"""

    def air_pollution_history(self, location: Location, start_s: int, end_s: int) -> Any:
        """`GET /data/2.5/air_pollution/history?lat=&lon=&start=&end=`"""
