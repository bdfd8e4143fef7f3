"""Validate API responses and wrap each record in the lake envelope. Pure functions, no I/O.

A record that fails validation becomes a dead letter with its reason; the others go on. The
payload stored is the record exactly as received: validation reads it, never rewrites it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    SCHEMA_VERSION,
)
from market_weather.lake import Batch


def _decimal_string(value: str) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return value


DecimalStr = Annotated[StrictStr, AfterValidator(_decimal_string)]
# OpenWeather sends ints and floats alike; a string, a boolean or NaN is not a number here, as it is
# not to the Spark job, which reads these fields as doubles.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
EpochSeconds = Annotated[StrictInt, Field(ge=0)]
EpochMillis = Annotated[StrictInt, Field(ge=0)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class CoinCapAsset(_Record):
    id: Annotated[StrictStr, Field(min_length=1, pattern=r"^[a-z0-9-]+$")]
    rank: DecimalStr
    symbol: StrictStr
    name: StrictStr
    supply: DecimalStr
    maxSupply: DecimalStr | None = None
    marketCapUsd: DecimalStr | None = None
    volumeUsd24Hr: DecimalStr | None = None
    priceUsd: DecimalStr
    changePercent24Hr: DecimalStr | None = None
    vwap24Hr: DecimalStr | None = None
    explorer: StrictStr | None = None


class CoinCapHistoryPoint(_Record):
    priceUsd: DecimalStr
    time: EpochMillis
    circulatingSupply: DecimalStr | None = None


class _Main(_Record):
    temp: Number
    feels_like: Number | None = None
    temp_min: Number | None = None
    temp_max: Number | None = None
    pressure: Number | None = None
    humidity: Annotated[Number, Field(ge=0, le=100)] | None = None


class _Condition(_Record):
    main: StrictStr
    description: StrictStr | None = None


class _Coord(_Record):
    lon: Number | None = None
    lat: Number | None = None


class _Wind(_Record):
    speed: Number | None = None
    deg: Number | None = None
    gust: Number | None = None


class _Clouds(_Record):
    all: Number | None = None


class _LastHour(_Record):
    one_hour: Number | None = Field(None, alias="1h")


class _Sys(_Record):
    country: StrictStr | None = None


class OpenWeatherCurrent(_Record):
    """Every field the Spark job reads is typed here, so nothing it cannot read reaches the lake."""

    dt: EpochSeconds
    main: _Main
    weather: Annotated[list[_Condition], Field(min_length=1)]
    coord: _Coord | None = None
    visibility: Number | None = None
    wind: _Wind | None = None
    clouds: _Clouds | None = None
    rain: _LastHour | None = None
    snow: _LastHour | None = None
    sys: _Sys | None = None
    name: StrictStr | None = None


class _Aqi(_Record):
    aqi: Annotated[float, Field(ge=1, le=5, multiple_of=1)]


class OpenWeatherAirItem(_Record):
    dt: EpochSeconds
    main: _Aqi
    components: dict[str, Number]


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors())


def _from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _from_seconds(s: int) -> datetime:
    return datetime.fromtimestamp(s, tz=UTC)


class Envelope:
    """What every document of one fetch shares: source, endpoint, run and fetch time."""

    def __init__(self, source: str, endpoint: str, fetched_at: datetime, run_id: str):
        self.source, self.endpoint, self.fetched_at, self.run_id = source, endpoint, fetched_at, run_id

    def document(self, entity_id: str, observed_at: datetime, payload: Any) -> dict:
        return {
            "source": self.source,
            "endpoint": self.endpoint,
            "entity_id": entity_id,
            "observed_at": observed_at,
            "fetched_at": self.fetched_at,
            "run_id": self.run_id,
            "schema_version": SCHEMA_VERSION,
            "payload": payload,
        }

    def dead_letter(self, reason: str, payload: Any) -> dict:
        return {
            "source": self.source,
            "endpoint": self.endpoint,
            "fetched_at": self.fetched_at,
            "run_id": self.run_id,
            "reason": reason,
            "payload": payload,
        }


Record = TypeVar("Record", bound=BaseModel)


def _records(
    envelope: Envelope,
    collection: str,
    items: list,
    model: type[Record],
    key: Callable[[Record], tuple[str, datetime]],
) -> Batch:
    batch = Batch(collection, [], [])
    for item in items:
        try:
            record = model.model_validate(item)
        except ValidationError as exc:
            batch.dead_letters.append(envelope.dead_letter(_reason(exc), item))
            continue
        entity_id, observed_at = key(record)
        batch.documents.append(envelope.document(entity_id, observed_at, item))
    return batch


def _list_under(response: Any, field: str, envelope: Envelope, collection: str) -> list | Batch:
    if not isinstance(response, dict) or not isinstance(response.get(field), list):
        reason = f"response is not an object with a '{field}' list"
        return Batch(collection, [], [envelope.dead_letter(reason, response)])
    return response[field]


def coincap_assets(response: Any, envelope: Envelope) -> Batch:
    """`/assets`: one document per asset, observed at the response's `timestamp` (epoch ms)."""
    items = _list_under(response, "data", envelope, COINCAP_ASSETS)
    if isinstance(items, Batch):
        return items
    timestamp = response.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        reason = "response has no integer 'timestamp' (epoch ms)"
        return Batch(COINCAP_ASSETS, [], [envelope.dead_letter(reason, response)])
    observed_at = _from_millis(timestamp)
    return _records(envelope, COINCAP_ASSETS, items, CoinCapAsset, lambda r: (r.id, observed_at))


def coincap_history(response: Any, asset_id: str, envelope: Envelope) -> Batch:
    """`/assets/{id}/history`: one document per point, observed at its `time` (epoch ms)."""
    items = _list_under(response, "data", envelope, COINCAP_HISTORY)
    if isinstance(items, Batch):
        return items
    return _records(envelope, COINCAP_HISTORY, items, CoinCapHistoryPoint, lambda r: (asset_id, _from_millis(r.time)))


def openweather_weather(response: Any, location_id: str, envelope: Envelope) -> Batch:
    """`/data/2.5/weather`: one document per location, observed at `dt` (epoch s)."""
    return _records(
        envelope, OPENWEATHER_WEATHER, [response], OpenWeatherCurrent, lambda r: (location_id, _from_seconds(r.dt))
    )


def openweather_air(response: Any, location_id: str, envelope: Envelope) -> Batch:
    """`/data/2.5/air_pollution[/history]`: one document per item of `list`, observed at its `dt`."""
    items = _list_under(response, "list", envelope, OPENWEATHER_AIR)
    if isinstance(items, Batch):
        return items
    return _records(envelope, OPENWEATHER_AIR, items, OpenWeatherAirItem, lambda r: (location_id, _from_seconds(r.dt)))
