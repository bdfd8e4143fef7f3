"""`make check` (`python -m market_weather.warehouse.quality`): is what the loads left in the warehouse sound?

Each check measures one number and compares it with its threshold:

- `ohlc_invariants` (error): OHLC buckets where low <= open, close <= high or points >= 1 does not hold;
- `ohlc_hour_points` (error): 1h buckets whose points differ from the sum of their minutes' points;
- `m1_gaps` (warn): minutes missing inside backfilled m1 price history, against QUALITY_M1_GAPS_MAX;
- `freshness_coincap`, `freshness_weather`, `freshness_air` (warn): minutes since the newest
  observation of each source, against QUALITY_FRESHNESS_*_MINUTES;
- `lake_consistency` (error): documents of the latest load's window that are neither in the warehouse
  nor dead-lettered (each valid lake document's key looked up in its table);
- `runs_zombie` (error): `etl_runs` rows `running` with no live session behind them;
- `runs_overlap` (error): runs whose time spans overlap, which the job's lock forbids.

A check of severity `error` fails `make check` (exit 1) and its Airflow task; a `warn` is recorded and
shown. Every result is stored in `quality_checks` (the view `quality_latest` holds the latest per
check), whoever ran the checks. Each check's SQL is its own file in `sql/checks/`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from bson import ObjectId
from psycopg import sql
from pymongo import MongoClient
from pymongo.database import Database

from market_weather.contract import (
    AIR_QUALITY,
    ASSET_PRICES,
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    DEAD_LETTERS,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    WEATHER_OBSERVATIONS,
)
from market_weather.settings import QualitySettings, Settings, SettingsError, get_settings
from market_weather.warehouse.queries import load
from market_weather.warehouse.runs import JOB

Severity = Literal["error", "warn"]
# Valid lake documents looked up in the warehouse per query.
KEY_BATCH = 20_000
# The warehouse table each raw collection's documents land in, and its key column besides observed_at.
LANDS_IN = {
    COINCAP_ASSETS: (ASSET_PRICES.name, "asset_id"),
    COINCAP_HISTORY: (ASSET_PRICES.name, "asset_id"),
    OPENWEATHER_WEATHER: (WEATHER_OBSERVATIONS.name, "location_id"),
    OPENWEATHER_AIR: (AIR_QUALITY.name, "location_id"),
}


@dataclass(frozen=True)
class Result:
    check: str
    severity: Severity
    passed: bool
    observed: float | None  # None: nothing to measure yet
    threshold: float | None
    detail: str = ""

    @property
    def status(self) -> Literal["pass", "fail", "warn"]:
        if self.passed:
            return "pass"
        return "fail" if self.severity == "error" else "warn"

    def line(self) -> str:
        observed = "-" if self.observed is None else f"{self.observed:g}"
        threshold = "-" if self.threshold is None else f"{self.threshold:g}"
        detail = f"  {self.detail}" if self.detail else ""
        return (
            f"{self.status.upper():<4}  {self.check:<18} {self.severity:<5}  observed {observed:<10} "
            f"threshold {threshold}{detail}"
        )


@dataclass(frozen=True)
class Context:
    conn: psycopg.Connection
    lake: Database
    thresholds: QualitySettings


def _scalar(conn: psycopg.Connection, query: sql.SQL | sql.Composed, params: Mapping[str, Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _at_most(name: str, severity: Severity, observed: float | None, threshold: float, detail: str = "") -> Result:
    passed = observed is not None and observed <= threshold
    return Result(name, severity, passed, observed, threshold, detail)


def ohlc_invariants(ctx: Context) -> Result:
    bad = ctx.conn.execute(load("checks/ohlc_invariants")).fetchall()
    count = bad[0][3] if bad else 0
    detail = ", ".join(f"{a} {i} {b:%Y-%m-%d %H:%M}" for a, i, b, _ in bad)
    return _at_most("ohlc_invariants", "error", float(count), 0, detail and f"e.g. {detail}")


def ohlc_hour_points(ctx: Context) -> Result:
    count = _scalar(ctx.conn, load("checks/ohlc_hour_points"))
    return _at_most("ohlc_hour_points", "error", float(count or 0), 0)


# A hole longer than this between m1 history points separates two backfilled ranges rather than being a gap.
M1_RANGE_BREAK = timedelta(days=1)


def m1_gaps(ctx: Context) -> Result:
    """Minutes missing inside backfilled m1 price history, per asset: holes of up to M1_RANGE_BREAK
    between m1 history points, each with an m1 neighbour on either side (`sql/checks/m1_gaps.sql`)."""
    gaps = ctx.conn.execute(load("checks/m1_gaps"), {"range_break": M1_RANGE_BREAK}).fetchall()
    missing = sum(n for *_, n in gaps)
    detail = ", ".join(f"{a} {lo:%Y-%m-%d %H:%M} → {hi:%H:%M} ({n} missing)" for a, lo, hi, n in gaps[:3])
    if len(gaps) > 3:
        detail += f" and {len(gaps) - 3} more"
    return _at_most("m1_gaps", "warn", float(missing), ctx.thresholds.QUALITY_M1_GAPS_MAX, detail)


def _freshness(name: str, table: str, limit_minutes: int) -> Callable[[Context], Result]:
    def check(ctx: Context) -> Result:
        age = _scalar(ctx.conn, load("checks/freshness").format(table=sql.Identifier(table)))
        detail = "no data yet" if age is None else f"newest {table} row is {float(age):.0f} minutes old"
        return _at_most(name, "warn", None if age is None else float(age), limit_minutes, detail)

    check.__name__ = name
    return check


def runs_zombie(ctx: Context) -> Result:
    zombies = [run_id for (run_id,) in ctx.conn.execute(load("checks/runs_zombie")).fetchall()]
    return _at_most("runs_zombie", "error", float(len(zombies)), 0, ", ".join(zombies[:3]))


def runs_overlap(ctx: Context) -> Result:
    """Runs that started before an earlier run of the job had finished."""
    overlapping = [run_id for (run_id,) in ctx.conn.execute(load("checks/runs_overlap"), {"job": JOB}).fetchall()]
    return _at_most("runs_overlap", "error", float(len(overlapping)), 0, ", ".join(overlapping[:3]))


def _keys(lake: Database, name: str, window: dict) -> Iterator[list[tuple[str, datetime]]]:
    """The (entity, observed_at) of the collection's documents in `window` that were not dead-lettered."""
    rejected = {
        letter["lake_id"]
        for letter in lake[DEAD_LETTERS].find({"lake_collection": name, "lake_id": window}, {"lake_id": 1})
    }
    batch: list[tuple[str, datetime]] = []
    for doc in lake[name].find({"_id": window}, {"entity_id": 1, "observed_at": 1}, batch_size=10_000):
        if doc["_id"] in rejected:
            continue
        observed = doc.get("observed_at")
        if isinstance(observed, datetime):
            batch.append((doc.get("entity_id"), observed if observed.tzinfo else observed.replace(tzinfo=UTC)))
        if len(batch) >= KEY_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def lake_consistency(ctx: Context) -> Result:
    """Every lake document of the latest load's window is in the warehouse or in dead_letters."""
    run = ctx.conn.execute(load("checks/lake_consistency_latest_load"), {"job": JOB}).fetchone()
    if run is None:
        return Result("lake_consistency", "error", True, None, 0, "no load has read anything yet")
    run_id, lo, hi = run
    window: dict = {"$lt": ObjectId.from_datetime(hi)}
    if lo is not None:
        window["$gte"] = ObjectId.from_datetime(lo)
    missing, parts = 0, []
    for name, (table, key) in LANDS_IN.items():
        absent_from_table = load("checks/lake_consistency").format(table=sql.Identifier(table), key=sql.Identifier(key))
        valid = absent = 0
        for batch in _keys(ctx.lake, name, window):
            valid += len(batch)
            keys = {"ids": [k for k, _ in batch], "observed": [at for _, at in batch]}
            absent += int(_scalar(ctx.conn, absent_from_table, keys))
        missing += absent
        if absent:
            parts.append(f"{name}: {absent} of {valid} valid documents missing from {table}")
    detail = "; ".join(parts) or f"every document of run {run_id}'s window is in the warehouse or dead-lettered"
    return _at_most("lake_consistency", "error", float(missing), 0, detail)


