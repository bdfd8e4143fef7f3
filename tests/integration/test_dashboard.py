"""The dashboard's JSON API, served by `python -m market_weather.dashboard` over a warehouse and a lake
filled by the demo cycle, and the read-only login it reads the warehouse as."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from psycopg import errors, sql
from pymongo import MongoClient

from market_weather.contract import DEAD_LETTERS, RAW_COLLECTIONS
from market_weather.dashboard.data import FIRST_COUNT_WAIT_SECONDS, Lake
from market_weather.lake import LakeWriter
from market_weather.producer import records
from market_weather.settings import PROJECT_ROOT, DashboardSettings, load_settings
from market_weather.stack.postgres_cluster import PG_SUPERUSER
from market_weather.warehouse.migrate import migrate
from tests.conftest import load_fixture
from tests.integration.conftest import BAD_PRICE, start_dashboard


def get(url: str, path: str, **params) -> requests.Response:
    return requests.get(f"{url}/api/{path}", params=params, timeout=10)


# ------------------------------------------------------------------------------------------ markets
def test_latest_prices_list_every_demo_asset_with_a_price(dashboard, filled):
    prices = get(dashboard, "markets/prices").json()
    assert {p["asset_id"] for p in prices} == set(filled.COINCAP_ASSETS)
    for p in prices:
        assert p["price_usd"] > 0 and p["symbol"] and p["observed_at"].endswith("Z")
        assert p["api_change_24h_pct"] is not None, "the API's own 24 h change"
        assert p["change_24h_pct"] is None, "the demo holds 2 hours: no price a day before to compare with"


def test_candles_of_each_interval_hold_their_ohlc_invariants(dashboard):
    sizes = {}
    for interval in ("1m", "1h", "1d"):
        body = get(dashboard, "markets/candles", asset="bitcoin", interval=interval, range="all").json()
        candles = body["candles"]
        assert candles and body["truncated"] is False
        assert [c["t"] for c in candles] == sorted(c["t"] for c in candles), "oldest first"
        for c in candles:
            assert c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"]
            assert c["points"] >= 1
        sizes[interval] = (len(candles), sum(c["points"] for c in candles))
    # The demo loads 2 hours of minute history: about 120 one-minute candles, 2 or 3 hours, 1 or 2 days,
    # and every interval counts the same points.
    assert 110 <= sizes["1m"][0] <= 125 and 2 <= sizes["1h"][0] <= 3 and 1 <= sizes["1d"][0] <= 2
    assert sizes["1m"][1] == sizes["1h"][1] == sizes["1d"][1]


def test_a_range_counts_back_from_the_newest_candle(dashboard):
    hour = get(dashboard, "markets/candles", asset="bitcoin", interval="1m", range="1h").json()["candles"]
    whole = get(dashboard, "markets/candles", asset="bitcoin", interval="1m", range="all").json()["candles"]
    assert 59 <= len(hour) <= 60 and hour[-1] == whole[-1]


# ------------------------------------------------------------------------------------------ weather
def test_weather_and_air_of_a_location(dashboard):
    locations = {loc["location_id"]: loc for loc in get(dashboard, "weather/locations").json()}
    assert locations["paris"]["temp_c"] is not None and 1 <= locations["paris"]["aqi"] <= 5
    weather = get(dashboard, "weather/observations", location="paris", range="all").json()["observations"]
    assert weather and {"t", "temp_c", "humidity_pct", "wind_speed_ms"} <= set(weather[0])
    air = get(dashboard, "air/observations", location="paris", range="all").json()["observations"]
    assert air and 1 <= air[0]["aqi"] <= 5 and air[0]["pm2_5"] is not None


# ----------------------------------------------------------------------------------------- pipeline
def test_runs_show_the_demo_load_with_its_counts(dashboard, filled):
    with psycopg.connect(**filled.postgres_conninfo) as conn:
        expected = conn.execute("SELECT run_id, rows_read, rows_written FROM etl_runs").fetchall()
    runs = get(dashboard, "pipeline/runs").json()
    assert [(r["run_id"], r["rows_read"], r["rows_written"]) for r in runs] == expected
    assert runs[0]["status"] == "success" and runs[0]["duration_s"] > 0
    assert len(get(dashboard, "pipeline/runs", limit=1).json()) == 1


def test_freshness_names_each_source_with_its_lag_and_the_checks_history(dashboard):
    body = get(dashboard, "pipeline/freshness", range="24h").json()
    sources = {s["source"]: s for s in body["sources"]}
    assert set(sources) == {"coincap", "weather", "air"}
    for source in sources.values():
        assert 0 <= source["lag_seconds"] < 3 * 3600 and 0 <= source["lake_lag_seconds"] < 3600
    # The demo runs the checks once: one freshness result per source.
    assert sorted(h["check"] for h in body["history"]) == ["freshness_air", "freshness_coincap", "freshness_weather"]


def test_dead_letters_per_source_and_reason_and_the_newest_readable(dashboard):
    body = get(dashboard, "pipeline/dead-letters", range="1h").json()
    assert body["bucket"] == "minute"
    assert [(b["source"], b["reason"], b["count"]) for b in body["buckets"]] == [("coincap", BAD_PRICE, 1)]
    (newest,) = body["newest"]
    assert newest["reason"] == BAD_PRICE and "not-a-price" in newest["payload"]


def test_lake_counts_equal_the_lake(dashboard, filled):
    with MongoClient(filled.MONGO_URI, document_class=dict) as client:
        db = client[filled.MONGO_DB]
        expected = {name: db[name].count_documents({}) for name in (*RAW_COLLECTIONS, DEAD_LETTERS)}
    body = get(dashboard, "pipeline/lake").json()
    counts = {c["collection"]: c["documents"] for c in body["collections"]}
    assert counts == expected and counts[DEAD_LETTERS] == 1 and counts["coincap_history"] > 0
    assert datetime.now(UTC) - datetime.fromisoformat(body["counted_at"]) < timedelta(minutes=10)


def test_quality_lists_the_latest_result_of_every_check(dashboard):
    quality = get(dashboard, "pipeline/quality").json()
    assert len(quality) == 9 and {q["status"] for q in quality} == {"pass"}


@pytest.fixture
def lake_apart(filled):
    """The dashboard's lake reader on a database of its own on the test lake server."""
    lake = Lake(load_settings(DashboardSettings, MONGO_URI=filled.MONGO_URI, MONGO_DB="snapshot_test"))
    lake.db[DEAD_LETTERS].drop()
    yield lake
    lake.client.drop_database("snapshot_test")
    lake.close()


