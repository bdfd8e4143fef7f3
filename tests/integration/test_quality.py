"""The warehouse checks on real services: `make check`'s module after real loads, a warehouse broken on
purpose, results stored, and the alert posted to a local webhook."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from market_weather.job import lake_to_warehouse
from market_weather.orchestration.quality import QualityAlert
from market_weather.producer import source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap, SimulatedOpenWeather
from market_weather.warehouse import quality
from tests.conftest import run_module
from tests.integration.test_pipeline import fill_lake

ERROR_CHECKS = {"ohlc_invariants", "ohlc_hour_points", "lake_consistency", "runs_zombie", "runs_overlap"}
WARN_CHECKS = {"m1_gaps", "freshness_coincap", "freshness_weather", "freshness_air"}


def make_check(settings) -> tuple[int, dict[str, str], str]:
    """`make check` as a user runs it: exit code, each check's status and the whole output."""
    env = {**os.environ, **settings.as_environment()}
    result = run_module(env, "market_weather.warehouse.quality")
    statuses = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0] in {"PASS", "FAIL", "WARN"}:
            statuses[parts[1]] = parts[0]
    return result.returncode, statuses, result.stdout + result.stderr


def latest(pg) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in pg.execute("SELECT check_name, status, observed, detail FROM quality_latest")}


def fresh_lake(settings, writer) -> None:
    """Observations of every source made now."""
    now = datetime.now(UTC).replace(microsecond=0)
    coincap = SimulatedCoinCap(seed=5, clock=lambda: now)
    source_to_lake.fetch_coincap(coincap, writer, settings.COINCAP_ASSETS, "fresh")
    source_to_lake.backfill_coincap(coincap, writer, settings.COINCAP_ASSETS, now - timedelta(hours=2), now, "m1", "f")
    source_to_lake.fetch_openweather(
        SimulatedOpenWeather(seed=5, clock=lambda: now), writer, settings.OPENWEATHER_LOCATIONS, "f"
    )


def test_checks_pass_after_a_real_load_and_name_a_broken_ohlc_bucket(settings, writer, pg, spark):
    fresh_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="fresh")

    code, statuses, output = make_check(settings)
    assert code == 0, output
    assert statuses == {check: "PASS" for check in ERROR_CHECKS | WARN_CHECKS}
    assert {name: status for name, (status, *_) in latest(pg).items()} == {name: "pass" for name in statuses}

    # A bucket whose high is below its low, as a bad merge or a hand edit would leave it.
    pg.execute(
        "UPDATE asset_ohlc SET high = low - 1 WHERE (asset_id, interval, bucket_start) ="
        " (SELECT asset_id, interval, bucket_start FROM asset_ohlc WHERE interval = '1h' LIMIT 1)"
    )
    code, statuses, output = make_check(settings)
    assert code == 1 and statuses["ohlc_invariants"] == "FAIL"
    assert "1 check(s) failed: ohlc_invariants" in output
    status, observed, detail = latest(pg)["ohlc_invariants"]
    assert (status, observed) == ("fail", 1) and " 1h " in detail
    assert pg.execute("SELECT count(*) FROM quality_checks WHERE check_name = 'ohlc_invariants'").fetchone()[0] == 2


def test_points_that_do_not_add_up_and_rows_missing_from_the_load_are_named(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="load")
    pg.execute(
        "UPDATE asset_ohlc SET points = points + 1 WHERE (asset_id, interval, bucket_start) ="
        " (SELECT asset_id, interval, bucket_start FROM asset_ohlc WHERE interval = '1h' LIMIT 1)"
    )
    pg.execute(
        "DELETE FROM weather_observations WHERE observed_at = (SELECT max(observed_at) FROM weather_observations)"
    )

    code, statuses, output = make_check(settings)

    assert code == 1 and statuses["ohlc_hour_points"] == "FAIL" and statuses["lake_consistency"] == "FAIL", output
    status, observed, detail = latest(pg)["lake_consistency"]
    assert status == "fail" and observed >= 1 and "openweather_weather" in detail and "weather_observations" in detail
    # The fixture's observations are days old: freshness warns and fails nothing.
    assert statuses["freshness_coincap"] == "WARN" and "freshness_coincap" not in output.split("failed:")[-1]


