"""What the APIs accept: CoinCap's history intervals and the widest range one history request covers.

The producer splits a backfill by these windows and the backfill DAG plans its chunks by them.
Standard library only.
"""

from __future__ import annotations

_DAY_MS = 86_400_000

# CoinCap history intervals: the step between two points, in milliseconds.
COINCAP_INTERVALS_MS = {
    "m1": 60_000,
    "m5": 300_000,
    "m15": 900_000,
    "m30": 1_800_000,
    "h1": 3_600_000,
    "h2": 7_200_000,
    "h6": 21_600_000,
    "h12": 43_200_000,
    "d1": _DAY_MS,
}
# The longest range one CoinCap history request may cover, per interval, in milliseconds.
COINCAP_MAX_WINDOW_MS = {
    "m1": _DAY_MS,
    "m5": 5 * _DAY_MS,
    "m15": 7 * _DAY_MS,
    "m30": 14 * _DAY_MS,
    "h1": 30 * _DAY_MS,
    "h2": 61 * _DAY_MS,
    "h6": 183 * _DAY_MS,
    "h12": 365 * _DAY_MS,
    "d1": 3650 * _DAY_MS,
}
# The range one OpenWeather air-pollution history request covers, in seconds.
OPENWEATHER_HISTORY_WINDOW_S = 7 * 86_400
