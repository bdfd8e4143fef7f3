"""Plausibility rules: what a domain expert refuses in a record that is well typed.

Rules are data, one table per raw collection. Each names a column of the typed frame (the warehouse
column), the payload field it comes from, and the values it allows. A record that breaks one goes to
the dead letters with the reason `<field>: <rule> (<what is allowed>)`, like a record that fails its
typing; its siblings load. A null value breaks no rule here: whether a field may be missing is the
typing's question.

The bounds are physical or definitional, not statistical: a price below zero, humidity above 100 %, an
air temperature no station has ever recorded, an observation made after it was fetched. NUL characters
are refused in every text column, as PostgreSQL text cannot hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    COINGECKO_HISTORY,
    OPEN_METEO_WEATHER,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
)

# A producer's clock may differ a little from the source's: an observation stamped up to this long
# after its document was fetched is accepted.
OBSERVED_AFTER_FETCH_MAX_MINUTES = 5

Number = int | float | Decimal


@dataclass(frozen=True)
class Rule:
    """`column` (from the payload's `field`) lies in [low, high] (]low, high] when `low_open`), or holds no NUL."""

    name: str
    column: str
    field: str
    low: Number | None = None
    high: Number | None = None
    low_open: bool = False
    no_nul: bool = False

    @property
    def allows(self) -> str:
        if self.no_nul:
            return "text without NUL characters"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"<= {self.high}"
        return f"from {self.low} to {self.high}"

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.name} ({self.allows})"

    def broken(self) -> Column:
        """True where the rule is broken; null or false where it holds or the value is null."""
        value = F.col(self.column)
        if self.no_nul:
            return F.instr(value, "\u0000") > 0
        checks = []
        if self.low is not None:
            checks.append(value <= F.lit(self.low) if self.low_open else value < F.lit(self.low))
        if self.high is not None:
            checks.append(value > F.lit(self.high))
        out = checks[0]
        for check in checks[1:]:
            out = out | check
        return out


@dataclass(frozen=True)
class ObservedAtRule:
    """`observed_at` is not before the source's first data and not after its document's `fetched_at`
    plus `OBSERVED_AFTER_FETCH_MAX_MINUTES`."""

    earliest: datetime

    @property
    def too_early(self) -> str:
        return f"observed_at: not_before_source ({self.earliest:%Y-%m-%d} or later)"

    @property
    def too_late(self) -> str:
        return f"observed_at: not_after_fetch (at most {OBSERVED_AFTER_FETCH_MAX_MINUTES} minutes after fetched_at)"

    def checks(self) -> list[tuple[Column, str]]:
        observed, fetched = F.col("observed_at"), F.col("fetched_at")
        ahead = F.expr(f"INTERVAL {OBSERVED_AFTER_FETCH_MAX_MINUTES} MINUTES")
        return [(observed < F.lit(self.earliest), self.too_early), (observed > fetched + ahead, self.too_late)]


def _not_negative(column: str, field: str) -> Rule:
    return Rule(f"{column}_not_negative", column, field, low=0)


def _percent(column: str, field: str) -> Rule:
    return Rule(f"{column}_percent", column, field, low=0, high=100)


def _text(column: str, field: str) -> Rule:
    return Rule(f"{column}_text", column, field, no_nul=True)


ENTITY_TEXT = _text("entity_id", "entity_id")

# Air temperature at the surface: recorded extremes are -89.2 °C and 56.7 °C.
TEMPERATURE_C = (-100, 70)
# What it feels like goes further, with wind chill and heat index.
FEELS_LIKE_C = (-120, 90)
# Sea-level pressure: recorded extremes are 870 hPa and 1084 hPa.
PRESSURE_HPA = (850, 1100)
# The strongest gust ever measured is 113 m/s.
WIND_MS = (0, 150)
# The most rain ever measured in an hour is about 305 mm.
PRECIPITATION_1H_MM = (0, 500)
# A weather model's visibility (Open-Meteo's) goes past what OpenWeather reports, though not past the horizon's
# few hundred kilometres.
MODEL_VISIBILITY_M = (0, 500_000)
POLLUTANTS = ("co", "no", "no2", "o3", "so2", "pm2_5", "pm10", "nh3")

