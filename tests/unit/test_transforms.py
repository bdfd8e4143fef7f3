"""The Spark transforms on tiny in-line DataFrames, compared with assertDataFrameEqual."""

from datetime import datetime
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from market_weather.contract import LOADED_TABLES
from market_weather.job import schemas, transforms

T0 = datetime(2026, 5, 1, 12, 0, 0)
T1 = datetime(2026, 5, 1, 12, 1, 0)
F0 = datetime(2026, 5, 1, 12, 5, 0)
F1 = datetime(2026, 5, 1, 12, 6, 0)
PRICES_SCHEMA = (
    "asset_id string, observed_at timestamp, price_usd decimal(38,18), market_cap_usd decimal(38,18), "
    "volume_usd_24h decimal(38,18), change_percent_24h decimal(38,18), vwap_24h decimal(38,18), "
    "supply decimal(38,18), from_file boolean"
)


def raw(spark, schema, rows):
    """Lake documents as the connector hands them over; the corrupt-record column is null unless given."""
    return spark.createDataFrame([row + (None,) * (len(schema.fields) - len(row)) for row in rows], schema)


def asset_doc(_id, entity, observed, fetched, **payload):
    base = {
        "id": entity,
        "rank": "1",
        "symbol": "BTC",
        "name": "Bitcoin",
        "supply": "19800000.0000000000000000",
        "maxSupply": None,
        "marketCapUsd": "1.5",
        "volumeUsd24Hr": "2.5",
        "priceUsd": "100.10",
        "changePercent24Hr": "-1.25",
        "vwap24Hr": None,
        "explorer": "",
    }
    base.update(payload)
    return (_id, "coincap", "/assets", entity, observed, fetched, "r", 1, base)


def history_doc(_id, entity, observed, fetched, price):
    return (
        _id,
        "coincap",
        "/h",
        entity,
        observed,
        fetched,
        "r",
        1,
        {"priceUsd": price, "time": None, "circulatingSupply": "5", "date": None},
    )


def test_asset_rows_are_typed_exactly_and_bad_decimals_get_a_reason(spark):
    df = raw(
        spark,
        schemas.COINCAP_ASSETS,
        [
            asset_doc("a", "bitcoin", T0, F0),
            asset_doc("b", "bitcoin", T1, F0, priceUsd="1e", maxSupply="x"),
        ],
    )
    rows = {r["_id"]: r for r in transforms.coincap_asset_rows(df).collect()}
    good, bad = rows["a"], rows["b"]
    assert (good.price_usd, good.change_percent_24h, good.rank, good.explorer) == (
        Decimal("100.10"),
        Decimal("-1.25"),
        1,
        None,
    )
    assert good.reason is None
    assert bad.reason == "priceUsd: missing or not a decimal; maxSupply: not a decimal"


# The asset_prices row of `asset_doc("a", "bitcoin", T0, F0)`.
SNAPSHOT_PRICE_ROW = (
    "bitcoin",
    T0,
    Decimal("100.10"),
    Decimal("1.5"),
    Decimal("2.5"),
    Decimal("-1.25"),
    None,
    Decimal("19800000"),
    False,
)


def coingecko_doc(_id, entity, observed, fetched, price, market_cap="", total_volume=""):
    """A CoinGecko export's row as the intake lands it: the cells as read (an empty cell is an empty string)."""
    cells = {"snapped_at": "", "price": price, "market_cap": market_cap, "total_volume": total_volume}
    return (_id, "file", "coingecko_csv", entity, observed, fetched, "file-1", 1, cells)


