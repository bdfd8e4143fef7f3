"""The lake writer on a real SecantusDB server: envelope, unique keys, indexes, counts."""

import json
from datetime import UTC, datetime, timedelta

from market_weather.contract import RAW_COLLECTIONS
from market_weather.producer import records, source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap, SimulatedOpenWeather
from tests.conftest import load_fixture
from tests.unit.test_producer_fuzz import SEED, fuzz_cases

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_every_raw_collection_has_its_unique_key_and_fetched_at_index(lake):
    for name in RAW_COLLECTIONS:
        indexes = {tuple(spec["key"]): spec.get("unique", False) for spec in lake[name].list_indexes()}
        assert indexes[("entity_id", "observed_at")] is True
        assert ("fetched_at",) in indexes


def test_reingesting_the_same_response_adds_nothing_and_counts_duplicates(lake, writer):
    body = load_fixture("coincap_v3_assets.json")
    envelope = records.Envelope("coincap", "/assets", NOW, "r1")
    first = writer.write(records.coincap_assets(body, envelope))
    second = writer.write(records.coincap_assets(body, records.Envelope("coincap", "/assets", NOW, "r2")))
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (second.inserted, second.duplicates) == (0, 2)
    assert lake.coincap_assets.count_documents({}) == 2
    stored = lake.coincap_assets.find_one({"entity_id": "bitcoin"}, {"_id": 0})
    assert stored["payload"] == body["data"][0] and stored["run_id"] == "r1"
    assert stored["observed_at"] == datetime(2025, 11, 22, 10, 0, 0, 412000)


def test_a_batch_with_new_duplicate_and_invalid_records_keeps_the_valid_ones(lake, writer):
    writer.batch_size = 2  # several bulk writes, duplicates spread over them
    body = load_fixture("coincap_v3_asset_history.json")
    writer.write(
        records.coincap_history({"data": body["data"][:1]}, "bitcoin", records.Envelope("coincap", "/h", NOW, "a"))
    )
    body["data"].append({"priceUsd": "NaN", "time": 1763805720000})
    counts = writer.write(records.coincap_history(body, "bitcoin", records.Envelope("coincap", "/h", NOW, "b")))
    assert counts.as_dict() == {"fetched": 4, "inserted": 2, "duplicates": 1, "dead_lettered": 1}
    letter = lake.dead_letters.find_one({"run_id": "b"})
    assert letter["payload"] == {"priceUsd": "NaN", "time": 1763805720000} and "priceUsd" in letter["reason"]


def test_simulated_volume_lands_through_the_same_writer(lake, writer, settings):
    coincap = SimulatedCoinCap(seed=1)
    counts = source_to_lake.backfill_coincap(
        coincap, writer, ["bitcoin", "ethereum"], NOW - timedelta(days=2), NOW, "m1", "vol"
    )
    assert counts.inserted == 2 * 2 * 1440 == lake.coincap_history.count_documents({})
    air = source_to_lake.backfill_openweather(
        SimulatedOpenWeather(seed=1), writer, settings.OPENWEATHER_LOCATIONS, NOW - timedelta(days=10), NOW, "vol"
    )
    assert air.inserted == len(settings.OPENWEATHER_LOCATIONS) * 240


def test_a_document_the_lake_cannot_hold_is_dead_lettered_and_the_rest_of_its_batch_written(lake, writer):
    """A writer handed what BSON cannot hold (an integer wider than 64 bits) loses no other document."""
    envelope = records.Envelope("coincap", "/h", NOW, "wide")
    batch = records.coincap_history(load_fixture("coincap_v3_asset_history.json"), "bitcoin", envelope)
    wide = {**batch.documents[1]["payload"], "volume": 2**64}
    batch.documents[1]["payload"] = wide
    batch.dead_letters += [
        envelope.dead_letter("fine", "ok"),
        {**envelope.dead_letter("odd", None), "payload": "\ud800"},
    ]
    counts = writer.write(batch)
    assert counts.as_dict() == {"fetched": 5, "inserted": 2, "duplicates": 0, "dead_lettered": 3}
    assert lake.coincap_history.count_documents({}) == 2
    letters = {d["reason"]: d["payload"] for d in lake.dead_letters.find({"run_id": "wide"})}
    assert letters == {
        "lake: payload.volume: an integer wider than 64 bits, which BSON cannot hold": json.dumps(wide),
        "fine": "ok",
        "odd; lake: payload: text with an unpaired surrogate, which BSON cannot hold": "\\ud800",
    }


def test_seeded_fuzz_through_the_writer_loses_no_record_and_raises_nothing(lake, writer):
    """Mutated responses (tests/unit/test_producer_fuzz.py) through validation and the writer into the real lake."""
    for case in fuzz_cases(SEED + 1, 300):
        batch = case.run()
        counts = writer.write(batch)
        run = {"run_id": f"fuzz-{case.number}"}
        assert counts.inserted == len(batch.documents) == lake[batch.collection].count_documents(run)
        assert counts.dead_lettered == len(batch.dead_letters) == lake.dead_letters.count_documents(run)


def test_the_plan_finds_a_write_anywhere_in_its_window_and_none_outside_it(lake):
    """`written_since` probes the window from its end back in slices: a write at any distance is found, one just
    outside either bound is not."""
    from bson import ObjectId

    from market_weather.job.lake_reader import written_since

    lo, hi = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=UTC)
    collection = lake[RAW_COLLECTIONS[-1]]

    def only(*moments: datetime) -> None:
        collection.delete_many({})
        collection.insert_many(
            [{"_id": ObjectId.from_datetime(m), "entity_id": str(i), "observed_at": m} for i, m in enumerate(moments)]
        )

    assert not written_since(lake, lo, hi)
    assert not written_since(lake, None, hi)  # an empty lake, probed back to 1970
    for inside in (lo, lo + timedelta(seconds=1), lo + timedelta(hours=5, seconds=7), hi - timedelta(seconds=1)):
        only(inside)
        assert written_since(lake, lo, hi), inside
    only(lo - timedelta(seconds=1), hi)  # the second before the window, and its cut-off (excluded)
    assert not written_since(lake, lo, hi)
    only(datetime(2001, 3, 4, tzinfo=UTC))  # years before the run, and no watermark yet
    assert written_since(lake, None, hi)
    assert not written_since(lake, datetime(2001, 3, 5, tzinfo=UTC), hi)
