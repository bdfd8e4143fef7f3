"""What the dashboard's pages say before the first load reaches the warehouse: the fetching DAG's schedule in
words and when the first data is expected, from the lake's documents and the newest load (no services)."""

from __future__ import annotations

import pytest

from market_weather.dashboard.data import SOURCES, cron_minutes, schedule_in_words, waiting_note


@pytest.mark.parametrize(
    "cron, minutes, words",
    [
        ("* * * * *", 1, "every minute"),
        ("*/1 * * * *", 1, "every minute"),
        ("*/10 * * * *", 10, "every 10 minutes"),
        ("15 * * * *", 60, "every hour"),
        ("@hourly", 60, "every hour"),
        ("0 */6 * * *", 360, "every 6 hours"),
        ("30 2 * * *", 1440, "every day"),
        ("@daily", 1440, "every day"),
        ("*/7 * * * *", None, "on the schedule '*/7 * * * *'"),  # uneven: every 7 minutes, then 4 at the hour
        ("* */2 * * *", None, "on the schedule '* */2 * * *'"),  # every minute, every other hour
        ("0 9 * * 1-5", None, "on the schedule '0 9 * * 1-5'"),
        ("*/0 * * * *", None, "on the schedule '*/0 * * * *'"),
        ("@continuous", None, "on the schedule '@continuous'"),
    ],
)
def test_a_plain_cron_schedule_in_minutes_and_in_words(cron, minutes, words):
    assert cron_minutes(cron) == minutes
    assert schedule_in_words(cron) == words


FAILED = {"status": "failed", "message": "the Spark master did not answer", "duration_s": 12.0}
RUNNING = {"status": "running", "message": None, "duration_s": 41.6}
SUCCEEDED = {"status": "success", "message": None, "duration_s": 30.0}


@pytest.mark.parametrize(
    "case, source, cron, documents, run, expected",
    [
        (
            "an empty lake: when the first fetch and load come, from the schedule",
            "coincap",
            "* * * * *",
            0,
            None,
            "No prices have reached the warehouse yet. The lake holds none yet either. ingest_coincap fetches "
            "every minute (INGEST_COINCAP_SCHEDULE) and each new lake batch starts lake_to_warehouse, so the "
            "first prices arrive within about 3 minutes while Airflow runs.",
        ),
        (
            "the lake not counted yet: the schedule alone",
            "weather",
            "*/10 * * * *",
            None,
            None,
            "No weather observations have reached the warehouse yet. ingest_openweather fetches every 10 minutes "
            "(INGEST_OPENWEATHER_SCHEDULE) and each new lake batch starts lake_to_warehouse, so the first weather "
            "observations arrive within about 12 minutes while Airflow runs.",
        ),
        (
            "documents in the lake: they wait for the load",
            "air",
            "*/10 * * * *",
            1,
            None,
            "No air quality readings have reached the warehouse yet. 1 document waits in the lake for the first "
            "load: each new lake batch starts lake_to_warehouse, which lands a minute or two later.",
        ),
        (
            "a load under way",
            "coincap",
            "* * * * *",
            4,
            RUNNING,
            "No prices have reached the warehouse yet. A load has been running for 42 s. 4 documents wait in the "
            "lake for the first load: each new lake batch starts lake_to_warehouse, which lands a minute or two later.",
        ),
        (
            "a failed load says why",
            "coincap",
            "* * * * *",
            4,
            FAILED,
            "No prices have reached the warehouse yet. The latest load failed (the Spark master did not answer); "
            "the Pipeline page shows its runs. 4 documents wait in the lake for the first load: each new lake "
            "batch starts lake_to_warehouse, which lands a minute or two later.",
        ),
        (
            "a load that succeeded without this source: not worth a word",
            "weather",
            "0 */6 * * *",
            0,
            SUCCEEDED,
            "No weather observations have reached the warehouse yet. The lake holds none yet either. "
            "ingest_openweather fetches every 6 hours (INGEST_OPENWEATHER_SCHEDULE) and each new lake batch starts "
            "lake_to_warehouse, so the first weather observations arrive within about 6 hours while Airflow runs.",
        ),
        (
            "a schedule that is not plain: named, with no estimate",
            "coincap",
            "0 9 * * 1-5",
            0,
            None,
            "No prices have reached the warehouse yet. The lake holds none yet either. ingest_coincap fetches on "
            "the schedule '0 9 * * 1-5' (INGEST_COINCAP_SCHEDULE) and each new lake batch starts lake_to_warehouse.",
        ),
    ],
)
def test_what_a_page_says_before_the_first_load(case, source, cron, documents, run, expected):
    assert waiting_note(SOURCES[source], cron, documents, run) == expected, case
