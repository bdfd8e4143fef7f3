"""What the dashboard reads: warehouse queries as the read-only login, and lake counts and dead letters.

Every warehouse query walks a primary key or an index (`asset_ohlc`'s key for candles, the views for
the newest values), so it costs what it returns, not what the warehouse holds. Time ranges are counted
back from the newest row of the series asked for, so a warehouse filled by a backfill of last year
shows its data as readily as one fed every minute. The statements are in `sql/`, one a file, loaded by
name. The lake is only ever read.
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
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pymongo import DESCENDING, MongoClient
from pymongo.database import Database

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    DEAD_LETTERS,
    FETCHED_AT,
    FILES,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    RAW_COLLECTIONS,
)
from market_weather.dashboard.queries import load
from market_weather.settings import DashboardSettings, ScheduleSettings, get_settings
from market_weather.text import printable

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
# The columns of one location's weather and air quality over time.
WEATHER_COLUMNS = tuple("temp_c feels_like_c humidity_pct pressure_hpa wind_speed_ms wind_gust_ms clouds_pct".split())
AIR_COLUMNS = tuple("aqi co no no2 o3 so2 pm2_5 pm10 nh3".split())


@dataclass(frozen=True)
class Source:
    """One source as the pipeline page shows it, and as a page waiting for its first load names it."""

    table: str  # the warehouse table its newest observations land in
    collections: tuple[str, ...]  # the lake collections it is fetched into
    check: str  # the freshness check (market_weather.warehouse.quality) whose results make its history
    brings: str  # what a page shows of it, in words
    dag: str  # the DAG that fetches it into the lake
    schedule: str  # that DAG's schedule setting (ScheduleSettings)


SOURCES = {
    "coincap": Source(
        "asset_prices",
        (COINCAP_ASSETS, COINCAP_HISTORY),
        "freshness_coincap",
        "prices",
        "ingest_coincap",
        "INGEST_COINCAP_SCHEDULE",
    ),
    "weather": Source(
        "weather_observations",
        (OPENWEATHER_WEATHER,),
        "freshness_weather",
        "weather observations",
        "ingest_openweather",
        "INGEST_OPENWEATHER_SCHEDULE",
    ),
    "air": Source(
        "air_quality",
        (OPENWEATHER_AIR,),
        "freshness_air",
        "air quality readings",
        "ingest_openweather",
        "INGEST_OPENWEATHER_SCHEDULE",
    ),
}
# What a load takes after a fetch lands in the lake, at most, as a page waiting for the first one says.
LOAD_MINUTES = 2
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


# Airflow's shorthands that are plain cron schedules.
PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *"}
UNITS = (("day", 24 * 60), ("hour", 60), ("minute", 1))


def _step(field: str, whole: int) -> int | None:
    """The step of a cron field that fires at even steps through all of its `whole`: 1 for `*`, n for `*/n`."""
    if field == "*":
        return 1
    n = int(field[2:]) if field.startswith("*/") and field[2:].isdigit() else 0
    return n if n and whole % n == 0 else None


def cron_minutes(cron: str) -> int | None:
    """How many minutes apart the runs of a plain cron schedule are (`* * * * *`, `*/10 * * * *`,
    `0 * * * *`, `0 */6 * * *`, `0 0 * * *` and the like); None for any other."""
    fields = PRESETS.get(cron, cron).split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    minute, hour = fields[:2]
    if hour == "*" and (step := _step(minute, 60)):
        return step
    if not minute.isdigit():
        return None
    hours = 24 if hour.isdigit() else _step(hour, 24)
    return None if hours is None else 60 * hours


def schedule_in_words(cron: str) -> str:
    """`every 10 minutes` for `*/10 * * * *`; the schedule itself for one that is not as plain."""
    minutes = cron_minutes(cron)
    if minutes is None:
        return f"on the schedule {cron!r}"
    unit, size = next((unit, size) for unit, size in UNITS if minutes % size == 0)
    return f"every {unit}" if minutes == size else f"every {minutes // size} {unit}s"


def waiting_note(source: Source, cron: str, lake_documents: int | None, newest_run: dict | None) -> str:
    """What a page says while the warehouse holds nothing of `source`: that it is empty, and when the first
    load is expected, from what is known: the documents of the source in the lake (None while the lake is
    being counted), the newest run of the load, and the schedule of the DAG that fetches the source."""
    note = f"No {source.brings} have reached the warehouse yet."
    if newest_run is not None and newest_run["status"] == "failed":
        why = printable(newest_run["message"] or "no message", 300)
        note += f" The latest load failed ({why}); the Pipeline page shows its runs."
    elif newest_run is not None and newest_run["status"] == "running":
        note += f" A load has been running for {round(newest_run['duration_s'] or 0)} s."
    trigger = "each new lake batch starts lake_to_warehouse"
    if lake_documents:
        documents = "1 document waits" if lake_documents == 1 else f"{lake_documents} documents wait"
        return f"{note} {documents} in the lake for the first load: {trigger}, which lands a minute or two later."
    if lake_documents == 0:
        note += " The lake holds none yet either."
    minutes = cron_minutes(cron)
    if minutes is not None:
        wait = minutes + LOAD_MINUTES
        expected = f"{wait} minutes" if wait < 120 else f"{round(wait / 60)} hours"
        trigger += f", so the first {source.brings} arrive within about {expected} while Airflow runs"
    return f"{note} {source.dag} fetches {schedule_in_words(cron)} ({source.schedule}) and {trigger}."


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

    def _rows(self, query: sql.SQL | sql.Composed, params: dict | None = None) -> list[dict[str, Any]]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def ping(self) -> str:
        (row,) = self._rows(load("login"))
        return row["login"]

    # ------------------------------------------------------------------------------- markets
    def latest_prices(self) -> list[dict]:
        """Every asset's newest price, and its change over the 24 hours before that price from the
        warehouse's own history (null until it holds a day), beside the API's 24 h change."""
        rows = self._rows(load("latest_prices"))
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
        params = {"id": asset_id, "interval": interval, "span": RANGES[range_], "limit": MAX_POINTS + 1}
        rows = self._rows(load("candles"), params)
        if not rows and not self._rows(load("asset_known"), {"id": asset_id}):
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

    # ------------------------------------------------------------------------------- weather
    def locations(self) -> list[dict]:
        """Every location with its newest weather and air quality."""
        rows = self._rows(load("locations"))
        for row in rows:
            row["weather_at"], row["air_at"] = _iso(row["weather_at"]), _iso(row["air_at"])
        return rows

    def _location_series(self, table: str, columns: Sequence[str], location_id: str, range_: Range) -> list[dict]:
        query = load("location_series").format(
            table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        rows = self._rows(query, {"id": location_id, "span": RANGES[range_], "limit": MAX_POINTS})
        if not rows and not self._rows(load("location_known"), {"id": location_id}):
            raise NotFound(f"no location {location_id!r} in the warehouse")
        for row in rows:
            row["t"] = _iso(row.pop("observed_at"))
        return rows

    def weather(self, location_id: str, range_: Range) -> dict:
        return {
            "location_id": location_id,
            "range": range_,
            "observations": self._location_series("weather_observations", WEATHER_COLUMNS, location_id, range_),
        }

    def air(self, location_id: str, range_: Range) -> dict:
        return {
            "location_id": location_id,
            "range": range_,
            "observations": self._location_series("air_quality", AIR_COLUMNS, location_id, range_),
        }

    # ------------------------------------------------------------------------------ pipeline
    def runs(self, limit: int) -> list[dict]:
        rows = self._rows(load("runs"), {"limit": limit})
        for row in rows:
            for name in ("started_at", "finished_at", "watermark_from", "watermark_to"):
                row[name] = _iso(row[name])
        return rows

    def newest_observations(self) -> dict[str, Any]:
        """Each source's newest observation in the warehouse, from the views' per-key newest rows."""
        (row,) = self._rows(load("newest_observations"))
        return row

    def freshness_history(self, span: timedelta | None) -> list[dict]:
        """The freshness checks' results in the span back from now (they run after every load), the
        newest MAX_POINTS of each check, through the checks' (check_name, checked_at) index."""
        history = []
        for source in SOURCES.values():
            params = {"check": source.check, "span": span, "limit": MAX_POINTS}
            rows = self._rows(load("freshness_history"), params)
            history += [
                {"check": source.check, "t": _iso(r["checked_at"]), "lag_minutes": _num(r["observed"])} for r in rows
            ]
        return history

    def quality(self) -> list[dict]:
        rows = self._rows(load("quality"))
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
    (SecantusDB reads every key for both), which grows with the lake: at two million documents 3.8 s on its
    Rust server, a minute on its Python server (the bench's dashboard figure).
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


FILE_STATUSES = ("received", "in_lake", "loaded", "rejected", "failed")


def files(lake: Lake, limit: int) -> dict:
    """The newest files taken in (uploaded or dropped), each with its status, counts and first errors; and how many
    files there are by status."""
    shown = ("name", "size", "format", "via", "status", "received_at", "finished_at", "loaded_at", "counts", "errors")
    newest = [
        {
            "id": doc["_id"],
            **{name: doc.get(name) for name in shown},
            **{name: _iso(doc.get(name)) for name in ("received_at", "finished_at", "loaded_at")},
            "errors": [printable(str(e), 300) for e in (doc.get("errors") or [])],
        }
        for doc in lake.db[FILES].find({}, {"sha256": 0}).sort("received_at", DESCENDING).limit(limit)
    ]
    by_status = {s: 0 for s in FILE_STATUSES}
    for group in lake.db[FILES].aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        by_status[str(group["_id"])] = group["n"]
    return {"by_status": by_status, "files": newest}


def freshness(warehouse: Warehouse, lake: Lake, span: timedelta | None) -> dict:
    """Per source: how old its newest observation in the warehouse is now, and its newest fetch in the
    lake as of the lake's latest snapshot, and while the warehouse holds none of it, `waiting`: what a page
    says of it, with when the first load is expected; and the freshness checks' history in the span."""
    newest = warehouse.newest_observations()
    now, lake_snapshot = newest["now"], lake.snapshot()
    newest_fetch = {} if lake_snapshot is None else lake_snapshot.newest_fetch
    # Only while some source has not reached the warehouse: the newest run says whether a load is under way.
    runs = warehouse.runs(1) if any(newest[name] is None for name in SOURCES) else []
    newest_run = runs[0] if runs else None
    schedules = get_settings(ScheduleSettings)
    sources = []
    for name, source in SOURCES.items():
        fetched = [t for t in (newest_fetch.get(c) for c in source.collections) if t is not None]
        lake_newest = max(fetched) if fetched else None
        observed = newest[name]
        waiting = None
        if observed is None:
            documents = None if lake_snapshot is None else sum(lake_snapshot.documents[c] for c in source.collections)
            waiting = waiting_note(source, getattr(schedules, source.schedule), documents, newest_run)
        sources.append(
            {
                "source": name,
                "table": source.table,
                "check": source.check,
                "newest_observed_at": _iso(observed),
                "lag_seconds": None if observed is None else (now - observed).total_seconds(),
                "lake_newest_fetched_at": _iso(lake_newest),
                "lake_lag_seconds": None if lake_newest is None else (now - lake_newest).total_seconds(),
                "waiting": waiting,
            }
        )
    return {
        "now": _iso(now),
        "lake_counted_at": None if lake_snapshot is None else _iso(lake_snapshot.taken_at),
        "sources": sources,
        "history": warehouse.freshness_history(span),
    }
