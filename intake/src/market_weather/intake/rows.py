"""A file's rows as lake documents, or as dead letters naming their line and the field at fault. Pure, no I/O.

Every row gets the lake's envelope: `source` `file`, the format as `endpoint`, `entity_id`, `observed_at` (UTC),
`fetched_at` (when the file was received), the file's id as `run_id`, `schema_version`, the row as read in
`payload`, and its `line`. The rules are the APIs' own: JSON Lines records go through the producer's validation
(`producer.records`) into the APIs' collections; a CoinGecko row's figures are decimals the job's DECIMAL(38,18)
takes, as CoinCap's are; an Open-Meteo row's are finite numbers, converted from the units its header names to the
warehouse's (`values`, beside the row as read).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from market_weather.contract import (
    FILE_SOURCE,
    SCHEMA_VERSION,
)
from market_weather.intake.formats import Format, Line, Refused, coingecko_name
from market_weather.lake import Batch, storable, unstorable
from market_weather.producer import records
from market_weather.producer.casts import fits_money
from market_weather.settings import Location
from market_weather.text import printable

# A file's location found by its coordinates: the nearest configured one within this distance (Open-Meteo answers
# with its grid cell's coordinates, a few kilometres from those asked).
LOCATION_MATCH_KM = 25.0
COINGECKO_TIME = "%Y-%m-%d %H:%M:%S UTC"

# Open-Meteo's units, as its headers write them, to the warehouse's.
_SAME: Callable[[float], float] = float
TEMPERATURE = {"°C": _SAME, "°F": lambda f: (f - 32) * 5 / 9}
PERCENT = {"%": _SAME}
PRESSURE = {"hPa": _SAME}
SPEED = {"m/s": _SAME, "km/h": lambda v: v / 3.6, "mp/h": lambda v: v * 0.44704, "kn": lambda v: v * 1852 / 3600}
DEGREES = {"°": _SAME}
RAIN = {"mm": _SAME, "inch": lambda v: v * 25.4}
DISTANCE = {"m": _SAME, "ft": lambda v: v * 0.3048}
WMO = {"wmo code": _SAME}
# Open-Meteo's variable (and its older spelling) -> the warehouse's column and the units it comes in.
OPEN_METEO_VARIABLES: dict[str, tuple[str, dict[str, Callable[[float], float]]]] = {
    "temperature_2m": ("temp_c", TEMPERATURE),
    "apparent_temperature": ("feels_like_c", TEMPERATURE),
    "relative_humidity_2m": ("humidity_pct", PERCENT),
    "relativehumidity_2m": ("humidity_pct", PERCENT),
    "pressure_msl": ("pressure_hpa", PRESSURE),
    "wind_speed_10m": ("wind_speed_ms", SPEED),
    "windspeed_10m": ("wind_speed_ms", SPEED),
    "wind_direction_10m": ("wind_deg", DEGREES),
    "winddirection_10m": ("wind_deg", DEGREES),
    "wind_gusts_10m": ("wind_gust_ms", SPEED),
    "windgusts_10m": ("wind_gust_ms", SPEED),
    "cloud_cover": ("clouds_pct", PERCENT),
    "cloudcover": ("clouds_pct", PERCENT),
    "visibility": ("visibility_m", DISTANCE),
    "rain": ("rain_1h_mm", RAIN),
    "weather_code": ("weather_code", WMO),
    "weathercode": ("weather_code", WMO),
}
REQUIRED_VARIABLE = "temperature_2m"
_COLUMN = re.compile(r"^(?P<variable>[a-z0-9_]+) \((?P<unit>[^)]*)\)$")

# WMO weather codes as Open-Meteo sends them, in OpenWeather's words: (condition, description).
WMO_CODES = {
    0: ("Clear", "clear sky"),
    1: ("Clouds", "mainly clear"),
    2: ("Clouds", "partly cloudy"),
    3: ("Clouds", "overcast"),
    45: ("Fog", "fog"),
    48: ("Fog", "depositing rime fog"),
    51: ("Drizzle", "light drizzle"),
    53: ("Drizzle", "moderate drizzle"),
    55: ("Drizzle", "dense drizzle"),
    56: ("Drizzle", "light freezing drizzle"),
    57: ("Drizzle", "dense freezing drizzle"),
    61: ("Rain", "slight rain"),
    63: ("Rain", "moderate rain"),
    65: ("Rain", "heavy rain"),
    66: ("Rain", "light freezing rain"),
    67: ("Rain", "heavy freezing rain"),
    71: ("Snow", "slight snow fall"),
    73: ("Snow", "moderate snow fall"),
    75: ("Snow", "heavy snow fall"),
    77: ("Snow", "snow grains"),
    80: ("Rain", "slight rain showers"),
    81: ("Rain", "moderate rain showers"),
    82: ("Rain", "violent rain showers"),
    85: ("Snow", "slight snow showers"),
    86: ("Snow", "heavy snow showers"),
    95: ("Thunderstorm", "thunderstorm"),
    96: ("Thunderstorm", "thunderstorm with slight hail"),
    99: ("Thunderstorm", "thunderstorm with heavy hail"),
}


class RowError(ValueError):
    """A row that fails its format's rules: the field at fault and why."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")


