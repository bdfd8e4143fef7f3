"""Live-shaped data, fetched by the real clients from a local stand-in for the APIs, flows through
the lake and the Spark job like simulated data, and the key is stored nowhere."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal

import pytest
from bson import json_util

from market_weather.job import lake_to_warehouse
from tests.conftest import load_fixture, run_module

KEY = "live-key-9d8c7b6a"


@pytest.fixture
def live_env(settings, httpserver):
    httpserver.expect_request("/v3/assets", headers={"Authorization": f"Bearer {KEY}"}).respond_with_json(
        load_fixture("coincap_v3_assets.json")
    )
    httpserver.expect_request("/v3/assets/bitcoin/history").respond_with_json(
        load_fixture("coincap_v3_asset_history.json")
    )
    httpserver.expect_request(
        "/data/2.5/weather", query_string={"lat": "48.8566", "lon": "2.3522", "units": "metric", "appid": KEY}
    ).respond_with_json(load_fixture("openweather_current.json"))
    httpserver.expect_request("/data/2.5/air_pollution").respond_with_json(
        load_fixture("openweather_air_pollution.json")
    )
    httpserver.expect_request("/data/2.5/air_pollution/history").respond_with_json(
        load_fixture("openweather_air_pollution_history.json")
    )
    return {
        **os.environ,
        "LOCAL_STATE_DIR": str(settings.LOCAL_STATE_DIR),
        "POSTGRES_PORT": str(settings.POSTGRES_PORT),
        "POSTGRES_PASSWORD": settings.POSTGRES_PASSWORD.get_secret_value(),
        "MONGO_URI": settings.MONGO_URI,
        "PRODUCER_SOURCE": "auto",
        "COINCAP_API_KEY": KEY,
        "COINCAP_BASE_URL": httpserver.url_for("/v3"),
        "COINCAP_ASSETS": "bitcoin,ethereum",
        "OPENWEATHER_API_KEY": KEY,
        "OPENWEATHER_BASE_URL": httpserver.url_for(""),
        "OPENWEATHER_LOCATIONS": "paris:Paris:48.8566:2.3522",
    }


def producer(env, *args) -> subprocess.CompletedProcess:
    result = run_module(env, "market_weather.producer", *args, timeout=120)
    assert KEY not in result.stdout + result.stderr
    return result


def test_live_data_lands_in_the_lake_and_the_warehouse(live_env, settings, lake, pg, spark):
    coincap = producer(live_env, "fetch", "coincap")
    assert coincap.returncode == 0, coincap.stderr
    assert coincap.stdout.startswith(
        "coincap: fetched 2, inserted 2, duplicates 0, dead-lettered 0, API calls 1, bytes received "
    )
    weather = producer(live_env, "fetch", "openweather")
    assert "inserted 2" in weather.stdout and "API calls 2" in weather.stdout
    history = producer(
        live_env,
        "backfill",
        "coincap",
        "--start",
        "2025-11-22T09:00:00",
        "--end",
        "2025-11-22T11:00:00",
        "--assets",
        "bitcoin",
    )
    assert "inserted 3" in history.stdout and "API calls 1" in history.stdout
    again = producer(live_env, "fetch", "coincap")
    assert "inserted 0, duplicates 2" in again.stdout

    stored = json_util.dumps(
        list(lake.coincap_assets.find())
        + list(lake.openweather_weather.find())
        + list(lake.openweather_air.find())
        + list(lake.coincap_history.find())
    )
    assert KEY not in stored and "appid" not in stored

    summary = lake_to_warehouse.run(spark, settings, run_id="live")
    assert summary.rows_rejected == 0
    sample = load_fixture("coincap_v3_assets.json")["data"][0]
    row = pg.execute(
        "SELECT price_usd, market_cap_usd, vwap_24h FROM asset_prices WHERE asset_id = 'bitcoin' "
        "AND market_cap_usd IS NOT NULL"
    ).fetchone()
    assert row == (Decimal(sample["priceUsd"]), Decimal(sample["marketCapUsd"]), Decimal(sample["vwap24Hr"]))
    assert pg.execute("SELECT max_supply FROM assets WHERE asset_id = 'ethereum'").fetchone() == (None,)
    assert pg.execute("SELECT count(*) FROM asset_prices WHERE asset_id = 'bitcoin'").fetchone()[0] == 4
    current = load_fixture("openweather_current.json")
    assert pg.execute(
        "SELECT temp_c, wind_gust_ms, rain_1h_mm, condition, description FROM weather_observations"
    ).fetchone() == (current["main"]["temp"], current["wind"]["gust"], current["rain"]["1h"], "Rain", "light rain")
    assert pg.execute("SELECT name, country, lat, lon FROM locations").fetchone() == ("Paris", "FR", 48.8566, 2.3522)
    assert pg.execute("SELECT aqi, pm2_5 FROM air_quality").fetchone() == (2, 6.12)


def test_a_rejected_key_fails_the_command_clearly(live_env, httpserver):
    httpserver.clear()
    httpserver.expect_request("/v3/assets").respond_with_json({"error": "invalid key"}, status=401)
    result = producer(live_env, "fetch", "coincap")
    assert result.returncode == 1
    assert "coincap /assets: HTTP 401: the API key is invalid or not yet active" in result.stderr
    assert "Traceback" not in result.stderr


def test_snapshot_only_datasets_cannot_be_backfilled(live_env):
    result = producer(live_env, "backfill", "coincap_assets", "--start", "2026-01-01", "--end", "2026-01-02")
    assert result.returncode == 2 and "cannot be backfilled" in result.stderr


def test_one_key_is_enough_for_its_own_api(live_env, lake):
    """PRODUCER_SOURCE=live with only the CoinCap key: CoinCap works, OpenWeather names what is missing."""
    env = {**live_env, "PRODUCER_SOURCE": "live"}
    del env["OPENWEATHER_API_KEY"]
    coincap = producer(env, "fetch", "coincap")
    assert coincap.returncode == 0, coincap.stderr
    assert "inserted 2" in coincap.stdout
    weather = producer(env, "fetch", "openweather")
    assert weather.returncode != 0
    assert "OPENWEATHER_API_KEY is not set" in weather.stderr
    assert lake.openweather_weather.count_documents({}) == 0