RULES: dict[str, tuple[Rule, ...]] = {
    COINCAP_ASSETS: (
        ENTITY_TEXT,
        Rule("price_positive", "price_usd", "payload.priceUsd", low=0, low_open=True),
        _not_negative("supply", "payload.supply"),
        _not_negative("max_supply", "payload.maxSupply"),
        _not_negative("market_cap_usd", "payload.marketCapUsd"),
        _not_negative("volume_usd_24h", "payload.volumeUsd24Hr"),
        _not_negative("vwap_24h", "payload.vwap24Hr"),
        # A price cannot fall by more than all of it.
        Rule("change_at_least_minus_100", "change_percent_24h", "payload.changePercent24Hr", low=-100),
        Rule("rank_from_1", "rank", "payload.rank", low=1),
        _text("symbol", "payload.symbol"),
        _text("name", "payload.name"),
        _text("explorer", "payload.explorer"),
    ),
    COINCAP_HISTORY: (
        ENTITY_TEXT,
        Rule("price_positive", "price_usd", "payload.priceUsd", low=0, low_open=True),
    ),
    OPENWEATHER_WEATHER: (
        ENTITY_TEXT,
        Rule("temperature_c", "temp_c", "payload.main.temp", *TEMPERATURE_C),
        Rule("temperature_c", "temp_min_c", "payload.main.temp_min", *TEMPERATURE_C),
        Rule("temperature_c", "temp_max_c", "payload.main.temp_max", *TEMPERATURE_C),
        Rule("feels_like_c", "feels_like_c", "payload.main.feels_like", *FEELS_LIKE_C),
        Rule("pressure_hpa", "pressure_hpa", "payload.main.pressure", *PRESSURE_HPA),
        _percent("humidity_pct", "payload.main.humidity"),
        Rule("wind_speed_ms", "wind_speed_ms", "payload.wind.speed", *WIND_MS),
        Rule("wind_speed_ms", "wind_gust_ms", "payload.wind.gust", *WIND_MS),
        Rule("wind_direction_deg", "wind_deg", "payload.wind.deg", 0, 360),
        _percent("clouds_pct", "payload.clouds.all"),
        # The API reports visibility up to 10 km.
        Rule("visibility_m", "visibility_m", "payload.visibility", 0, 10_000),
        Rule("precipitation_1h_mm", "rain_1h_mm", "payload.rain.1h", *PRECIPITATION_1H_MM),
        Rule("precipitation_1h_mm", "snow_1h_mm", "payload.snow.1h", *PRECIPITATION_1H_MM),
        Rule("latitude", "lat", "payload.coord.lat", -90, 90),
        Rule("longitude", "lon", "payload.coord.lon", -180, 180),
        _text("name", "payload.name"),
        _text("country", "payload.sys.country"),
        _text("condition", "payload.weather[0].main"),
        _text("description", "payload.weather[0].description"),
    ),
    COINGECKO_HISTORY: (
        ENTITY_TEXT,
        Rule("price_positive", "price_usd", "payload.price", low=0, low_open=True),
        _not_negative("market_cap_usd", "payload.market_cap"),
        _not_negative("volume_usd_24h", "payload.total_volume"),
    ),
    OPEN_METEO_WEATHER: (
        ENTITY_TEXT,
        Rule("temperature_c", "temp_c", "values.temp_c", *TEMPERATURE_C),
        Rule("feels_like_c", "feels_like_c", "values.feels_like_c", *FEELS_LIKE_C),
        Rule("pressure_hpa", "pressure_hpa", "values.pressure_hpa", *PRESSURE_HPA),
        _percent("humidity_pct", "values.humidity_pct"),
        Rule("wind_speed_ms", "wind_speed_ms", "values.wind_speed_ms", *WIND_MS),
        Rule("wind_speed_ms", "wind_gust_ms", "values.wind_gust_ms", *WIND_MS),
        Rule("wind_direction_deg", "wind_deg", "values.wind_deg", 0, 360),
        _percent("clouds_pct", "values.clouds_pct"),
        Rule("visibility_m", "visibility_m", "values.visibility_m", *MODEL_VISIBILITY_M),
        Rule("precipitation_1h_mm", "rain_1h_mm", "values.rain_1h_mm", *PRECIPITATION_1H_MM),
    ),
    OPENWEATHER_AIR: (
        ENTITY_TEXT,
        Rule("aqi_1_to_5", "aqi", "payload.main.aqi", 1, 5),
        *(_not_negative(name, f"payload.components.{name}") for name in POLLUTANTS),
    ),
}

# The first data each source can hold: Bitcoin's first block; the weather archive's first year; the
# first day of the air pollution history; for files, the same for prices, and Open-Meteo's archive's first year.
OBSERVED_AT: dict[str, ObservedAtRule] = {
    COINCAP_ASSETS: ObservedAtRule(datetime(2009, 1, 3, tzinfo=UTC)),
    COINCAP_HISTORY: ObservedAtRule(datetime(2009, 1, 3, tzinfo=UTC)),
    OPENWEATHER_WEATHER: ObservedAtRule(datetime(1979, 1, 1, tzinfo=UTC)),
    OPENWEATHER_AIR: ObservedAtRule(datetime(2020, 11, 27, tzinfo=UTC)),
    COINGECKO_HISTORY: ObservedAtRule(datetime(2009, 1, 3, tzinfo=UTC)),
    # Open-Meteo's historical weather (the ERA5 reanalysis) starts in 1940.
    OPEN_METEO_WEATHER: ObservedAtRule(datetime(1940, 1, 1, tzinfo=UTC)),
}


def checks(collection: str) -> list[tuple[Column, str]]:
    """Every plausibility check of a collection's typed frame, as (broken, reason) pairs."""
    return [*OBSERVED_AT[collection].checks(), *((rule.broken(), rule.reason) for rule in RULES[collection])]
