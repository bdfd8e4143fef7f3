"""What the dashboard reads: warehouse queries as the read-only login, and lake counts and dead letters.

Every warehouse query walks a primary key or an index (`asset_ohlc`'s key for candles, the views for
the newest values), so it costs what it returns, not what the warehouse holds. Time ranges are counted
back from the newest row of the series asked for, so a warehouse filled by a backfill of last year
shows its data as readily as one fed every minute. The lake is only ever read.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pymongo import DESCENDING, MongoClient
from pymongo.database import Database

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    DEAD_LETTERS,
    FETCHED_AT,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    RAW_COLLECTIONS,
)
from market_weather.lake import printable
from market_weather.settings import DashboardSettings

Range = Literal["1h", "6h", "24h", "7d", "30d", "1y", "all"]
RANGES: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
    "all": None,
}
Interval = Literal["1m", "1h", "1d"]
# A chart shows at most this many points of a series (the newest ones); the answer says when it cut.
MAX_POINTS = 5000
# Each source: the warehouse table its newest observations land in, the lake collections it is fetched
# into, and the freshness check (market_weather.warehouse.quality) whose results make its history.
SOURCES = {
    "coincap": ("asset_prices", (COINCAP_ASSETS, COINCAP_HISTORY), "freshness_coincap"),
    "weather": ("weather_observations", (OPENWEATHER_WEATHER,), "freshness_weather"),
    "air": ("air_quality", (OPENWEATHER_AIR,), "freshness_air"),
}
NEWEST_DEAD_LETTERS = 20
# A request before the lake's first count (it starts with the dashboard) waits this long for it, then
# answers without the lake's figures: on a large lake the first count takes a minute.
FIRST_COUNT_WAIT_SECONDS = 2.0
DEAD_LETTER_PAYLOAD_CHARS = 2000


class NotFound(LookupError):
    """What was asked for does not exist (an asset or location id); the message says which."""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _series_query(table: str, columns: str, where: str, time_column: str, span: timedelta | None, limit: int) -> str:
    """The newest `limit` rows of one series within `span` of its newest row, oldest first. `where`
    picks the series by the leading columns of the table's primary key, which the scan walks backwards."""
    within = f" AND {time_column} > (SELECT max({time_column}) FROM {table} WHERE {where}) - %(span)s" if span else ""
    return (
        f"SELECT * FROM (SELECT {time_column}, {columns} FROM {table} WHERE {where}{within} "
        f"ORDER BY {time_column} DESC LIMIT {int(limit)}) newest ORDER BY {time_column}"
    )


