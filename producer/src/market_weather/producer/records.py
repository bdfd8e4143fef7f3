"""Validate API responses and wrap each record in the lake envelope. Pure functions, no I/O.

A record that fails validation becomes a dead letter with its reason; the others go on. The
payload stored is the record as received (the live client has masked any echo of the API key):
validation reads it, never rewrites it. What the Spark job would refuse (a price that does not fit
its DECIMAL(38,18), an epoch past the year 9999) and what the lake cannot hold (an integer wider than
64 bits) are refused here, with the field named; a dead letter keeps its payload as the lake can hold it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    SCHEMA_VERSION,
)
from market_weather.lake import Batch, storable, unstorable
from market_weather.producer.casts import fits_int, fits_money
from market_weather.text import printable

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The last instant a Python datetime (and so a lake document) can hold: 9999-12-31T23:59:59.999.
MAX_EPOCH_MS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)
MAX_EPOCH_S = MAX_EPOCH_MS // 1000
MILLISECOND = timedelta(milliseconds=1)


def _decimal_string(value: str) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise PydanticCustomError("decimal", "not a decimal number") from None
    if not number.is_finite():
        raise PydanticCustomError("decimal", "not a finite number")
    return value


def _money(value: str) -> str:
    if not fits_money(value):
        raise PydanticCustomError("money", "not a decimal that fits DECIMAL(38,18)")
    return value


def _integer(value: str) -> str:
    if not fits_int(value):
        raise PydanticCustomError("integer", "not an integer")
    return value


def _epoch(most: int, unit: str) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not 0 <= value <= most:
            raise PydanticCustomError("epoch", f"not epoch {unit} between 1970 and the year 9999")
        return value

    return check


DecimalStr = Annotated[StrictStr, AfterValidator(_decimal_string)]
# CoinCap's figures the job reads: a string it cannot cast would be refused there, so it is here.
Money = Annotated[StrictStr, AfterValidator(_money)]
IntegerStr = Annotated[StrictStr, AfterValidator(_integer)]
# OpenWeather sends ints and floats alike; a string, a boolean or NaN is not a number here, as it is
# not to the Spark job, which reads these fields as doubles.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
EpochSeconds = Annotated[StrictInt, AfterValidator(_epoch(MAX_EPOCH_S, "seconds"))]
EpochMillis = Annotated[StrictInt, AfterValidator(_epoch(MAX_EPOCH_MS, "milliseconds"))]


class _Record(BaseModel):
    # The payload keeps every field as sent; a model only validates, so it keeps none it does not type.
    model_config = ConfigDict(extra="ignore")


class CoinCapAsset(_Record):
    id: Annotated[StrictStr, Field(min_length=1, pattern=r"^[a-z0-9-]+$")]
    rank: IntegerStr
    symbol: StrictStr
    name: StrictStr
    supply: Money
    maxSupply: Money | None = None
    marketCapUsd: Money | None = None
    volumeUsd24Hr: Money | None = None
    priceUsd: Money
    changePercent24Hr: Money | None = None
    vwap24Hr: Money | None = None
    explorer: StrictStr | None = None


class CoinCapHistoryPoint(_Record):
    priceUsd: Money
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
    # 2 or 2.0 (the documentation shows both); never `true` or "2", which a lax float would take for 1 and 2.
    aqi: Annotated[float, Field(strict=True, ge=1, le=5, multiple_of=1)]


class OpenWeatherAirItem(_Record):
    dt: EpochSeconds
    main: _Aqi
    components: dict[str, Number]


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(printable(str(p), 40) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
    )


def _from_millis(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def _from_seconds(s: int) -> datetime:
    return EPOCH + timedelta(seconds=s)


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
            "reason": printable(reason, 2000),
            "payload": storable(payload),
        }


Record = TypeVar("Record", bound=BaseModel)


@cache
def _list_of(model: type[Record]) -> TypeAdapter[list[Record]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]  # mypy takes no class known only when called


def _all_valid(items: list, model: type[Record]) -> list[Record] | None:
    """The records of `items` when every one is valid, found in one pass over the response; else None.

    Nearly every response is valid whole, and one call for it costs far less than one per record. A list the
    lake can hold has only items it can hold (each is a level less deep than the list)."""
    if unstorable(items) is not None:
        return None
    try:
        return _list_of(model).validate_python(items)
    except ValidationError:
        return None


def _records(
    envelope: Envelope,
    collection: str,
    items: list,
    model: type[Record],
    key: Callable[[Record], tuple[str, datetime]],
) -> Batch:
    valid = _all_valid(items, model)
    if valid is not None:
        documents = [envelope.document(*key(record), item) for item, record in zip(items, valid, strict=True)]
        return Batch(collection, documents, [])
    # Some record is not valid: each is told apart, a dead letter saying why for each that is not.
    batch = Batch(collection, [], [])
    for item in items:
        problem = unstorable(item)
        if problem is not None:
            batch.dead_letters.append(envelope.dead_letter(problem, item))
            continue
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
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_EPOCH_MS:
        reason = "timestamp: the response has no epoch milliseconds between 1970 and the year 9999"
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