@dataclass(frozen=True)
class FileEnvelope:
    """What every document of one file shares: its id, format and when it was received."""

    file_id: str
    format: Format
    received_at: datetime

    def document(self, entity_id: str, observed_at: datetime, line: Line, **extra: Any) -> dict:
        return {
            "source": FILE_SOURCE,
            "endpoint": str(self.format),
            "entity_id": entity_id,
            "observed_at": observed_at,
            "fetched_at": self.received_at,
            "run_id": self.file_id,
            "schema_version": SCHEMA_VERSION,
            "payload": line.fields,
            "line": line.number,
            **extra,
        }

    def dead_letter(self, line: int, reason: str, payload: Any) -> dict:
        return {
            "source": FILE_SOURCE,
            "endpoint": str(self.format),
            "fetched_at": self.received_at,
            "run_id": self.file_id,
            "file_id": self.file_id,
            "line": line,
            "reason": printable(f"line {line}: {reason}", 2000),
            "payload": storable(payload),
        }

    def api_envelope(self) -> records.Envelope:
        return records.Envelope(FILE_SOURCE, str(self.format), self.received_at, self.file_id)


# ------------------------------------------------------------------------------------------- whose rows


def resolve_asset(given: str | None, name: str, configured: Iterable[str], symbols: dict[str, str]) -> str:
    """The configured asset a CoinGecko export is of: `given` (the upload's form field), else the one its name
    (`btc-usd-max.csv`) names by slug or by symbol (`symbols`: upper-case symbol -> slug); 422 otherwise."""
    assets = list(configured)
    if given:
        if given not in assets:
            raise Refused(422, f"asset {given!r} is not one of COINCAP_ASSETS ({', '.join(assets)})")
        return given
    parsed = coingecko_name(name)
    if parsed is None:
        raise Refused(
            422, "name the asset: give the form's asset field, or keep CoinGecko's file name (btc-usd-max.csv)"
        )
    symbol, currency = parsed
    if currency != "usd":
        raise Refused(422, f"the prices are in {currency.upper()}: the warehouse holds USD prices (export in USD)")
    found = symbol if symbol in assets else symbols.get(symbol.upper())
    if found is None or found not in assets:
        raise Refused(
            422, f"{symbol.upper()} is none of COINCAP_ASSETS ({', '.join(assets)}): give the form's asset field"
        )
    return found


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    central = math.acos(min(1.0, math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)))
    return 6371.0 * central


def nearest_location(lat: float, lon: float, locations: Iterable[Location]) -> Location | None:
    """The configured location nearest (lat, lon), if within LOCATION_MATCH_KM."""
    distances = sorted(((_km(lat, lon, loc.lat, loc.lon), loc.id, loc) for loc in locations), key=lambda d: d[:2])
    return distances[0][2] if distances and distances[0][0] <= LOCATION_MATCH_KM else None


