"""How the backfill DAG splits a requested range into mapped tasks, and the range its form opens on:
pure, so it is tested alone.

One chunk is one request window of the API per entity (a day of `m1` CoinCap points, ten years of
`d1` ones, a week of air pollution), so no request is wasted, each chunk retries on its own, and a
long range stays under Airflow's limit of mapped tasks by widening chunks to several windows.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from market_weather.api_limits import COINCAP_MAX_WINDOW_MS, OPENWEATHER_HISTORY_WINDOW_S
from market_weather.times import as_utc, parse_utc, split_range, utc_now

# Airflow refuses to map more than [core] max_map_length tasks (1024 by default).
MAX_CHUNKS = 1000


def last_complete_day(now: datetime | None = None) -> tuple[str, str]:
    """The last complete UTC day, [yesterday 00:00, today 00:00), as ISO strings with their UTC offset.

    The backfill form opens on it: the DAG file reads it each time it is parsed, so one click loads
    something recent (the day changes the DAG's serialized params once a day).
    """
    today = as_utc(now or utc_now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=1)).isoformat(), today.isoformat()


def window(source: str, interval: str) -> timedelta:
    """The widest range one request of the API covers."""
    if source == "coincap":
        return timedelta(milliseconds=COINCAP_MAX_WINDOW_MS[interval])
    return timedelta(seconds=OPENWEATHER_HISTORY_WINDOW_S)


def plan(source: str, start: str, end: str, interval: str) -> list[list[str]]:
    """The [start, end) chunks of the requested range, as ISO strings with their UTC offset."""
    lo, hi = parse_utc(start), parse_utc(end)
    if hi <= lo:
        raise ValueError(f"end ({hi.isoformat()}) must be after start ({lo.isoformat()})")
    width = window(source, interval)
    width *= math.ceil(math.ceil((hi - lo) / width) / MAX_CHUNKS)
    return [[a.isoformat(), b.isoformat()] for a, b in split_range(lo, hi, width)]