class Warehouse:
    """The warehouse as the dashboard's read-only login, through a small pool of connections."""

    def __init__(self, settings: DashboardSettings, max_size: int = 4):
        self.pool = ConnectionPool(
            kwargs={**settings.reader_conninfo, "application_name": "dashboard"},
            min_size=1,
            max_size=max_size,
            timeout=5,
            open=False,
        )

    def open(self) -> None:
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    def _rows(self, query: str, params: dict | Sequence | None = None) -> list[dict[str, Any]]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def ping(self) -> str:
        (row,) = self._rows("SELECT current_user AS login")
        return row["login"]

    # ------------------------------------------------------------------------------- markets
    def latest_prices(self) -> list[dict]:
        """Every asset's newest price, and its change over the 24 hours before that price from the
        warehouse's own history (null until it holds a day), beside the API's 24 h change."""
        rows = self._rows(
            """
            SELECT v.asset_id, v.symbol, v.name, v.observed_at, v.price_usd, v.market_cap_usd,
                   v.change_percent_24h, day.price_usd AS price_24h_before, day.observed_at AS observed_24h_before
              FROM latest_asset_prices v
              LEFT JOIN LATERAL (
                    SELECT p.price_usd, p.observed_at FROM asset_prices p
                     WHERE p.asset_id = v.asset_id AND p.observed_at <= v.observed_at - interval '24 hours'
                     ORDER BY p.observed_at DESC LIMIT 1) day ON true
              LEFT JOIN assets a USING (asset_id)
             ORDER BY a.rank NULLS LAST, v.asset_id
            """
        )
        prices = []
        for row in rows:
            price, before = _num(row["price_usd"]), _num(row["price_24h_before"])
            prices.append(
                {
                    "asset_id": row["asset_id"],
                    "symbol": row["symbol"],
                    "name": row["name"],
                    "observed_at": _iso(row["observed_at"]),
                    "price_usd": price,
                    "market_cap_usd": _num(row["market_cap_usd"]),
                    "change_24h_pct": (price / before - 1) * 100 if price is not None and before else None,
                    "api_change_24h_pct": _num(row["change_percent_24h"]),
                }
            )
        return prices

    def candles(self, asset_id: str, interval: Interval, range_: Range) -> dict:
        span = RANGES[range_]
        query = _series_query(
            "asset_ohlc",
            "open, high, low, close, points",
            "asset_id = %(id)s AND interval = %(interval)s",
            "bucket_start",
            span,
            MAX_POINTS + 1,
        )
        rows = self._rows(query, {"id": asset_id, "interval": interval, "span": span})
        if not rows and not self._exists("asset_prices", "asset_id", asset_id):
            raise NotFound(f"no asset {asset_id!r} in the warehouse")
        truncated = len(rows) > MAX_POINTS
        rows = rows[-MAX_POINTS:]
        return {
            "asset_id": asset_id,
            "interval": interval,
            "range": range_,
            "truncated": truncated,
            "candles": [
                {
                    "t": _iso(r["bucket_start"]),
                    "open": float(r["open"]),
                    "high": float(r["high"]),
                    "low": float(r["low"]),
                    "close": float(r["close"]),
                    "points": r["points"],
                }
                for r in rows
            ],
        }

    def _exists(self, table: str, key: str, value: str) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {table} WHERE {key} = %s LIMIT 1", [value]))

    # ------------------------------------------------------------------------------- weather
    def locations(self) -> list[dict]:
        """Every location with its newest weather and air quality."""
        rows = self._rows(
            """
            SELECT l.location_id, l.name, l.country, l.lat, l.lon,
                   w.observed_at AS weather_at, w.temp_c, w.humidity_pct, w.condition, w.description,
                   a.observed_at AS air_at, a.aqi
              FROM locations l
              LEFT JOIN latest_weather w USING (location_id)
              LEFT JOIN LATERAL (
                    SELECT q.observed_at, q.aqi FROM air_quality q WHERE q.location_id = l.location_id
                     ORDER BY q.observed_at DESC LIMIT 1) a ON true
             ORDER BY l.name, l.location_id
            """
        )
        for row in rows:
            row["weather_at"], row["air_at"] = _iso(row["weather_at"]), _iso(row["air_at"])
        return rows

    def _location_series(self, table: str, columns: str, location_id: str, range_: Range) -> list[dict]:
        span = RANGES[range_]
        query = _series_query(table, columns, "location_id = %(id)s", "observed_at", span, MAX_POINTS)
        rows = self._rows(query, {"id": location_id, "span": span})
        if not rows and not self._exists("locations", "location_id", location_id):
            raise NotFound(f"no location {location_id!r} in the warehouse")
        for row in rows:
            row["t"] = _iso(row.pop("observed_at"))
        return rows

    def weather(self, location_id: str, range_: Range) -> dict:
        columns = "temp_c, feels_like_c, humidity_pct, pressure_hpa, wind_speed_ms, wind_gust_ms, clouds_pct"
        return {
            "location_id": location_id,
            "range": range_,
            "observations": self._location_series("weather_observations", columns, location_id, range_),
        }

    def air(self, location_id: str, range_: Range) -> dict:
        columns = "aqi, co, no, no2, o3, so2, pm2_5, pm10, nh3"
        return {
            "location_id": location_id,
            "range": range_,
            "observations": self._location_series("air_quality", columns, location_id, range_),
        }

    # ------------------------------------------------------------------------------ pipeline
    def runs(self, limit: int) -> list[dict]:
        rows = self._rows(
            """
            SELECT run_id, job, status, started_at, finished_at,
                   extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS duration_s,
                   watermark_from, watermark_to, rows_read, rows_written, rows_rejected, message
              FROM etl_runs ORDER BY started_at DESC, run_id DESC LIMIT %s
            """,
            [limit],
        )
        for row in rows:
            for name in ("started_at", "finished_at", "watermark_from", "watermark_to"):
                row[name] = _iso(row[name])
        return rows

    def newest_observations(self) -> dict[str, Any]:
        """Each source's newest observation in the warehouse, from the views' per-key newest rows."""
        (row,) = self._rows(
            """
            SELECT (SELECT max(observed_at) FROM latest_asset_prices) AS coincap,
                   (SELECT max(observed_at) FROM latest_weather) AS weather,
                   (SELECT max((SELECT max(q.observed_at) FROM air_quality q WHERE q.location_id = l.location_id))
                      FROM locations l) AS air,
                   now() AS now
            """
        )
        return row

    def freshness_history(self, span: timedelta | None) -> list[dict]:
        """The freshness checks' results in the span back from now (they run after every load), the
        newest MAX_POINTS of each check, through the checks' (check_name, checked_at) index."""
        since = "" if span is None else " AND checked_at > now() - %(span)s"
        history = []
        for _, _, check in SOURCES.values():
            rows = self._rows(
                f"SELECT * FROM (SELECT checked_at, observed FROM quality_checks WHERE check_name = %(check)s{since} "
                f"ORDER BY checked_at DESC LIMIT {MAX_POINTS}) newest ORDER BY checked_at",
                {"check": check, "span": span},
            )
            history += [{"check": check, "t": _iso(r["checked_at"]), "lag_minutes": _num(r["observed"])} for r in rows]
        return history

    def quality(self) -> list[dict]:
        rows = self._rows(
            "SELECT check_name, status, severity, observed, threshold, detail, run_id, checked_at "
            "FROM quality_latest ORDER BY (status = 'pass'), check_name"
        )
        for row in rows:
            row["observed"], row["threshold"] = _num(row["observed"]), _num(row["threshold"])
            row["checked_at"] = _iso(row["checked_at"])
        return rows