def resolve_location(given: str | None, metadata: dict[str, str] | None, locations: list[Location]) -> str:
    """The configured location an Open-Meteo CSV is of: `given` (the form's field), else the one its coordinates
    match; 422 when neither names one, or when they disagree."""
    ids = [loc.id for loc in locations]
    coordinates = None
    if metadata is not None:
        try:
            coordinates = (float(metadata["latitude"]), float(metadata["longitude"]))
        except (KeyError, ValueError):
            raise Refused(422, "the location block's latitude and longitude are not numbers") from None
    if given:
        if given not in ids:
            raise Refused(422, f"location {given!r} is not one of OPENWEATHER_LOCATIONS ({', '.join(ids)})")
        chosen = next(loc for loc in locations if loc.id == given)
        if coordinates and _km(*coordinates, chosen.lat, chosen.lon) > LOCATION_MATCH_KM:
            raise Refused(422, f"the file's coordinates {coordinates} are not those of location {given!r}")
        return given
    if coordinates is None:
        raise Refused(422, "the file has no location block: give the form's location field")
    match = nearest_location(*coordinates, locations)
    if match is None:
        raise Refused(
            422,
            f"the file's coordinates {coordinates} match none of OPENWEATHER_LOCATIONS within {LOCATION_MATCH_KM:.0f} "
            "km: give the form's location field",
        )
    return match.id


# ------------------------------------------------------------------------------------------- the rows


def _money(fields: dict[str, str], name: str, required: bool) -> str | None:
    value = fields.get(name, "").strip()
    if not value:
        if required:
            raise RowError(name, "missing")
        return None
    if not fits_money(value):
        raise RowError(name, f"not a decimal that fits DECIMAL(38,18) ({printable(value, 40)!r})")
    return value


