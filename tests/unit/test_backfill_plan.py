"""The backfill DAG's chunks: one API request window each, UTC unless told otherwise, never too many;
and the range its form opens on."""

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from market_weather.api_limits import COINCAP_MAX_WINDOW_MS
from market_weather.orchestration import backfill


def spans(chunks):
    return [(datetime.fromisoformat(lo), datetime.fromisoformat(hi)) for lo, hi in chunks]


def test_m1_prices_are_planned_one_day_per_chunk_covering_the_range_exactly():
    chunks = spans(backfill.plan("coincap", "2026-01-01T06:00:00+00:00", "2026-01-03T12:00:00+00:00", "m1"))
    assert len(chunks) == 3
    assert chunks[0][0] == datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert chunks[-1][1] == datetime(2026, 1, 3, 12, tzinfo=UTC)
    assert all(a[1] == b[0] for a, b in pairwise(chunks)), "no gap, no overlap"


def test_a_year_of_daily_prices_is_one_request_not_365():
    assert len(backfill.plan("coincap", "2025-01-01", "2026-01-01", "d1")) == 1


def test_air_history_is_planned_in_week_long_chunks():
    assert len(backfill.plan("openweather", "2026-01-01", "2026-02-01", "h1")) == 5  # 31 days


@pytest.mark.parametrize("interval", list(COINCAP_MAX_WINDOW_MS))
def test_a_coincap_chunk_is_what_one_request_of_its_interval_covers(interval):
    start, window = datetime(2026, 1, 1, tzinfo=UTC), timedelta(milliseconds=COINCAP_MAX_WINDOW_MS[interval])
    chunks = spans(backfill.plan("coincap", start.isoformat(), (start + 2 * window).isoformat(), interval))
    assert [hi - lo for lo, hi in chunks] == [window, window]


def test_times_without_an_offset_are_utc_and_others_are_converted():
    ((lo, hi),) = spans(backfill.plan("coincap", "2026-01-01T00:00:00", "2026-01-01T03:00:00+02:00", "m1"))
    assert lo == datetime(2026, 1, 1, tzinfo=UTC)
    assert hi == datetime(2026, 1, 1, 1, tzinfo=UTC)


def test_a_long_range_stays_under_airflows_mapped_task_limit():
    chunks = spans(backfill.plan("coincap", "2020-01-01", "2026-01-01", "m1"))  # 2192 days of m1
    assert len(chunks) <= backfill.MAX_CHUNKS
    assert chunks[0][0] == datetime(2020, 1, 1, tzinfo=UTC)
    assert chunks[-1][1] == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "start, end", [("2026-01-02", "2026-01-01"), ("2026-01-01", "2026-01-01"), ("yesterday", "2026-01-01")]
)
def test_a_bad_range_is_refused(start, end):
    with pytest.raises(ValueError):
        backfill.plan("coincap", start, end, "m1")


@pytest.mark.parametrize(
    "now, start, end",
    [
        (datetime(2026, 12, 5, 8, 38, 9, 123456, tzinfo=UTC), "2026-12-04T00:00:00+00:00", "2026-12-05T00:00:00+00:00"),
        (datetime(2026, 12, 5, 0, 0, tzinfo=UTC), "2026-12-04T00:00:00+00:00", "2026-12-05T00:00:00+00:00"),
        (datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC), "2026-12-04T00:00:00+00:00", "2026-12-05T00:00:00+00:00"),
        # 4 December 23:30 in UTC
        (
            datetime(2026, 12, 5, 1, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-12-03T00:00:00+00:00",
            "2026-12-04T00:00:00+00:00",
        ),
        (datetime(2026, 1, 1, 12, tzinfo=UTC), "2025-12-31T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_the_form_opens_on_the_last_complete_utc_day(now, start, end):
    assert backfill.last_complete_day(now) == (start, end)
    assert len(backfill.plan("coincap", start, end, "m1")) == 1, "one request covers a day of minutes"


def test_the_last_complete_day_is_counted_from_now():
    start, end = spans([backfill.last_complete_day()])[0]
    assert end - start == timedelta(days=1) and end <= datetime.now(UTC) < end + timedelta(days=1)
