"""Validation keeps valid records as received and turns the others into dead letters with a reason."""

import copy
import json
from datetime import UTC, datetime

import bson
import pytest
from pyspark.sql import functions as F

from market_weather.contract import DEAD_LETTER_FIELDS, ENVELOPE_FIELDS
from market_weather.job import transforms
from market_weather.producer import casts, records
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


@pytest.mark.parametrize("aqi", [True, "2", "2.0", None, [2]])
def test_air_pollution_refuses_an_aqi_that_is_not_a_number(aqi):
    body = load_fixture("openweather_air_pollution_history.json")
    body["list"][1]["main"]["aqi"] = aqi
    batch = records.openweather_air(body, "paris", ENVELOPE)
    assert len(batch.documents) == len(body["list"]) - 1
    (letter,) = batch.dead_letters
    assert letter["reason"].startswith("main.aqi: ") and letter["payload"]["main"]["aqi"] == aqi


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


def test_an_epoch_beyond_the_year_9999_costs_only_its_own_record():
    body = load_fixture("coincap_v3_asset_history.json")
    body["data"][1]["time"] = records.MAX_EPOCH_MS + 1
    batch = records.coincap_history(body, "bitcoin", ENVELOPE)
    assert [d["payload"] for d in batch.documents] == [body["data"][0], body["data"][2]]
    assert batch.dead_letters[0]["reason"] == "time: not epoch milliseconds between 1970 and the year 9999"

    weather = load_fixture("openweather_current.json")
    weather["dt"] = records.MAX_EPOCH_S + 1
    assert records.openweather_weather(weather, "paris", ENVELOPE).dead_letters[0]["reason"].startswith("dt: ")

    last = load_fixture("coincap_v3_asset_history.json")
    last["data"][0]["time"] = records.MAX_EPOCH_MS
    assert records.coincap_history(last, "bitcoin", ENVELOPE).documents[0]["observed_at"].year == 9999


def test_a_snapshot_timestamp_beyond_the_year_9999_dead_letters_the_response_naming_it():
    body = load_fixture("coincap_v3_assets.json")
    body["timestamp"] = 10**17
    batch = records.coincap_assets(body, ENVELOPE)
    assert batch.documents == [] and batch.dead_letters[0]["reason"].startswith("timestamp: ")
    assert batch.dead_letters[0]["payload"] == body


@pytest.mark.parametrize(
    "value, where, words",
    [
        (2**64, "tokens.supply", "an integer wider than 64 bits"),
        (-(2**63) - 1, "tokens.supply", "an integer wider than 64 bits"),
        ("\ud83d", "tokens.supply", "unpaired surrogate"),
        ({"a\x00b": 1}, "tokens.supply.a\\x00b", "field name"),
        (json.loads("[" * 70 + "]" * 70), "tokens.supply.0.0.0.0...", "nested deeper than 64 levels"),
    ],
)
def test_a_record_the_lake_cannot_hold_is_dead_lettered_naming_the_field_and_its_siblings_kept(value, where, words):
    """BSON holds 8-byte integers and valid UTF-8 only: such a record is refused, not the whole write."""
    body = load_fixture("coincap_v3_assets.json")
    body["data"][0]["tokens"] = {"supply": value}
    batch = records.coincap_assets(body, ENVELOPE)
    assert [d["entity_id"] for d in batch.documents] == ["ethereum"]
    letter = batch.dead_letters[0]
    assert letter["reason"].startswith(f"{where}: ") and words in letter["reason"]
    stored = bson.decode(bson.encode(letter))  # the letter itself is one the lake can hold
    assert json.loads(stored["payload"])["id"] == "bitcoin", "the payload is kept, as its JSON text"


def test_a_dead_letter_keeps_the_digits_of_an_integer_too_wide_for_bson():
    body = load_fixture("coincap_v3_asset_history.json")
    body["data"][0]["circulatingSupply"] = 2**70
    letter = records.coincap_history(body, "bitcoin", ENVELOPE).dead_letters[0]
    assert json.loads(letter["payload"])["circulatingSupply"] == 2**70


