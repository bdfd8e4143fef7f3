"""Files taken into the real lake: stored by content hash, checked whole, their rows landed once, a status each."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId

from market_weather.intake import accept
from market_weather.intake.formats import Refused
from market_weather.settings import Location
from tests.conftest import load_fixture

FILES = Path(__file__).parent.parent / "fixtures" / "files"
LIMIT = 5_000_000
CONTEXT = accept.Context(
    name="btc-usd-max.csv",
    via="upload",
    assets=("bitcoin", "ethereum"),
    locations=(Location("paris", "Paris", 48.8566, 2.3522),),
    symbols={"BTC": "bitcoin", "ETH": "ethereum"},
)
COINGECKO = (FILES / "btc-usd-max.csv").read_bytes()
# An export of about a megabyte: more than one chunk of reading and one batch of lake writes.
MANY_ROWS = b"snapped_at,price,market_cap,total_volume\n" + b"".join(
    f"{datetime(1990, 1, 1) + timedelta(days=n):%Y-%m-%d} 00:00:00 UTC,{100 + n % 50}.5,1488203117,0\n".encode()
    for n in range(20_000)
)


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def intake_lake(lake):
    accept.ensure_file_indexes(lake)
    return lake


def take(lake, store, content: bytes, context: accept.Context = CONTEXT) -> dict:
    stored = accept.receive(io.BytesIO(content), store, LIMIT)
    return accept.take(lake, stored, context, LIMIT)


def test_a_coingecko_export_lands_each_row_once_and_the_same_content_again_names_the_first_file(intake_lake, store):
    first = take(intake_lake, store, COINGECKO)
    assert first["status"] == "in_lake" and first["format"] == "coingecko_csv"
    assert first["counts"] == {"rows": 6, "valid": 6, "dead_lettered": 0, "duplicates": 0, "in_lake": 6, "loaded": 0}
    stored = list(intake_lake.coingecko_history.find({}, {"_id": 0}).sort("line", 1))
    assert [d["line"] for d in stored] == [2, 3, 4, 5, 6, 7]
    assert {(d["source"], d["endpoint"], d["entity_id"], d["run_id"]) for d in stored} == {
        ("file", "coingecko_csv", "bitcoin", first["_id"])
    }
    assert stored[0]["observed_at"] == datetime(2013, 4, 28)
    assert (store / first["sha256"][:2] / first["sha256"]).read_bytes() == COINGECKO

    again = take(intake_lake, store, COINGECKO)
    assert again["_id"] == first["_id"]
    assert intake_lake.coingecko_history.count_documents({}) == 6
    assert intake_lake.files.count_documents({}) == 1


def test_a_partly_bad_file_keeps_every_valid_row_and_dead_letters_each_bad_one_with_its_line(intake_lake, store):
    lines = COINGECKO.decode().splitlines()
    lines[2] = "2013-04-29 00:00:00 UTC,lots,1586912245.0,0.0"
    lines[4] = "yesterday,118.46,1314977262.0,0.0"
    record = take(intake_lake, store, ("\n".join(lines) + "\n").encode())
    assert record["counts"]["valid"] == 4 and record["counts"]["dead_lettered"] == 2
    assert record["errors"] == [
        "line 3: price: not a decimal that fits DECIMAL(38,18) ('lots')",
        "line 5: snapped_at: not a time like 2013-04-28 00:00:00 UTC ('yesterday')",
    ]
    letters = list(intake_lake.dead_letters.find({"file_id": record["_id"]}).sort("line", 1))
    assert [(d["line"], d["payload"]["price"]) for d in letters] == [(3, "lots"), (5, "118.46")]
    assert sorted(d["line"] for d in intake_lake.coingecko_history.find()) == [2, 4, 6, 7]


def test_a_file_row_never_overrides_an_api_row_of_the_same_key(intake_lake, store):
    api_row = {"source": "coincap", "entity_id": "bitcoin", "observed_at": datetime(2013, 4, 29, tzinfo=UTC)}
    intake_lake.coincap_history.insert_one({"_id": ObjectId(), **api_row})
    record = take(intake_lake, store, COINGECKO)
    assert record["counts"]["duplicates"] == 1 and record["counts"]["in_lake"] == 5
    assert intake_lake.coingecko_history.count_documents({"observed_at": datetime(2013, 4, 29)}) == 0


@pytest.mark.parametrize(
    "content, status",
    [
        (gzip.compress(b"snapped_at,price\n" + b"2013-04-28 00:00:00 UTC,1\n" * 400_000), 413),
        (MANY_ROWS + b"2013-05-04 00:00:00 UTC,91.0,1,\xe9\n", 400),
        (b"snapped_at,market_cap\n2013-04-28 00:00:00 UTC,1\n", 422),
    ],
)
def test_a_file_refused_whole_stores_nothing_in_the_lake_even_when_its_fault_is_on_its_last_line(
    intake_lake, store, content, status
):
    with pytest.raises(Refused) as caught:
        take(intake_lake, store, content)
    assert caught.value.status == status
    assert intake_lake.coingecko_history.count_documents({}) == 0
    assert intake_lake.files.count_documents({}) == 0
    assert intake_lake.dead_letters.count_documents({}) == 0
    assert [p for p in store.rglob("*") if p.is_file()] == [], "the file is not kept"


def test_an_upload_over_the_limit_is_refused_as_it_streams_and_leaves_no_file(store):
    endless = io.BytesIO(b"x" * (LIMIT + 1))
    with pytest.raises(Refused) as caught:
        accept.receive(endless, store, LIMIT)
    assert caught.value.status == 413
    assert [p for p in store.rglob("*") if p.is_file()] == []


def test_json_lines_land_in_the_apis_collections_as_file_rows(intake_lake, store):
    assets, air = load_fixture("coincap_v3_assets.json"), load_fixture("openweather_air_pollution.json")
    content = f"{json.dumps(assets)}\n{json.dumps(air)}\nnot json\n".encode()
    record = take(intake_lake, store, content, accept.Context(**{**vars(CONTEXT), "name": "export.jsonl"}))
    assert record["counts"] == {"rows": 3, "valid": 3, "dead_lettered": 1, "duplicates": 0, "in_lake": 3, "loaded": 0}
    assert intake_lake.coincap_assets.count_documents({"source": "file", "run_id": record["_id"], "line": 1}) == 2
    assert intake_lake.openweather_air.count_documents({"source": "file", "entity_id": "paris", "line": 2}) == 1
    assert record["errors"][0].startswith("line 3: not a JSON record")


def test_an_open_meteo_csv_lands_its_hours_in_the_warehouse_s_units(intake_lake, store):
    content = (FILES / "open-meteo-paris-fahrenheit.csv").read_bytes()
    record = take(intake_lake, store, content, accept.Context(**{**vars(CONTEXT), "name": "paris.csv"}))
    assert record["counts"]["in_lake"] == 3
    first = intake_lake.open_meteo_weather.find_one({"line": 5})
    assert first["entity_id"] == "paris" and first["observed_at"] == datetime(2023, 12, 31, 23)
    assert first["values"]["temp_c"] == pytest.approx((47.1 - 32) * 5 / 9)
    assert first["payload"]["temperature_2m (°F)"] == "47.1"
