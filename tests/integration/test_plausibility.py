"""Implausible documents written straight into the real lake (as anyone with write access could): each
is dead-lettered with its rule's reason by the real job, and the valid documents of the same batch load."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from market_weather.job import lake_to_warehouse
from market_weather.producer import source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap, SimulatedOpenWeather

NOW = datetime(2026, 11, 20, 15, 37, 12, tzinfo=UTC)


def altered(doc: dict, observed_at: datetime, **payload) -> dict:
    """A copy of a lake document observed at `observed_at`, with payload fields (dotted paths) replaced."""
    out = copy.deepcopy(doc)
    out["_id"] = ObjectId()  # stamped now, as the producer's driver stamps a write
    out["observed_at"], out["run_id"] = observed_at, "by-hand"
    for path, value in payload.items():
        *parents, last = path.split(".")
        node = out["payload"]
        for key in parents:
            node = node[key]
        node[last] = value
    return out


def test_implausible_documents_are_dead_lettered_by_rule_and_their_batch_loads(settings, lake, writer, pg, spark):
    coincap = SimulatedCoinCap(seed=3, clock=lambda: NOW)
    source_to_lake.fetch_coincap(coincap, writer, ["bitcoin"], "good")
    source_to_lake.backfill_coincap(coincap, writer, ["bitcoin"], NOW - timedelta(hours=1), NOW, "m1", "good")
    weather = SimulatedOpenWeather(seed=3, clock=lambda: NOW)
    source_to_lake.fetch_openweather(weather, writer, settings.OPENWEATHER_LOCATIONS[:1], "good")
    asset, point = lake.coincap_assets.find_one(), lake.coincap_history.find_one()
    obs, air = lake.openweather_weather.find_one(), lake.openweather_air.find_one()
    minute = timedelta(minutes=1)

    # (collection, document, the field and rule its reason must name); each observed at its own minute.
    bad = [
        ("coincap_assets", altered(asset, NOW + 1 * minute, priceUsd="-5"), "payload.priceUsd: price_positive"),
        ("coincap_history", altered(point, NOW + 2 * minute, priceUsd="0"), "payload.priceUsd: price_positive"),
        ("coincap_history", altered(point, datetime(9999, 1, 1, tzinfo=UTC)), "observed_at: not_after_fetch"),
        ("coincap_history", altered(point, datetime(1969, 7, 20, tzinfo=UTC)), "observed_at: not_before_source"),
        ("openweather_air", altered(air, NOW + 3 * minute, **{"main.aqi": 0}), "payload.main.aqi: aqi_1_to_5"),
        ("openweather_air", altered(air, NOW + 4 * minute, **{"main.aqi": 6}), "payload.main.aqi: aqi_1_to_5"),
        (
            "openweather_air",
            altered(air, NOW + 5 * minute, **{"components.no2": -1.5}),
            "payload.components.no2: no2_not_negative",
        ),
        (
            "openweather_weather",
            altered(obs, NOW + 6 * minute, **{"main.humidity": 150}),
            "payload.main.humidity: humidity_pct_percent",
        ),
        (
            "openweather_weather",
            altered(obs, NOW + 7 * minute, **{"main.temp": 200.0}),
            "payload.main.temp: temperature_c",
        ),
        ("coincap_assets", altered(asset, NOW + 8 * minute, name="Bit\u0000coin"), "payload.name: name_text"),
    ]
    # Each collection's bad documents in one batch with a valid one observed a minute later.
    valid_extra = {
        "coincap_assets": altered(asset, NOW + 20 * minute),
        "coincap_history": altered(point, NOW + 21 * minute),
        "openweather_air": altered(air, NOW + 22 * minute),
        "openweather_weather": altered(obs, NOW + 23 * minute),
    }
    for collection, extra in valid_extra.items():
        writer.insert(collection, [doc for c, doc, _ in bad if c == collection] + [extra])

    summary = lake_to_warehouse.run(spark, settings, run_id="with-implausible")

    assert summary.status == "success" and summary.rows_rejected == len(bad)
    reasons = sorted(letter["reason"] for letter in lake.dead_letters.find({"run_id": "with-implausible"}))
    assert len(reasons) == len(bad)
    for collection, doc, rule in bad:
        letter = lake.dead_letters.find_one(
            {"run_id": "with-implausible", "lake_collection": collection, "lake_id": doc["_id"]}
        )
        assert letter is not None and rule in letter["reason"], f"{rule}: {letter and letter['reason']}; all: {reasons}"

    def count(table: str, column: str, at: datetime) -> int:
        return pg.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", [at]).fetchone()[0]

    # The valid documents of each batch loaded; none of the bad ones did.
    assert count("asset_prices", "observed_at", NOW + 20 * minute) == 1
    assert count("asset_prices", "observed_at", NOW + 21 * minute) == 1
    assert count("air_quality", "observed_at", NOW + 22 * minute) == 1
    assert count("weather_observations", "observed_at", NOW + 23 * minute) == 1
    for step in range(1, 9):
        for table in ("asset_prices", "air_quality", "weather_observations"):
            assert count(table, "observed_at", NOW + step * minute) == 0
    assert (
        pg.execute("SELECT count(*) FROM asset_prices WHERE observed_at > now() + interval '1 day'").fetchone()[0] == 0
    )
    assert pg.execute("SELECT count(*) FROM asset_prices WHERE price_usd <= 0").fetchone()[0] == 0