def open_meteo_doc(_id, observed, fetched, **values):
    """An Open-Meteo export's row as the intake lands it: `values` in the warehouse's units, then its line."""
    converted: dict[str, object] = {
        "temp_c": 7.5,
        "humidity_pct": 80.0,
        "pressure_hpa": 1010.0,
        "wind_speed_ms": 3.0,
        "wind_deg": 200.0,
    }
    converted |= {"wind_gust_ms": 6.0, "clouds_pct": 90.0, "visibility_m": 24_000.0, "rain_1h_mm": 0.2}
    converted |= {"feels_like_c": 5.0, "condition": "Rain", "description": "slight rain"} | values
    return (_id, "file", "open_meteo_csv", "paris", observed, fetched, "file-2", 1, converted, None, 7)


def test_asset_prices_keep_one_row_per_instant_and_a_snapshot_wins(spark):
    snapshots = transforms.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [asset_doc("a", "bitcoin", T0, F0)]))
    history = transforms.coincap_history_rows(
        raw(
            spark,
            schemas.COINCAP_HISTORY,
            [
                history_doc("h1", "bitcoin", T0, F1, "99"),
                history_doc("h2", "bitcoin", T1, F0, "101"),
                history_doc("h3", "bitcoin", T1, F1, "102"),
            ],
        )
    )
    expected = spark.createDataFrame(
        [
            SNAPSHOT_PRICE_ROW,
            ("bitcoin", T1, Decimal("102"), None, None, None, None, None, False),
        ],  # history fills only price_usd
        PRICES_SCHEMA,
    )
    assertDataFrameEqual(transforms.asset_prices(transforms.valid(snapshots), transforms.valid(history)), expected)


def test_a_files_prices_fill_price_cap_and_volume_and_lose_to_any_api_row_at_their_instant(spark):
    snapshots = transforms.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [asset_doc("a", "bitcoin", T0, F0)]))
    history = transforms.coincap_history_rows(
        raw(spark, schemas.COINCAP_HISTORY, [history_doc("h", "bitcoin", T1, F0, "101")])
    )
    files = transforms.coingecko_rows(
        raw(
            spark,
            schemas.COINGECKO_HISTORY,
            [
                coingecko_doc("f0", "bitcoin", T0, F1, "1", "2", "3"),
                coingecko_doc("f1", "bitcoin", T1, F1, "1", "2", "3"),
                coingecko_doc("f2", "bitcoin", F0, F1, "97.5", "", " "),  # CoinGecko leaves early cells empty
                coingecko_doc("f3", "bitcoin", F1, F1, "97.5", "lots"),
            ],
        )
    )
    assert [(r._id, r.reason) for r in transforms.rejected(files, "coingecko_history").collect()] == [
        ("f3", "market_cap: not a decimal")
    ]
    expected = spark.createDataFrame(
        [
            SNAPSHOT_PRICE_ROW,
            ("bitcoin", T1, Decimal("101"), None, None, None, None, None, False),
            ("bitcoin", F0, Decimal("97.5"), None, None, None, None, None, True),
        ],
        PRICES_SCHEMA,
    )
    both = transforms.asset_prices(transforms.valid(snapshots), transforms.valid(history), transforms.valid(files))
    assertDataFrameEqual(both, expected)


def test_a_files_weather_fills_what_the_export_has_and_loses_to_the_apis_at_its_instant(spark):
    api = transforms.weather_rows(raw(spark, schemas.OPENWEATHER_WEATHER, [weather_doc("w", T0, F0)]))
    files = transforms.open_meteo_rows(
        raw(
            spark,
            schemas.OPEN_METEO_WEATHER,
            [
                open_meteo_doc("f0", T0, F1),
                open_meteo_doc("f1", T1, F1, rain_1h_mm=None, condition=None, description=None),
                open_meteo_doc("f2", F0, F1, temp_c=None),
                open_meteo_doc("f3", F1, F1, humidity_pct=101.0),
            ],
        )
    )
    assert {r._id: r.reason for r in transforms.rejected(files, "open_meteo_weather").collect()} == {
        "f2": "values.temp_c: missing",
        "f3": "values.humidity_pct: humidity_pct_percent (from 0 to 100)",
    }
    rows = {
        r.observed_at: r
        for r in transforms.weather_observations(transforms.valid(api), transforms.valid(files)).collect()
    }
    assert (rows[T0].temp_c, rows[T0].from_file) == (8.5, False)
    one = rows[T1].asDict()
    assert one == {
        "location_id": "paris",
        "observed_at": T1,
        "temp_c": 7.5,
        "feels_like_c": 5.0,
        "temp_min_c": None,
        "temp_max_c": None,
        "pressure_hpa": 1010.0,
        "humidity_pct": 80.0,
        "wind_speed_ms": 3.0,
        "wind_deg": 200.0,
        "wind_gust_ms": 6.0,
        "clouds_pct": 90.0,
        "visibility_m": 24_000.0,
        "rain_1h_mm": None,
        "snow_1h_mm": None,
        "condition": None,
        "description": None,
        "from_file": True,
    }
    assert sorted(rows) == [T0, T1]