def test_dead_lettered_documents_count_as_accounted_for(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    bad = lake.coincap_history.find_one({}, {"_id": 0})
    writer.insert(
        "coincap_history",
        [
            {
                **bad,
                "observed_at": bad["observed_at"] + timedelta(days=1),
                "payload": {**bad["payload"], "priceUsd": "-1"},
            }
        ],
    )
    summary = lake_to_warehouse.run(spark, settings, run_id="with-reject")
    assert summary.rows_rejected == 1

    with_lake = quality.Context(pg, lake, settings)
    result = quality.lake_consistency(with_lake)
    assert result.passed and result.observed == 0, result.detail


def test_a_zombie_run_and_overlapping_runs_fail_their_checks(settings, lake, pg):
    pg.execute(
        "INSERT INTO etl_runs (run_id, job, status, started_at, finished_at) VALUES"
        " ('a', 'lake_to_warehouse', 'success', now() - interval '10 minutes', now() - interval '5 minutes'),"
        " ('b', 'lake_to_warehouse', 'success', now() - interval '7 minutes', now() - interval '6 minutes'),"
        " ('ghost', 'lake_to_warehouse', 'running', now() - interval '1 minute', NULL)"
    )
    ctx = quality.Context(pg, lake, settings)

    zombie, overlap = quality.runs_zombie(ctx), quality.runs_overlap(ctx)

    assert (zombie.status, zombie.observed, zombie.detail) == ("fail", 1, "ghost")
    assert overlap.status == "fail" and overlap.observed == 1 and overlap.detail == "b"


def failed_task_context(message: str) -> dict:
    ti = SimpleNamespace(dag_id="lake_to_warehouse", task_id="check_warehouse", run_id="r1", try_number=1)
    return {"ti": ti, "exception": RuntimeError(message)}


def test_the_alert_is_logged_always_and_posted_when_a_webhook_is_set(webhook, caplog):
    url, received = webhook
    QualityAlert(webhook_url="").notify(failed_task_context("1 data-quality check(s) failed: FAIL ohlc_invariants"))
    assert received == [] and "data-quality alert: lake_to_warehouse.check_warehouse (r1)" in caplog.text

    QualityAlert(webhook_url=url).notify(failed_task_context("1 data-quality check(s) failed: FAIL ohlc_invariants"))

    assert len(received) == 1
    alert = received[0]
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == ("lake_to_warehouse", "check_warehouse", "r1")
    assert "ohlc_invariants" in alert["message"]
    assert "alert-token-123" not in caplog.text, "the webhook URL stays out of the log"


def test_minutes_missing_inside_backfilled_history_are_reported_as_gaps(settings, lake, writer, pg, spark):
    fill_lake(settings, writer)
    # Three minutes the source did not deliver, inside bitcoin's three hours of m1 history.
    first = lake.coincap_history.find_one({"entity_id": "bitcoin"}, sort=[("observed_at", 1)])["observed_at"]
    hole = [first + timedelta(minutes=m) for m in (30, 31, 32)]
    assert lake.coincap_history.delete_many({"entity_id": "bitcoin", "observed_at": {"$in": hole}}).deleted_count == 3
    lake_to_warehouse.run(spark, settings, run_id="with-hole")

    code, statuses, output = make_check(settings)

    assert statuses["m1_gaps"] == "WARN" and statuses["lake_consistency"] == "PASS", output
    assert code == 0, "a gap warns: the source may not have had those minutes"
    status, observed, detail = latest(pg)["m1_gaps"]
    assert (status, observed) == ("warn", 3)
    before, after = hole[0] - timedelta(minutes=1), hole[-1] + timedelta(minutes=1)
    assert detail == f"bitcoin {before:%Y-%m-%d %H:%M} → {after:%H:%M} (3 missing)"
    # The ranges between the assets' separate backfills and the coarser history are not gaps.
    source_to_lake.backfill_coincap(
        SimulatedCoinCap(seed=7), writer, ["ethereum"], first - timedelta(days=3), first - timedelta(days=2), "h1", "h1"
    )
    lake_to_warehouse.run(spark, settings, run_id="coarse")
    assert quality.m1_gaps(quality.Context(pg, lake, settings)).observed == 3
