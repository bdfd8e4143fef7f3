"""Files taken in, then loaded by the job as it loads the APIs' rows: into asset_prices (and the candles) and
weather_observations in the warehouse's units, each row marked `from_file`; an API's row always winning over a
file's; every row the job rejects dead-lettered with the file's id and line; and the file's status `loaded`."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from market_weather.intake import accept
from market_weather.job import lake_to_warehouse
from market_weather.lake import LakeWriter
from market_weather.producer.records import Envelope, coincap_history

FILES = Path(__file__).parent.parent / "fixtures" / "files"
LIMIT = 5_000_000
DAY = datetime(2013, 4, 28, tzinfo=UTC)


def context(settings, name: str) -> accept.Context:
    return accept.Context(
        name=name,
        via="upload",
        assets=tuple(settings.COINCAP_ASSETS),
        locations=tuple(settings.OPENWEATHER_LOCATIONS),
        symbols={"BTC": "bitcoin", "ETH": "ethereum"},
    )


def take(lake, tmp_path, settings, content: bytes, name: str) -> dict:
    accept.ensure_file_indexes(lake)
    stored = accept.receive(io.BytesIO(content), tmp_path / "store", LIMIT)
    return accept.take(lake, stored, context(settings, name), LIMIT)


def api_price(lake, asset: str, at: datetime, price: str) -> None:
    """A CoinCap history point, as the producer writes it."""
    envelope = Envelope("coincap", "history", at + timedelta(days=1), "api-run")
    point = {"priceUsd": price, "time": int(at.timestamp() * 1000), "date": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    batch = coincap_history({"data": [point]}, asset, envelope)
    assert batch.documents and not batch.dead_letters
    LakeWriter(lake).insert("coincap_history", batch.documents)


@pytest.fixture
def partly_bad(settings) -> bytes:
    """CoinGecko's export with a row the intake refuses (line 3) and one the job's rules refuse (line 5)."""
    lines = (FILES / "btc-usd-max.csv").read_text().splitlines()
    lines[2] = "2013-04-29 00:00:00 UTC,not-a-price,1586912245.0,0.0"
    lines[4] = "2013-05-01 00:00:00 UTC,0,1314977262.0,0.0"
    return ("\n".join(lines) + "\n").encode()


def test_a_partly_bad_file_loads_every_valid_row_and_dead_letters_the_rest_with_their_lines(
    settings, lake, pg, spark, tmp_path, partly_bad
):
    taken = take(lake, tmp_path, settings, partly_bad, "btc-usd-max.csv")
    assert taken["counts"]["in_lake"] == 5 and taken["counts"]["dead_lettered"] == 1

    lake_to_warehouse.run(spark, settings, run_id="files-1")

    rows = pg.execute(
        "SELECT observed_at, price_usd, market_cap_usd, volume_usd_24h, from_file FROM asset_prices "
        "WHERE asset_id = 'bitcoin' ORDER BY observed_at"
    ).fetchall()
    assert rows == [
        (DAY, Decimal("134.21"), Decimal("1488203117"), Decimal("0"), True),
        (DAY + timedelta(days=2), Decimal("137.52"), Decimal("1525840013"), Decimal("0"), True),
        (DAY + timedelta(days=4), Decimal("104.88"), Decimal("1164561309"), Decimal("0"), True),
        (DAY + timedelta(days=5), Decimal("92.37"), Decimal("1026114855"), Decimal("0"), True),
    ]
    daily = pg.execute(
        "SELECT bucket_start, close FROM asset_ohlc WHERE asset_id = 'bitcoin' AND interval = '1d' ORDER BY 1"
    ).fetchall()
    assert daily == [(at, price) for at, price, *_ in rows]

    letters = {d["line"]: d for d in lake.dead_letters.find({"file_id": taken["_id"]})}
    assert sorted(letters) == [3, 5]
    assert "price" in letters[3]["reason"] and "lake_collection" not in letters[3]
    assert letters[5]["reason"].endswith("payload.price: price_positive (> 0)")
    assert letters[5]["lake_collection"] == "coingecko_history"

    status = lake.files.find_one({"_id": taken["_id"]})
    assert status["status"] == "loaded" and status["loaded_at"] is not None
    assert status["counts"] | {} == {
        "rows": 6,
        "valid": 5,
        "dead_lettered": 2,
        "duplicates": 0,
        "in_lake": 5,
        "loaded": 4,
    }
    assert [e.split(":")[0] for e in status["errors"]] == ["line 3", "line 5"]


def test_an_api_row_wins_over_a_file_row_in_the_lake_in_one_window_and_in_the_warehouse_later(
    settings, lake, pg, spark, tmp_path
):
    api_price(lake, "bitcoin", DAY, "130.00")  # held before the file came: the file's row is a duplicate
    taken = take(lake, tmp_path, settings, (FILES / "btc-usd-max.csv").read_bytes(), "btc-usd-max.csv")
    assert taken["counts"]["duplicates"] == 1 and taken["counts"]["in_lake"] == 5
    api_price(lake, "bitcoin", DAY + timedelta(days=1), "140.00")  # the same window as the file's row
    lake_to_warehouse.run(spark, settings, run_id="files-2")

    def row(day: int) -> tuple:
        return pg.execute(
            "SELECT price_usd, market_cap_usd, from_file FROM asset_prices WHERE asset_id = 'bitcoin' "
            "AND observed_at = %s",
            [DAY + timedelta(days=day)],
        ).fetchone()

    assert row(0) == (Decimal("130"), None, False)
    assert row(1) == (Decimal("140"), None, False)
    assert row(2) == (Decimal("137.52"), Decimal("1525840013"), True)

    # Later: the API's point replaces the file's wholly.
    api_price(lake, "bitcoin", DAY + timedelta(days=2), "138.00")
    # A file's row at an API row's instant, landed after the intake looked (its file still being taken in), while
    # the API's row was loaded: it replaces nothing.
    lake.files.update_one({"_id": taken["_id"]}, {"$set": {"status": "received"}})
    late_row = lake.coingecko_history.find_one({"line": 4}, {"_id": 0})
    late_row |= {"observed_at": DAY, "line": 2, "payload": late_row["payload"] | {"price": "1.00"}}
    lake.coingecko_history.insert_one(late_row)
    lake_to_warehouse.run(spark, settings, run_id="files-3")
    assert row(2) == (Decimal("138"), None, False)
    assert row(0) == (Decimal("130"), None, False)
    assert pg.execute("SELECT count(*) FROM asset_prices WHERE from_file").fetchone()[0] == 3


def test_an_open_meteo_export_loads_in_the_warehouses_units_under_its_configured_location(
    settings, lake, pg, spark, tmp_path
):
    taken = take(lake, tmp_path, settings, (FILES / "open-meteo-paris-fahrenheit.csv").read_bytes(), "paris.csv")
    lake_to_warehouse.run(spark, settings, run_id="files-4")

    rows = pg.execute(
        "SELECT observed_at, temp_c, wind_speed_ms, rain_1h_mm, condition, from_file FROM weather_observations "
        "WHERE location_id = 'paris' ORDER BY observed_at"
    ).fetchall()
    lake_rows = sorted(lake.open_meteo_weather.find({"run_id": taken["_id"]}), key=lambda d: d["observed_at"])
    assert len(rows) == len(lake_rows) == taken["counts"]["in_lake"] > 0
    for (at, temp, wind, rain, condition, from_file), doc in zip(rows, lake_rows, strict=True):
        values = doc["values"]
        assert at == doc["observed_at"].replace(tzinfo=UTC) and from_file is True
        assert (temp, wind, rain, condition) == (
            values["temp_c"],
            values.get("wind_speed_ms"),
            values.get("rain_1h_mm"),
            values.get("condition"),
        )
    # Converted from °F: every temperature a plausible Paris winter's in °C.
    assert all(-15 < temp < 20 for _, temp, *_ in rows)
    paris = next(loc for loc in settings.OPENWEATHER_LOCATIONS if loc.id == "paris")
    assert pg.execute("SELECT name, lat, lon FROM locations WHERE location_id = 'paris'").fetchone() == (
        paris.name,
        paris.lat,
        paris.lon,
    )
    assert lake.files.find_one({"_id": taken["_id"]})["status"] == "loaded"


def test_a_file_of_rows_the_apis_hold_already_is_loaded_by_the_next_run_though_it_has_nothing_to_load(
    settings, lake, pg, spark, tmp_path
):
    for day in range(6):
        api_price(lake, "bitcoin", DAY + timedelta(days=day), "100.00")
    lake_to_warehouse.run(spark, settings, run_id="files-5")
    taken = take(lake, tmp_path, settings, (FILES / "btc-usd-max.csv").read_bytes(), "btc-usd-max.csv")
    assert taken["counts"]["duplicates"] == 6 and taken["counts"]["in_lake"] == 0

    summary = lake_to_warehouse.run(spark, settings, run_id="files-6")

    assert summary.rows_read == 0  # idle: nothing was written since the last load
    status = lake.files.find_one({"_id": taken["_id"]})
    assert status["status"] == "loaded" and status["counts"]["loaded"] == 0
    assert pg.execute("SELECT count(*) FROM asset_prices WHERE from_file").fetchone()[0] == 0