def coingecko_document(envelope: FileEnvelope, asset_id: str, line: Line) -> dict:
    """A CoinGecko export's row as a lake document; RowError names the field that fails."""
    fields = line.fields
    assert isinstance(fields, dict)
    if fields.get(""):
        raise RowError("row", "more cells than the header has columns")
    text = fields.get("snapped_at", "")
    try:
        observed_at = datetime.strptime(text, COINGECKO_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise RowError("snapped_at", f"not a time like 2013-04-28 00:00:00 UTC ({printable(text, 40)!r})") from None
    _money(fields, "price", required=True)
    for name in ("market_cap", "total_volume"):
        _money(fields, name, required=False)
    return envelope.document(asset_id, observed_at, line)


@dataclass(frozen=True)
class WeatherColumns:
    """What an Open-Meteo CSV's data header says: each column the warehouse takes, its target and conversion."""

    converters: dict[str, tuple[str, Callable[[float], float]]] = field(default_factory=dict)
    temperature: str = ""

    @classmethod
    def of(cls, columns: Iterable[str]) -> WeatherColumns:
        """422 for a variable the warehouse takes in a unit it does not know, or a header without temperature."""
        converters: dict[str, tuple[str, Callable[[float], float]]] = {}
        temperature = ""
        for column in columns:
            match = _COLUMN.match(column)
            if not match or match["variable"] not in OPEN_METEO_VARIABLES:
                continue  # a variable the warehouse has no column for: kept in the payload, not loaded
            target, units = OPEN_METEO_VARIABLES[match["variable"]]
            if match["unit"] not in units:
                known = ", ".join(units)
                raise Refused(422, f"the column {column!r} is in a unit not known (known: {known})")
            converters[column] = (target, units[match["unit"]])
            if match["variable"] == REQUIRED_VARIABLE:
                temperature = column
        if not temperature:
            raise Refused(422, f"the header of an Open-Meteo CSV's data lacks {REQUIRED_VARIABLE} (in °C or °F)")
        return cls(converters, temperature)


def _local_time(text: str, offset: timedelta) -> datetime:
    if text.isdigit():  # timeformat=unixtime: UTC already
        return datetime.fromtimestamp(int(text), tz=UTC)
    try:
        local = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise RowError("time", f"not a time like 2024-01-01T00:00 ({printable(text, 40)!r})") from None
    return (local - offset).replace(tzinfo=UTC)


def open_meteo_document(
    envelope: FileEnvelope, location_id: str, offset: timedelta, columns: WeatherColumns, line: Line
) -> dict:
    """An Open-Meteo CSV's row as a lake document with its `values` in the warehouse's units; RowError names the
    field that fails."""
    fields = line.fields
    assert isinstance(fields, dict)
    if fields.get(""):
        raise RowError("row", "more cells than the header has columns")
    if columns.temperature not in fields:
        raise RowError("row", f"in a section without {columns.temperature} (a daily one?): the warehouse holds hours")
    observed_at = _local_time(fields.get("time", ""), offset)
    values: dict[str, Any] = {}
    for column, (target, convert) in columns.converters.items():
        text = fields.get(column, "").strip()
        if text in ("", "NaN"):
            if column == columns.temperature:
                raise RowError(column, "missing")
            continue
        try:
            number = float(text)
        except ValueError:
            raise RowError(column, f"not a number ({printable(text, 40)!r})") from None
        if not math.isfinite(number):
            raise RowError(column, f"not a finite number ({printable(text, 40)!r})")
        values[target] = convert(number)
    code = values.pop("weather_code", None)
    if code is not None:
        if code not in WMO_CODES or not float(code).is_integer():
            raise RowError("weather_code", f"{code:g} is not a WMO weather code")
        values["condition"], values["description"] = WMO_CODES[int(code)]
    return envelope.document(location_id, observed_at, line, values=values)


def utc_offset(metadata: dict[str, str] | None) -> timedelta:
    """The file's `utc_offset_seconds` (0 without a location block: its times are then taken as UTC)."""
    if metadata is None:
        return timedelta(0)
    try:
        return timedelta(seconds=int(metadata["utc_offset_seconds"]))
    except (KeyError, ValueError):
        raise Refused(422, "the location block's utc_offset_seconds is not a whole number of seconds") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_line_batch(
    envelope: FileEnvelope,
    line: Line,
    asset_id: str | None,
    location_id: str | None,
    locations: list[Location],
) -> Batch:
    """A JSON line, a record or a response shaped like an API's, through the producer's rules: the documents for its
    API's collection and the dead letters of what fails; each carries the line's number."""
    text = line.fields
    assert isinstance(text, str)
    api = envelope.api_envelope()

    def letter(reason: str, payload: Any) -> Batch:
        return Batch("", [], [envelope.dead_letter(line.number, reason, payload)])

    try:
        record = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return letter(f"not a JSON record ({printable(str(exc), 120)})", text)
    if not isinstance(record, dict):
        return letter("not a JSON object", record)
    problem = unstorable(record)
    if problem is not None:
        return letter(problem, record)

    def where(coord: Any) -> str | None:
        lat: Any
        lon: Any
        if location_id:
            return location_id
        if isinstance(coord, dict):
            lat, lon = coord.get("lat"), coord.get("lon")
        elif isinstance(coord, list) and len(coord) == 2:  # the documentation's [lon, lat]
            lon, lat = coord
        else:
            return None
        if not (_number(lat) and _number(lon)):
            return None
        match = nearest_location(float(lat), float(lon), locations)
        return match.id if match else None

    batch: Batch
    if isinstance(record.get("data"), list) and "timestamp" in record:
        batch = records.coincap_assets(record, api)
    elif isinstance(record.get("data"), list) or ("priceUsd" in record and "time" in record):
        if asset_id is None:
            return letter("CoinCap history names no asset: give the form's asset field", record)
        batch = records.coincap_history(record if "data" in record else {"data": [record]}, asset_id, api)
    elif isinstance(record.get("list"), list) or (isinstance(record.get("main"), dict) and "aqi" in record["main"]):
        found = where(record.get("coord"))
        if found is None:
            return letter("an air-pollution record of no configured location: give the form's location field", record)
        batch = records.openweather_air(record if "list" in record else {"list": [record]}, found, api)
    elif "dt" in record and "main" in record:
        found = where(record.get("coord"))
        if found is None:
            return letter("a weather record of no configured location: give the form's location field", record)
        batch = records.openweather_weather(record, found, api)
    else:
        return letter("a record of none of the APIs' shapes (CoinCap assets or history, OpenWeather)", record)
    for document in batch.documents:
        document["line"] = line.number
    for dead in batch.dead_letters:
        dead.update(file_id=envelope.file_id, line=line.number, reason=f"line {line.number}: {dead['reason']}")
    return batch
