"""The job's bookkeeping in `etl_runs`: one row per run, its status, the watermark it reached."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg

from market_weather.warehouse.queries import load

JOB = "lake_to_warehouse"
# One job run at a time: a second one waits for nothing and fails clearly.
ADVISORY_LOCK_KEY = 0x6C3277  # "l2w"
MESSAGE_MAX = 2000

log = logging.getLogger(__name__)


def try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY]).fetchone()
    return bool(row and row[0])


def last_watermark(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute(load("etl_runs_last_watermark"), {"job": JOB}).fetchone()
    return row[0] if row else None


def last_tail_docs(conn: psycopg.Connection, watermark: datetime) -> int | None:
    """How many documents the look-back before `watermark` held when the run that set it looked."""
    row = conn.execute(load("etl_runs_last_tail_docs"), {"job": JOB, "watermark": watermark}).fetchone()
    return row[0] if row else None


def record_start(
    conn: psycopg.Connection, run_id: str, watermark_from: datetime | None, tail_docs: int | None = None
) -> None:
    conn.execute(
        load("etl_runs_start"),
        {"run_id": run_id, "job": JOB, "watermark_from": watermark_from, "tail_docs": tail_docs},
    )


def record_idle(conn: psycopg.Connection, run_id: str, watermark: datetime | None) -> None:
    """A run that found nothing new: it succeeds, writes nothing and keeps the watermark."""
    record_start(conn, run_id, watermark)
    conn.execute(load("etl_runs_idle"), {"run_id": run_id, "watermark": watermark})


def record_success(
    conn: psycopg.Connection,
    run_id: str,
    watermark_to: datetime | None,
    rows_read: int,
    rows_written: int,
    rows_rejected: int,
    message: str,
) -> None:
    conn.execute(
        load("etl_runs_success"),
        {
            "run_id": run_id,
            "watermark_to": watermark_to,
            "rows_read": rows_read,
            "rows_written": rows_written,
            "rows_rejected": rows_rejected,
            "message": message,
        },
    )


def record_failure(conn: psycopg.Connection, run_id: str, message: str) -> None:
    conn.execute(load("etl_runs_failure"), {"run_id": run_id, "message": message[:MESSAGE_MAX]})


@contextmanager
def failure_recorded(conn: psycopg.Connection, run_id: str) -> Iterator[None]:
    """An error that escapes the block marks the run failed, and goes on as it was.

    When marking fails too (PostgreSQL itself is what failed), that is logged and the run's own error
    still surfaces: the bookkeeping of a failure never hides the failure.
    """
    try:
        yield
    except Exception as exc:
        try:
            record_failure(conn, run_id, f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("could not record run %s as failed", run_id)
        raise