def checks(thresholds: QualitySettings) -> tuple[Callable[[Context], Result], ...]:
    return (
        ohlc_invariants,
        ohlc_hour_points,
        m1_gaps,
        _freshness("freshness_coincap", ASSET_PRICES.name, thresholds.QUALITY_FRESHNESS_COINCAP_MINUTES),
        _freshness("freshness_weather", WEATHER_OBSERVATIONS.name, thresholds.QUALITY_FRESHNESS_WEATHER_MINUTES),
        _freshness("freshness_air", AIR_QUALITY.name, thresholds.QUALITY_FRESHNESS_AIR_MINUTES),
        lake_consistency,
        runs_zombie,
        runs_overlap,
    )


def run_checks(conn: psycopg.Connection, lake: Database, thresholds: QualitySettings) -> list[Result]:
    """Every check, then their results stored in quality_checks. `conn` is in autocommit mode, so a check
    that fails to run leaves the others a usable connection."""
    ctx = Context(conn, lake, thresholds)
    results = []
    for check in checks(thresholds):
        try:
            result = check(ctx)
        except Exception as exc:  # a check that cannot run is a failed check, named, not a stopped run
            result = Result(check.__name__, "error", False, None, None, f"could not run: {type(exc).__name__}: {exc}")
        results.append(result)
    store(conn, results)
    return results


def store(conn: psycopg.Connection, results: list[Result]) -> None:
    latest_run = _scalar(conn, load("etl_runs_latest"))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            load("quality_checks_store"),
            [
                {
                    "run_id": latest_run,
                    "check": r.check,
                    "severity": r.severity,
                    "status": r.status,
                    "observed": r.observed,
                    "threshold": r.threshold,
                    "detail": r.detail,
                }
                for r in results
            ],
        )


def check_warehouse(settings: Settings) -> list[Result]:
    with (
        psycopg.connect(**settings.postgres_conninfo, autocommit=True, application_name="quality_checks") as conn,
        MongoClient(settings.MONGO_URI, document_class=dict) as mongo,
    ):
        return run_checks(conn, mongo[settings.MONGO_DB], settings)


def failed(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == "fail"]


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = check_warehouse(settings)
    for result in results:
        print(result.line())
    bad = failed(results)
    if bad:
        print(f"{len(bad)} check(s) failed: {', '.join(r.check for r in bad)}", file=sys.stderr)
        return 1
    print(
        f"{len(results)} checks: {sum(r.status == 'pass' for r in results)} passed, "
        f"{sum(r.status == 'warn' for r in results)} warned"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