@pytest.mark.parametrize("field", ["priceUsd", "supply", "maxSupply", "marketCapUsd", "volumeUsd24Hr", "vwap24Hr"])
@pytest.mark.parametrize("value", ["1e25", "9" * 21, "-" + "9" * 21 + ".5", "1_000", "0x10", "1.5\u00a0", "12,5"])
def test_a_figure_the_jobs_decimal_cast_would_refuse_is_refused_naming_the_field(field, value):
    body = load_fixture("coincap_v3_assets.json")
    body["data"][0][field] = value
    batch = records.coincap_assets(body, ENVELOPE)
    assert [d["entity_id"] for d in batch.documents] == ["ethereum"]
    assert batch.dead_letters[0]["reason"] == f"{field}: not a decimal that fits DECIMAL(38,18)"


@pytest.mark.parametrize("value", ["1e-30", " 1.5 ", "0001.5", "99999999999999999999.999999999999999999", "+.5"])
def test_figures_the_jobs_decimal_cast_takes_are_kept(value):
    body = load_fixture("coincap_v3_asset_history.json")
    body["data"][0]["priceUsd"] = value
    assert len(records.coincap_history(body, "bitcoin", ENVELOPE).documents) == 3


def test_a_rank_the_job_cannot_read_as_an_integer_is_refused():
    body = load_fixture("coincap_v3_assets.json")
    body["data"][0]["rank"] = "1.5"
    body["data"][1]["rank"] = " 2 "
    batch = records.coincap_assets(body, ENVELOPE)
    assert [d["entity_id"] for d in batch.documents] == ["ethereum"]
    assert batch.dead_letters[0]["reason"] == "rank: not an integer"


def test_a_figure_written_so_finely_that_it_would_stall_the_job_is_refused():
    """Spark takes minutes over 1e-100000000 and fails the whole job over 5e-2147483647."""
    assert not casts.fits_money("1e-100000000") and not casts.fits_money("5e-2147483647")
    assert casts.fits_money("1e-999999") and casts.fits_money("0e-2147483647")


# Strings at the edges of Java's BigDecimal and Spark's casts: signs, exponents, whitespace and
# control characters Java trims (and those it does not), non-ASCII digits, rounding at 18 places.
CAST_EDGES = [
    *[" 1.5", "1.5 ", "\t1.5\n", "\x001", "1\x00", "\x0b1", "\x1f1", "\x7f1", "1\x7f", "\x851", "\u00a01", "\u30001"],
    *["1e5", "1E+20", "1e21", "1e-30", "+1", "-0", ".5", "5.", "+.5", "-.5e2", "1.e5", ".e5", "1e", "e5", "."],
    *["1_000", "Infinity", "-Infinity", "inf", "NaN", "0x10", "", " ", "1,5", "1.5.", "--1", "+-1", "1e+-1", "-", "+"],
    *["1d", "1f", "1L", "0001.5", "00", "0", "\uff11", "\uff11\uff12", "\u0661", "\u0663.\u0665", "1e\u0663"],
    *["\U0001d7cf", "1\U0001d7cf"],
    *["1" * 20, "1" * 21, "-" + "9" * 20, "-" + "9" * 21, "9" * 20 + "." + "9" * 18, "9" * 20 + "." + "9" * 19],
    *["99999999999999999999.9999999999999999994", "99999999999999999999.9999999999999999995", "5e-19", "4.9e-19"],
    *["0." + "1" * 40, "1." + "5" * 40, "0e37", "0e38", "0.000e40", "000e37", "1e-999999", "0e-2147483647"],
    *["1e2147483648", "1e-2147483648", "1e-2147483649", "0e999999999", "1e0000000000000000001", "1e00000000019"],
    *["123456789012345678901234567890e-10", "12345678901234567890123456789012345678901234567890e-31"],
    *["2147483647", "2147483648", "-2147483648", "-2147483649", "0000000000002147483647", " 7 ", "07", "3.0"],
    *["\x0c12\x0c", "+0", "1e3"],
    # Written too finely to cast in time: refused by both, as the job is guarded (job.transforms).
    *["1e-100000000", "5e-2147483647", "-0.5e-0001000000", "1e-999999", "0e-2147483647"],
]


def test_the_producer_refuses_exactly_what_the_jobs_casts_refuse(spark):
    """Checked against Spark itself: what the producer keeps, the job types; what it refuses, the job would."""
    rows = (
        spark.createDataFrame([(v,) for v in CAST_EDGES], "v string")
        .select("v", transforms._money(F.col("v")).isNotNull().alias("money"), F.col("v").try_cast("int").isNotNull())
        .collect()
    )
    spark_says = {r[0]: (r[1], r[2]) for r in rows}
    ours = {v: (casts.fits_money(v), casts.fits_int(v)) for v in CAST_EDGES}
    assert ours == spark_says
