"""Spark job: what is new in the lake -> cleaned, typed, deduplicated -> merged into the warehouse.

plan: the window of write times to read, or nothing (job.plan);
read: the raw collections in that window, the fields the job reads with explicit schemas (job.lake_reader);
transform: raw frames -> warehouse tables, rejects and their tally (job.transforms); rejects go to dead_letters;
load: staging tables by COPY of the tables' Arrow batches, then one transaction merges them, recomputes the
      touched OHLC buckets and records the run with its new watermark (job.loader, warehouse.merge).

The window is not cached: one pass over it counts its documents and its rejects, a second (only when there are
rejects) streams them, and the tables' streams read it again, side by side (a large window's tables are kept on
the executors while they are fetched in parts, job.loader). Airflow runs it in a session of
its own on the Spark Connect server (`job.connect`); `python -m market_weather.job.lake_to_warehouse` (`make load`)
does too when the server answers, and runs an in-process Spark otherwise (SPARK_LOAD_SESSION).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from pymongo import MongoClient
from pymongo.database import Database
from pyspark.sql import SparkSession

from market_weather.contract import new_run_id
from market_weather.job import connect, file_status, lake_reader, loader, transforms
from market_weather.job.plan import Plan, cutoff, decide, late_window
from market_weather.job.session import load_session
from market_weather.job.spark_conf import application_name
from market_weather.settings import Settings, SettingsError, get_settings
from market_weather.times import utc_now
from market_weather.warehouse import runs

log = logging.getLogger("lake_to_warehouse")


@dataclass
class RunSummary:
    run_id: str
    status: str
    watermark_from: str | None
    watermark_to: str | None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    # Where the run's time went, by phase: `read` is the pass that counts the window's documents and rejects,
    # `reject` the one that dead-letters them (when there are any), `load` the tables' streams, their staging by
    # COPY and the merge.
    seconds: dict[str, float] = field(default_factory=dict)


class Phases:
    """Wall time of a run's phases, in the order they first ran; a phase entered twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def plan(conn: psycopg.Connection, lake: Database, late: timedelta, clock: datetime) -> Plan:
    """The run's plan, from the watermark in etl_runs, the run's clock and two short looks at the lake."""
    watermark = runs.last_watermark(conn)
    hi = cutoff(clock)
    recount = late_window(watermark, late)
    return decide(
        watermark,
        hi,
        late,
        written_since=lake_reader.written_since(lake, watermark, hi),
        late_docs=lake_reader.count_late_window(lake, *recount) if recount else None,
        recorded_late_docs=runs.last_tail_docs(conn, watermark) if watermark else None,
    )


@contextmanager
def _spark(given: SparkSession | None, settings: Settings, run_id: str) -> Iterator[SparkSession]:
    """The session given (Airflow's, on the Spark Connect server), or the job's own for the block
    (`load_session`), named after the run in Spark's UI."""
    if given is not None:
        if connect.is_remote(given):
            connect.prepare(given, settings)
        session = given
    else:
        session = load_session(settings, title=application_name(run_id))
    try:
        yield session
    finally:
        if given is None:
            _stop(session)


def _stop(session: SparkSession) -> None:
    """Stop the job's own session. On the server that only releases it: a session the load could not release (the
    server gone, the session let go of) expires there by itself, and the load's own outcome is the one to report."""
    try:
        session.stop()
    except Exception as exc:
        if not connect.is_remote(session):
            raise
        log.warning("the session was not released on the server (%s); it expires there", type(exc).__name__)


def _begin(session: SparkSession, run_id: str) -> None:
    """On the server: the load's jobs carry its run id as a tag, and what an earlier load that died left on the
    server's shared cache goes before this one reads (loads take turns: the caller holds the job's lock)."""
    if connect.is_remote(session):
        session.addTag(run_id)
        session.catalog.clearCache()


