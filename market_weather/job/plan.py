"""Which documents a run of the job reads, decided from the watermark and counts of the lake: no Spark, no I/O.

A run reads the documents fetched in (lo, hi]: hi, its cut-off, is the newest `fetched_at` past the
watermark (the last successful run's cut-off); lo is the watermark minus a look-back, so a document
fetched just before the last cut-off but written after that run read is read by the next one.

Late data with nothing new behind it: each run records `tail_docs`, how many documents its look-back
(hi - look-back, hi] held, counted before it read. A run that finds nothing newer than the watermark
counts that look-back again: the same number, and it is idle; another number (or none recorded), and a
late write landed, so it reads the look-back again with the same cut-off and records the number it
decided on. So a document fetched before a run's cut-off (within the look-back) but written after that
run counted is loaded by a later run with no new data needed, and an unchanged lake stays idle.
Re-reading rewrites nothing that did not change.

Counting is I/O, so it stays with the caller, in two steps: `tail_window` names the one look-back to
count, `decide` takes that count and the recorded one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Plan:
    """One run: idle, or read the documents fetched in (lo, hi] and move the watermark to hi."""

    watermark: datetime | None  # where the last successful run stopped: this run's watermark_from
    hi: datetime | None = None  # None: idle
    lo: datetime | None = None  # None: from the lake's first document
    tail_docs: int | None = None  # documents in (hi - look-back, hi] before reading: recorded with the run
    reread: bool = False  # nothing new, but the look-back's count changed: read it again for late writes

    @property
    def idle(self) -> bool:
        return self.hi is None

    @property
    def window(self) -> tuple[datetime | None, datetime]:
        """(lo, hi] to read."""
        if self.hi is None:
            raise ValueError("an idle run reads nothing")
        return self.lo, self.hi


def tail_window(
    watermark: datetime | None, newest: datetime | None, lookback: timedelta
) -> tuple[datetime, datetime] | None:
    """Step one: the look-back to count before deciding, (cut-off - look-back, cut-off].

    The cut-off is the newest `fetched_at` past the watermark or, when nothing is newer, the watermark
    itself: then the count is the re-count that finds late writes. None when there is neither (a first
    run on an empty lake): nothing to count.
    """
    cutoff = newest or watermark
    return (cutoff - lookback, cutoff) if cutoff is not None else None


def decide(
    watermark: datetime | None,
    newest: datetime | None,
    lookback: timedelta,
    tail_docs: int | None,
    recorded_tail_docs: int | None,
) -> Plan:
    """Step two: idle, or the window to read.

    watermark: the last successful run's watermark_to (None before the first);
    newest: the newest `fetched_at` past the watermark (None when nothing is newer);
    tail_docs: the count of `tail_window`, taken now;
    recorded_tail_docs: what the run that set the watermark counted there (read only when nothing is newer).
    """
    reread = False
    if newest is None:
        if watermark is None or tail_docs == recorded_tail_docs:
            return Plan(watermark)
        newest, reread = watermark, True
    lo = watermark - lookback if watermark is not None else None
    return Plan(watermark, hi=newest, lo=lo, tail_docs=tail_docs, reread=reread)
