"""What a run reads, decided by job.plan from the watermark and counts of the lake (no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from market_weather.job.plan import Plan, decide, tail_window

LOOKBACK = timedelta(minutes=15)
WATERMARK = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NEWER = WATERMARK + timedelta(minutes=3)


def plan(watermark, newest, counted=None, recorded=None) -> tuple[tuple[datetime, datetime] | None, Plan]:
    """Both steps, as the job runs them: the look-back to count, then the decision on that count."""
    return tail_window(watermark, newest, LOOKBACK), decide(watermark, newest, LOOKBACK, counted, recorded)


@pytest.mark.parametrize(
    "case, watermark, newest, counted, recorded, expected_tail, expected",
    [
        (
            "first run, empty lake: idle, nothing counted",
            None,
            None,
            None,
            None,
            None,
            Plan(None),
        ),
        (
            "first run: everything up to the newest document",
            None,
            NEWER,
            7,
            None,
            (NEWER - LOOKBACK, NEWER),
            Plan(None, hi=NEWER, lo=None, tail_docs=7),
        ),
        (
            "new data: from the look-back before the watermark to the newest document",
            WATERMARK,
            NEWER,
            9,
            5,
            (NEWER - LOOKBACK, NEWER),
            Plan(WATERMARK, hi=NEWER, lo=WATERMARK - LOOKBACK, tail_docs=9),
        ),
        (
            "nothing new, look-back recount unchanged: idle",
            WATERMARK,
            None,
            5,
            5,
            (WATERMARK - LOOKBACK, WATERMARK),
            Plan(WATERMARK),
        ),
        (
            "nothing new, but a late write grew the look-back: read it again, watermark kept",
            WATERMARK,
            None,
            6,
            5,
            (WATERMARK - LOOKBACK, WATERMARK),
            Plan(WATERMARK, hi=WATERMARK, lo=WATERMARK - LOOKBACK, tail_docs=6, reread=True),
        ),
        (
            "nothing new, no count recorded by the run that set the watermark: read the look-back once",
            WATERMARK,
            None,
            5,
            None,
            (WATERMARK - LOOKBACK, WATERMARK),
            Plan(WATERMARK, hi=WATERMARK, lo=WATERMARK - LOOKBACK, tail_docs=5, reread=True),
        ),
    ],
)
def test_plan(case, watermark, newest, counted, recorded, expected_tail, expected):
    tail, decided = plan(watermark, newest, counted, recorded)
    assert (tail, decided) == (expected_tail, expected), case


def test_a_rereading_run_records_the_count_it_was_decided_on_and_the_next_check_is_idle():
    # The re-read records the recount; nothing changes in the lake; the next run counts the same.
    _, reread = plan(WATERMARK, None, counted=6, recorded=5)
    _, after = plan(WATERMARK, None, counted=6, recorded=reread.tail_docs)
    assert reread.reread and after.idle


def test_new_data_is_read_whatever_the_look_back_holds():
    # The recorded count matters only when nothing is newer than the watermark.
    _, decided = plan(WATERMARK, NEWER, counted=5, recorded=5)
    assert not decided.idle and decided.window == (WATERMARK - LOOKBACK, NEWER)


def test_an_idle_plan_has_no_window():
    with pytest.raises(ValueError, match="idle"):
        _ = Plan(WATERMARK).window
