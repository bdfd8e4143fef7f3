"""A file's rows as lake documents in the warehouse's units, or dead letters naming their line and field."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from market_weather.intake import rows
from market_weather.intake.formats import Format, Line, Refused, open_file
from market_weather.settings import Location
from tests.conftest import load_fixture

FILES = Path(__file__).parent.parent / "fixtures" / "files"
RECEIVED = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
PARIS = Location("paris", "Paris", 48.8566, 2.3522)
TOKYO = Location("tokyo", "Tokyo", 35.6762, 139.6503)
LOCATIONS = [PARIS, TOKYO]


def envelope(fmt: Format) -> rows.FileEnvelope:
    return rows.FileEnvelope("file-1", fmt, RECEIVED)


def read(name: str, as_name: str | None = None):
    return open_file(io.BytesIO((FILES / name).read_bytes()), as_name or name, 10_000_000)


def test_a_coingecko_row_becomes_a_lake_document_with_the_file_envelope():
    file = read("btc-usd-max.csv")
    first = next(file.rows)
    doc = rows.coingecko_document(envelope(Format.COINGECKO_CSV), "bitcoin", first)
    assert doc == {
        "source": "file",
        "endpoint": "coingecko_csv",
        "entity_id": "bitcoin",
        "observed_at": datetime(2013, 4, 28, tzinfo=UTC),
        "fetched_at": RECEIVED,
        "run_id": "file-1",
        "schema_version": 1,
        "payload": first.fields,
        "line": 2,
    }


@pytest.mark.parametrize(
    "change, where",
    [
        ({"price": ""}, "price: missing"),
        ({"price": "abc"}, "price: not a decimal"),
        ({"market_cap": "1e400"}, "market_cap: not a decimal that fits DECIMAL(38,18)"),
        ({"snapped_at": "28/04/2013"}, "snapped_at: not a time like 2013-04-28 00:00:00 UTC"),
        ({"": "7"}, "row: more cells than the header"),
    ],
)
def test_a_coingecko_row_that_breaks_a_rule_names_its_field(change, where):
    fields = {"snapped_at": "2013-04-28 00:00:00 UTC", "price": "134.21", "market_cap": "", "total_volume": "0"}
    with pytest.raises(rows.RowError) as caught:
        rows.coingecko_document(envelope(Format.COINGECKO_CSV), "bitcoin", Line(9, fields | change))
    assert str(caught.value).startswith(where)


def test_scientific_notation_and_empty_figures_are_coingecko_s_own_and_kept():
    fields = {"snapped_at": "2017-06-06 23:29:55 UTC", "price": "9.902880998164614e-05", "market_cap": ""}
    doc = rows.coingecko_document(envelope(Format.COINGECKO_CSV), "dogecoin", Line(3, fields | {"total_volume": "0"}))
    assert doc["observed_at"] == datetime(2017, 6, 6, 23, 29, 55, tzinfo=UTC)


def test_the_asset_comes_from_the_form_or_from_coingecko_s_file_name():
    configured, symbols = ["bitcoin", "ethereum"], {"BTC": "bitcoin", "ETH": "ethereum"}
    assert rows.resolve_asset(None, "btc-usd-max.csv", configured, symbols) == "bitcoin"
    assert rows.resolve_asset(None, "ETH-USD-90d.csv.gz", configured, symbols) == "ethereum"
    assert rows.resolve_asset("ethereum", "prices.csv", configured, symbols) == "ethereum"
    for given, name, words in [
        ("dogecoin", "x.csv", "'dogecoin' is not one of COINCAP_ASSETS (bitcoin, ethereum)"),
        (None, "prices.csv", "give the form's asset field"),
        (None, "btc-eur-max.csv", "the prices are in EUR"),
        (None, "doge-usd-max.csv", "DOGE is none of COINCAP_ASSETS"),
    ]:
        with pytest.raises(Refused) as caught:
            rows.resolve_asset(given, name, configured, symbols)
        assert caught.value.status == 422 and words in caught.value.message


def test_open_meteo_rows_are_converted_to_the_warehouse_s_units_at_utc():
    celsius, fahrenheit = read("open-meteo-paris-hourly.csv"), read("open-meteo-paris-fahrenheit.csv")
    docs = {}
    for name, file in (("c", celsius), ("f", fahrenheit)):
        location = rows.resolve_location(None, file.metadata, LOCATIONS)
        columns = rows.WeatherColumns.of(file.columns)
        docs[name] = [
            rows.open_meteo_document(
                envelope(Format.OPEN_METEO_CSV), location, rows.utc_offset(file.metadata), columns, line
            )
            for line in file.rows
        ]
    first = docs["c"][0]
    assert first["entity_id"] == "paris" and first["line"] == 5
    # 2024-01-01T00:00 at UTC+1 is 23:00 the day before, in UTC.
    assert first["observed_at"] == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert first["payload"]["temperature_2m (°C)"] == "8.4"
    assert first["values"] == {
        "temp_c": 8.4,
        "humidity_pct": 86.0,
        "pressure_hpa": 1008.2,
        "wind_speed_ms": pytest.approx(14.3 / 3.6),
        "wind_deg": 212.0,
        "clouds_pct": 100.0,
        "condition": "Rain",
        "description": "slight rain",
    }
    for c, f in zip(docs["c"], docs["f"], strict=False):  # the same hours, exported in °F, mp/h and inches
        assert c["observed_at"] == f["observed_at"]
        assert f["values"]["temp_c"] == pytest.approx(c["values"]["temp_c"], abs=0.06)
        assert f["values"]["wind_speed_ms"] == pytest.approx(c["values"]["wind_speed_ms"], abs=0.05)


def test_precipitation_is_kept_as_read_but_only_rain_fills_the_warehouse_s_rain():
    columns = rows.WeatherColumns.of(["time", "temperature_2m (°C)", "precipitation (mm)", "rain (inch)"])
    fields = {"time": "2024-01-01T00:00", "temperature_2m (°C)": "1.0", "precipitation (mm)": "3", "rain (inch)": "0.1"}
    doc = rows.open_meteo_document(envelope(Format.OPEN_METEO_CSV), "paris", timedelta(0), columns, Line(3, fields))
    assert doc["values"] == {"temp_c": 1.0, "rain_1h_mm": pytest.approx(2.54)}
    assert doc["payload"]["precipitation (mm)"] == "3"


@pytest.mark.parametrize(
    "change, where",
    [
        ({"temperature_2m (°C)": "NaN"}, "temperature_2m (°C): missing"),
        ({"temperature_2m (°C)": "warm"}, "temperature_2m (°C): not a number ('warm')"),
        ({"wind_speed_10m (km/h)": "inf"}, "wind_speed_10m (km/h): not a finite number"),
        ({"weather_code (wmo code)": "42"}, "weather_code: 42 is not a WMO weather code"),
        ({"time": "2024-01-01 00:00"}, "time: not a time like 2024-01-01T00:00"),
    ],
)
def test_an_open_meteo_row_that_breaks_a_rule_names_its_field(change, where):
    header = ["time", "temperature_2m (°C)", "wind_speed_10m (km/h)", "weather_code (wmo code)"]
    fields = {
        "time": "2024-01-01T00:00",
        "temperature_2m (°C)": "1",
        "wind_speed_10m (km/h)": "",
        "weather_code (wmo code)": "3",
    }
    with pytest.raises(rows.RowError) as caught:
        rows.open_meteo_document(
            envelope(Format.OPEN_METEO_CSV),
            "paris",
            timedelta(0),
            rows.WeatherColumns.of(header),
            Line(4, fields | change),
        )
    assert str(caught.value).startswith(where)


def test_an_open_meteo_header_in_an_unknown_unit_or_without_temperature_is_refused():
    for header, words in [
        (["time", "temperature_2m (K)"], "'temperature_2m (K)' is in a unit not known (known: °C, °F)"),
        (["time", "relative_humidity_2m (%)"], "lacks temperature_2m"),
    ]:
        with pytest.raises(Refused) as caught:
            rows.WeatherColumns.of(header)
        assert caught.value.status == 422 and words in caught.value.message


def test_the_location_comes_from_the_form_or_from_the_file_s_coordinates():
    grid_cell = {"latitude": "48.822495", "longitude": "2.2881355", "utc_offset_seconds": "3600"}
    assert rows.resolve_location(None, grid_cell, LOCATIONS) == "paris"
    assert rows.resolve_location("paris", grid_cell, LOCATIONS) == "paris"
    assert rows.resolve_location("tokyo", None, LOCATIONS) == "tokyo"
    for given, metadata, words in [
        (None, {"latitude": "51.5", "longitude": "-0.12"}, "match none of OPENWEATHER_LOCATIONS within 25 km"),
        ("tokyo", grid_cell, "are not those of location 'tokyo'"),
        ("berlin", None, "'berlin' is not one of OPENWEATHER_LOCATIONS (paris, tokyo)"),
        (None, None, "no location block: give the form's location field"),
    ]:
        with pytest.raises(Refused) as caught:
            rows.resolve_location(given, metadata, LOCATIONS)
        assert caught.value.status == 422 and words in caught.value.message


def jsonl(record, number: int = 7, asset: str | None = None, location: str | None = None):
    text = record if isinstance(record, str) else json.dumps(record)
    return rows.json_line_batch(envelope(Format.JSONL), Line(number, text), asset, location, LOCATIONS)


def test_json_lines_shaped_like_the_apis_go_to_the_apis_collections_with_their_line():
    assets = jsonl(load_fixture("coincap_v3_assets.json"))
    assert assets.collection == "coincap_assets" and len(assets.documents) == 2
    assert {d["source"] for d in assets.documents} == {"file"} and {d["line"] for d in assets.documents} == {7}
    history = load_fixture("coincap_v3_asset_history.json")
    point = jsonl(history["data"][0], asset="bitcoin")
    assert point.collection == "coincap_history" and point.documents[0]["entity_id"] == "bitcoin"
    air = jsonl(load_fixture("openweather_air_pollution.json"))
    assert air.collection == "openweather_air" and air.documents[0]["entity_id"] == "paris"
    weather = jsonl(load_fixture("openweather_current.json"))
    assert weather.collection == "openweather_weather" and weather.documents[0]["run_id"] == "file-1"


@pytest.mark.parametrize(
    "record, words",
    [
        ('{"priceUsd": "1", "time": NaN}', "not a JSON record"),
        ("[1, 2]", "not a JSON object"),
        ({"hello": "world"}, "none of the APIs' shapes"),
        ({"priceUsd": "1", "time": 1763805540000}, "CoinCap history names no asset"),
    ],
)
def test_a_json_line_that_is_not_an_api_record_is_a_dead_letter_with_its_line(record, words):
    batch = jsonl(record)
    (letter,) = batch.dead_letters
    assert batch.documents == []
    assert letter["reason"].startswith("line 7: ") and words in letter["reason"]
    assert letter["file_id"] == "file-1" and letter["line"] == 7


def test_a_json_line_s_bad_record_is_refused_by_the_api_rules_naming_the_field():
    air = load_fixture("openweather_air_pollution.json")
    air["list"][0]["main"]["aqi"] = "2"
    (letter,) = jsonl(air).dead_letters
    assert letter["reason"].startswith("line 7: main.aqi: ")
