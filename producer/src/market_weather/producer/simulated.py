"""Simulated CoinCap and OpenWeather: the same interface and payload shapes as the live APIs, offline.

Every value is a pure function of (seed, entity, time), so the same seed gives the same data
whichever call asks for it: a snapshot and a history point for the same minute agree, and a run
can be replayed. Prices follow a random walk per asset (a Brownian bridge inside each UTC day between
daily levels that revert slowly to the asset's base price); weather and air quality follow daily
and seasonal cycles plus noise.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Self

import numpy as np

from market_weather.api_limits import COINCAP_INTERVALS_MS
from market_weather.settings import Location
from market_weather.times import utc_now

EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
_EPOCH_DAY = int(EPOCH.timestamp()) // 86_400
_MINUTES_PER_DAY = 1440

# slug: (symbol, name, base price USD, supply, max supply or None, explorer)
KNOWN_ASSETS = {
    "bitcoin": ("BTC", "Bitcoin", 60_000.0, 19_800_000.0, 21_000_000.0, "https://blockchain.info/"),
    "ethereum": ("ETH", "Ethereum", 3_000.0, 120_700_000.0, None, "https://etherscan.io/"),
    "tether": ("USDT", "Tether", 1.0, 140_000_000_000.0, None, "https://www.omniexplorer.info/asset/31"),
    "binance-coin": (
        "BNB",
        "BNB",
        600.0,
        140_000_000.0,
        200_000_000.0,
        "https://etherscan.io/token/0xB8c77482e45F1F44dE1745F52C74426C631bDD52",
    ),
    "solana": ("SOL", "Solana", 150.0, 480_000_000.0, None, "https://explorer.solana.com/"),
    "xrp": ("XRP", "XRP", 0.6, 57_000_000_000.0, 100_000_000_000.0, "https://xrpcharts.ripple.com/#/graph/"),
    "cardano": ("ADA", "Cardano", 0.45, 35_000_000_000.0, 45_000_000_000.0, "https://cardanoexplorer.com/"),
    "dogecoin": ("DOGE", "Dogecoin", 0.12, 146_000_000_000.0, None, ""),
}
STABLECOINS = {"tether", "usd-coin", "dai"}
STABLECOIN_DAILY_SIGMA = 0.0005
KNOWN_COUNTRIES = {"paris": "FR", "london": "GB", "berlin": "DE", "new-york": "US", "tokyo": "JP", "madrid": "ES"}

# OpenWeather condition groups: (id, main, description)
_CLEAR = (800, "Clear", "clear sky")
_CLOUDS = (803, "Clouds", "broken clouds")
_RAIN = (500, "Rain", "light rain")
_SNOW = (600, "Snow", "light snow")
_MIST = (701, "Mist", "mist")


def _key(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def _decimal(value: float) -> str:
    return f"{value:.16f}"


class _PriceWalk:
    """log(price / base) for one asset at any minute since EPOCH."""

    DAILY_SIGMA = 0.03
    REVERSION = 0.01

    def __init__(self, seed: int, asset_id: str, daily_sigma: float = DAILY_SIGMA):
        self.seed, self.asset_key, self.daily_sigma = seed, _key(asset_id), daily_sigma
        self._day_levels = np.zeros(1)
        # Per walk, so the cache goes when the walk does.
        self.day_path = lru_cache(maxsize=64)(self._day_path)

    def _level_at_day(self, day: int) -> float:
        """Level at the start of `day` (days since EPOCH), computed once and cached."""
        levels = self._day_levels
        if day >= len(levels):
            extended = np.empty(day + 1)
            extended[: len(levels)] = levels
            for d in range(len(levels), day + 1):
                shock = _rng(self.seed, self.asset_key, d - 1, 0).normal(0.0, self.daily_sigma)
                extended[d] = extended[d - 1] * (1 - self.REVERSION) + shock
            self._day_levels = levels = extended
        return float(levels[day])

    def _day_path(self, day: int) -> np.ndarray:
        """Levels at each minute of `day`, a Brownian bridge between that day's and the next day's level."""
        start, end = self._level_at_day(day), self._level_at_day(day + 1)
        steps = _rng(self.seed, self.asset_key, day, 1).normal(
            0.0, self.daily_sigma / math.sqrt(_MINUTES_PER_DAY), _MINUTES_PER_DAY
        )
        walk = np.cumsum(steps) - steps[0]
        frac = np.arange(_MINUTES_PER_DAY) / _MINUTES_PER_DAY
        return start + walk - frac * walk[-1] + frac * (end - start)

    def levels(self, minutes: np.ndarray) -> np.ndarray:
        if len(minutes) and minutes.min() < 0:
            raise ValueError(f"simulated prices start at {EPOCH.isoformat()}")
        out = np.empty(len(minutes))
        days = minutes // _MINUTES_PER_DAY
        for day in np.unique(days):
            mask = days == day
            out[mask] = self.day_path(int(day))[minutes[mask] % _MINUTES_PER_DAY]
        return out


class _Offline:
    """The live clients' context protocol; a simulated source holds no connection to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class SimulatedCoinCap(_Offline):
    """CoinCap v3 `/assets` and `/assets/{id}/history`, simulated."""

    def __init__(self, seed: int = 42, clock: Callable[[], datetime] = utc_now):
        self.seed, self.clock = seed, clock
        self._walks: dict[str, _PriceWalk] = {}

    def _meta(self, asset_id: str) -> tuple:
        if asset_id in KNOWN_ASSETS:
            return KNOWN_ASSETS[asset_id]
        rng = _rng(self.seed, _key(asset_id))
        symbol = "".join(part[0] for part in asset_id.split("-")).upper()[:4] or asset_id[:3].upper()
        return (
            symbol,
            asset_id.replace("-", " ").title(),
            float(10 ** rng.uniform(-2, 3)),
            float(10 ** rng.uniform(7, 10)),
            None,
            "",
        )

    def _prices(self, asset_id: str, times_ms: np.ndarray) -> np.ndarray:
        if asset_id not in self._walks:
            sigma = STABLECOIN_DAILY_SIGMA if asset_id in STABLECOINS else _PriceWalk.DAILY_SIGMA
            self._walks[asset_id] = _PriceWalk(self.seed, asset_id, sigma)
        walk = self._walks[asset_id]
        minutes_f = (times_ms - int(EPOCH.timestamp() * 1000)) / 60_000
        lower = np.floor(minutes_f).astype(np.int64)
        weight = minutes_f - lower
        levels = walk.levels(lower) * (1 - weight) + walk.levels(lower + 1) * weight
        return self._meta(asset_id)[2] * np.exp(levels)

    def assets(self, ids: list[str]) -> dict:
        now_ms = int(self.clock().timestamp() * 1000)
        day_ago = now_ms - 86_400_000
        rows = []
        for asset_id in ids:
            symbol, name, _, supply, max_supply, explorer = self._meta(asset_id)
            price, price_day_ago = self._prices(asset_id, np.array([now_ms, day_ago]))
            window = self._prices(asset_id, np.linspace(day_ago, now_ms, 25))
            volume = float(supply * price * 0.02 * (1 + 0.3 * math.sin(now_ms / 3.6e6)))
            rows.append(
                {
                    "id": asset_id,
                    "rank": "0",
                    "symbol": symbol,
                    "name": name,
                    "supply": _decimal(supply),
                    "maxSupply": None if max_supply is None else _decimal(max_supply),
                    "marketCapUsd": _decimal(supply * price),
                    "volumeUsd24Hr": _decimal(volume),
                    "priceUsd": _decimal(price),
                    "changePercent24Hr": _decimal((price / price_day_ago - 1) * 100),
                    "vwap24Hr": _decimal(float(window.mean())),
                    "explorer": explorer,
                    "tokens": {},
                }
            )
        for rank, row in enumerate(sorted(rows, key=lambda r: -float(r["marketCapUsd"])), start=1):
            row["rank"] = str(rank)
        return {"data": rows, "timestamp": now_ms}

    def history(self, asset_id: str, interval: str, start_ms: int, end_ms: int) -> dict:
        step = COINCAP_INTERVALS_MS[interval]
        first = -(-start_ms // step) * step
        times = np.arange(first, end_ms, step, dtype=np.int64)
        prices = self._prices(asset_id, times) if len(times) else np.empty(0)
        supply = _decimal(self._meta(asset_id)[3])
        data = [
            {
                "priceUsd": _decimal(float(price)),
                "time": int(t),
                "circulatingSupply": supply,
                "date": datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
            for t, price in zip(times.tolist(), prices.tolist(), strict=True)
        ]
        return {"data": data, "timestamp": int(self.clock().timestamp() * 1000)}


class SimulatedOpenWeather(_Offline):
    """OpenWeather current weather and air pollution (current and history), simulated."""

    BUCKET_S = 600  # OpenWeather's data changes at most every 10 minutes

    def __init__(self, seed: int = 42, clock: Callable[[], datetime] = utc_now):
        self.seed, self.clock = seed, clock

    def _noise(self, location: Location, bucket: int, stream: int) -> np.random.Generator:
        return _rng(self.seed, _key(location.id), bucket, stream)

    def _temperature(self, location: Location, t: int, rng: np.random.Generator) -> float:
        day_of_year = datetime.fromtimestamp(t, tz=UTC).timetuple().tm_yday
        local_hour = (t / 3600 + location.lon / 15) % 24
        hemisphere = 1 if location.lat >= 0 else -1
        mean = 27 - 0.4 * abs(location.lat)
        seasonal = hemisphere * 0.18 * abs(location.lat) * math.sin(2 * math.pi * (day_of_year - 110) / 365)
        diurnal = 4.5 * math.sin(2 * math.pi * (local_hour - 9) / 24)
        return mean + seasonal + diurnal + rng.normal(0, 0.8)

    def current_weather(self, location: Location) -> dict:
        now = int(self.clock().timestamp())
        bucket = now // self.BUCKET_S
        rng = self._noise(location, bucket, 0)
        dt = bucket * self.BUCKET_S - int(rng.integers(0, 300))
        temp = self._temperature(location, dt, rng)
        humidity = int(np.clip(rng.normal(70, 15), 15, 100))
        clouds = int(np.clip(rng.normal(55, 35), 0, 100))
        wet = clouds > 75 and humidity > 70
        condition = (
            (_SNOW if temp < 1 else _RAIN) if wet else _MIST if humidity > 95 else _CLOUDS if clouds > 40 else _CLEAR
        )
        wind_speed = round(float(abs(rng.normal(4, 2.5))), 2)
        sunrise_base = (dt // 86_400) * 86_400 - int(location.lon / 15 * 3600)
        body: dict[str, Any] = {
            "coord": {"lon": location.lon, "lat": location.lat},
            "weather": [{"id": condition[0], "main": condition[1], "description": condition[2], "icon": "10d"}],
            "base": "stations",
            "main": {
                "temp": round(temp, 2),
                "feels_like": round(temp - wind_speed * 0.6, 2),
                "temp_min": round(temp - abs(rng.normal(1, 0.5)), 2),
                "temp_max": round(temp + abs(rng.normal(1, 0.5)), 2),
                "pressure": int(rng.normal(1013, 8)),
                "humidity": humidity,
                "sea_level": int(rng.normal(1013, 8)),
                "grnd_level": int(rng.normal(1003, 8)),
            },
            "visibility": 10000 if condition is not _MIST else int(rng.integers(1000, 5000)),
            "wind": {"speed": wind_speed, "deg": int(rng.integers(0, 360))},
            "clouds": {"all": clouds},
            "dt": dt,
            "sys": {
                "type": 2,
                "id": _key(location.id) % 10_000_000,
                "sunrise": sunrise_base + 6 * 3600,
                "sunset": sunrise_base + 18 * 3600,
            },
            "timezone": int(round(location.lon / 15)) * 3600,
            "id": _key(location.id) % 10_000_000,
            "name": location.name,
            "cod": 200,
        }
        if location.id in KNOWN_COUNTRIES:
            body["sys"]["country"] = KNOWN_COUNTRIES[location.id]
        if rng.random() < 0.4:
            body["wind"]["gust"] = round(wind_speed * float(rng.uniform(1.3, 2.2)), 2)
        if condition is _RAIN:
            body["rain"] = {"1h": round(float(rng.uniform(0.1, 4.0)), 2)}
        if condition is _SNOW:
            body["snow"] = {"1h": round(float(rng.uniform(0.1, 2.0)), 2)}
        return body

    def _air_item(self, location: Location, dt: int) -> dict:
        rng = self._noise(location, dt // self.BUCKET_S, 1)
        local_hour = (dt / 3600 + location.lon / 15) % 24
        traffic = 1 + 0.5 * math.sin(2 * math.pi * (local_hour - 6) / 12) ** 2
        pm2_5 = round(float(abs(rng.normal(9, 5)) * traffic), 2)
        aqi = 1 if pm2_5 < 10 else 2 if pm2_5 < 25 else 3 if pm2_5 < 50 else 4 if pm2_5 < 75 else 5
        return {
            "main": {"aqi": aqi},
            "components": {
                "co": round(float(abs(rng.normal(230, 40)) * traffic), 2),
                "no": round(float(abs(rng.normal(0.5, 0.4)) * traffic), 2),
                "no2": round(float(abs(rng.normal(18, 6)) * traffic), 2),
                "o3": round(float(abs(rng.normal(45, 15))), 2),
                "so2": round(float(abs(rng.normal(1.5, 0.5))), 2),
                "pm2_5": pm2_5,
                "pm10": round(pm2_5 * float(rng.uniform(1.2, 1.8)), 2),
                "nh3": round(float(abs(rng.normal(1.0, 0.4))), 2),
            },
            "dt": dt,
        }

    def air_pollution(self, location: Location) -> dict:
        now = int(self.clock().timestamp())
        return {
            "coord": {"lon": location.lon, "lat": location.lat},
            "list": [self._air_item(location, now // 3600 * 3600)],
        }

    def air_pollution_history(self, location: Location, start_s: int, end_s: int) -> dict:
        first = -(-start_s // 3600) * 3600
        items = [self._air_item(location, dt) for dt in range(first, end_s, 3600)]
        return {"coord": {"lon": location.lon, "lat": location.lat}, "list": items}
