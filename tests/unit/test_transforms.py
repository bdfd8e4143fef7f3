"""The Spark transforms on tiny in-line DataFrames, compared with assertDataFrameEqual."""

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from spark import schemas
from spark import transforms as T

T0 = datetime(2026, 5, 1, 12, 0, 0)
T1 = datetime(2026, 5, 1, 12, 1, 0)
F0 = datetime(2026, 5, 1, 12, 5, 0)
F1 = datetime(2026, 5, 1, 12, 6, 0)


def raw(spark, schema, rows):
    """Lake documents as the connector hands them over; the corrupt-record column is null unless given."""
    return spark.createDataFrame([row + (None,) * (len(schema.fields) - len(row)) for row in rows], schema)


def asset_doc(_id, entity, observed, fetched, **payload):
    base = {"id": entity, "rank": "1", "symbol": "BTC", "name": "Bitcoin", "supply": "19800000.0000000000000000",
            "maxSupply": None, "marketCapUsd": "1.5", "volumeUsd24Hr": "2.5", "priceUsd": "100.10",
            "changePercent24Hr": "-1.25", "vwap24Hr": None, "explorer": ""}
    base.update(payload)
    return (_id, "coincap", "/assets", entity, observed, fetched, "r", 1, base)


def history_doc(_id, entity, observed, fetched, price):
    return (_id, "coincap", "/h", entity, observed, fetched, "r", 1, {"priceUsd": price, "time": None,
                                                                        "circulatingSupply": "5", "date": None})


def test_asset_rows_are_typed_exactly_and_bad_decimals_get_a_reason(spark):
    df = raw(spark, schemas.COINCAP_ASSETS, [
        asset_doc("a", "bitcoin", T0, F0),
        asset_doc("b", "bitcoin", T1, F0, priceUsd="1e", maxSupply="x"),
    ])
    rows = {r["_id"]: r for r in T.coincap_asset_rows(df).collect()}
    good, bad = rows["a"], rows["b"]
    assert (good.price_usd, good.change_percent_24h, good.rank, good.explorer) == (Decimal("100.10"), Decimal("-1.25"), 1, None)
    assert good.reason is None
    assert bad.reason == "priceUsd: missing or not a decimal; maxSupply: not a decimal"


def test_asset_prices_keep_one_row_per_instant_and_a_snapshot_wins(spark):
    snapshots = T.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [asset_doc("a", "bitcoin", T0, F0)]))
    history = T.coincap_history_rows(raw(spark, schemas.COINCAP_HISTORY, [
        history_doc("h1", "bitcoin", T0, F1, "99"),
        history_doc("h2", "bitcoin", T1, F0, "101"),
        history_doc("h3", "bitcoin", T1, F1, "102"),
    ]))
    expected = spark.createDataFrame(
        [("bitcoin", T0, Decimal("100.10"), Decimal("1.5"), Decimal("2.5"), Decimal("-1.25"), None, Decimal("19800000")),
         ("bitcoin", T1, Decimal("102"), None, None, None, None, None)],  # history fills only price_usd
        "asset_id string, observed_at timestamp, price_usd decimal(38,18), market_cap_usd decimal(38,18), "
        "volume_usd_24h decimal(38,18), change_percent_24h decimal(38,18), vwap_24h decimal(38,18), supply decimal(38,18)",
    )
    assertDataFrameEqual(T.asset_prices(T.valid(snapshots), T.valid(history)), expected)


def test_assets_are_taken_from_the_newest_snapshot(spark):
    snapshots = T.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [
        asset_doc("a", "bitcoin", T1, F0, rank="2"),
        asset_doc("b", "bitcoin", T0, F1, rank="1"),
    ]))
    result = T.assets(T.valid(snapshots)).collect()
    assert [(r.asset_id, r.rank, r.updated_at) for r in result] == [("bitcoin", 2, T1)]


def weather_doc(_id, observed, fetched, **over):
    payload = {"coord": {"lon": 2.35, "lat": 48.85}, "weather": [{"main": "Rain", "description": "light rain"}],
               "main": {"temp": 8.5, "feels_like": 6.0, "temp_min": 7.0, "temp_max": 9.0, "pressure": 1009.0, "humidity": 87.0},
               "visibility": 10000.0, "wind": {"speed": 4.1, "deg": 230.0, "gust": None}, "clouds": {"all": 90.0},
               "rain": {"1h": 0.42}, "snow": None, "sys": {"country": "FR"}, "name": "Paris", "dt": 0}
    payload.update(over)
    return (_id, "openweather", "/w", "paris", observed, fetched, "r", 1, payload)


def test_weather_rows_flatten_optional_fields_and_the_primary_condition(spark):
    df = raw(spark, schemas.OPENWEATHER_WEATHER, [weather_doc("w", T0, F0), weather_doc("x", T1, F0, weather=[])])
    rows = T.weather_rows(df)
    obs = T.weather_observations(T.valid(rows)).collect()
    assert len(obs) == 1
    o = obs[0]
    assert (o.temp_c, o.rain_1h_mm, o.snow_1h_mm, o.wind_gust_ms, o.condition) == (8.5, 0.42, None, None, "Rain")
    rejected = T.rejected(rows, "openweather_weather").collect()
    assert [(r._id, r.reason) for r in rejected] == [("x", "weather: no condition")]
    location = T.locations(T.valid(rows)).collect()[0]
    assert (location.location_id, location.name, location.country, location.lat) == ("paris", "Paris", "FR", 48.85)


@pytest.mark.parametrize("aqi, valid", [(2.0, True), (5.0, True), (2.5, False), (6.0, False), (None, False)])
def test_air_rows_accept_integral_aqi_from_1_to_5(spark, aqi, valid):
    doc = ("a", "openweather", "/air", "paris", T0, F0, "r", 1,
           {"main": {"aqi": aqi}, "components": {"co": 1.0, "no": 0.1, "no2": 2.0, "o3": 3.0, "so2": 0.5,
                                                 "pm2_5": 4.0, "pm10": 6.0, "nh3": 0.2}, "dt": 0})
    rows = T.air_rows(raw(spark, schemas.OPENWEATHER_AIR, [doc]))
    assert (T.valid(rows).count() == 1) is valid
    if valid:
        assert T.air_quality(T.valid(rows)).collect()[0].aqi == int(aqi)



def test_a_document_the_connector_could_not_fit_to_the_schema_is_rejected_with_a_reason(spark):
    good = asset_doc("a", "bitcoin", T0, F0)
    unfit = asset_doc("b", "ethereum", T0, F0) + ('{"payload": {"priceUsd": {"$numberDouble": "1.5"}}}',)
    rows = {r["_id"]: r for r in T.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [good, unfit])).collect()}
    assert rows["a"].reason is None
    assert rows["b"].reason == "document: a field does not have the type the job reads"
