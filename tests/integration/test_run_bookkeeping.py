"""Runs take turns on the job's lock, and a run that died is closed by the next one, on the real PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from market_weather.settings import PROJECT_ROOT
from market_weather.warehouse import runs, staging


def connect(settings, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**settings.postgres_conninfo, autocommit=True, **kwargs)


def staging_tables(pg) -> list[str]:
    return [t for (t,) in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging' ORDER BY 1")]


def status(pg, run_id: str) -> tuple:
    return pg.execute(
        "SELECT status, finished_at IS NOT NULL, message FROM etl_runs WHERE run_id = %s", [run_id]
    ).fetchone()


@pytest.fixture
def no_staging(pg):
    """Each test starts and ends with an empty staging schema."""
    for table in staging_tables(pg):
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("staging", table)))
    yield
    for table in staging_tables(pg):
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("staging", table)))


def release_after(conn: psycopg.Connection, seconds: float) -> threading.Thread:
    def release():
        time.sleep(seconds)
        conn.execute("SELECT pg_advisory_unlock(%s)", [runs.ADVISORY_LOCK_KEY])

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_dead_runs_row_is_closed_as_abandoned_and_its_staging_tables_dropped(settings, pg, no_staging):
    with connect(settings) as dead:
        runs.record_start(dead, "dead-run", None)
        staging.create_staging(dead, "dead-run")
    runs.record_start(pg, "ended-run", None)
    runs.record_failure(pg, "ended-run", "RuntimeError: an earlier failure")
    assert len(staging_tables(pg)) == len(staging.TABLES)

    with connect(settings) as conn:
        runs.wait_for_lock(conn)
        assert runs.close_abandoned(conn) == ["dead-run"]

    failed, finished, message = status(pg, "dead-run")
    assert failed == "failed" and finished and message == runs.ABANDONED
    assert "killed or lost its database connection" in message
    assert staging_tables(pg) == []
    assert status(pg, "ended-run") == ("failed", True, "RuntimeError: an earlier failure"), "an ended run is left as is"


def test_the_holders_own_run_keeps_running(settings, pg):
    runs.record_start(pg, "dead-run", None)
    with connect(settings) as conn:
        runs.wait_for_lock(conn)
        runs.record_start(conn, "live-run", None)
        assert runs.close_abandoned(conn) == ["dead-run"]
        assert runs.close_abandoned(conn) == [], "nothing else is abandoned"
        assert status(pg, "live-run") == ("running", False, None)
    assert status(pg, "dead-run")[0] == "failed"


def test_only_the_lock_holder_closes_runs(settings, pg):
    with connect(settings) as live, connect(settings) as other:
        runs.wait_for_lock(live)
        runs.record_start(live, "live-run", None)
        with pytest.raises(RuntimeError, match="needs the job's lock: take it with wait_for_lock first"):
            runs.close_abandoned(other)
        assert status(pg, "live-run") == ("running", False, None)


def test_a_run_waits_for_the_lock_until_the_holder_releases_it(settings):
    with connect(settings) as holder, connect(settings) as waiter:
        assert runs.try_lock(holder)
        started = time.monotonic()
        releasing = release_after(holder, 1.0)
        runs.wait_for_lock(waiter, timedelta(seconds=30))
        waited = time.monotonic() - started
        releasing.join()
        assert 0.9 <= waited < 10
        assert runs.lock_holder(waiter).pid == waiter.info.backend_pid
        assert waiter.execute("SHOW lock_timeout").fetchone()[0] == "0", "the wait's timeout ends with it"


def test_runs_that_start_together_take_their_turns(settings):
    took: list[str] = []

    def load(name: str) -> None:
        with connect(settings) as conn:
            runs.wait_for_lock(conn, timedelta(seconds=30))
            took.append(name)
            time.sleep(0.3)

    with connect(settings) as holder:
        assert runs.try_lock(holder)
        loads = [threading.Thread(target=load, args=(name,)) for name in ("backfill", "scheduled")]
        for thread in loads:
            thread.start()
        release_after(holder, 0.5).join()
        for thread in loads:
            thread.join(timeout=30)
    assert sorted(took) == ["backfill", "scheduled"]


def test_a_wait_that_times_out_names_the_holder_and_what_to_do(settings, pg):
    with connect(settings, application_name="holder-run") as holder, connect(settings) as waiter:
        runs.wait_for_lock(holder)
        runs.record_start(holder, "holder-run", None)
        started = time.monotonic()
        with pytest.raises(runs.LockTimeout) as timed_out:
            runs.wait_for_lock(waiter, timedelta(seconds=0.5))
        assert 0.4 <= time.monotonic() - started < 10
        message = str(timed_out.value)
        assert f"PostgreSQL session {holder.info.backend_pid} (application 'holder-run'" in message
        assert "still holds the lock after 0.5 s" in message and "holder-run running since" in message
        assert "wait for that run to finish and start this one again" in message
        assert f"end it with SELECT pg_terminate_backend({holder.info.backend_pid})" in message
        assert waiter.execute("SHOW lock_timeout").fetchone()[0] == "0"
        assert not runs.try_lock(waiter), "the holder keeps its lock"
    assert status(pg, "holder-run") == ("running", False, None)


def test_a_failure_that_cannot_be_recorded_still_shows_its_cause(settings, pg, caplog):
    """PostgreSQL itself is lost: the run's own error goes on, and the log names it."""
    with connect(settings) as conn:
        runs.record_start(conn, "lost-run", None)
        pg.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        with caplog.at_level(logging.ERROR, logger=runs.__name__), pytest.raises(ValueError, match="the load broke"):
            with runs.failure_recorded(conn, "lost-run"):
                raise ValueError("the load broke")
    [record] = [r for r in caplog.records if r.name == runs.__name__]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "could not record run lost-run as failed; it failed with ValueError: the load broke"
    assert status(pg, "lost-run")[0] == "running", "left for the next run to close"


