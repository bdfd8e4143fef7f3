"""How the producer's CLI fails: a lake that does not answer and bad input are one line each; a bug is a bug;
a bad record costs only itself and a bad response is retried or dead-lettered or one line.

The first tests need no services (the lake is a port where nothing listens); the others run the real
CLI against the test lake and a local stand-in for the APIs that serves real-shaped payloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from bson import json_util
from werkzeug import Response

from market_weather.settings import PROJECT_ROOT
from market_weather.stack.ports import free_port
from tests.conftest import load_fixture, run_module

PASSWORD = "lake-s3cret"
KEY = "cli-key-3b9d0c71e4"


@pytest.fixture
def env():
    """The producer's settings only: a lake with credentials where nothing listens, no warehouse password."""
    values = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    return {
        **values,
        "MONGO_URI": f"mongodb://platform:{PASSWORD}@127.0.0.1:{free_port()}/?authSource=admin",
        "PRODUCER_SOURCE": "simulated",
    }


def producer(env, *args: str) -> subprocess.CompletedProcess:
    return run_module(env, "market_weather.producer", *args, timeout=120)


def test_a_lake_that_does_not_answer_is_one_line_naming_mongo_uri(env):
    started = time.monotonic()
    result = producer(env, "fetch", "coincap")
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the lake at mongodb://***@127.0.0.1:")
    assert "(MONGO_URI) does not answer" in lines[0] and "make start" in lines[0]
    assert PASSWORD not in result.stdout + result.stderr
    assert elapsed < 20, "within the lake's 10 s server selection timeout"


def test_bad_input_is_refused_before_the_lake_is_tried(env):
    started = time.monotonic()
    result = producer(env, "backfill", "coincap", "--start", "2026-01-01", "--end", "2026-01-02", "--interval", "m2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: interval must be one of m1, m5, m15, m30, h1, h2, h6, h12, d1, not 'm2'"
    ]
    assert time.monotonic() - started < 8, "no wait for the lake"


