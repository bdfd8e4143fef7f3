"""The interface every source of each API offers: the live HTTP clients and the simulated sources.

Methods return the decoded JSON body exactly as the API sends it; the producer neither knows nor
cares which implementation it holds. A source is a context manager: leaving it releases its
connections (a live client's HTTP session; a simulated source holds none).
"""

from __future__ import annotations

from typing import Any, Protocol, Self

from market_weather.settings import Location


class Source(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


class CoinCapSource(Source, Protocol):
    def assets(self, ids: list[str]) -> Any:
        """`GET /assets?ids=...`"""

    def history(self, asset_id: str, interval: str, start_ms: int, end_ms: int) -> Any:
        """`GET /assets/{id}/history?interval=&start=&end=`"""


class OpenWeatherSource(Source, Protocol):
    def current_weather(self, location: Location) -> Any:
        """`GET /data/2.5/weather?lat=&lon=&units=metric`"""

    def air_pollution(self, location: Location) -> Any:
        """`GET /data/2.5/air_pollution?lat=&lon=`"""

    def air_pollution_history(self, location: Location, start_s: int, end_s: int) -> Any:
        """`GET /data/2.5/air_pollution/history?lat=&lon=&start=&end=`"""
