"""The job's bookkeeping in `etl_runs`: one row per run, its status, the watermark it reached."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from market_weather.warehouse.queries import load
from market_weather.warehouse.staging import drop_staging

JOB = "lake_to_warehouse"
# One job run at a time: a second one waits its turn, up to LOCK_WAIT, then fails naming the holder.
ADVISORY_LOCK_KEY = 0x6C3277  # "l2w"
LOCK_WAIT = timedelta(minutes=10)
# Where a session notes when it took the lock: a run's own row starts after that, a dead run's before.
LOCKED_AT_SETTING = "market_weather.locked_at"
MESSAGE_MAX = 2000
ABANDONED = (
    "abandoned: the run's process was killed or lost its database connection; the next run loads what it did not"
)

log = logging.getLogger(__name__)


class LockTimeout(RuntimeError):
    """The lock was still held when the wait ran out."""


@dataclass(frozen=True)
class LockHolder:
    """The PostgreSQL session holding the job's lock."""

    pid: int
    # Null where PostgreSQL hides another role's session.
    application_name: str | None
    client_addr: str | None
    backend_start: datetime | None

    def __str__(self) -> str:
        client = f", client {self.client_addr}" if self.client_addr else ""
        since = f", connected {_when(self.backend_start)}" if self.backend_start else ""
        return f"PostgreSQL session {self.pid} (application {self.application_name or 'unnamed'!r}{client}{since})"


def _note_locked(conn: psycopg.Connection) -> None:
    conn.execute("SELECT set_config(%s, clock_timestamp()::text, false)", [LOCKED_AT_SETTING])


def try_lock(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY]).fetchone()
    locked = bool(row and row[0])
    if locked:
        _note_locked(conn)
    return locked


def wait_for_lock(conn: psycopg.Connection, timeout: timedelta = LOCK_WAIT) -> None:
    """Take the job's lock, waiting up to `timeout` for the run that holds it: loads queue, they do not collide.

    PostgreSQL queues the waiters, so runs take their turns in the order they asked. Raises LockTimeout,
    naming the holder, when the lock is still held after `timeout`.
    """
    if try_lock(conn):
        return
    log.info("waiting up to %s for the run that holds the lock: %s", timeout, lock_holder(conn) or "another run")
    try:
        with conn.transaction():
            # A session-level advisory lock outlives the transaction; the timeout does not.
            wait_ms = max(1, int(timeout.total_seconds() * 1000))  # 0 would mean no limit
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [f"{wait_ms}ms"])
            conn.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            _note_locked(conn)
    except psycopg.errors.LockNotAvailable:
        raise LockTimeout(_still_held(conn, timeout)) from None


def lock_holder(conn: psycopg.Connection) -> LockHolder | None:
    """The session holding the job's lock, or None when it is free."""
    row = conn.execute(load("job_lock_holder"), {"key": ADVISORY_LOCK_KEY}).fetchone()
    return LockHolder(row[0], row[1], str(row[2]) if row[2] else None, row[3]) if row else None


def _still_held(conn: psycopg.Connection, timeout: timedelta) -> str:
    """Who still holds the lock, the runs recorded as running, and what to do."""
    holder = lock_holder(conn)
    running = conn.execute(load("etl_runs_running"), {"job": JOB}).fetchall()
    recorded = "; ".join(f"{run_id} running since {_when(started)}" for run_id, started in running)
    message = (
        f"another {JOB} run still holds the lock after {timeout.total_seconds():g} s:"
        f" {holder or 'its session has just ended'} (etl_runs: {recorded or 'no run recorded as running'});"
        " wait for that run to finish and start this one again"
    )
    if holder:
        message += f", or, if it hangs, end it with SELECT pg_terminate_backend({holder.pid})"
    return message


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def _locked_at(conn: psycopg.Connection) -> datetime | None:
    """When this session took the job's lock, or None when it does not hold it."""
    holder = lock_holder(conn)
    if holder is None or holder.pid != conn.info.backend_pid:
        return None
    row = conn.execute("SELECT NULLIF(current_setting(%s, true), '')::timestamptz", [LOCKED_AT_SETTING]).fetchone()
    return row[0] if row else None


def close_abandoned(conn: psycopg.Connection) -> list[str]:
    """Record as failed every `running` run that is gone, and drop the staging tables it left; the ids closed.

    Only a live run is ever `running`. Called by the holder of the job's lock, so no other run is live:
    each `running` row started before the lock was taken belongs to a run that was killed or lost its
    database connection. The holder's own row, started after, is never touched.
    """
    locked_at = _locked_at(conn)
    if locked_at is None:
        raise RuntimeError("closing abandoned runs needs the job's lock: take it with wait_for_lock first")
    with conn.transaction():
        closed = [
            run_id
            for (run_id,) in conn.execute(
                load("etl_runs_close_abandoned"), {"job": JOB, "message": ABANDONED, "locked_at": locked_at}
            ).fetchall()
        ]
        for run_id in closed:
            drop_staging(conn, run_id)
    for run_id in closed:
        log.warning("closed run %s, %s; its staging tables are dropped", run_id, ABANDONED)
    return closed


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
            log.exception("could not record run %s as failed; it failed with %s: %s", run_id, type(exc).__name__, exc)
        raise
