"""One splitter for every range (the producer's request windows, the backfill DAG's chunks), and UTC times."""

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from market_weather.times import as_utc, parse_utc, split_range


@pytest.mark.parametrize(
    "start, end, width", [(0, 10, 3), (5, 6, 100), (1_000, 1_000 + 86_400_000 * 3 + 7, 86_400_000)]
)
def test_windows_cover_the_range_with_no_gap_and_no_overlap(start, end, width):
    windows = list(split_range(start, end, width))
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(windows))
    assert all(0 < hi - lo <= width for lo, hi in windows)


def test_datetime_ranges_split_the_same_way():
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    windows = list(split_range(start, start + timedelta(days=2, hours=1), timedelta(days=1)))
    assert [hi - lo for lo, hi in windows] == [timedelta(days=1), timedelta(days=1), timedelta(hours=1)]
    assert windows[0][0] == start and all(a[1] == b[0] for a, b in pairwise(windows))


def test_an_empty_range_is_refused():
    with pytest.raises(ValueError, match="after its start"):
        list(split_range(10, 10, 5))


def test_a_window_of_no_width_is_refused():
    with pytest.raises(ValueError, match="wider than nothing"):
        list(split_range(0, 10, 0))


def test_naive_times_are_utc_and_aware_ones_are_converted():
    assert as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    paris = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(paris) == datetime(2026, 1, 1, 11, tzinfo=UTC) and as_utc(paris).tzinfo is UTC
    assert parse_utc("2026-01-01T03:00:00+02:00") == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert parse_utc("2026-01-01").tzinfo is UTC
    with pytest.raises(ValueError):
        parse_utc("yesterday")
