"""The commands a user types, run as processes against the test services."""

from __future__ import annotations

import re
import subprocess

import pytest

from market_weather.settings import PROJECT_ROOT
from tests.conftest import run_module
from tests.integration.conftest import demo_env
from tests.integration.conftest import table_counts as counts


@pytest.fixture
def env(settings):
    return demo_env(settings)


def assert_quiet(result: subprocess.CompletedProcess) -> None:
    """The terminal shows the platform's own output; Spark's and the JVM's go to the Spark log."""
    noise = [line for line in (result.stdout + result.stderr).splitlines() if "WARN" in line]
    assert not noise, noise


def test_demo_runs_a_full_cycle_and_a_rerun_duplicates_nothing(env, pg):
    first = run_module(env, "market_weather.stack", "demo")
    assert first.returncode == 0, first.stderr[-3000:]
    after_first = counts(pg)
    assert all(after_first.values()), after_first
    assert "asset_prices" in first.stdout and "etl_runs: " in first.stdout and " success " in first.stdout
    assert "PASS  lake_consistency" in first.stdout and "FAIL" not in first.stdout
    assert_quiet(first)
    check = run_module(env, "market_weather.warehouse.quality")
    assert check.returncode == 0 and "9 checks: 9 passed, 0 warned" in check.stdout, check.stdout + check.stderr

    second = run_module(env, "market_weather.stack", "demo")
    assert second.returncode == 0, second.stderr[-3000:]
    after_second = counts(pg)
    duplicated = pg.execute(
        "SELECT count(*) FROM (SELECT asset_id, observed_at FROM asset_prices GROUP BY 1, 2 HAVING count(*) > 1) d"
    ).fetchone()[0]
    assert duplicated == 0
    # The second cycle adds one new snapshot per asset, and at most a minute of new history points.
    assets = len(env["COINCAP_ASSETS"].split(","))
    assert assets <= after_second["asset_prices"] - after_first["asset_prices"] <= 3 * assets
    assert after_second["assets"] == after_first["assets"] == assets

    # The README's example queries, on the warehouse the demo filled: each answers with rows.
    queries = readme_queries()
    assert len(queries) == 5
    for query in queries:
        assert pg.execute(query).fetchall(), query


def readme_queries() -> list[str]:
    """The SQL blocks of the "Example queries" section of docs/data.md, which the README links to."""
    page = (PROJECT_ROOT / "docs" / "data.md").read_text()
    section = page.split("### Example queries", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)


def test_load_reports_what_it_read_wrote_and_rejected(env, pg, settings):
    assert run_module(env, "market_weather.producer", "fetch", "coincap").returncode == 0
    result = run_module(env, "market_weather.job.lake_to_warehouse", "--run-id", "cli-load")
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"rows_read": 3' in result.stdout and '"rows_rejected": 0' in result.stdout
    assert pg.execute("SELECT status FROM etl_runs WHERE run_id = 'cli-load'").fetchone() == ("success",)
    assert_quiet(result)

    spark_log = settings.LOCAL_STATE_DIR / "logs" / "spark" / "lake_to_warehouse.log"
    assert "Successfully started service 'sparkDriver'" in spark_log.read_text(), "the full Spark log, INFO included"

    idle = run_module(env, "market_weather.job.lake_to_warehouse", "--run-id", "cli-idle")
    assert idle.returncode == 0 and '"rows_written": 0' in idle.stdout


def test_producer_cli_fetches_and_backfills_with_counts(env, lake):
    fetched = run_module(env, "market_weather.producer", "fetch", "openweather")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.startswith("openweather: fetched 2, inserted 2, duplicates 0, dead-lettered 0")

    backfill = run_module(
        env,
        "market_weather.producer",
        "backfill",
        "coincap",
        "--start",
        "2026-01-01T00:00:00",
        "--end",
        "2026-01-01T06:00:00",
        "--interval",
        "m5",
        "--assets",
        "bitcoin",
    )
    assert backfill.returncode == 0, backfill.stderr
    assert "inserted 72," in backfill.stdout
    assert lake.coincap_history.count_documents({"entity_id": "bitcoin"}) == 72


def test_producer_cli_refuses_a_bad_range_and_a_bad_interval(env):
    reversed_range = run_module(
        env, "market_weather.producer", "backfill", "coincap", "--start", "2026-01-02", "--end", "2026-01-01"
    )
    assert reversed_range.returncode != 0 and "--end must be after --start" in reversed_range.stderr
    bad_interval = run_module(
        env,
        "market_weather.producer",
        "backfill",
        "coincap",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-02",
        "--interval",
        "m2",
    )
    assert bad_interval.returncode == 2 and "interval must be one of" in bad_interval.stderr


def test_a_spark_that_cannot_start_is_recorded_as_a_failed_run(env, pg):
    assert run_module(env, "market_weather.producer", "fetch", "coincap").returncode == 0
    no_spark = {**env, "SPARK_MASTER": "no-such-master://here"}
    result = run_module(no_spark, "market_weather.job.lake_to_warehouse", "--run-id", "no-spark")
    assert result.returncode != 0
    status, finished, message = pg.execute(
        "SELECT status, finished_at, message FROM etl_runs WHERE run_id = 'no-spark'"
    ).fetchone()
    assert status == "failed" and finished is not None and message, "recorded as failed, with the error"
    # Nothing was lost: the next run with a working Spark loads what the failed one could not.
    retried = run_module(env, "market_weather.job.lake_to_warehouse", "--run-id", "retried")
    assert retried.returncode == 0 and '"rows_read": 3' in retried.stdout
