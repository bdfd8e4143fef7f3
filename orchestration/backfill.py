"""How the backfill DAG splits a requested range into mapped tasks: pure, so it is tested alone.

One chunk is one request window of the API per entity (a day of `m1` CoinCap points, ten years of
`d1` ones, a week of air pollution), so no request is wasted, each chunk retries on its own, and a
long range stays under Airflow's limit of mapped tasks by widening chunks to several windows.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

# Airflow refuses to map more than [core] max_map_length tasks (1024 by default).
MAX_CHUNKS = 1000


def parse_utc(text: str) -> datetime:
    """An ISO time; one given without an offset is UTC, as everywhere else in the platform."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def window(source: str, interval: str) -> timedelta:
    """The widest range one request of the API covers (imported here: DAG files parse light)."""
    from producer.ingest import OPENWEATHER_HISTORY_WINDOW_S
    from producer.sources import COINCAP_MAX_WINDOW_MS

    if source == "coincap":
        return timedelta(milliseconds=COINCAP_MAX_WINDOW_MS[interval])
    return timedelta(seconds=OPENWEATHER_HISTORY_WINDOW_S)


def plan(source: str, start: str, end: str, interval: str) -> list[list[str]]:
    """The [start, end) chunks of the requested range, as ISO strings with their UTC offset."""
    lo, hi = parse_utc(start), parse_utc(end)
    if hi <= lo:
        raise ValueError(f"end ({hi.isoformat()}) must be after start ({lo.isoformat()})")
    width = window(source, interval)
    needed = math.ceil((hi - lo) / width)
    width *= math.ceil(needed / MAX_CHUNKS)
    chunks = []
    while lo < hi:
        upper = min(hi, lo + width)
        chunks.append([lo.isoformat(), upper.isoformat()])
        lo = upper
    return chunks