def test_assets_are_taken_from_the_newest_snapshot(spark):
    snapshots = transforms.coincap_asset_rows(
        raw(
            spark,
            schemas.COINCAP_ASSETS,
            [
                asset_doc("a", "bitcoin", T1, F0, rank="2"),
                asset_doc("b", "bitcoin", T0, F1, rank="1"),
            ],
        )
    )
    result = transforms.assets(transforms.valid(snapshots)).collect()
    assert [(r.asset_id, r.rank, r.updated_at) for r in result] == [("bitcoin", 2, T1)]


def weather_doc(_id, observed, fetched, **over):
    payload = {
        "coord": {"lon": 2.35, "lat": 48.85},
        "weather": [{"main": "Rain", "description": "light rain"}],
        "main": {
            "temp": 8.5,
            "feels_like": 6.0,
            "temp_min": 7.0,
            "temp_max": 9.0,
            "pressure": 1009.0,
            "humidity": 87.0,
        },
        "visibility": 10000.0,
        "wind": {"speed": 4.1, "deg": 230.0, "gust": None},
        "clouds": {"all": 90.0},
        "rain": {"1h": 0.42},
        "snow": None,
        "sys": {"country": "FR"},
        "name": "Paris",
        "dt": 0,
    }
    payload.update(over)
    return (_id, "openweather", "/w", "paris", observed, fetched, "r", 1, payload)


def test_weather_rows_flatten_optional_fields_and_the_primary_condition(spark):
    df = raw(spark, schemas.OPENWEATHER_WEATHER, [weather_doc("w", T0, F0), weather_doc("x", T1, F0, weather=[])])
    rows = transforms.weather_rows(df)
    obs = transforms.weather_observations(transforms.valid(rows)).collect()
    assert len(obs) == 1
    o = obs[0]
    assert (o.temp_c, o.rain_1h_mm, o.snow_1h_mm, o.wind_gust_ms, o.condition) == (8.5, 0.42, None, None, "Rain")
    rejected = transforms.rejected(rows, "openweather_weather").collect()
    assert [(r._id, r.reason) for r in rejected] == [("x", "weather: no condition")]
    location = transforms.locations(transforms.valid(rows)).collect()[0]
    assert (location.location_id, location.name, location.country, location.lat) == ("paris", "Paris", "FR", 48.85)


def air_doc(_id, observed, fetched, aqi):
    components = {"co": 1.0, "no": 0.1, "no2": 2.0, "o3": 3.0, "so2": 0.5, "pm2_5": 4.0, "pm10": 6.0, "nh3": 0.2}
    return (
        _id,
        "openweather",
        "/air",
        "paris",
        observed,
        fetched,
        "r",
        1,
        {"main": {"aqi": aqi}, "components": components, "dt": 0},
    )