@dataclass(frozen=True)
class LakeSnapshot:
    """Documents and newest fetch per lake collection, as counted at one moment."""

    taken_at: datetime
    seconds: float  # what counting took
    documents: dict[str, int]
    newest_fetch: dict[str, datetime | None]


class Lake:
    """The raw lake, read only: document counts and newest fetches (a snapshot), and dead letters.

    Counting a collection and finding its newest fetch cost the lake server a pass over the collection
    (SecantusDB reads every key for both), which grows with the lake: seconds at two million documents.
    So a page never waits for them. One background thread counts, starting when the dashboard does, then
    at most every SNAPSHOT_MIN_SECONDS and no more often than SNAPSHOT_COST_FACTOR times what counting
    took, so counting takes at most a tenth of the lake server's time; the API answers with the latest
    snapshot and says when it was taken, and without the lake's figures until the first count is done.
    """

    SNAPSHOT_MIN_SECONDS = 30.0
    SNAPSHOT_COST_FACTOR = 10.0

    def __init__(self, settings: DashboardSettings):
        self.client: MongoClient = MongoClient(
            settings.MONGO_URI, document_class=dict, tz_aware=True, serverSelectionTimeoutMS=3000, appname="dashboard"
        )
        self.db: Database = self.client[settings.MONGO_DB]
        self._snapshot: LakeSnapshot | None = None
        self._error: Exception | None = None
        self._counting: threading.Thread | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def ping(self) -> None:
        self.client.admin.command("ping")

    def _count(self) -> None:
        started, taken_at = time.monotonic(), datetime.now(UTC)
        try:
            documents, newest = {}, {}
            for name in (*RAW_COLLECTIONS, DEAD_LETTERS):
                documents[name] = self.db[name].estimated_document_count()
                doc = self.db[name].find_one({}, {FETCHED_AT: 1, "_id": 0}, sort=[(FETCHED_AT, DESCENDING)])
                newest[name] = None if doc is None else doc[FETCHED_AT]
            snapshot = LakeSnapshot(taken_at, time.monotonic() - started, documents, newest)
            with self._lock:
                self._snapshot, self._error = snapshot, None
        except Exception as exc:  # kept for the requests that wait on it; the next one counts again
            with self._lock:
                self._error = exc

    def snapshot(self, wait: float = FIRST_COUNT_WAIT_SECONDS) -> LakeSnapshot | None:
        """The latest snapshot, starting a new count in the background when it is due. Before the first
        count is done, waits for it up to `wait` seconds, then answers None (still counting), or raises
        the error of a first count that failed within them."""
        with self._lock:
            current, counting = self._snapshot, self._counting
            due = current is None or (datetime.now(UTC) - current.taken_at).total_seconds() >= max(
                self.SNAPSHOT_MIN_SECONDS, self.SNAPSHOT_COST_FACTOR * current.seconds
            )
            if due and (counting is None or not counting.is_alive()):
                counting = self._counting = threading.Thread(target=self._count, name="lake-snapshot", daemon=True)
                counting.start()
        if current is not None or counting is None:
            return current
        counting.join(wait)
        with self._lock:
            if self._snapshot is None and self._error is not None and not counting.is_alive():
                raise self._error
            return self._snapshot

    def counts(self) -> dict:
        """Documents per collection as of the latest count; null while the first count runs."""
        snapshot = self.snapshot()
        documents = snapshot.documents if snapshot else dict.fromkeys((*RAW_COLLECTIONS, DEAD_LETTERS))
        return {
            "counted_at": None if snapshot is None else _iso(snapshot.taken_at),
            "counting_seconds": None if snapshot is None else snapshot.seconds,
            "collections": [{"collection": name, "documents": n} for name, n in documents.items()],
        }

    def dead_letters(self, span: timedelta | None) -> dict:
        """Dead letters per source and reason per time bucket in the span (counted back from now), and
        the newest ones with their payloads."""
        match = {} if span is None else {FETCHED_AT: {"$gte": datetime.now(UTC) - span}}
        unit = "minute" if span is not None and span <= timedelta(hours=6) else "hour"
        if span is None or span > timedelta(days=7):
            unit = "day"
        groups = self.db[DEAD_LETTERS].aggregate(
            [
                {"$match": match},
                {
                    "$group": {
                        "_id": {
                            "source": "$source",
                            "reason": "$reason",
                            "t": {"$dateTrunc": {"date": f"${FETCHED_AT}", "unit": unit}},
                        },
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        buckets = sorted(
            (
                {
                    "t": _iso(g["_id"]["t"]),
                    "source": g["_id"]["source"],
                    "reason": g["_id"]["reason"],
                    "count": g["n"],
                }
                for g in groups
            ),
            key=lambda b: (b["t"], b["source"], b["reason"]),
        )
        newest = [
            {
                "fetched_at": _iso(doc.get(FETCHED_AT)),
                "source": doc.get("source"),
                "endpoint": doc.get("endpoint"),
                "run_id": doc.get("run_id"),
                "reason": doc.get("reason"),
                "payload": printable(json.dumps(doc.get("payload"), default=str), DEAD_LETTER_PAYLOAD_CHARS),
            }
            for doc in self.db[DEAD_LETTERS]
            .find(match, {"_id": 0})
            .sort(FETCHED_AT, DESCENDING)
            .limit(NEWEST_DEAD_LETTERS)
        ]
        return {"bucket": unit, "buckets": buckets, "newest": newest}


def freshness(warehouse: Warehouse, lake: Lake, span: timedelta | None) -> dict:
    """Per source: how old its newest observation in the warehouse is now, and its newest fetch in the
    lake as of the lake's latest snapshot; and the freshness checks' history in the span."""
    newest = warehouse.newest_observations()
    now, lake_snapshot = newest["now"], lake.snapshot()
    newest_fetch = {} if lake_snapshot is None else lake_snapshot.newest_fetch
    sources = []
    for source, (table, collections, check) in SOURCES.items():
        fetched = [t for t in (newest_fetch.get(c) for c in collections) if t is not None]
        lake_newest = max(fetched) if fetched else None
        observed = newest[source]
        sources.append(
            {
                "source": source,
                "table": table,
                "check": check,
                "newest_observed_at": _iso(observed),
                "lag_seconds": None if observed is None else (now - observed).total_seconds(),
                "lake_newest_fetched_at": _iso(lake_newest),
                "lake_lag_seconds": None if lake_newest is None else (now - lake_newest).total_seconds(),
            }
        )
    return {
        "now": _iso(now),
        "lake_counted_at": None if lake_snapshot is None else _iso(lake_snapshot.taken_at),
        "sources": sources,
        "history": warehouse.freshness_history(span),
    }
