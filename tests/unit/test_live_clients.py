"""The live clients against a local HTTP server that answers like CoinCap v3 and OpenWeather."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise

import pytest
from werkzeug import Response

from market_weather.lake import LakeWriter, WriteCounts
from market_weather.producer import source_to_lake
from market_weather.producer.coincap import CoinCapClient
from market_weather.producer.http import ApiError, parse_retry_after
from market_weather.producer.openweather import OpenWeatherClient
from market_weather.settings import Location
from tests.conftest import load_fixture

KEY = "sk-test-4f1c9a2b7e"
PARIS = Location("paris", "Paris", 48.8566, 2.3522)


class MemoryWriter(LakeWriter):
    """Stands in for the lake writer where a test looks only at what the client returned."""

    def __init__(self):
        self.batches = []

    def write(self, batch):
        self.batches.append(batch)
        return WriteCounts(
            len(batch.documents) + len(batch.dead_letters), len(batch.documents), 0, len(batch.dead_letters)
        )


@pytest.fixture
def waits():
    return []


@pytest.fixture
def coincap(httpserver, waits):
    client = CoinCapClient(httpserver.url_for("/v3"), KEY, sleep=waits.append, max_attempts=4)
    yield client
    client.close()


@pytest.fixture
def openweather(httpserver, waits):
    client = OpenWeatherClient(httpserver.url_for(""), KEY, sleep=waits.append, max_attempts=4)
    yield client
    client.close()


def test_assets_sends_the_bearer_key_and_only_the_configured_ids(httpserver, coincap):
    httpserver.expect_oneshot_request(
        "/v3/assets", query_string="ids=bitcoin%2Cethereum", headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_json(load_fixture("coincap_v3_assets.json"))
    body = coincap.assets(["bitcoin", "ethereum"])
    assert [a["id"] for a in body["data"]] == ["bitcoin", "ethereum"]
    assert coincap.calls == 1 and coincap.bytes_received > 500
    httpserver.check_assertions()


def test_history_asks_for_the_interval_and_range(httpserver, coincap):
    httpserver.expect_oneshot_request(
        "/v3/assets/binance-coin/history", query_string={"interval": "h1", "start": "1000", "end": "3601000"}
    ).respond_with_json(load_fixture("coincap_v3_asset_history.json"))
    assert len(coincap.history("binance-coin", "h1", 1000, 3_601_000)["data"]) == 3
    httpserver.check_assertions()


def test_openweather_endpoints_send_metric_units_and_appid(httpserver, openweather):
    common = {"lat": "48.8566", "lon": "2.3522", "appid": KEY}
    httpserver.expect_oneshot_request(
        "/data/2.5/weather", query_string={**common, "units": "metric"}
    ).respond_with_json(load_fixture("openweather_current.json"))
    httpserver.expect_oneshot_request("/data/2.5/air_pollution", query_string=common).respond_with_json(
        load_fixture("openweather_air_pollution.json")
    )
    httpserver.expect_oneshot_request(
        "/data/2.5/air_pollution/history", query_string={**common, "start": "1606435200", "end": "1606521600"}
    ).respond_with_json(load_fixture("openweather_air_pollution_history.json"))
    assert openweather.current_weather(PARIS)["name"] == "Paris"
    assert openweather.air_pollution(PARIS)["list"][0]["main"]["aqi"] == 2
    assert len(openweather.air_pollution_history(PARIS, 1606435200, 1606521600)["list"]) == 3
    httpserver.check_assertions()


def test_429_is_retried_after_the_seconds_retry_after_asks(httpserver, coincap, waits):
    httpserver.expect_ordered_request("/v3/assets").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_ordered_request("/v3/assets").respond_with_json(load_fixture("coincap_v3_assets.json"))
    assert len(coincap.assets(["bitcoin"])["data"]) == 2
    assert waits == [7.0] and coincap.calls == 2


def test_a_retry_after_beyond_the_time_budget_fails_at_once_instead_of_hanging(httpserver, coincap, waits):
    httpserver.expect_request("/v3/assets").respond_with_response(
        Response("come back in an hour", status=429, headers={"Retry-After": "3600"})
    )
    with pytest.raises(ApiError, match=r"coincap /assets: gave up .*HTTP 429"):
        coincap.assets(["bitcoin"])
    assert waits == [] and coincap.calls == 1


def test_retry_after_as_an_http_date_is_honoured(httpserver, openweather, waits):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    httpserver.expect_ordered_request("/data/2.5/weather").respond_with_response(
        Response("", status=503, headers={"Retry-After": when})
    )
    httpserver.expect_ordered_request("/data/2.5/weather").respond_with_json(load_fixture("openweather_current.json"))
    openweather.current_weather(PARIS)
    assert len(waits) == 1 and 25 < waits[0] <= 30


def test_repeated_500_ends_in_a_clear_error_after_backoff(httpserver, coincap, waits):
    httpserver.expect_request("/v3/assets").respond_with_data("boom", status=500)
    with pytest.raises(ApiError, match=r"coincap /assets: gave up after 4 attempts .*HTTP 500") as info:
        coincap.assets(["bitcoin"])
    assert info.value.status == 500
    assert coincap.calls == 4 and len(waits) == 3
    assert all(0 <= w <= 30 for w in waits)


def test_connection_errors_are_retried_then_reported_without_the_url_query(waits):
    client = OpenWeatherClient("http://127.0.0.1:9", KEY, sleep=waits.append, max_attempts=3, connect_timeout=0.5)
    with pytest.raises(ApiError, match="ConnectionError reaching http://127.0.0.1:9/data/2.5/weather") as info:
        client.current_weather(PARIS)
    assert KEY not in str(info.value) and len(waits) == 2


@pytest.mark.parametrize(
    "status, words",
    [
        (401, "invalid or not yet active"),
        (403, "credits are exhausted"),
        (404, "not found"),
        (400, "malformed"),
    ],
)
def test_client_errors_fail_fast_with_a_hint(httpserver, coincap, status, words):
    httpserver.expect_request("/v3/assets").respond_with_json({"error": f"echo {KEY}"}, status=status)
    with pytest.raises(ApiError, match=f"HTTP {status}: .*{words}") as info:
        coincap.assets(["bitcoin"])
    assert coincap.calls == 1
    assert KEY not in str(info.value)


def test_a_body_that_is_not_json_is_dead_lettered_whole(httpserver, coincap):
    httpserver.expect_request("/v3/assets").respond_with_data("<html>maintenance</html>", content_type="text/html")
    writer = MemoryWriter()
    counts = source_to_lake.fetch_coincap(coincap, writer, ["bitcoin"], "run")
    assert counts.dead_lettered == 1 and counts.inserted == 0
    letter = writer.batches[0].dead_letters[0]
    assert letter["payload"] == "<html>maintenance</html>" and "not JSON" in letter["reason"]


def test_invalid_records_are_dead_lettered_and_the_valid_ones_kept(httpserver, coincap):
    body = load_fixture("coincap_v3_assets.json")
    body["data"][0]["priceUsd"] = None
    body["data"][1]["tokens"] = {"ethereum": ["0xabc"]}  # unknown extra fields are kept as received
    httpserver.expect_request("/v3/assets").respond_with_json(body)
    writer = MemoryWriter()
    counts = source_to_lake.fetch_coincap(coincap, writer, ["bitcoin", "ethereum"], "run")
    assert (counts.inserted, counts.dead_lettered) == (1, 1)
    assert writer.batches[0].documents[0]["payload"]["tokens"] == {"ethereum": ["0xabc"]}


def test_air_pollution_in_the_documented_shape_is_accepted(httpserver, openweather):
    documented = load_fixture("openweather_air_pollution.json")
    documented["coord"] = [2.3522, 48.8566]
    documented["list"][0]["main"]["aqi"] = 2.0
    httpserver.expect_request("/data/2.5/air_pollution").respond_with_json(documented)
    httpserver.expect_request("/data/2.5/weather").respond_with_json(
        {**load_fixture("openweather_current.json"), "cod": "200"}
    )
    writer = MemoryWriter()
    counts = source_to_lake.fetch_openweather(openweather, writer, [PARIS], "run")
    assert (counts.inserted, counts.dead_lettered) == (2, 0)


def test_history_backfill_is_split_into_windows_with_no_gap_or_overlap(httpserver, coincap):
    asked = []

    def handler(request):
        start, end = int(request.args["start"]), int(request.args["end"])
        asked.append((start, end))
        points = [
            {"priceUsd": "1.5", "time": t, "circulatingSupply": "1", "date": ""}
            for t in range(-(-start // 60_000) * 60_000, end, 60_000)
        ]
        return Response(json.dumps({"data": points, "timestamp": end}), content_type="application/json")

    httpserver.expect_request("/v3/assets/bitcoin/history").respond_with_handler(handler)
    start = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    end = start + timedelta(days=2, hours=5)
    writer = MemoryWriter()
    counts = source_to_lake.backfill_coincap(coincap, writer, ["bitcoin"], start, end, "m1", "run")

    assert len(asked) == 3
    assert asked[0][0] == int(start.timestamp() * 1000) and asked[-1][1] == int(end.timestamp() * 1000)
    assert all(a[1] == b[0] for a, b in pairwise(asked))
    assert all(hi - lo <= 86_400_000 for lo, hi in asked)
    times = [d["payload"]["time"] for b in writer.batches for d in b.documents]
    assert len(times) == len(set(times)) == counts.inserted == (2 * 24 + 5) * 60


def test_the_key_appears_in_no_log_record(httpserver, openweather, coincap, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_ordered_request("/data/2.5/weather").respond_with_data("", status=502)
    httpserver.expect_ordered_request("/data/2.5/weather").respond_with_json(load_fixture("openweather_current.json"))
    httpserver.expect_request("/v3/assets").respond_with_json({}, status=401)
    openweather.current_weather(PARIS)
    with pytest.raises(ApiError):
        coincap.assets(["bitcoin"])
    # werkzeug's lines are the fake API server's own access log, the remote side: not ours.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert "/data/2.5/weather" in logged, "the request lines were logged"
    assert KEY not in logged


def test_a_client_closes_its_session_when_its_block_ends(httpserver, monkeypatch):
    httpserver.expect_request("/v3/assets").respond_with_json(load_fixture("coincap_v3_assets.json"))
    closed = []
    with CoinCapClient(httpserver.url_for("/v3"), KEY) as client:
        monkeypatch.setattr(client.session, "close", lambda: closed.append(True))
        client.assets(["bitcoin"])
        assert closed == []
    assert closed == [True]
    assert client._redactor not in logging.getLogger("urllib3.connectionpool").filters


def test_retry_after_parsing():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12", now) == 12
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def _cut_short(body: bytes) -> Response:
    """A response that promises more bytes than it sends, as a connection dropped mid-body does."""
    response = Response(iter([body[: len(body) // 2]]), content_type="application/json")
    response.headers["Content-Length"] = str(len(body))
    return response


def test_a_body_cut_short_is_retried(httpserver, coincap, waits):
    body = json.dumps(load_fixture("coincap_v3_assets.json")).encode()
    httpserver.expect_ordered_request("/v3/assets").respond_with_response(_cut_short(body))
    httpserver.expect_ordered_request("/v3/assets").respond_with_data(body, content_type="application/json")
    assert [a["id"] for a in coincap.assets(["bitcoin"])["data"]] == ["bitcoin", "ethereum"]
    assert coincap.calls == 2 and len(waits) == 1


def test_a_body_cut_short_every_time_ends_in_one_line_naming_the_endpoint(httpserver, coincap, waits):
    body = json.dumps(load_fixture("coincap_v3_assets.json")).encode()
    for _ in range(4):
        httpserver.expect_ordered_request("/v3/assets").respond_with_response(_cut_short(body))
    with pytest.raises(ApiError, match=r"^coincap /assets: gave up after 4 attempts .*cut short$") as info:
        coincap.assets(["bitcoin"])
    assert "\n" not in str(info.value) and coincap.calls == 4


def test_a_redirect_loop_fails_at_once_naming_the_endpoint(httpserver, openweather, waits):
    httpserver.expect_request("/data/2.5/weather").respond_with_response(
        Response("", status=302, headers={"Location": "/data/2.5/weather"})
    )
    with pytest.raises(ApiError) as info:
        openweather.current_weather(PARIS)
    assert str(info.value) == "openweather /data/2.5/weather: more than 30 redirects: check the base URL"
    assert openweather.calls == 1 and waits == []


def test_a_json_body_that_starts_with_a_byte_order_mark_is_read(httpserver, coincap):
    body = "\ufeff" + json.dumps(load_fixture("coincap_v3_assets.json"))
    httpserver.expect_request("/v3/assets").respond_with_data(
        body.encode(), content_type="application/json; charset=utf-8"
    )
    writer = MemoryWriter()
    counts = source_to_lake.fetch_coincap(coincap, writer, ["bitcoin", "ethereum"], "run")
    assert (counts.inserted, counts.dead_lettered) == (2, 0)


def test_json_nested_too_deeply_to_read_is_dead_lettered_whole(httpserver, coincap):
    body = '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    httpserver.expect_request("/v3/assets").respond_with_data(body, content_type="application/json")
    writer = MemoryWriter()
    counts = source_to_lake.fetch_coincap(coincap, writer, ["bitcoin"], "run")
    assert (counts.inserted, counts.dead_lettered) == (0, 1)
    letter = writer.batches[0].dead_letters[0]
    assert letter["reason"] == "response JSON is nested too deeply to read (HTTP 200)"
    assert letter["payload"] == body


def test_a_json_body_that_echoes_the_key_is_stored_without_it(httpserver, coincap, openweather):
    """Some APIs echo the request, key included; neither a document nor a dead letter keeps it."""
    assets = load_fixture("coincap_v3_assets.json")
    assets["data"][0]["request"] = {"headers": [f"Authorization: Bearer {KEY}"], f"key {KEY}": KEY}
    assets["data"][1]["priceUsd"] = f"invalid key {KEY}"
    httpserver.expect_request("/v3/assets").respond_with_json(assets)
    weather = {**load_fixture("openweather_current.json"), "echo": f"/data/2.5/weather?appid={KEY}&units=metric"}
    httpserver.expect_request("/data/2.5/weather").respond_with_json(weather)
    httpserver.expect_request("/data/2.5/air_pollution").respond_with_json({"cod": 401, "message": f"bad {KEY}"})
    writer = MemoryWriter()
    source_to_lake.fetch_coincap(coincap, writer, ["bitcoin", "ethereum"], "run")
    source_to_lake.fetch_openweather(openweather, writer, [PARIS], "run")
    documents = [d["payload"] for b in writer.batches for d in b.documents]
    letters = [d["payload"] for b in writer.batches for d in b.dead_letters]
    assert (len(documents), len(letters)) == (2, 2)
    assert KEY not in repr(writer.batches)
    assert documents[0]["request"] == {"headers": ["Authorization: Bearer ***"], "key ***": "***"}
    assert documents[1]["echo"] == "/data/2.5/weather?appid=***&units=metric"
    assert letters == [{**assets["data"][1], "priceUsd": "invalid key ***"}, {"cod": 401, "message": "bad ***"}]


def test_an_error_message_shows_no_part_of_the_key(httpserver, coincap):
    """The body is cut to 200 characters after the key is masked, so no prefix of the key slips through."""
    httpserver.expect_request("/v3/assets").respond_with_data("x" * 190 + KEY, status=403)
    with pytest.raises(ApiError) as info:
        coincap.assets(["bitcoin"])
    assert KEY[:6] not in str(info.value)
