"""The whole pipeline on real services: simulated sources -> SecantusDB lake -> Spark -> PostgreSQL.

Expected warehouse values are computed here, independently, straight from the lake payloads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bson import ObjectId

from market_weather.contract import FETCHED_AT
from market_weather.job import lake_to_warehouse, loader
from market_weather.producer import source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap, SimulatedOpenWeather
from tests.integration.conftest import table_counts

real_in_parts = loader.in_parts

NOW = datetime(2026, 11, 20, 15, 37, 12, tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def fill_lake(settings, writer, now: datetime = NOW) -> None:
    """Snapshots, three hours of m1 history, weather at several times and a day of air history."""
    coincap = SimulatedCoinCap(seed=7, clock=lambda: now)
    assets = settings.COINCAP_ASSETS
    source_to_lake.fetch_coincap(coincap, writer, assets, "test-run")
    source_to_lake.backfill_coincap(coincap, writer, assets, now - timedelta(hours=3), now, "m1", "test-run")
    for minutes_ago in (0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220):
        weather = SimulatedOpenWeather(seed=7, clock=clock_at(now - timedelta(minutes=minutes_ago)))
        source_to_lake.fetch_openweather(weather, writer, settings.OPENWEATHER_LOCATIONS, "test-run")
    source_to_lake.backfill_openweather(
        SimulatedOpenWeather(seed=7), writer, settings.OPENWEATHER_LOCATIONS, now - timedelta(days=1), now, "test-run"
    )


def expected_prices(lake, where: dict | None = None) -> dict:
    prices = {}
    for doc in lake.coincap_history.find(where or {}):
        prices[(doc["entity_id"], utc(doc["observed_at"]))] = Decimal(doc["payload"]["priceUsd"])
    for doc in lake.coincap_assets.find(where or {}):  # a snapshot wins over a history point at the same instant
        prices[(doc["entity_id"], utc(doc["observed_at"]))] = Decimal(doc["payload"]["priceUsd"])
    return prices


def bucket_of(moment: datetime, interval: str) -> datetime:
    if interval == "1m":
        return moment.replace(second=0, microsecond=0)
    if interval == "1h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def expected_ohlc(prices: dict) -> dict:
    points = defaultdict(list)
    for (asset, moment), price in prices.items():
        for interval in ("1m", "1h", "1d"):
            points[(asset, interval, bucket_of(moment, interval))].append((moment, price))
    out = {}
    for key, series in points.items():
        series.sort()
        values = [p for _, p in series]
        out[key] = (series[0][1], max(values), min(values), series[-1][1], len(series))
    return out


def assert_warehouse_matches_the_lake(pg, lake) -> None:
    """Every price in the warehouse as the lake holds it, and every candle as computed from them."""
    prices = expected_prices(lake)
    stored = {(a, t): p for a, t, p in pg.execute("SELECT asset_id, observed_at, price_usd FROM asset_prices")}
    assert stored == prices
    ohlc = {
        (a, i, b): (o, h, lo, c, n)
        for a, i, b, o, h, lo, c, n in pg.execute(
            "SELECT asset_id, interval, bucket_start, open, high, low, close, points FROM asset_ohlc"
        )
    }
    assert ohlc == expected_ohlc(prices)


def test_full_cycle_matches_values_computed_from_the_lake(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)

    summary = lake_to_warehouse.run(spark, settings, run_id="cycle-1")

    assert summary.status == "success"
    assert summary.rows_rejected == 0
    prices = expected_prices(lake)
    stored = {(a, t): p for a, t, p in pg.execute("SELECT asset_id, observed_at, price_usd FROM asset_prices")}
    assert stored == prices

    snapshot = lake.coincap_assets.find_one({"entity_id": "bitcoin"})["payload"]
    row = pg.execute(
        "SELECT market_cap_usd, volume_usd_24h, change_percent_24h, vwap_24h, supply FROM asset_prices "
        "WHERE asset_id = 'bitcoin' AND market_cap_usd IS NOT NULL"
    ).fetchone()
    assert row == tuple(
        Decimal(snapshot[k]) for k in ("marketCapUsd", "volumeUsd24Hr", "changePercent24Hr", "vwap24Hr", "supply")
    )

    ohlc = {
        (a, i, b): (o, h, lo, c, n)
        for a, i, b, o, h, lo, c, n in pg.execute(
            "SELECT asset_id, interval, bucket_start, open, high, low, close, points FROM asset_ohlc"
        )
    }
    assert ohlc == expected_ohlc(prices)

    ethereum = pg.execute("SELECT symbol, name, rank, max_supply FROM assets WHERE asset_id = 'ethereum'").fetchone()
    assert ethereum == (
        "ETH",
        "Ethereum",
        int(lake.coincap_assets.find_one({"entity_id": "ethereum"})["payload"]["rank"]),
        None,
    )

    weather = {(doc["entity_id"], utc(doc["observed_at"])): doc["payload"] for doc in lake.openweather_weather.find()}
    rows = pg.execute(
        "SELECT location_id, observed_at, temp_c, humidity_pct, wind_gust_ms, rain_1h_mm, snow_1h_mm, condition "
        "FROM weather_observations"
    ).fetchall()
    assert len(rows) == len(weather) == 24
    for location_id, observed_at, temp, humidity, gust, rain, snow, condition in rows:
        payload = weather[(location_id, observed_at)]
        assert temp == payload["main"]["temp"]
        assert humidity == payload["main"]["humidity"]
        assert gust == payload["wind"].get("gust")
        assert rain == payload.get("rain", {}).get("1h")
        assert snow == payload.get("snow", {}).get("1h")
        assert condition == payload["weather"][0]["main"]
    assert any(r[4] is not None for r in rows) and any(r[4] is None for r in rows), "gust is sometimes absent"

    air = {(doc["entity_id"], utc(doc["observed_at"])): doc["payload"] for doc in lake.openweather_air.find()}
    air_rows = pg.execute("SELECT location_id, observed_at, aqi, pm2_5, no2 FROM air_quality").fetchall()
    assert len(air_rows) == len(air) >= 48
    for location_id, observed_at, aqi, pm2_5, no2 in air_rows:
        payload = air[(location_id, observed_at)]
        assert (aqi, pm2_5, no2) == (
            payload["main"]["aqi"],
            payload["components"]["pm2_5"],
            payload["components"]["no2"],
        )

    locations = dict(pg.execute("SELECT location_id, name FROM locations").fetchall())
    assert locations == {"paris": "Paris", "tokyo": "Tokyo"}

    run = pg.execute(
        "SELECT status, rows_read, rows_written, watermark_to FROM etl_runs WHERE run_id = 'cycle-1'"
    ).fetchone()
    last_written = max(
        d["_id"].generation_time
        for c in ("coincap_assets", "coincap_history", "openweather_weather", "openweather_air")
        for d in lake[c].find({}, {"_id": 1})
    )
    assert run[0] == "success"
    assert run[1] == sum(
        lake[c].count_documents({})
        for c in ("coincap_assets", "coincap_history", "openweather_weather", "openweather_air")
    )
    assert run[2] == sum(table_counts(pg).values())
    # The watermark is the run's own clock, past every document it read.
    assert last_written < run[3] <= datetime.now(UTC)


def test_a_large_window_is_fetched_in_parts_and_loads_every_row_once(settings, lake, writer, pg, spark, monkeypatch):
    """A window of more documents than PART_ROWS reaches the warehouse in parts (a Spark Connect server's driver
    holds a part, not the window): each row once, the same values and candles as computed from the lake."""
    fill_lake(settings, writer)
    monkeypatch.setattr(loader, "PART_ROWS", 100)
    split: list[int] = []

    def in_parts(df, parts: int):
        split.append(parts)
        return real_in_parts(df, parts)

    monkeypatch.setattr(loader, "in_parts", in_parts)

    summary = lake_to_warehouse.run(spark, settings, run_id="in-parts")

    assert summary.status == "success" and summary.rows_read > 500
    assert split and all(parts == -(-summary.rows_read // 100) for parts in split), "every table fetched in parts"
    assert_warehouse_matches_the_lake(pg, lake)
    weather_keys = {(d["entity_id"], utc(d["observed_at"])) for d in lake.openweather_weather.find()}
    assert pg.execute("SELECT count(*) FROM weather_observations").fetchone()[0] == len(weather_keys)


def test_second_run_with_nothing_new_is_idle_and_changes_nothing(settings, writer, pg, spark):
    fill_lake(settings, writer)
    first = lake_to_warehouse.run(spark, settings, run_id="first")
    before = table_counts(pg)

    again = lake_to_warehouse.run(spark, settings, run_id="second")

    assert again.status == "success" and again.rows_read == 0 and again.rows_written == 0
    assert table_counts(pg) == before
    assert again.watermark_to == first.watermark_to


def test_rereading_the_late_write_window_rewrites_nothing(settings, writer, pg, spark):
    fill_lake(settings, writer)
    first = lake_to_warehouse.run(spark, settings, run_id="first")
    before = table_counts(pg)
    snapshot = {t: sorted(pg.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in before}
    # As if the first run had counted one document fewer in its late-write window: the next reads it again.
    pg.execute("UPDATE etl_runs SET tail_docs = tail_docs - 1 WHERE run_id = 'first'")

    again = lake_to_warehouse.run(spark, settings, run_id="second")

    assert again.rows_read == first.rows_read > 0, "the window (all of the lake, written seconds ago) was read again"
    assert again.rows_written == 0
    assert {t: sorted(pg.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in before} == snapshot
    assert lake_to_warehouse.run(spark, settings, run_id="third").rows_read == 0, "then idle again"


def test_a_document_written_after_a_run_looked_is_loaded_by_the_next(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    first = lake_to_warehouse.run(spark, settings, run_id="first")
    assert first.watermark_to is not None
    # A write stamped before the first run's cut-off that became visible only after that run had read.
    stamped = datetime.fromisoformat(first.watermark_to) - timedelta(seconds=5)
    observed = NOW - timedelta(days=2)
    writer.insert(
        "coincap_history",
        [
            {
                "_id": ObjectId(ObjectId.from_datetime(stamped).binary[:4] + ObjectId().binary[4:]),
                "source": "coincap",
                "endpoint": "/assets/bitcoin/history",
                "entity_id": "bitcoin",
                "observed_at": observed,
                "fetched_at": stamped,
                "run_id": "slow-write",
                "schema_version": 1,
                "payload": {"priceUsd": "12345.5", "time": int(observed.timestamp() * 1000)},
            }
        ],
    )

    second = lake_to_warehouse.run(spark, settings, run_id="second")
    assert pg.execute(
        "SELECT price_usd FROM asset_prices WHERE asset_id = 'bitcoin' AND observed_at = %s", [observed]
    ).fetchone() == (Decimal("12345.5"),)
    assert second.rows_read > 1 and second.rows_written >= 1, "its late-write window was read again"
    assert lake_to_warehouse.run(spark, settings, run_id="third").rows_read == 0, "then idle again"


def test_a_load_after_a_large_backfill_reads_only_what_is_new(settings, lake, writer, pg, spark):
    """What a backfill wrote is read once, by the load after it: the next load costs the new documents."""
    fill_lake(settings, writer)
    backfilled = lake_to_warehouse.run(spark, settings, run_id="backfill-load")
    assert backfilled.rows_read > 600
    time.sleep(1)  # the next documents are written in a later second than the cut-off
    coincap = SimulatedCoinCap(seed=8, clock=lambda: NOW + timedelta(minutes=1))
    source_to_lake.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, "after-backfill")

    after = lake_to_warehouse.run(spark, settings, run_id="after")

    assert after.rows_read == len(settings.COINCAP_ASSETS) == 3
    assert pg.execute("SELECT rows_read FROM etl_runs WHERE run_id = 'after'").fetchone() == (3,)


def test_a_document_fetched_in_the_future_is_dead_lettered_and_stalls_nothing(settings, lake, writer, pg, spark):
    """A wrong clock or a hand edit: fetched_at in 2099, a string, or missing. Each is dead-lettered with
    its reason, and a valid document written afterwards still loads."""
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="before")
    snapshot = lake.coincap_assets.find_one({}, {"_id": 0})
    odd = [
        {**snapshot, "observed_at": NOW + timedelta(minutes=m), "run_id": "odd", FETCHED_AT: fetched}
        for m, fetched in ((1, datetime(2099, 1, 1, tzinfo=UTC)), (2, "2026-11-20T15:00:00Z"), (3, None))
    ]
    del odd[2][FETCHED_AT]
    writer.insert("coincap_assets", odd)
    first = lake_to_warehouse.run(spark, settings, run_id="with-odd")
    assert first.rows_rejected == 3
    reasons = [letter["reason"] for letter in lake.dead_letters.find({"run_id": "with-odd"})]
    assert any("more than 5 minutes after the job's clock" in reason for reason in reasons), reasons
    assert sum("fetched_at: missing or not a date" in reason for reason in reasons) == 2, reasons

    time.sleep(1)
    valid = {**snapshot, "observed_at": NOW + timedelta(minutes=4), "run_id": "valid", FETCHED_AT: datetime.now(UTC)}
    writer.insert("coincap_assets", [valid])
    later = lake_to_warehouse.run(spark, settings, run_id="after-odd")
    assert later.rows_read == 1 and later.rows_rejected == 0
    assert pg.execute(
        "SELECT count(*) FROM asset_prices WHERE asset_id = %s AND observed_at = %s",
        [snapshot["entity_id"], valid["observed_at"]],
    ).fetchone() == (1,)


def test_reingesting_the_same_data_and_rerunning_adds_no_rows(settings, writer, pg, spark):
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="first")
    before = table_counts(pg)

    fill_lake(settings, writer)  # same responses again: every document is a duplicate
    rerun = lake_to_warehouse.run(spark, settings, run_id="second")

    assert table_counts(pg) == before
    assert rerun.rows_written == 0


def test_late_point_recomputes_its_ohlc_bucket(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="first")
    # History starts at NOW - 3 h (12:37), so the 12:00 bucket holds no point before 12:38.
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    open_before, low_before, points_before = pg.execute(
        "SELECT open, low, points FROM asset_ohlc WHERE asset_id = 'bitcoin' AND interval = '1h' AND bucket_start = %s",
        [hour],
    ).fetchone()

    # A point that arrives late: earlier than every point of that hour, and lower than all of them.
    late_price = (low_before - 100).quantize(Decimal("0.0001"))
    late_time = hour + timedelta(minutes=5)
    writer.insert(
        "coincap_history",
        [
            {
                "source": "coincap",
                "endpoint": "/assets/bitcoin/history",
                "entity_id": "bitcoin",
                "observed_at": late_time,
                "fetched_at": datetime.now(UTC),
                "run_id": "late",
                "schema_version": 1,
                "payload": {"priceUsd": str(late_price), "time": int(late_time.timestamp() * 1000)},
            }
        ],
    )
    lake_to_warehouse.run(spark, settings, run_id="second")

    open_after, low_after, points_after = pg.execute(
        "SELECT open, low, points FROM asset_ohlc WHERE asset_id = 'bitcoin' AND interval = '1h' AND bucket_start = %s",
        [hour],
    ).fetchone()
    assert (open_after, low_after, points_after) == (late_price, late_price, points_before + 1)
    assert open_before != late_price
    day = pg.execute(
        "SELECT low, points FROM asset_ohlc WHERE asset_id = 'bitcoin' AND interval = '1d' AND bucket_start = %s",
        [hour.replace(hour=0)],
    ).fetchone()
    assert day[0] <= late_price


def test_malformed_records_go_to_dead_letters_and_the_rest_loads(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    # A document that passed into the lake but cannot be typed: its price is not a number.
    writer.insert(
        "coincap_assets",
        [
            {
                "source": "coincap",
                "endpoint": "/assets",
                "entity_id": "ethereum",
                "observed_at": NOW + timedelta(minutes=5),
                "fetched_at": datetime.now(UTC),
                "run_id": "bad",
                "schema_version": 1,
                "payload": {
                    "id": "ethereum",
                    "rank": "2",
                    "symbol": "ETH",
                    "name": "Ethereum",
                    "supply": "1",
                    "priceUsd": "not-a-price",
                },
            }
        ],
    )

    summary = lake_to_warehouse.run(spark, settings, run_id="with-bad")

    assert summary.status == "success" and summary.rows_rejected == 1
    letter = lake.dead_letters.find_one({"run_id": "with-bad"})
    assert "priceUsd" in letter["reason"] and letter["payload"]["priceUsd"] == "not-a-price"
    assert (
        pg.execute("SELECT count(*) FROM asset_prices WHERE observed_at = %s", [NOW + timedelta(minutes=5)]).fetchone()[
            0
        ]
        == 0
    )
    assert table_counts(pg)["asset_prices"] == len(expected_prices(lake, {"run_id": {"$ne": "bad"}}))

    # A later run re-reads the bad document (its late-write window changed, as if a late write landed
    # there): it is not dead-lettered twice.
    pg.execute("UPDATE etl_runs SET tail_docs = tail_docs - 1 WHERE run_id = 'with-bad'")
    source_to_lake.fetch_coincap(
        SimulatedCoinCap(seed=7, clock=lambda: NOW + timedelta(minutes=6)), writer, ["bitcoin"], "later"
    )
    again = lake_to_warehouse.run(spark, settings, run_id="again")
    assert again.rows_read > 1 and again.rows_rejected == 1
    assert lake.dead_letters.count_documents({"lake_collection": "coincap_assets"}) == 1, "dead-lettered once"


def test_failed_load_keeps_the_watermark_and_writes_nothing(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="good")
    counts = table_counts(pg)
    watermark = pg.execute("SELECT watermark_to FROM etl_runs WHERE run_id = 'good'").fetchone()[0]

    fill_lake(settings, writer, now=NOW + timedelta(hours=2))
    # The last table merged rejects every new row, after the others were merged in the same transaction.
    pg.execute("ALTER TABLE air_quality ADD CONSTRAINT refuse_new_rows CHECK (pm10 < 0) NOT VALID")
    try:
        with pytest.raises(Exception, match="refuse_new_rows"):
            lake_to_warehouse.run(spark, settings, run_id="broken")
    finally:
        pg.execute("ALTER TABLE air_quality DROP CONSTRAINT refuse_new_rows")

    status, message, watermark_to = pg.execute(
        "SELECT status, message, watermark_to FROM etl_runs WHERE run_id = 'broken'"
    ).fetchone()
    assert status == "failed" and "refuse_new_rows" in message and watermark_to is None
    assert table_counts(pg) == counts, "no table took part of the failed run"
    assert pg.execute("SELECT max(watermark_to) FROM etl_runs WHERE status = 'success'").fetchone()[0] == watermark
    assert pg.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'").fetchone()[0] == 0, (
        "staging tables are cleaned up"
    )

    recovered = lake_to_warehouse.run(spark, settings, run_id="recovered")
    assert recovered.status == "success"
    assert table_counts(pg)["asset_prices"] == len(expected_prices(lake))


def test_a_location_known_only_from_air_data_is_listed_as_configured(settings, writer, pg, spark):
    source_to_lake.backfill_openweather(
        SimulatedOpenWeather(seed=7), writer, settings.OPENWEATHER_LOCATIONS, NOW - timedelta(hours=6), NOW, "air-only"
    )
    lake_to_warehouse.run(spark, settings, run_id="air-only")
    configured = sorted(settings.OPENWEATHER_LOCATIONS, key=lambda loc: loc.id)
    assert pg.execute("SELECT location_id, name, country, lat, lon FROM locations ORDER BY 1").fetchall() == [
        (loc.id, loc.name, None, loc.lat, loc.lon) for loc in configured
    ]
    unmatched = pg.execute(
        "SELECT count(*) FROM air_quality a LEFT JOIN locations l USING (location_id) WHERE l.location_id IS NULL"
    ).fetchone()[0]
    assert unmatched == 0 and pg.execute("SELECT count(*) FROM air_quality").fetchone()[0] > 0

    # Weather names the location from the API afterwards, country included.
    source_to_lake.fetch_openweather(
        SimulatedOpenWeather(seed=7, clock=lambda: NOW), writer, settings.OPENWEATHER_LOCATIONS, "w"
    )
    lake_to_warehouse.run(spark, settings, run_id="with-weather")
    assert pg.execute("SELECT count(*) FROM locations WHERE country IS NOT NULL").fetchone()[0] == len(configured)


def test_documents_of_the_wrong_shape_written_around_the_producer_do_not_stall_the_load(
    settings, lake, writer, pg, spark
):
    """Written by hand, say, a number as a string and a scalar where an object belongs: each is
    dead-lettered with a reason, the rest loads, and the watermark moves on."""
    fill_lake(settings, writer)
    weather = lake.openweather_weather.find_one({}, {"_id": 0})
    unfit = []
    for minutes, change in ((7, {"main": {**weather["payload"]["main"], "temp": "warm"}}), (8, {"wind": 4.2})):
        doc = {
            **weather,
            "observed_at": NOW + timedelta(minutes=minutes),
            "fetched_at": datetime.now(UTC),
            "run_id": "by-hand",
            "payload": {**weather["payload"], **change},
        }
        unfit.append(doc)
    writer.insert("openweather_weather", unfit)

    summary = lake_to_warehouse.run(spark, settings, run_id="with-unfit")

    assert summary.status == "success" and summary.rows_rejected == 2
    letters = list(lake.dead_letters.find({"run_id": "with-unfit"}))
    assert len(letters) == 2 and all("does not have the type the job reads" in letter["reason"] for letter in letters)
    assert pg.execute("SELECT count(*) FROM weather_observations WHERE observed_at > %s", [NOW]).fetchone()[0] == 0
    assert table_counts(pg)["weather_observations"] == lake.openweather_weather.count_documents(
        {"run_id": {"$ne": "by-hand"}}
    )
    assert summary.watermark_to is not None
    past_them = ObjectId.from_datetime(datetime.fromisoformat(summary.watermark_to))
    assert lake.openweather_weather.count_documents({"run_id": "by-hand", "_id": {"$lt": past_them}}) == 2