def test_a_page_never_waits_for_the_lake_to_be_counted_again(lake_apart):
    """The lake's counts come from a snapshot a background thread takes when one is due; a request
    gets the latest at once, and the next after the count sees what it found."""
    lake = lake_apart
    first = lake.snapshot()
    assert first is not None and first.documents[DEAD_LETTERS] == 0
    assert lake.snapshot() is first, "not due yet: no new count"
    lake.db[DEAD_LETTERS].insert_one({"source": "coincap", "reason": "x", "fetched_at": datetime.now(UTC)})
    lake.SNAPSHOT_MIN_SECONDS = lake.SNAPSHOT_COST_FACTOR = 0
    assert lake.snapshot() is first, "due: counted in the background, the request gets the latest at once"
    assert lake._counting is not None
    lake._counting.join()
    latest = lake.snapshot()
    assert latest is not None and latest.documents[DEAD_LETTERS] == 1


def test_before_the_first_count_is_done_the_lake_figures_are_left_out_not_waited_for(lake_apart):
    lake, gate = lake_apart, threading.Event()
    count = lake._count
    lake._count = lambda: (gate.wait(30), count())  # a count that takes long
    started = time.monotonic()
    counts = lake.counts()
    assert time.monotonic() - started < FIRST_COUNT_WAIT_SECONDS + 1
    assert counts["counted_at"] is None and {c["documents"] for c in counts["collections"]} == {None}
    gate.set()
    assert lake._counting is not None
    lake._counting.join()
    assert lake.counts()["collections"][-1] == {"collection": DEAD_LETTERS, "documents": 0}


