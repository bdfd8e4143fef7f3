"""The simulated sources answer like the real APIs (shapes of the recorded samples) and replay exactly."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from market_weather.producer import records
from market_weather.producer.simulated import SimulatedCoinCap, SimulatedOpenWeather
from market_weather.settings import Location
from tests.conftest import load_fixture

NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
PARIS = Location("paris", "Paris", 48.8566, 2.3522)
ENVELOPE = records.Envelope("test", "/x", NOW, "run")


def _type_shape(value):
    if isinstance(value, dict):
        return {k: _type_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_type_shape(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_assets_snapshot_has_the_real_shape_and_decimal_strings():
    sample = load_fixture("coincap_v3_assets.json")
    body = SimulatedCoinCap(seed=1, clock=lambda: NOW).assets(["bitcoin", "ethereum", "some-new-coin"])
    assert body["timestamp"] == int(NOW.timestamp() * 1000)
    assert set(body["data"][0]) == set(sample["data"][0])
    for row in body["data"]:
        for field in ("rank", "supply", "marketCapUsd", "volumeUsd24Hr", "priceUsd", "changePercent24Hr", "vwap24Hr"):
            assert isinstance(row[field], str) and Decimal(row[field]).is_finite()
    by_id = {row["id"]: row for row in body["data"]}
    assert by_id["ethereum"]["maxSupply"] is None and by_id["bitcoin"]["maxSupply"] is not None
    assert sorted(int(r["rank"]) for r in body["data"]) == [1, 2, 3]
    assert not records.coincap_assets(body, ENVELOPE).dead_letters


def test_history_has_the_real_shape_one_point_per_interval():
    sample = load_fixture("coincap_v3_asset_history.json")
    start = int(NOW.timestamp() * 1000)
    body = SimulatedCoinCap(seed=1).history("bitcoin", "m5", start, start + 3_600_000)
    assert _type_shape(body["data"][0]) == _type_shape(sample["data"][0])
    times = [p["time"] for p in body["data"]]
    assert len(times) == 12 and all(t % 300_000 == 0 for t in times)
    assert all(b - a == 300_000 for a, b in pairwise(times))
    assert body["data"][0]["date"].endswith(".000Z")


def test_same_seed_replays_and_another_seed_differs():
    start = int(NOW.timestamp() * 1000)
    one = SimulatedCoinCap(seed=5).history("solana", "m1", start, start + 600_000)
    two = SimulatedCoinCap(seed=5).history("solana", "m1", start, start + 600_000)
    other = SimulatedCoinCap(seed=6).history("solana", "m1", start, start + 600_000)
    assert one["data"] == two["data"]
    assert [p["priceUsd"] for p in one["data"]] != [p["priceUsd"] for p in other["data"]]
    assert SimulatedOpenWeather(3, lambda: NOW).current_weather(PARIS) == SimulatedOpenWeather(
        3, lambda: NOW
    ).current_weather(PARIS)


def test_snapshot_and_history_agree_on_the_price_of_a_minute():
    minute = NOW.replace(second=0)
    source = SimulatedCoinCap(seed=9, clock=lambda: minute)
    snapshot = source.assets(["bitcoin"])["data"][0]["priceUsd"]
    start = int(minute.timestamp() * 1000)
    point = source.history("bitcoin", "m1", start, start + 60_000)["data"][0]["priceUsd"]
    assert snapshot == point


def test_prices_walk_without_jumps_and_stablecoins_stay_near_a_dollar():
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)
    source = SimulatedCoinCap(seed=2)
    day = [Decimal(p["priceUsd"]) for p in source.history("bitcoin", "m1", start, start + 2 * 86_400_000)["data"]]
    assert len(day) == 2880
    steps = [abs(b / a - 1) for a, b in pairwise(day)]
    assert max(steps) < Decimal("0.01"), "minute-to-minute moves stay small, across midnight too"
    assert len(set(day)) > 2000
    tether = source.history("tether", "h1", start, start + 30 * 86_400_000)["data"]
    assert all(Decimal("0.95") < Decimal(p["priceUsd"]) < Decimal("1.05") for p in tether)


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_weather_has_the_real_shape_and_optional_fields_come_and_go():
    sample = load_fixture("openweather_current.json")
    bodies = [
        SimulatedOpenWeather(seed=4, clock=clock_at(NOW + timedelta(minutes=10 * i))).current_weather(PARIS)
        for i in range(300)
    ]
    required = set(sample) - {"rain", "snow"}
    assert all(required <= set(b) for b in bodies)
    assert all(
        isinstance(b["dt"], int) and b["dt"] <= int((NOW + timedelta(minutes=10 * i)).timestamp())
        for i, b in enumerate(bodies)
    )
    assert any("gust" in b["wind"] for b in bodies) and any("gust" not in b["wind"] for b in bodies)
    assert any("rain" in b for b in bodies) and any("rain" not in b for b in bodies)
    temps = [b["main"]["temp"] for b in bodies]
    assert -15 < min(temps) < max(temps) < 30
    assert not any(records.openweather_weather(b, "paris", ENVELOPE).dead_letters for b in bodies)


def test_air_pollution_history_is_hourly_with_a_consistent_index():
    sample = load_fixture("openweather_air_pollution_history.json")
    start = int(NOW.timestamp())
    body = SimulatedOpenWeather(seed=4).air_pollution_history(PARIS, start, start + 86_400)
    assert _type_shape(body) == _type_shape(sample)
    assert len(body["list"]) == 24 and all(item["dt"] % 3600 == 0 for item in body["list"])
    for item in body["list"]:
        pm = item["components"]["pm2_5"]
        expected = 1 if pm < 10 else 2 if pm < 25 else 3 if pm < 50 else 4 if pm < 75 else 5
        assert item["main"]["aqi"] == expected