def job_env(settings) -> dict[str, str]:
    values = {
        "LOCAL_STATE_DIR": str(settings.LOCAL_STATE_DIR),
        "POSTGRES_PORT": str(settings.POSTGRES_PORT),
        "POSTGRES_PASSWORD": settings.POSTGRES_PASSWORD.get_secret_value(),
        "MONGO_URI": settings.MONGO_URI,
        "MONGO_DB": settings.MONGO_DB,
        "SPARK_MASTER": "local[2]",
    }
    return {**os.environ, **values}


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_run_killed_mid_load_is_closed_by_the_next_run(settings, writer, pg, tmp_path, no_staging):
    """SIGKILL while staging: the row stays `running` and the staging tables stay, until the next run takes the lock.

    The last target is held locked, so the job is killed with its first four staging tables made.
    """
    from market_weather.producer import source_to_lake
    from market_weather.producer.simulated import SimulatedCoinCap

    source_to_lake.fetch_coincap(SimulatedCoinCap(seed=3), writer, ["bitcoin", "ethereum"], "seed")
    time.sleep(1.1)  # a run reads what was written before the second it plans in
    made = {staging.staging_name(table.name, "killed-run") for table in staging.TABLES}
    with psycopg.connect(**settings.postgres_conninfo) as blocker:
        blocker.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(staging.TABLES[-1].name))
        )
        with (tmp_path / "job.log").open("w") as output:
            job = subprocess.Popen(
                [sys.executable, "-m", "market_weather.job.lake_to_warehouse", "--run-id", "killed-run"],
                cwd=PROJECT_ROOT,
                env=job_env(settings),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(
                lambda: len(made & set(staging_tables(pg))) == len(staging.TABLES) - 1 or job.poll() is not None,
                timeout=300,
                what="the job to stage",
            )
            assert job.poll() is None, (tmp_path / "job.log").read_text()[-3000:]
            assert status(pg, "killed-run")[0] == "running"
        finally:
            with contextlib.suppress(ProcessLookupError):  # the job and its JVM, as the OOM killer would
                os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        blocker.rollback()  # the killed run's session finishes its statement, then finds its client gone

    # The next run of the job itself, as the schedule starts it, closes the dead one, then loads.
    next_run = subprocess.run(
        [sys.executable, "-m", "market_weather.job.lake_to_warehouse", "--run-id", "next-run"],
        cwd=PROJECT_ROOT,
        env=job_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert next_run.returncode == 0, (next_run.stdout + next_run.stderr)[-3000:]
    assert status(pg, "killed-run") == ("failed", True, runs.ABANDONED)
    assert pg.execute("SELECT status FROM etl_runs WHERE run_id = 'next-run'").fetchone() == ("success",)
    assert staging_tables(pg) == []
    assert pg.execute("SELECT count(*) FROM etl_runs WHERE status = 'running'").fetchone()[0] == 0