# ------------------------------------------------------------------------------ before the first load
@pytest.fixture
def before_first_load(stack, filled):
    """A dashboard over a warehouse of its own that no load has reached yet (as the migrations leave it),
    and a lake of its own holding one CoinCap fetch and no weather, with OpenWeather fetched hourly rather
    than every 10 minutes. Its URL, and the settings of that warehouse and lake."""
    name = "before_first_load"
    admin = {"host": str(stack.pg_run), "port": filled.POSTGRES_PORT, "user": PG_SUPERUSER, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(filled.POSTGRES_USER))
        )
    settings = filled.model_copy(update={"POSTGRES_DB": name, "MONGO_DB": name})
    migrate(settings)
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        client.drop_database(name)
        envelope = records.Envelope("coincap", "/assets", datetime.now(UTC), "before-first-load")
        LakeWriter(client[name]).write(records.coincap_assets(load_fixture("coincap_v3_assets.json"), envelope))
    process, url = start_dashboard(filled, POSTGRES_DB=name, MONGO_DB=name, INGEST_OPENWEATHER_SCHEDULE="0 * * * *")
    try:
        yield url, settings
    finally:
        process.terminate()
        process.wait(timeout=30)
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            client.drop_database(name)
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_before_the_first_load_each_source_says_it_waits_and_when_to_expect_it(before_first_load):
    url, settings = before_first_load
    assert get(url, "markets/prices").json() == [] and get(url, "weather/locations").json() == []
    assert get(url, "pipeline/runs").json() == [] and get(url, "pipeline/quality").json() == []

    def waiting() -> dict[str, str | None]:
        deadline = time.monotonic() + 30
        while (body := get(url, "pipeline/freshness", range="1h").json())["lake_counted_at"] is None:
            assert time.monotonic() < deadline, "the lake was not counted"
            time.sleep(0.5)
        assert all((s["newest_observed_at"] is None) == (s["waiting"] is not None) for s in body["sources"])
        return {s["source"]: s["waiting"] for s in body["sources"]}

    notes = waiting()
    assert notes["coincap"] == (
        "No prices have reached the warehouse yet. 2 documents wait in the lake for the first load: "
        "each new lake batch starts lake_to_warehouse, which lands a minute or two later."
    )
    assert notes["weather"] == (
        "No weather observations have reached the warehouse yet. The lake holds none yet either. "
        "ingest_openweather fetches every hour (INGEST_OPENWEATHER_SCHEDULE) and each new lake batch starts "
        "lake_to_warehouse, so the first weather observations arrive within about 62 minutes while Airflow runs."
    )
    assert notes["air"] is not None and notes["air"].startswith("No air quality readings have reached the warehouse")

    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO etl_runs (run_id, job, status, finished_at, message) "
            "VALUES ('first', 'lake_to_warehouse', 'failed', now(), 'the Spark master did not answer')"
        )
        notes = waiting()
        assert all("The latest load failed (the Spark master did not answer)" in (n or "") for n in notes.values())

        # The first prices arrive, as a load writes them: the note on them goes on the next refresh, the others stay.
        conn.execute("INSERT INTO asset_prices (asset_id, observed_at, price_usd) VALUES ('bitcoin', now(), 1)")
        notes = waiting()
        assert notes["coincap"] is None and notes["weather"] is not None and notes["air"] is not None
        assert [p["asset_id"] for p in get(url, "markets/prices").json()] == ["bitcoin"]


# ------------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(
    ("path", "params", "status", "names"),
    [
        ("markets/candles", {"asset": "bitcoin", "interval": "2m"}, 422, "interval"),
        ("markets/candles", {"asset": "bitcoin", "range": "3w"}, 422, "range"),
        ("markets/candles", {"asset": "Robert'); DROP TABLE assets;--"}, 422, "asset"),
        ("markets/candles", {}, 422, "asset: Field required"),
        ("markets/candles", {"asset": "no-such-coin"}, 404, "no-such-coin"),
        ("weather/observations", {"location": "atlantis"}, 404, "atlantis"),
        ("weather/observations", {}, 422, "location: Field required"),
        ("air/observations", {"location": "paris", "range": "forever"}, 422, "range"),
        ("pipeline/runs", {"limit": "0"}, 422, "limit"),
        ("pipeline/runs", {"limit": "501"}, 422, "limit"),
        ("pipeline/runs", {"limit": "many"}, 422, "limit"),
        ("pipeline/freshness", {"range": "2d"}, 422, "range"),
        ("pipeline/dead-letters", {"range": ""}, 422, "range"),
    ],
)
def test_bad_parameters_answer_with_a_message_not_a_trace(dashboard, path, params, status, names):
    response = get(dashboard, path, **params)
    assert response.status_code == status
    message = response.json()["message"]
    assert names in message and "Traceback" not in response.text


def test_the_openapi_description_documents_every_endpoint_the_pages_call(dashboard):
    spec = requests.get(f"{dashboard}/api/openapi.json", timeout=10).json()
    paths = set(spec["paths"])
    assert paths == {
        "/api/health",
        "/api/markets/prices",
        "/api/markets/candles",
        "/api/weather/locations",
        "/api/weather/observations",
        "/api/air/observations",
        "/api/pipeline/runs",
        "/api/pipeline/freshness",
        "/api/pipeline/dead-letters",
        "/api/pipeline/lake",
        "/api/pipeline/quality",
        "/api/files",
    }
    scripts = "".join(
        (PROJECT_ROOT / "dashboard" / "src" / "market_weather" / "dashboard" / "static" / name).read_text()
        for name in ("markets.js", "weather.js", "pipeline.js", "files.js")
    )
    for path in paths - {"/api/health"}:
        assert f'"{path.removeprefix("/api/")}"' in scripts, f"{path} is not called by any page"
    candles = spec["paths"]["/api/markets/candles"]["get"]["parameters"]
    assert {p["name"] for p in candles} == {"asset", "interval", "range"}
    assert requests.get(f"{dashboard}/api/docs", timeout=10).ok


