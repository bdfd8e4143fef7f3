"""Validation keeps valid records as received and turns the others into dead letters with a reason."""

import copy
from datetime import UTC, datetime

import pytest

from market_weather.contract import DEAD_LETTER_FIELDS, ENVELOPE_FIELDS
from market_weather.producer import records
from tests.conftest import load_fixture

FETCHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ENVELOPE = records.Envelope("coincap", "/assets", FETCHED, "run-1")


def test_assets_become_enveloped_documents_with_the_payload_untouched():
    body = load_fixture("coincap_v3_assets.json")
    batch = records.coincap_assets(copy.deepcopy(body), ENVELOPE)
    assert batch.collection == "coincap_assets" and not batch.dead_letters
    doc = batch.documents[1]
    assert doc["entity_id"] == "ethereum"
    assert doc["observed_at"] == datetime.fromtimestamp(body["timestamp"] / 1000, tz=UTC)
    assert (doc["source"], doc["endpoint"], doc["run_id"], doc["fetched_at"]) == (
        "coincap",
        "/assets",
        "run-1",
        FETCHED,
    )
    assert doc["schema_version"] == 1
    assert doc["payload"] == body["data"][1]
    assert tuple(doc) == ENVELOPE_FIELDS, "every document carries exactly the contract's envelope"


def test_a_dead_letter_carries_the_contracts_fields():
    letter = records.coincap_assets({"data": "not a list"}, ENVELOPE).dead_letters[0]
    assert tuple(letter) == DEAD_LETTER_FIELDS
    assert letter["payload"] == {"data": "not a list"} and "'data' list" in letter["reason"]


def test_an_invalid_asset_is_dead_lettered_and_the_others_kept():
    body = load_fixture("coincap_v3_assets.json")
    body["data"][0]["priceUsd"] = "12,5"
    body["data"].append({"id": "Not A Slug", "rank": "3", "symbol": "X", "name": "X", "supply": "1", "priceUsd": "1"})
    batch = records.coincap_assets(body, ENVELOPE)
    assert [d["entity_id"] for d in batch.documents] == ["ethereum"]
    assert len(batch.dead_letters) == 2
    first, second = batch.dead_letters
    assert "priceUsd" in first["reason"] and first["payload"]["priceUsd"] == "12,5"
    assert second["reason"].startswith("id:")
    assert set(first) == {"source", "endpoint", "fetched_at", "run_id", "reason", "payload"}


def test_a_response_of_the_wrong_shape_is_dead_lettered_whole():
    batch = records.coincap_assets({"error": "rate limited"}, ENVELOPE)
    assert batch.documents == [] and len(batch.dead_letters) == 1
    assert batch.dead_letters[0]["payload"] == {"error": "rate limited"}
    assert "'data' list" in batch.dead_letters[0]["reason"]


def test_history_points_are_observed_at_their_time():
    body = load_fixture("coincap_v3_asset_history.json")
    batch = records.coincap_history(body, "bitcoin", ENVELOPE)
    assert [d["observed_at"] for d in batch.documents] == [
        datetime.fromtimestamp(p["time"] / 1000, tz=UTC) for p in body["data"]
    ]
    assert {d["entity_id"] for d in batch.documents} == {"bitcoin"}


def test_weather_is_observed_at_dt_and_needs_a_condition():
    body = load_fixture("openweather_current.json")
    batch = records.openweather_weather(body, "paris", ENVELOPE)
    assert batch.documents[0]["observed_at"] == datetime.fromtimestamp(body["dt"], tz=UTC)
    body["weather"] = []
    assert "weather" in records.openweather_weather(body, "paris", ENVELOPE).dead_letters[0]["reason"]


def test_air_pollution_accepts_the_documented_float_aqi_and_rejects_out_of_range():
    body = load_fixture("openweather_air_pollution_history.json")
    body["coord"] = [2.3522, 48.8566]  # the documentation's list form
    body["list"][0]["main"]["aqi"] = 2.0
    body["list"][1]["main"]["aqi"] = 7
    batch = records.openweather_air(body, "paris", ENVELOPE)
    assert len(batch.documents) == 2 and batch.documents[0]["payload"]["main"]["aqi"] == 2.0
    assert "aqi" in batch.dead_letters[0]["reason"]


@pytest.mark.parametrize(
    "path, value, where",
    [
        (("main", "temp"), "21.5", "main.temp"),
        (("wind", "speed"), True, "wind.speed"),
        (("wind",), 4.2, "wind"),
        (("rain", "1h"), "heavy", "rain.1h"),
        (("coord", "lat"), float("nan"), "coord.lat"),
        (("visibility",), [10000], "visibility"),
        (("sys", "country"), 33, "sys.country"),
    ],
)
def test_weather_fields_the_job_types_are_checked_before_they_reach_the_lake(path, value, where):
    """What the warehouse job could not read as a number is dead-lettered here, with the field named."""
    body = load_fixture("openweather_current.json")
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    batch = records.openweather_weather(body, "paris", ENVELOPE)
    assert batch.documents == []
    assert batch.dead_letters[0]["reason"].startswith(where)
    assert batch.dead_letters[0]["payload"] == body


def test_air_components_must_be_numbers():
    body = load_fixture("openweather_air_pollution.json")
    body["list"][0]["components"]["pm2_5"] = "6.12"
    batch = records.openweather_air(body, "paris", ENVELOPE)
    assert batch.documents == [] and batch.dead_letters[0]["reason"].startswith("components.pm2_5")
