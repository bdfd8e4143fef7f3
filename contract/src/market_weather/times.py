"""Time in the platform: always UTC, and one way to split a range into consecutive windows.

A time given without an offset is UTC everywhere. Standard library only, so every part of the
platform imports it without pulling in another part's dependencies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import overload


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive time is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time, in UTC (UTC when it has no offset); ValueError when it is not one."""
    return as_utc(datetime.fromisoformat(text))


def utc_now() -> datetime:
    return datetime.now(UTC)


@overload
def split_range(start: int, end: int, width: int) -> Iterator[tuple[int, int]]: ...
@overload
def split_range(start: datetime, end: datetime, width: timedelta) -> Iterator[tuple[datetime, datetime]]: ...
def split_range(start, end, width):
    """Split [start, end) into consecutive windows no wider than `width` (epoch numbers or datetimes).

    Windows share no point and leave no gap: each ends where the next starts.
    """
    if end <= start:
        raise ValueError("the end of a range must be after its start")
    if not start < start + width:
        raise ValueError("a window must be wider than nothing")
    lo = start
    while lo < end:
        hi = min(end, lo + width)
        yield lo, hi
        lo = hi
