"""OpenWeather client: current weather, and air pollution now and in the past (from 2020-11-27)."""

from __future__ import annotations

from typing import Any

from market_weather.producer.http import JsonApi
from market_weather.settings import Location


class OpenWeatherClient(JsonApi):
    """The key travels as the `appid` query parameter; one request per location."""

    name = "openweather"

    def _auth(self, params: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        return {}, {**params, "appid": self._key}

    def current_weather(self, location: Location) -> Any:
        return self.get("/data/2.5/weather", {"lat": location.lat, "lon": location.lon, "units": "metric"})

    def air_pollution(self, location: Location) -> Any:
        return self.get("/data/2.5/air_pollution", {"lat": location.lat, "lon": location.lon})

    def air_pollution_history(self, location: Location, start_s: int, end_s: int) -> Any:
        return self.get(
            "/data/2.5/air_pollution/history",
            {"lat": location.lat, "lon": location.lon, "start": start_s, "end": end_s},
        )
