"""What a run reads, decided by job.plan from the watermark, the run's clock and counts of the lake (no
services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from market_weather.job.plan import Plan, cutoff, decide, late_window

LATE = timedelta(seconds=30)
WATERMARK = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW = WATERMARK + timedelta(minutes=1)


@pytest.mark.parametrize(
    "case, watermark, written, counted, recorded, expected",
    [
        ("first run, empty lake: idle", None, False, None, None, Plan(None)),
        ("first run: everything written before its cut-off", None, True, None, None, Plan(None, hi=NOW)),
        (
            "new writes, nothing late: from the watermark to the cut-off, nothing read twice",
            WATERMARK,
            True,
            5,
            5,
            Plan(WATERMARK, hi=NOW, lo=WATERMARK),
        ),
        ("nothing written, late window unchanged: idle", WATERMARK, False, 5, 5, Plan(WATERMARK)),
        (
            "nothing written, but a late write grew the late window: read it again",
            WATERMARK,
            False,
            6,
            5,
            Plan(WATERMARK, hi=NOW, lo=WATERMARK - LATE, reread=True),
        ),
        (
            "new writes and a late one: the late window and what is new",
            WATERMARK,
            True,
            6,
            5,
            Plan(WATERMARK, hi=NOW, lo=WATERMARK - LATE, reread=True),
        ),
        (
            "no count recorded by the run that set the watermark: its late window is read once",
            WATERMARK,
            False,
            5,
            None,
            Plan(WATERMARK, hi=NOW, lo=WATERMARK - LATE, reread=True),
        ),
    ],
)
def test_plan(case, watermark, written, counted, recorded, expected):
    assert decide(watermark, NOW, LATE, written, counted, recorded) == expected, case


def test_the_window_recounted_is_the_one_before_the_watermark():
    assert late_window(None, LATE) is None
    assert late_window(WATERMARK, LATE) == (WATERMARK - LATE, WATERMARK)


def test_the_cut_off_is_the_end_of_the_run_clocks_second_as_object_ids_count_whole_seconds():
    end = datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    assert cutoff(datetime(2026, 5, 1, 12, 0, 59, 999_999, tzinfo=UTC)) == end
    assert cutoff(datetime(2026, 5, 1, 12, 0, 59, tzinfo=UTC)) == end


def test_a_clock_behind_the_watermark_reads_nothing():
    """The watermark is a clock reading, never a document's claim: a clock that stepped back waits."""
    assert decide(WATERMARK, WATERMARK - timedelta(seconds=5), LATE, True, 0, 5) == Plan(WATERMARK)


def test_an_idle_plan_has_no_window():
    with pytest.raises(ValueError, match="idle"):
        _ = Plan(WATERMARK).window