def test_pages_and_their_assets_are_served_by_the_dashboard_itself(dashboard):
    for page in ("markets", "weather", "pipeline", "files"):
        html = requests.get(f"{dashboard}/{page}", timeout=10).text
        assert '<script src="/vendor/echarts/echarts.min.js">' in html and "http" not in html.split("<body")[0]
    echarts = requests.get(f"{dashboard}/vendor/echarts/echarts.min.js", timeout=10)
    assert echarts.ok and len(echarts.content) > 500_000
    assert requests.get(dashboard, timeout=10, allow_redirects=False).headers["location"] == "/markets"


def test_a_warehouse_that_refuses_the_login_answers_503_without_the_password(filled):
    process, url = start_dashboard(filled, DASHBOARD_DB_PASSWORD="wrong-password-xyz")
    try:
        for path in ("health", "markets/prices"):
            response = get(url, path)
            assert response.status_code == 503
            assert response.json() == {"message": "the warehouse does not answer; try again shortly"}
    finally:
        process.terminate()
        log = process.communicate(timeout=30)[0]
    assert "the warehouse did not answer" in log and "wrong-password-xyz" not in log


# ---------------------------------------------------------------------------------- read-only login
@pytest.fixture
def reader(filled):
    with psycopg.connect(**filled.reader_conninfo, autocommit=True) as conn:
        yield conn


def test_the_read_only_login_reads_every_table_and_view(reader, filled):
    with psycopg.connect(**filled.postgres_conninfo) as owner:
        relations = [
            name
            for (name,) in owner.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_name NOT LIKE '%yoyo%' ORDER BY table_name"
            )
        ]
    assert len(relations) == 11
    for name in relations:
        reader.execute(f"SELECT count(*) FROM {name}").fetchone()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO etl_runs (run_id, job, status) VALUES ('x', 'x', 'running')",
        "UPDATE assets SET name = 'x'",
        "DELETE FROM asset_prices",
        "TRUNCATE quality_checks",
        "DROP VIEW latest_weather",
        "ALTER TABLE assets ADD COLUMN x int",
        "CREATE TABLE public.mine (x int)",
        "CREATE TABLE staging.mine (x int)",
        "CREATE TEMP TABLE mine (x int)",
    ],
)
def test_the_read_only_login_can_change_nothing(reader, statement):
    # Even with its sessions' read-only default turned off, the grants refuse.
    reader.execute("SET default_transaction_read_only = off")
    with pytest.raises(errors.InsufficientPrivilege):
        reader.execute(statement)


def test_the_read_only_login_starts_read_only_sessions(reader):
    with pytest.raises(errors.ReadOnlySqlTransaction):
        reader.execute("INSERT INTO etl_runs (run_id, job, status) VALUES ('x', 'x', 'running')")


def test_a_table_a_later_migration_adds_is_readable_by_the_reader(reader, filled):
    with psycopg.connect(**filled.postgres_conninfo, autocommit=True) as owner:
        owner.execute("CREATE TABLE later_table (x int)")
        try:
            owner.execute("INSERT INTO later_table VALUES (7)")
            assert reader.execute("SELECT x FROM later_table").fetchone() == (7,)
        finally:
            owner.execute("DROP TABLE later_table")


def test_the_files_api_lists_the_newest_files_with_their_status_counts_and_errors(dashboard, filled):
    """What the Files page shows: read from the lake's `files`, newest first, counted by status."""
    with MongoClient(filled.MONGO_URI, document_class=dict) as client:
        files = client[filled.MONGO_DB].files
        now = datetime.now(UTC)
        counts = {"rows": 3, "valid": 2, "dead_lettered": 1, "duplicates": 0, "in_lake": 2, "loaded": 2}
        files.insert_many(
            [
                {
                    "_id": "file-old",
                    "name": "old.csv",
                    "status": "loaded",
                    "received_at": now - timedelta(hours=1),
                    "counts": counts,
                    "errors": ["line 3: price: not a decimal ('x')"],
                    "sha256": "a" * 64,
                },
                {
                    "_id": "file-new",
                    "name": "new.txt",
                    "status": "rejected",
                    "received_at": now,
                    "counts": dict.fromkeys(counts, 0),
                    "errors": ["415: 'new.txt' is not a .csv"],
                },
            ]
        )
        try:
            answer = requests.get(f"{dashboard}/api/files", timeout=10).json()
        finally:
            files.delete_many({"_id": {"$in": ["file-old", "file-new"]}})
    assert [f["id"] for f in answer["files"]] == ["file-new", "file-old"]
    assert answer["files"][1]["counts"] == counts and answer["files"][1]["errors"] == [
        "line 3: price: not a decimal ('x')"
    ]
    assert "sha256" not in answer["files"][1]
    assert answer["by_status"]["loaded"] == 1 and answer["by_status"]["rejected"] == 1
