"""Which documents a run of the job reads, decided from the watermark, the run's clock and counts of the
lake: no Spark, no I/O.

A run reads documents in the order they were written to the lake, not by what they say about
themselves. Every lake document's `_id` is an ObjectId that the producer's driver stamps as it writes,
and its time is the second of that write. A run reads the documents written in [lo, hi): hi, its
cut-off, is the run's own clock when it plans (to the end of its second, as ObjectIds count whole
seconds); lo is the
watermark, the last successful run's cut-off. So a load costs what was written since the last one: a
backfill of years is read once, by the load after it, and never again; and a document whose
`fetched_at` is wrong (in 2099, a string, missing) is read once, dead-lettered by the transforms, and
moves nothing.

Late writes. A batch is stamped when its write begins, and a slow write can become visible after a run
with a later cut-off has read: its documents fall before the watermark. Each run that reads counts,
before reading, the documents of its late-write window [hi - late, hi) and records that number
(`tail_docs`). The next run counts that window again. The same number: nothing landed late, and it reads
from the watermark. Another (or none recorded): a late write landed, and it reads from the watermark
minus the window. Re-reading rewrites nothing that did not change. So every write that becomes visible
within the late-write window of its stamp is loaded, with no new data needed behind it, and an
unchanged lake stays idle at the cost of one small count.

Counting is I/O, so it stays with the caller: `late_window` names the window to count again, `decide`
takes the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Plan:
    """One run: idle, or read the documents written in [lo, hi) and move the watermark to hi."""

    watermark: datetime | None  # where the last successful run stopped: this run's watermark_from
    hi: datetime | None = None  # None: idle
    lo: datetime | None = None  # None: from the lake's first document
    reread: bool = False  # a late write landed before the watermark: read its window again

    @property
    def idle(self) -> bool:
        return self.hi is None

    @property
    def window(self) -> tuple[datetime | None, datetime]:
        """[lo, hi) to read."""
        if self.hi is None:
            raise ValueError("an idle run reads nothing")
        return self.lo, self.hi


def cutoff(clock: datetime) -> datetime:
    """A run's cut-off: the end of its clock's second, as ObjectIds count whole seconds. A document
    stamped later in that second than the run read is a late write of its window."""
    return clock.replace(microsecond=0) + timedelta(seconds=1)


def late_window(watermark: datetime | None, late: timedelta) -> tuple[datetime, datetime] | None:
    """The window before the watermark whose count the last run recorded: [watermark - late, watermark)."""
    return (watermark - late, watermark) if watermark is not None else None


def decide(
    watermark: datetime | None,
    hi: datetime,
    late: timedelta,
    written_since: bool,
    late_docs: int | None,
    recorded_late_docs: int | None,
) -> Plan:
    """Idle, or the window to read.

    watermark: the last successful run's watermark_to (None before the first);
    hi: this run's cut-off;
    written_since: whether any document was written in [watermark, hi);
    late_docs: the count of `late_window`, taken now;
    recorded_late_docs: what the run that set the watermark counted there (None: not known).
    """
    if watermark is None:
        return Plan(None, hi=hi) if written_since else Plan(None)
    if hi <= watermark:  # the clock stepped back: nothing can be past the watermark yet
        return Plan(watermark)
    reread = late_docs != recorded_late_docs
    if not written_since and not reread:
        return Plan(watermark)
    return Plan(watermark, hi=hi, lo=watermark - late if reread else watermark, reread=reread)