@pytest.mark.parametrize("aqi, valid", [(2.0, True), (5.0, True), (2.5, False), (6.0, False), (None, False)])
def test_air_rows_accept_integral_aqi_from_1_to_5(spark, aqi, valid):
    rows = transforms.air_rows(raw(spark, schemas.OPENWEATHER_AIR, [air_doc("a", T0, F0, aqi)]))
    assert (transforms.valid(rows).count() == 1) is valid
    if valid:
        assert transforms.air_quality(transforms.valid(rows)).collect()[0].aqi == int(aqi)


def test_a_document_the_connector_could_not_fit_to_the_schema_is_rejected_with_a_reason(spark):
    good = asset_doc("a", "bitcoin", T0, F0)
    unfit = asset_doc("b", "ethereum", T0, F0) + ('{"payload": {"priceUsd": {"$numberDouble": "1.5"}}}',)
    rows = {
        r["_id"]: r for r in transforms.coincap_asset_rows(raw(spark, schemas.COINCAP_ASSETS, [good, unfit])).collect()
    }
    assert rows["a"].reason is None
    assert rows["b"].reason == "document: a field does not have the type the job reads"


def raw_frames(spark) -> dict:
    """One document per collection, plus one unfit asset: every output of `to_warehouse` gets rows."""
    return {
        "coincap_assets": raw(
            spark,
            schemas.COINCAP_ASSETS,
            [asset_doc("a", "bitcoin", T0, F0), asset_doc("b", "ethereum", T0, F0, priceUsd="n/a")],
        ),
        "coincap_history": raw(spark, schemas.COINCAP_HISTORY, [history_doc("h", "bitcoin", T1, F0, "101")]),
        "openweather_weather": raw(spark, schemas.OPENWEATHER_WEATHER, [weather_doc("w", T0, F0)]),
        "openweather_air": raw(spark, schemas.OPENWEATHER_AIR, [air_doc("q", T0, F0, 2.0)]),
    }


def test_raw_frames_become_the_warehouse_tables_and_the_rejects(spark):
    """One document per collection, one of them unfit: every table is filled, the unfit one is rejected."""
    outputs = transforms.to_warehouse(raw_frames(spark))

    assert {name: df.columns for name, df in outputs.tables.items()} == {t.name: list(t.columns) for t in LOADED_TABLES}
    assert outputs.counts() == (5, 1), "the five documents read, the unfit one among them rejected"
    assertDataFrameEqual(
        outputs.rejected,
        spark.createDataFrame(
            [("coincap_assets", "b", "ethereum", "priceUsd: missing or not a decimal")],
            "collection string, _id string, entity_id string, reason string",
        ),
    )
    assertDataFrameEqual(
        outputs.tables["asset_prices"],
        spark.createDataFrame(
            [
                SNAPSHOT_PRICE_ROW,
                ("bitcoin", T1, Decimal("101"), None, None, None, None, None, False),
            ],
            PRICES_SCHEMA,
        ),
    )
    assertDataFrameEqual(
        outputs.tables["locations"],
        spark.createDataFrame(
            [("paris", "Paris", "FR", 48.85, 2.35)],
            "location_id string, name string, country string, lat double, lon double",
        ),
    )
    assert [r.asset_id for r in outputs.tables["assets"].collect()] == ["bitcoin"]
    assert [(r.location_id, r.temp_c) for r in outputs.tables["weather_observations"].collect()] == [("paris", 8.5)]
    assert [(r.location_id, r.aqi) for r in outputs.tables["air_quality"].collect()] == [("paris", 2)]


def test_a_figure_written_too_finely_to_cast_is_rejected_without_failing_the_job(spark):
    """Cast, 5e-2147483647 would fail the whole job (BigInteger overflow) and 1e-100000000 would take minutes."""
    docs = [history_doc(i, "bitcoin", T0, F0, price) for i, price in (("a", "5e-2147483647"), ("b", "1e-100000000"))]
    rows = transforms.coincap_history_rows(raw(spark, schemas.COINCAP_HISTORY, docs)).collect()
    assert [(r._id, r.reason) for r in rows] == [(i, "priceUsd: missing or not a decimal") for i in ("a", "b")]