class Deadline:
    """Interrupts a load's Spark work still running after LOAD_TIMEOUT_SECONDS, and says so in the error.

    An interrupt reaches Spark's jobs, not a thread of the server's waiting on the lake while it plans a query
    (the connector asks the lake where its data lives): a load still waiting INTERRUPT_GRACE_S later lets go of
    the server, and fails all the same."""

    INTERRUPT_GRACE_S = 5.0

    def __init__(self, session: SparkSession, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.passed = False
        self._done = threading.Event()
        self._timer = threading.Timer(settings.LOAD_TIMEOUT_SECONDS, self._interrupt)
        self._timer.daemon = True

    def _interrupt(self) -> None:
        self.passed = True
        log.error("the load ran for LOAD_TIMEOUT_SECONDS (%d s): interrupting it", self.settings.LOAD_TIMEOUT_SECONDS)
        self.session.interruptAll()
        if connect.is_remote(self.session) and not self._done.wait(self.INTERRUPT_GRACE_S):
            log.error(
                "the server did not end the load's work within %.0f s: closing the session", self.INTERRUPT_GRACE_S
            )
            remote: Any = self.session  # a Spark Connect session, whose client holds the channel
            remote.client.close()

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._done.set()
        self._timer.cancel()
        if exc is None or not isinstance(exc, Exception):
            return
        where = connect.where(self.settings) if connect.is_remote(self.session) else "Spark"
        if self.passed:
            raise connect.SparkServerError(
                f"the load ran longer than LOAD_TIMEOUT_SECONDS ({self.settings.LOAD_TIMEOUT_SECONDS} s) and was "
                f"interrupted on {where}; nothing of it was committed"
            ) from exc
        if connect.is_remote(self.session) and connect.unavailable(exc):
            raise connect.SparkServerGone(
                f"{where} stopped answering during the load; nothing of it was committed, and a new try "
                "starts over once the server is back"
            ) from exc


def run(spark: SparkSession | None = None, settings: Settings | None = None, run_id: str | None = None) -> RunSummary:
    """One run: plan -> read -> transform -> load. A run that starts is recorded in etl_runs as it ends."""
    settings = settings or get_settings()
    run_id = run_id or new_run_id(runs.JOB)
    with (
        psycopg.connect(**settings.postgres_conninfo, autocommit=True, application_name=run_id) as conn,
        # No call of the job's to the lake waits longer than the whole load may (a lake that stopped answering).
        MongoClient(
            settings.MONGO_URI, document_class=dict, socketTimeoutMS=settings.LOAD_TIMEOUT_SECONDS * 1000
        ) as mongo,
        ExitStack() as stack,
    ):
        phase = Phases()
        with phase("lock"):
            runs.wait_for_lock(conn)  # loads take turns
            runs.close_abandoned(conn)  # only a live run is ever `running`
        lake = mongo[settings.MONGO_DB]
        late = timedelta(seconds=settings.ETL_LATE_WRITE_SECONDS)
        clock = utc_now()
        with phase("plan"):
            todo = plan(conn, lake, late, clock)
        if todo.idle:
            runs.record_idle(conn, run_id, todo.watermark)
            _files_loaded(lake, clock)  # a file of duplicates alone wrote nothing to load
            return RunSummary(run_id, "success", _iso(todo.watermark), _iso(todo.watermark), seconds=phase.seconds)
        if todo.reread:
            log.info("a late write landed before %s: reading its %s again", todo.watermark, late)
        lo, hi = todo.window
        # What the next run counts again to find late writes, counted before this one reads.
        with phase("plan"):
            runs.record_start(conn, run_id, todo.watermark, lake_reader.count_late_window(lake, hi - late, hi))
            files = file_status.pending(lake, lo)
        # Inside: a Spark that fails to start is a failed run too.
        with runs.failure_recorded(conn, run_id):
            with phase("spark_start"):
                session = stack.enter_context(_spark(spark, settings, run_id))
            with Deadline(session, settings):
                with phase("spark_start"):
                    _begin(session, run_id)
                out = transforms.to_warehouse(lake_reader.read_window(session, settings, lo, hi, files=files))
                with phase("read"):  # the window's documents, typed and checked
                    rows_read, rows_rejected = out.counts()
                if rows_rejected:
                    with phase("reject"):
                        lake_reader.dead_letter_rejected(lake, out.rejected, run_id)
                with phase("load"):
                    merged = loader.load(conn, settings, run_id, out.tables, hi, rows_read, rows_rejected)
        if files:
            _files_loaded(lake, clock)
    log.info(
        "run %s: %d read, %d written, %d rejected; seconds %s",
        run_id,
        rows_read,
        merged.rows_written,
        rows_rejected,
        " ".join(f"{name}={s:.1f}" for name, s in phase.seconds.items()),
    )
    return RunSummary(
        run_id,
        "success",
        _iso(todo.watermark),
        _iso(hi),
        rows_read,
        merged.rows_written,
        rows_rejected,
        merged.per_table,
        phase.seconds,
    )


def _files_loaded(lake: Database, clock: datetime) -> None:
    """The files that finished before the run's clock, as `loaded`: the run's read began after it, so their rows were
    all in its window or an earlier one. After the merge committed: a failure here fails no load, and the next run
    marks them."""
    try:
        marked = file_status.mark_loaded(lake, clock)
    except Exception as exc:
        log.warning("the files loaded were not marked so (%s: %s); the next run marks them", type(exc).__name__, exc)
        return
    if marked:
        log.info("files loaded: %s", ", ".join(marked))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--run-id", help="id recorded in etl_runs (default: generated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run(run_id=args.run_id)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        log.error("run failed", exc_info=True)
        # The cause again, last and on one line: the Spark provider shows the tail of the output.
        log.error("run failed: %s", " ".join(f"{type(exc).__name__}: {exc}".split())[:1000])
        return 1
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