def test_a_bug_is_a_plain_traceback_not_a_usage_error(env):
    """A ValueError the producer did not mean as bad input is a bug: exit 1 and Python's own traceback."""
    script = (
        "import sys\n"
        "from market_weather.producer import cli, commands\n"
        "def broken(*args, **kwargs):\n"
        "    raise ValueError('a bug in the producer')\n"
        "commands.fetch = broken\n"
        "sys.argv = ['producer', 'fetch', 'coincap']\n"
        "cli.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.rstrip().endswith("ValueError: a bug in the producer")
    assert "╭" not in result.stderr, "no rich box"


@pytest.fixture
def live_env(settings, httpserver):
    """Live sources on the local stand-in for the APIs, writing to the test lake."""
    values = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    return {
        **values,
        "MONGO_URI": settings.MONGO_URI,
        "MONGO_DB": settings.MONGO_DB,
        "PRODUCER_SOURCE": "live",
        "COINCAP_API_KEY": KEY,
        "COINCAP_BASE_URL": httpserver.url_for("/v3"),
        "COINCAP_ASSETS": "bitcoin,ethereum,tether,solana",
        "OPENWEATHER_API_KEY": KEY,
        "OPENWEATHER_BASE_URL": httpserver.url_for(""),
        "OPENWEATHER_LOCATIONS": "paris:Paris:48.8566:2.3522",
    }


def _assets() -> list[dict]:
    data = load_fixture("coincap_v3_assets.json")["data"]
    return data + [{**data[0], "id": "tether", "rank": "3"}, {**data[0], "id": "solana", "rank": "4"}]


def test_bad_records_are_dead_lettered_and_the_rest_of_the_response_written(live_env, httpserver, lake):
    """A figure the job cannot type, an integer BSON cannot hold, an echoed key: each costs nothing else."""
    data = _assets()
    data[1]["priceUsd"] = "12345678901234567890123.5"
    data[2]["tokens"] = {"ethereum": 2**64}
    data[3]["explorer"] = f"https://example.org/?key={KEY}"
    body = {"data": data, "timestamp": 1763805600412, "echo": {"authorization": f"Bearer {KEY}"}}
    httpserver.expect_request("/v3/assets").respond_with_data(json.dumps(body), content_type="application/json")
    result = producer(live_env, "fetch", "coincap")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("coincap: fetched 4, inserted 2, duplicates 0, dead-lettered 2")
    assert {d["entity_id"] for d in lake.coincap_assets.find()} == {"bitcoin", "solana"}
    assert (
        lake.coincap_assets.find_one({"entity_id": "solana"})["payload"]["explorer"] == "https://example.org/?key=***"
    )
    letters = {d["reason"]: d["payload"] for d in lake.dead_letters.find()}
    assert letters.keys() == {
        "priceUsd: not a decimal that fits DECIMAL(38,18)",
        "tokens.ethereum: an integer wider than 64 bits, which BSON cannot hold",
    }
    assert json.loads(letters["tokens.ethereum: an integer wider than 64 bits, which BSON cannot hold"]) == data[2]
    everything = json_util.dumps([*lake.coincap_assets.find(), *lake.dead_letters.find()])
    assert KEY not in everything + result.stdout + result.stderr


def test_a_history_point_beyond_the_year_9999_costs_only_itself(live_env, httpserver, lake):
    history = load_fixture("coincap_v3_asset_history.json")
    history["data"][1]["time"] = 253402300800000  # 10000-01-01
    httpserver.expect_request("/v3/assets/bitcoin/history").respond_with_json(history)
    result = producer(
        live_env,
        "backfill",
        "coincap",
        "--start",
        "2025-11-22T09:00",
        "--end",
        "2025-11-22T11:00",
        "--assets",
        "bitcoin",
    )
    assert result.returncode == 0, result.stderr
    assert "inserted 2, duplicates 0, dead-lettered 1" in result.stdout
    letter = lake.dead_letters.find_one()
    assert letter["reason"] == "time: not epoch milliseconds between 1970 and the year 9999"
    assert letter["payload"] == history["data"][1]


def test_a_redirect_loop_is_one_line_naming_the_endpoint(live_env, httpserver):
    httpserver.expect_request("/v3/assets").respond_with_response(
        Response("", status=302, headers={"Location": "/v3/assets"})
    )
    result = producer(live_env, "fetch", "coincap")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: coincap /assets: more than 30 redirects: check the base URL"]


def test_a_body_cut_short_is_fetched_again(live_env, httpserver, lake):
    body = json.dumps({"data": _assets(), "timestamp": 1763805600412}).encode()
    cut = Response(iter([body[:100]]), content_type="application/json")
    cut.headers["Content-Length"] = str(len(body))
    httpserver.expect_ordered_request("/v3/assets").respond_with_response(cut)
    httpserver.expect_ordered_request("/v3/assets").respond_with_data(body, content_type="application/json")
    result = producer(live_env, "fetch", "coincap")
    assert result.returncode == 0, result.stderr
    assert "inserted 4" in result.stdout and "API calls 2" in result.stdout
    assert lake.coincap_assets.count_documents({}) == 4


def test_a_body_with_a_byte_order_mark_is_read_and_one_nested_too_deeply_is_dead_lettered(live_env, httpserver, lake):
    weather = "\ufeff" + json.dumps(load_fixture("openweather_current.json"))
    httpserver.expect_request("/data/2.5/weather").respond_with_data(
        weather.encode(), content_type="application/json; charset=utf-8"
    )
    deep = '{"list": ' + "[" * 50_000 + "]" * 50_000 + "}"
    httpserver.expect_request("/data/2.5/air_pollution").respond_with_data(deep, content_type="application/json")
    result = producer(live_env, "fetch", "openweather")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("openweather: fetched 2, inserted 1, duplicates 0, dead-lettered 1")
    assert lake.openweather_weather.find_one()["payload"] == load_fixture("openweather_current.json")
    letter = lake.dead_letters.find_one()
    assert (letter["endpoint"], letter["reason"]) == (
        "/data/2.5/air_pollution",
        "response JSON is nested too deeply to read (HTTP 200)",
    )
    assert letter["payload"] == deep
